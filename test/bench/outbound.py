#!/usr/bin/env python3
"""Outbound benchmark: how fast and at what CPU cost Upesi, Postfix and Exim drain a queue of
relayed mail to smtp-sink.

    test/bench/outbound.py [--upesi BUILD/master/upesi] [--messages 3000] [--rounds 5]
                           [--nodes default,2] [--domains 1]

Method (queue drain), per server and round, the servers interleaved round by round:
  1. deliveries held, preload --messages messages of --size bytes with smtp-source (one
     recipient each, user@d1.example .. user@dK.example for --domains K, in equal parts), and
     wait until the server's queue holds exactly that many messages;
  2. release deliveries and wait until the queue is empty AND the server's smtp-sink has
     received every message (smtp-sink -c counts each message it answered with 250);
  3. the sink must have received exactly --messages messages (more means a duplicate or a
     bounce, fewer a loss): otherwise the run is invalid and the script stops with an error.

The fair method (issue 21):
  * Server CPU per message is the primary figure: user+system of the server's whole process
    tree from the release to the end, reaped children included (for Postfix the master with
    qmgr, smtp, trivial-rewrite, postlogd and so on), plus the CPU of the commands that release
    Postfix's mail (postsuper, postqueue) and of Exim's queue runners (exim -qff, with the
    deliveries they fork), counted once they have exited. The servers run on one CPU, smtp-source, the sinks
    and this script on the other (taskset; bench_common.pin_cpus).
  * The rate is counted from the sink: (messages - 1) / time from the first message at the
    sink (polled every 5 ms) to the moment the sink has them all and the queue is empty. The
    release mechanics are left out of it (shown apart: release to first delivery).
  * Equal concurrency. Upesi delivers at most outbound.ini's destination_concurrency_max (20
    shipped) messages at once to one domain, concurrency_max (100) in all, per worker process.
    Postfix sends everything to one relayhost, one destination for its queue manager. The
    benchmark sends to one domain by default (--domains 1), so that both have one destination,
    and gives Postfix the same number of parallel deliveries as the Upesi it is paired with:
    smtp_destination_concurrency_limit and smtp_initial_destination_concurrency (no slow start:
    Upesi has none) = workers x min(concurrency_max, destination_concurrency_max x domains),
    read from the shipped defaults the binary uses. With nodes=2 that is 40, so the Upesi
    variants of different worker counts each get a Postfix of their own (`postfix` for the
    first, `postfix-cN` for another concurrency N), with a sink of its own. Exim gets the same
    number of queue runners (`exim`, `exim-cN`): a queue runner delivers one message at a time
    (and hands its open connection on to the next message for the same host), so N runners
    started at once make at most N deliveries in parallel; remote_max_parallel only splits the
    recipients of one message, of which there is one here.
  * Postfix's mail waits in its hold queue (postfix_peer.HOLD_ALL: every message the smtpd
    accepts is held), and is released without a reload: postsuper -H ALL, postqueue -f; the
    running qmgr delivers it. Exim's waits in its spool (queue_only, a daemon without queue
    runner) and is released by starting the queue runners (exim -qff), no reload.
  * Every server logs at its shipped default to a file (Upesi: log.ini's shipped level, info,
    on stderr captured to a file; Postfix: its maillog at default verbosity); the log bytes
    written per message delivered are printed.
  * Upesi runs at its shipped `nodes` (`upesi`) and at nodes=2 (`upesi-n2`) by default.
  * At least 5 rounds; medians with min–max, and ratios paired round by round. The versions of
    everything measured and the file system of the queues under every table; tmpfs refused.

Each server gets its own smtp-sink (so that nothing one sends can be counted for the other).
  upesi    plugins relay (relay_acl_allow 127.0.0.1/32) + `route`: the scripted test plugin
           (build/test/plugins/scripted.so, built with -Dtests=true) answering get_mx with
           127.0.0.1:SINKPORT; deliveries held with outbound.ini disabled=true, released by
           rewriting it with disabled=false (the server applies it after its config watcher's
           debounce; the script waits for the "deliveries resumed" log line) and SIGHUP.
           Outbound settings otherwise shipped.
  postfix  private instance (postfix_peer.py), relayhost = [127.0.0.1]:SINKPORT, the
           concurrency above, defaults otherwise (smtp connection cache on).
  exim     private instance (exim_peer.py; exim4-daemon-light unpacked from Debian's packages
           into the user's cache directory on first use), relay_to_domains *, a manualroute
           router sending every domain to 127.0.0.1 (self = send) through an smtp transport
           to port SINKPORT (allow_localhost, no STARTTLS tried), retry rules F,1h,1m; the
           concurrency above as parallel queue runners. Parallel runners log a line for each
           message another runner holds ("Spool file ... is locked"): counted in its log bytes.
           Left out, with a line saying why, when it cannot be fetched (or with --no-exim).
  opensmtpd private instance (opensmtpd_peer.py; Debian's opensmtpd unpacked likewise, run in
           a mount namespace of its own) relaying every domain to 127.0.0.1:SINKPORT without
           STARTTLS; the concurrency above as its mta connection limits, its reconnect delays
           0; held with `smtpctl pause mta`, released with `smtpctl resume mta`. Left out like
           Exim (--no-opensmtpd).
"""
import argparse
import os
import pathlib
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

