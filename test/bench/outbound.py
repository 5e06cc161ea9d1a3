#!/usr/bin/env python3
"""Outbound benchmark: how fast Upesi and Postfix drain a queue of relayed mail to smtp-sink.

    test/bench/outbound.py [--upesi BUILD/master/upesi] [--messages 3000] [--rounds 3]

Method (queue drain), per server and round, the servers interleaved round by round:
  1. deliveries held, preload --messages messages of --size bytes with smtp-source (one
     recipient each, user@d1.example .. user@dK.example for --domains K, in equal parts), and
     wait until the server's queue holds exactly that many messages;
  2. release deliveries and wait until the queue is empty AND the server's smtp-sink has
     received every message (smtp-sink -c counts each message it answered with 250);
  3. the sink must have received exactly --messages messages (more means a duplicate or a
     bounce, fewer a loss): otherwise the run is invalid and the script stops with an error.
Reported (median over rounds): msgs/s from the first message at the sink to the last (the
drain proper), msgs/s from the release (includes the release mechanics: for Upesi the 0.5 s
debounce of its config watcher, for Postfix postconf + postfix reload), the seconds from
release to the first message, and the server's CPU per message (user+system of its whole
process tree from release to the end, reaped children included: for Postfix the master with
qmgr, smtp, bounce/defer and so on). smtp-sink's and the script's own CPU are not counted;
they share the machine's cores with the server. A warm-up drain (--warmup) runs first.

Each server gets its own smtp-sink (so that nothing one sends can be counted for the other).
  upesi    plugins relay (relay_acl_allow 127.0.0.1/32) + `route`: the scripted test plugin
           (build/test/plugins/scripted.so, built with -Dtests=true) answering get_mx with
           127.0.0.1:SINKPORT; deliveries held with outbound.ini disabled=true, released by
           rewriting it with disabled=false (the server applies it) and SIGHUP. Outbound
           settings otherwise default (concurrency_max=100 per worker, 10 pooled connections
           per destination). log.ini level=notice (nothing is logged per delivery at that
           level; the script waits for "deliveries paused/resumed").
  postfix  private instance (postfix_peer.py), relayhost = [127.0.0.1]:SINKPORT, held with
           defer_transports = smtp, released with postconf -e defer_transports= + postfix
           reload + postqueue -f. Defaults otherwise: 20 parallel deliveries per destination
           (every message here shares the one relayhost destination), connection cache on.
"""
import argparse
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import time

from bench_common import (ROOT, Peer, exit_on_sigterm, free_port, machine_line, servers_run,
                          smtp_source, start_sink, tree_cpu_s, wait_until, write_json)
from postfix_peer import PostfixPeer

SENDER = "sender@example.com"


class UpesiOutbound:
    def __init__(self, binary, scripted, workdir, sink, nodes=0):
        self.name = "upesi" if nodes == 0 else "upesi-n%d" % nodes
        self.workers = max(nodes, 1)
        self.inst = workdir / self.name
        self.cfg = self.inst / "config"
        self.queue = self.inst / "queue"
        port = free_port()
        subprocess.run([binary, "-i", str(self.inst)], check=True, capture_output=True,
                       timeout=60)
        (self.inst / "plugins").mkdir(exist_ok=True)
        shutil.copy(scripted, self.inst / "plugins" / "route.so")
        (self.cfg / "smtp.ini").write_text("[main]\nlisten=127.0.0.1:%d\nnodes=%d\n"
                                           % (port, nodes))
        (self.cfg / "plugins").write_text("relay\nroute\n")
        (self.cfg / "relay_acl_allow").write_text("127.0.0.1/32\n")
        (self.cfg / "route.ini").write_text("[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n" % sink.port)
        (self.cfg / "outbound.ini").write_text("[main]\ndisabled=true\n")
        (self.cfg / "me").write_text("localhost\n")
        (self.cfg / "log.ini").write_text("[main]\nlevel=notice\n")
        self.held = True
        self._log_pos = 0
        # The shipped defaults: the binary's own (its source tree's etc/, compiled in), unless
        # UPESI_DEFAULTS_DIR is set.
        self.peer = Peer(self.name, [binary, "-c", str(self.inst)], port,
                         log_path=str(workdir / (self.name + ".log")))
        self.port, self.pid = port, self.peer.pid

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
        tmp = self.cfg / ".outbound.ini.new"
        tmp.write_text("[main]\ndisabled=%s\n" % ("true" if disabled else "false"))
        os.replace(tmp, self.cfg / "outbound.ini")

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
        return sum(1 for e in os.scandir(self.queue)
                   if not e.name.startswith((".", "__tmp__.")))

    def preloaded(self, n):
        return self.queued() == n

    def log_tail(self):
        return self.peer.log_tail()

    def stop(self):
        self.peer.stop()