from bench_common import (ROOT, Peer, check_pinned, exit_on_sigterm, free_port, machine_line,
                          peer_available, median_range, paired_ratios, pin_cpus, queue_files,
                          ratio_range, servers_run, shipped_ini, smtp_source, start_sink, summary,
                          tree_cpu_s, wait_until, write_json)
from exim_peer import EximPeer
from opensmtpd_peer import OpenSmtpdPeer
from postfix_peer import HOLD_ALL, PostfixPeer
import exim_peer
import opensmtpd_peer

SENDER = "sender@example.com"


def upesi_name(nodes):
    """nodes None: the shipped default."""
    return "upesi" if nodes is None else "upesi-n%d" % nodes


def parse_nodes(text):
    """--nodes: comma-separated smtp.ini nodes values, "default" for the shipped one."""
    return [None if n.strip() == "default" else int(n) for n in text.split(",")]


def upesi_concurrency(binary, nodes, domains):
    """(worker processes, deliveries in flight at most) of an Upesi with these nodes (None:
    shipped) delivering to `domains` domains, from its shipped smtp.ini and outbound.ini."""
    if nodes is None:
        shipped = shipped_ini(binary, "smtp.ini").get("nodes", "1")
        nodes = os.cpu_count() if shipped == "cpus" else int(shipped)
    workers = max(nodes, 1)  # nodes=0: the master serves and delivers
    out = shipped_ini(binary, "outbound.ini")
    total = int(out.get("concurrency_max", 100))
    per_domain = int(out.get("destination_concurrency_max", 20))
    return workers, workers * (min(total, per_domain * domains) if per_domain else total)


class UpesiOutbound:
    """Upesi relaying what it accepts, deliveries held (outbound.ini disabled=true) until
    release(). With `scripted` the route plugin sends everything to the sink; without, Upesi
    finds the MXs itself. outbound_wan.py also sets `name`, `outbound_ini` (lines that
    outbound.ini keeps besides disabled=), `config` ({file: text}, more config files) and
    `argv_prefix` (taskset)."""

    def __init__(self, binary, scripted, workdir, sink, nodes, domains, name=None,
                 outbound_ini="", config=None, argv_prefix=()):
        self.name = name or upesi_name(nodes)
        self.workers, self.concurrency = upesi_concurrency(binary, nodes, domains)
        self.inst = workdir / self.name
        self.cfg = self.inst / "config"
        self.queue = self.inst / "queue"
        self.outbound_ini = outbound_ini
        port = free_port()
        subprocess.run([binary, "-i", str(self.inst)], check=True, capture_output=True,
                       timeout=60)
        if scripted:
            (self.inst / "plugins").mkdir(exist_ok=True)
            shutil.copy(scripted, self.inst / "plugins" / "route.so")
            (self.cfg / "route.ini").write_text("[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n"
                                                % sink.port)
        (self.cfg / "smtp.ini").write_text("[main]\nlisten=127.0.0.1:%d\n%s" % (
            port, "" if nodes is None else "nodes=%d\n" % nodes))
        (self.cfg / "plugins").write_text("relay\nroute\n" if scripted else "relay\n")
        (self.cfg / "relay_acl_allow").write_text("127.0.0.1/32\n")
        self._write_outbound(disabled=True)
        (self.cfg / "me").write_text("localhost\n")
        for file, text in (config or {}).items():
            (self.cfg / file).write_text(text)
        self.held = True
        self._log_pos = 0
        # The shipped defaults (log.ini's level among them): the binary's own (its source
        # tree's etc/, compiled in), unless UPESI_DEFAULTS_DIR is set.
        env = dict(os.environ)
        env.pop("YES_REALLY_DO_DISCARD", None)
        self.peer = Peer(self.name, list(argv_prefix) + [binary, "-c", str(self.inst)], port,
                         env=env, log_path=str(workdir / (self.name + ".log")))
        self.port, self.pid = port, self.peer.pid

    def describe_concurrency(self):
        return "%d (%d worker%s)" % (self.concurrency, self.workers,
                                     "" if self.workers == 1 else "s")

    def _write_outbound(self, disabled):
        tmp = self.cfg / ".outbound.ini.new"  # renamed: the server never reads half a file
        tmp.write_text("[main]\ndisabled=%s\n%s" % ("true" if disabled else "false",
                                                    self.outbound_ini))
        os.replace(tmp, self.cfg / "outbound.ini")

    def _new_log_lines(self):
        """The complete log lines written since the last call."""
        with open(self.peer.log_path, "rb") as f:
            f.seek(self._log_pos)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._log_pos += end
        return data[:end].decode(errors="replace")

    def _set_disabled(self, disabled):
        line = "outbound: deliveries %s" % ("paused" if disabled else "resumed")
        self._new_log_lines()
        seen = [0]
        self._write_outbound(disabled)

        def applied():  # by every worker
            seen[0] += self._new_log_lines().count(line)
            return seen[0] >= self.workers
        wait_until(applied, 15, "%s: '%s' in its log" % (self.name, line), interval=0.005)
        self.held = disabled

    def hold(self):
        if not self.held:
            self._set_disabled(True)

    def release(self):
        self._set_disabled(False)
        os.kill(self.pid, signal.SIGHUP)  # every deferred message due now (none should be)

    def queued(self):
        return queue_files(self.queue)

    def preloaded(self, n):
        return self.queued() == n

    def log_bytes(self):
        return self.peer.log_bytes()

    def log_tail(self):
        return self.peer.log_tail()

    def stop(self):
        self.peer.stop()


class PostfixOutbound:
    """Postfix relaying to the sink with `concurrency` parallel deliveries; its mail waits in
    hold/ until release()."""

    def __init__(self, workdir, sink, concurrency, name="postfix"):
        self.name, self.concurrency = name, concurrency
        self.pf = PostfixPeer(workdir, name, dict(HOLD_ALL, **{
            "relayhost": "[127.0.0.1]:%d" % sink.port,
            "relay_domains": "",
            "default_transport": "smtp",
            "relay_transport": "smtp",
            "in_flow_delay": "0",  # the preload, not measured, goes faster
            "smtp_destination_concurrency_limit": str(concurrency),
            "smtp_initial_destination_concurrency": str(concurrency),
            # smtp's process limit ("-" in master.cf) must not be lower.
            "default_process_limit": str(max(100, concurrency + 20)),
        }), log=True)
        self.port, self.pid = self.pf.port, self.pf.pid

    def describe_concurrency(self):
        return "%d (destination limit and initial)" % self.concurrency

    def hold(self):
        pass  # every message the smtpd accepts is held

    def release(self):
        self.pf.release_held()

    def queued(self):
        return self.pf.queued()

    def preloaded(self, n):
        return self.pf.held() == n and self.pf.queued() == n

    def log_bytes(self):
        return self.pf.log_bytes()

    def log_tail(self):
        return self.pf.log_tail()

    def stop(self):
        self.pf.stop()