class PostfixOutbound:
    def __init__(self, workdir, sink, log=True):
        self.name = "postfix"
        self.pf = PostfixPeer(workdir, "postfix", {
            "relayhost": "[127.0.0.1]:%d" % sink.port,
            "relay_domains": "",
            "default_transport": "smtp",
            "relay_transport": "smtp",
            "defer_transports": "smtp",
        }, log=log)
        self.held = True
        self.port, self.pid = self.pf.port, self.pf.pid

    def hold(self):
        if not self.held:
            self.pf.set(defer_transports="smtp")
            self.held = True

    def release(self):
        self.pf.set(defer_transports="")
        self.pf.flush()
        self.held = False

    def queued(self):
        return self.pf.queued()

    def preloaded(self, n):
        # Every message has been through qmgr and waits in deferred/.
        deferred = sum(len(files) for _, _, files in os.walk(self.pf.queue / "deferred"))
        return deferred == n and self.pf.queued() == n

    def log_tail(self):
        return self.pf.log_tail()

    def stop(self):
        self.pf.stop()


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
    cpu0 = tree_cpu_s(server.pid)
    sessions0 = sink.sessions()
    t0 = time.monotonic()
    server.release()
    wait_until(lambda: sink.messages() > s0, timeout, "%s: a first delivery" % server.name,
               interval=0.005)
    t_first = time.monotonic()
    wait_until(lambda: sink.messages() - s0 >= n and server.queued() == 0, timeout,
               lambda: "%s: the queue to drain (sink has %d of %d, queue %d)" % (
                   server.name, sink.messages() - s0, n, server.queued()), interval=0.01)
    t_end = time.monotonic()
    cpu = tree_cpu_s(server.pid) - cpu0
    time.sleep(0.5)  # anything arriving late (a duplicate, a bounce) invalidates the run
    got = sink.messages() - s0
    if got != n or server.queued() != 0:
        raise RuntimeError("%s: invalid run: the sink received %d messages, %d sent; %d still "
                           "queued" % (server.name, got, n, server.queued()))
    return {"rate": (n - 1) / (t_end - t_first), "rate_release": n / (t_end - t0),
            "start_s": t_first - t0, "cpu_ms": cpu * 1000 / n,
            "connections": sink.sessions() - sessions0}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--scripted",
                    help="the scripted test plugin, used as the get_mx route (default: the one "
                    "of --upesi's build directory if it has one, else build/test/plugins/)")
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--domains", type=int, default=5)
    ap.add_argument("--size", type=int, default=1000, help="smtp-source -l bytes")
    ap.add_argument("--sessions", type=int, default=10, help="preload sessions")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=300, help="messages in the warm-up drain")
    ap.add_argument("--timeout", type=float, default=300, help="seconds a drain may take")
    ap.add_argument("--nodes", default="0",
                    help="comma-separated smtp.ini nodes values to run Upesi with (e.g. 0,2)")
    ap.add_argument("--no-postfix", action="store_true")
    ap.add_argument("--json", help="also write the medians to this file")
    ap.add_argument("--postfix-log", choices=["on", "off"], default="on",
                    help="Postfix's maillog (default on: a Postfix in service logs every message)")
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

    exit_on_sigterm()
    with servers_run("upesi-bench-out-") as (workdir, peers):
        pairs = []  # (server, its sink)
        for nodes in (int(n) for n in args.nodes.split(",")):
            peers.append(start_sink(counting=True, name="sink-upesi-n%d" % nodes,
                                    logdir=workdir))
            peers.append(UpesiOutbound(args.upesi, args.scripted, workdir, peers[-1], nodes))
            pairs.append((peers[-1], peers[-2]))
        if not args.no_postfix:
            peers.append(start_sink(counting=True, name="sink-postfix", logdir=workdir))
            peers.append(PostfixOutbound(workdir, peers[-1], args.postfix_log == "on"))
            pairs.append((peers[-1], peers[-2]))
        servers = [server for server, _ in pairs]
        for server, sink in pairs:
            drain(server, sink, args.warmup, args.domains, args.size, args.sessions, args.timeout)
        results = {}
        for _ in range(args.rounds):
            for server, sink in pairs:  # interleaved, so drift hits every server alike
                results.setdefault(server.name, []).append(
                    drain(server, sink, args.messages, args.domains, args.size, args.sessions,
                          args.timeout))
        print("outbound queue drain: %d messages x %d bytes, %d domains, median of %d rounds"
              % (args.messages, args.size, args.domains, args.rounds))
        print(machine_line())
        print("| server | msgs/s (first..last delivery) | msgs/s (from release) | "
              "release to 1st delivery s | cpu ms/msg | connections to the sink | msgs/s per round |")
        print("|---|---|---|---|---|---|---|")
        med = {}
        for server in servers:
            runs = results[server.name]
            m = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            med[server.name] = m
            print("| %s | %.0f | %.0f | %.2f | %.3f | %.0f | %s |" % (
                server.name, m["rate"], m["rate_release"], m["start_s"], m["cpu_ms"],
                m["connections"],
                " ".join("%.0f" % r["rate"] for r in runs)))
        write_json(args.json, med)
        if "postfix" in med:
            for server in servers:
                if server.name != "postfix":
                    a, b = med[server.name], med["postfix"]
                    print("%s/postfix: msgs/s %.2fx, cpu ms/msg %.2fx" % (
                        server.name, a["rate"] / b["rate"], a["cpu_ms"] / b["cpu_ms"]))


if __name__ == "__main__":
    main()