class EximOutbound:
    """Exim relaying to the sink through `concurrency` parallel queue runners; its mail waits
    in the spool (queue_only, no queue runner) until release()."""

    def __init__(self, workdir, sink, concurrency, name="exim"):
        self.name, self.concurrency = name, concurrency
        self.ex = EximPeer(workdir, name, domains="*", sink_port=sink.port)
        self.port, self.pid = self.ex.port, self.ex.pid

    def describe_concurrency(self):
        return "%d (parallel queue runners)" % self.concurrency

    def hold(self):
        pass  # nothing runs the queue

    def release(self):
        self.ex.release(self.concurrency)

    def finish(self):
        """Waits for the queue runners to exit (their CPU counts once they are reaped)."""
        self.ex.wait_runners()

    def queued(self):
        return self.ex.queued()

    def preloaded(self, n):
        return self.ex.queued() == n

    def log_bytes(self):
        return self.ex.log_bytes()

    def log_tail(self):
        return self.ex.log_tail()

    def stop(self):
        self.ex.stop()


class OpenSmtpdOutbound:
    """OpenSMTPD relaying to the sink with at most `concurrency` connections; its mail waits in
    its queue (mta paused) until release()."""

    def __init__(self, workdir, sink, concurrency, name="opensmtpd"):
        self.name, self.concurrency = name, concurrency
        self.os = OpenSmtpdPeer(workdir, name, mode="drain", sink_port=sink.port,
                                concurrency=concurrency)
        self.port, self.pid = self.os.port, self.os.pid

    def describe_concurrency(self):
        return "%d (mta connection limits, no reconnect delays)" % self.concurrency

    def hold(self):
        self.os.hold()

    def release(self):
        self.os.release()

    def queued(self):
        return self.os.queued()

    def preloaded(self, n):
        return self.os.queued() == n

    def log_bytes(self):
        return self.os.log_bytes()

    def log_tail(self):
        return self.os.log_tail()

    def stop(self):
        self.os.stop()


def children_cpu_s():
    """CPU seconds of this script's reaped children (the release commands run as such)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def established(port):
    """TCP connections established to 127.0.0.1:port (from /proc/net/tcp)."""
    local = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        next(f)
        return sum(1 for line in f if line.split(None, 4)[1:4:2] == [local, "01"])


def passive_opens():
    """TCP connections this machine has accepted since boot (/proc/net/snmp, Tcp PassiveOpens).
    In a drain only the sink accepts any, so the difference is the connections the server
    opened to it."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Tcp:")]
    return int(rows[1][rows[0].index("PassiveOpens")])


class PeakConnections:
    """The most connections to the sink seen at once, sampled at most every 50 ms (the
    deliveries really in parallel, to check that the concurrencies match)."""

    def __init__(self, port):
        self.port, self.peak, self.next = port, 0, 0

    def sample(self):
        now = time.monotonic()
        if now >= self.next:
            self.next = now + 0.05
            self.peak = max(self.peak, established(self.port))


def drain(server, sink, n, domains, size, sessions, timeout):
    """One preload + release + drain; returns a dict of measurements."""
    server.hold()
    s0 = sink.messages()
    for k in range(domains):
        part = n // domains + (1 if k < n % domains else 0)
        if part:
            smtp_source(server.port, part, sessions, size, rcpt="user@d%d.example" % (k + 1),
                        sender=SENDER)
    wait_until(lambda: server.preloaded(n), 120,
               lambda: "%s: %d messages in its queue (has %d)" % (server.name, n, server.queued()))
    time.sleep(0.5)
    if sink.messages() != s0:
        raise RuntimeError("%s delivered %d messages while held" % (server.name,
                                                                  sink.messages() - s0))
    if not server.preloaded(n):
        raise RuntimeError("invalid run: %s's queue changed while held (has %d, %d sent)"
                           % (server.name, server.queued(), n))
    log0 = server.log_bytes()
    cpu0 = tree_cpu_s(server.pid)
    release0 = children_cpu_s()
    peak = PeakConnections(sink.port)
    opens0 = passive_opens()
    t0 = time.monotonic()
    server.release()
    wait_until(lambda: sink.messages() > s0, timeout, "%s: a first delivery" % server.name,
               interval=0.005)
    t_first = time.monotonic()

    def drained():
        peak.sample()
        return sink.messages() - s0 >= n and server.queued() == 0
    wait_until(drained, timeout,
               lambda: "%s: the queue to drain (sink has %d of %d, queue %d)" % (
                   server.name, sink.messages() - s0, n, server.queued()), interval=0.01)
    t_end = time.monotonic()
    opened = passive_opens() - opens0
    if hasattr(server, "finish"):
        server.finish()
    cpu = tree_cpu_s(server.pid) - cpu0 + children_cpu_s() - release0
    time.sleep(0.5)  # anything arriving late (a duplicate, a bounce) invalidates the run
    got = sink.messages() - s0
    if got != n or server.queued() != 0:
        raise RuntimeError("%s: invalid run: the sink received %d messages, %d sent; %d still "
                           "queued" % (server.name, got, n, server.queued()))
    return {"cpu_ms": cpu * 1000 / n, "rate": (n - 1) / (t_end - t_first),
            "rate_release": n / (t_end - t0), "start_s": t_first - t0,
            "log_bytes": (server.log_bytes() - log0) / n,
            "peak_connections": peak.peak, "opened": opened}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--scripted",
                    help="the scripted test plugin, used as the get_mx route (default: the one "
                    "of --upesi's build directory if it has one, else build/test/plugins/)")
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--domains", type=int, default=1,
                    help="recipient domains (1: one destination for Upesi as for Postfix)")
    ap.add_argument("--size", type=int, default=1000, help="smtp-source -l bytes")
    ap.add_argument("--sessions", type=int, default=10, help="preload sessions")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=300, help="messages in the warm-up drain")
    ap.add_argument("--timeout", type=float, default=300, help="seconds a drain may take")
    ap.add_argument("--nodes", default="default,2",
                    help="comma-separated smtp.ini nodes values to run Upesi with, \"default\" "
                    "for the shipped one (e.g. default,0,2)")
    ap.add_argument("--no-postfix", action="store_true")
    ap.add_argument("--no-exim", action="store_true")
    ap.add_argument("--no-opensmtpd", action="store_true")
    ap.add_argument("--json", help="also write the medians to this file")
    args = ap.parse_args()
    for tool in ("smtp-source", "smtp-sink"):
        if not shutil.which(tool):
            sys.exit("%s not found: apt-get install postfix" % tool)
    if not args.scripted:
        own = pathlib.Path(args.upesi).resolve().parents[1] / "test" / "plugins" / "scripted.so"
        args.scripted = str(own if own.exists()
                            else ROOT / "build" / "test" / "plugins" / "scripted.so")
    if not os.path.exists(args.scripted):
        sys.exit("%s missing: build the tests (meson setup build -Dtests=true; ninja -C build)"
                 % args.scripted)
    if not args.no_postfix and os.geteuid() != 0:
        sys.exit("Postfix needs root (or run with --no-postfix)")
    if args.rounds < 5:
        print("note: %d rounds; the fair method asks for at least 5" % args.rounds,
              file=sys.stderr)

    exit_on_sigterm()
    pin_cpus()
    with servers_run("upesi-bench-out-") as (workdir, peers):
        pairs = []  # (server, its sink): the Upesis, then each Postfix, Exim, OpenSMTPD
        postfixes = {}  # concurrency -> (Postfix, its sink)
        exims = {}  # concurrency -> (Exim, its sink)
        opensmtpds = {}  # concurrency -> (OpenSMTPD, its sink)
        matched = {}  # Upesi's name -> the names of the peers of its concurrency
        use_exim = not args.no_exim and peer_available("exim", exim_peer.install)
        use_opensmtpd = not args.no_opensmtpd and \
            peer_available("opensmtpd", opensmtpd_peer.install)
        for nodes in parse_nodes(args.nodes):
            sink = start_sink(counting=True, name="sink-" + upesi_name(nodes), logdir=workdir)
            peers.append(sink)
            upesi = UpesiOutbound(args.upesi, args.scripted, workdir, sink, nodes, args.domains)
            peers.append(upesi)
            pairs.append((upesi, sink))
            c = upesi.concurrency
            matched[upesi.name] = []
            for kind, peer_class, started, wanted in (
                    ("postfix", PostfixOutbound, postfixes, not args.no_postfix),
                    ("exim", EximOutbound, exims, use_exim),
                    ("opensmtpd", OpenSmtpdOutbound, opensmtpds, use_opensmtpd)):
                if not wanted:
                    continue
                if c not in started:
                    name = kind if not started else "%s-c%d" % (kind, c)
                    peer_sink = start_sink(counting=True, name="sink-" + name, logdir=workdir)
                    peers.append(peer_sink)
                    peers.append(peer_class(workdir, peer_sink, c, name))
                    started[c] = (peers[-1], peer_sink)
                matched[upesi.name].append(started[c][0].name)
        pairs += postfixes.values()
        pairs += exims.values()
        pairs += opensmtpds.values()
        servers = [server for server, _ in pairs]
        # Taken before the rounds: the state of the trees and the versions the run started with.
        versions = machine_line(args.upesi)
        for server, sink in pairs:
            drain(server, sink, args.warmup, args.domains, args.size, args.sessions, args.timeout)
            check_pinned(server.pid, server.name)
        results = {}
        for _ in range(args.rounds):
            for server, sink in pairs:  # interleaved, so drift hits every server alike
                results.setdefault(server.name, []).append(
                    drain(server, sink, args.messages, args.domains, args.size, args.sessions,
                          args.timeout))
        report(args, servers, results, matched, versions)


def report(args, servers, results, matched, versions):
    print("outbound queue drain: %d messages x %d bytes, %d domain%s, median (min–max) of %d "
          "rounds" % (args.messages, args.size, args.domains, "" if args.domains == 1 else "s",
                      args.rounds))
    print()
    print("| server | parallel deliveries | server cpu ms/msg | msgs/s (first..last delivery) | "
          "msgs/s (from release) | release to 1st delivery s | log bytes/msg | "
          "peak connections to the sink | connections opened |")
    print("|---|---|---|---|---|---|---|---|---|")
    out = {}
    for server in servers:
        runs = results[server.name]
        col = {k: [r[k] for r in runs] for k in runs[0]}
        out[server.name] = dict({k: statistics.median(v) for k, v in col.items()},
                                concurrency=server.concurrency,
                                cpu=summary(col["cpu_ms"]), rates=summary(col["rate"]))
        print("| %s | %s | %s | %s | %s | %s | %.0f | %.0f | %.0f |" % (
            server.name, server.describe_concurrency(), median_range(col["cpu_ms"]),
            median_range(col["rate"], "%.0f"), median_range(col["rate_release"], "%.0f"),
            median_range(col["start_s"], "%.2f"), statistics.median(col["log_bytes"]),
            statistics.median(col["peak_connections"]), statistics.median(col["opened"])))
    print()
    print(versions)
    ratios = []
    if any(matched.values()):
        print()
        print("Ratios against the peers of the same concurrency, paired round by round, "
              "median (min–max): server cpu below 1 and msgs/s above 1 favour Upesi.")
        print()
        print("| upesi / peer | server cpu ms/msg | msgs/s (first..last delivery) |")
        print("|---|---|---|")
        for mine, peer in ((m, p) for m, ps in matched.items() for p in ps):
            a, b = results[mine], results[peer]
            cpu = paired_ratios([r["cpu_ms"] for r in a], [r["cpu_ms"] for r in b])
            rate = paired_ratios([r["rate"] for r in a], [r["rate"] for r in b])
            print("| %s / %s | %s | %s |" % (mine, peer, ratio_range(cpu),
                                             ratio_range(rate)))
            # Issue 21: connections opened at most 2x the peer's plus the concurrency limit.
            opened = statistics.median(r["opened"] for r in a)
            allowed = 2 * statistics.median(r["opened"] for r in b) + \
                next(s.concurrency for s in servers if s.name == mine)
            ratios.append({"server": mine, "peer": peer, "cpu": summary(cpu),
                           "rate": summary(rate), "opened": opened,
                           "opened_allowed": allowed})
        for r in ratios:
            print("%s opened %.0f connections, %s %s: at most %.0f (2x %s's plus the "
                  "concurrency): %s" % (r["server"], r["opened"], "against", r["peer"],
                                        r["opened_allowed"], r["peer"],
                                        "met" if r["opened"] <= r["opened_allowed"] else
                                        "NOT met"))
        print()
        print(versions)
    write_json(args.json, {"servers": out, "ratios": ratios, "rounds": args.rounds,
                           "versions": versions})


if __name__ == "__main__":
    main()
