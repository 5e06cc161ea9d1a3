#!/usr/bin/env python3
"""Inbound benchmark: Upesi against smtp-sink, Haraka and (queue mode) Postfix, Exim and
OpenSMTPD, in one run.

    test/bench/inbound.py [--upesi BUILD/master/upesi] [--rounds 5] [--quick] [--mode queue]
                          [--nodes default,2]

Starts every server itself on free loopback ports (Haraka 3.3.4 from npm, installed on first
use into the user's cache directory by test/integration/haraka_peer.py, which the side-by-side
tests share; Postfix as a private instance, see postfix_peer.py; Exim unpacked from Debian's
packages into the user's cache directory on first use and run privately, see exim_peer.py;
OpenSMTPD likewise, in a mount namespace of its own, see opensmtpd_peer.py), drives each with Postfix's
smtp-source (one new connection per message: banner, HELO, MAIL, RCPT, DATA, QUIT), and prints,
per cell, each server's CPU per message, msgs/s and log bytes per message, then the ratios of
every Upesi to every peer, paired round by round.

The fair method (issue 21):
  * Every figure is a ratio against the peers of the same run: the servers take turns round by
    round (--rounds, at least 5), and each ratio is computed per round, then reported as the
    median (min–max) of the rounds. Absolute figures are printed as median (min–max) too.
  * Server CPU per message is the primary figure (the first column, the first ratio): the
    user+system time of the server's process tree (reaped children included) over the run.
    The client (smtp-source) and this script run on one CPU, the servers on the other
    (taskset; bench_common.pin_cpus), so that the client's work never shares the server's
    CPU. msgs/s is the rate the pinned server reached against that client.
  * Every server logs at its shipped default, to a file: Upesi at log.ini's shipped level
    (info) on stderr, captured to a file; Haraka at its shipped level (info), its output to a
    file; Postfix through its postlog service to a maillog file, at its default verbosity;
    Exim to its mainlog file at its default log_selector.
    Log bytes per message are printed per server.
  * Upesi runs at its shipped `nodes` (the row `upesi`) and at nodes=2 (`upesi-n2`); --nodes
    lists others (0 = one process serving in the master). Haraka runs nodes=0, its fastest on
    one CPU (its cluster master would hand every connection over IPC).
  * Queue mode keeps every server's mail as Upesi keeps its own, and checks it: after each round
    every server must hold exactly the messages it accepted (warm-up + the round's), else the
    run is invalid and stops with an error. Each round starts from an empty queue: Upesi and
    Haraka are restarted with their queue directory emptied (Haraka re-arms a 1 s timer per
    queued message forever while deliveries are disabled, so an old queue would cost it CPU),
    Postfix's hold queue is emptied with postsuper -d ALL hold, Exim is restarted with its
    spool emptied; then a warm-up.
  * The versions of everything measured and the file system of the queues are printed under
    every table; a queue directory on tmpfs or ramfs is refused.

Configurations compared (the same policy everywhere):
  --mode discard (default): accept example.com, discard the message
    upesi   plugins rcpt_to.in_host_list + queue/discard
    haraka  plugins rcpt_to.in_host_list + queue/discard
  --mode queue: relay for 127.0.0.1 into a queue file written and fsynced before the 250, and
    kept there (nothing delivered)
    upesi   plugins relay; outbound.ini disabled=true
    haraka  plugins relay + rcpt_to.in_host_list; outbound.ini disabled=true
    postfix relay_domains example.com, mynetworks 127.0.0.0/8, in_flow_delay 0,
            smtpd_end_of_data_restrictions check_client_access inline:{127.0.0.1=HOLD}:
            cleanup writes and fsyncs the queue file into hold/ before smtpd answers 250; no
            qmgr, no transport in the window (its transports are discard: all the same, so
            that nothing could leave if a message missed the hold)
    exim    (exim4-daemon-light) relay_to_domains example.com, relay_from_hosts 127.0.0.1,
            queue_only and a daemon without queue runner (exim -bdf, no -q): the spool files
            are written and fsynced before the 250 and stay; no router (nothing deliverable);
            no reverse lookup (host_lookup empty), no ident, no STARTTLS offered;
            smtp_accept_max 100 and smtp_connect_backlog 100 (Postfix's process limit and
            backlog; Exim's shipped 20 connections would refuse part of the 50 sessions)
  sink      smtp-sink (keeps nothing: the protocol ceiling for this client on this machine);
            it runs on the server CPU, as a server
Haraka also gets a local plugin answering lookup_rdns, so that it sends no DNS query.
YES_REALLY_DO_DISCARD (Haraka's queue/discard and Upesi's want it) is set in discard mode
only, and taken out of the servers' environment in queue mode.
Postfix and Exim run in queue mode only (they cannot accept without queueing); they need root.
Exim is left out, with a line saying why, when it cannot be fetched (or with --no-exim);
OpenSMTPD likewise (--no-opensmtpd). OpenSMTPD keeps its mail in its queue with its mta paused
(smtpd -P mta), so nothing leaves; note that it does not fsync a message before its 250 (seen
with strace: only envelope updates are synced), which the others do.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys

from bench_common import (ROOT, Peer, check_pinned, exit_on_sigterm, free_port, load,
                          peer_available, machine_line, median_range, paired_ratios, pin_cpus,
                          queue_files, ratio_range, servers_run, shipped_ini, start_sink, summary,
                          wait_until, write_json)
from exim_peer import EximPeer
from opensmtpd_peer import OpenSmtpdPeer
from postfix_peer import DISCARD_ALL, HOLD_ALL, TLSMGR, PostfixPeer
import exim_peer
import opensmtpd_peer

sys.path.insert(0, str(ROOT / "test" / "integration"))
import haraka_peer  # noqa: E402  (one Haraka install for the benchmarks and the tests)


MODE = "discard"
WARMUP = 200


def server_env(extra=None):
    """The servers' environment: YES_REALLY_DO_DISCARD in discard mode only (queue mode must
    keep every message, even with a discarding plugin loaded by mistake)."""
    env = dict(os.environ, **(extra or {}))
    env.pop("YES_REALLY_DO_DISCARD", None)
    if MODE == "discard":
        env["YES_REALLY_DO_DISCARD"] = "1"
    return env


def upesi_name(nodes):
    """nodes None: the shipped default."""
    return "upesi" if nodes is None else "upesi-n%d" % nodes


def parse_nodes(text):
    """--nodes: comma-separated smtp.ini nodes values, "default" for the shipped one."""
    return [None if n.strip() == "default" else int(n) for n in text.split(",")]


def start_upesi(binary, workdir, nodes=None, tls=None, smtp_ini="", metrics=False, name=None,
                cgroup=None):
    """nodes: smtp.ini's nodes (None: the shipped default); tls: (key PEM, certificate PEM) to
    add the tls plugin (STARTTLS) with them; smtp_ini: more lines for smtp.ini's [main];
    metrics: serve /metrics (http.ini), which turns the counters on; cgroup: a MemoryCgroup to
    run in. Logs at the shipped level. The Peer's queue_dir is its queue."""
    port = free_port()
    name = name or upesi_name(nodes) + ("-metrics" if metrics else "")
    inst = workdir / name
    subprocess.run([binary, "-i", str(inst)], check=True, capture_output=True)
    cfg = inst / "config"
    (cfg / "smtp.ini").write_text("[main]\nlisten=127.0.0.1:%d\n%s%s" % (
        port, "" if nodes is None else "nodes=%d\n" % nodes, smtp_ini))
    if MODE == "queue":
        (cfg / "plugins").write_text("relay\n")
        (cfg / "relay_acl_allow").write_text("127.0.0.1/32\n")
        (cfg / "outbound.ini").write_text("[main]\ndisabled=true\n")
    else:
        (cfg / "plugins").write_text("rcpt_to.in_host_list\nqueue/discard\n")
        # Every local part, as Haraka's rcpt_to.in_host_list accepts them.
        (cfg / "rcpt_to.in_host_list.ini").write_text("[main]\nmailboxes=any\n")
    add_tls(cfg, tls)
    if metrics:
        (cfg / "http.ini").write_text("[main]\nlisten=127.0.0.1:%d\nmetrics=true\n" % free_port())
    (cfg / "host_list").write_text("example.com\n")
    (cfg / "me").write_text("localhost\n")
    # The shipped defaults (log.ini among them): the binary's own (its source tree's etc/,
    # compiled in), unless UPESI_DEFAULTS_DIR is set.
    peer = Peer(name, [binary, "-c", str(inst)], port, env=server_env(),
                log_path=str(workdir / (name + ".log")), cgroup=cgroup)
    peer.queue_dir = inst / "queue"
    return peer


def start_postfix(workdir, tls=None):
    """Postfix: relay for example.com from 127.0.0.1, in queue mode into its hold queue (see
    postfix_peer.HOLD_ALL), in discard mode discarded after the end of DATA (DISCARD_ALL: it
    cannot accept without cleanup taking the message), logging to its maillog. tls: (key PEM,
    certificate PEM) for STARTTLS (smtpd_tls_security_level=may) at smtpd_tls_loglevel=1: the
    default 0 logs no protocol or cipher."""
    settings = dict(HOLD_ALL if MODE == "queue" else DISCARD_ALL, **{
        "relay_domains": "example.com",
        "relay_recipient_maps": "",
        "in_flow_delay": "0",
        # Nothing is delivered (every message is held); were one not held, it is discarded.
        "relay_transport": "discard:",
        "default_transport": "discard:",
        "transport_maps": "inline:{ example.com=discard: }",
    })
    services = ""
    if tls is not None:
        key, cert = workdir / "postfix_tls_key.pem", workdir / "postfix_tls_cert.pem"
        key.write_text(tls[0])
        cert.write_text(tls[1])
        settings.update(smtpd_tls_security_level="may", smtpd_tls_key_file=str(key),
                        smtpd_tls_cert_file=str(cert), smtpd_tls_loglevel="1")
        services = TLSMGR
    return PostfixPeer(workdir, "postfix", settings, log=True, services=services)


def start_exim(workdir):
    """Exim (queue mode only): relay for example.com from 127.0.0.1 into its spool, where it
    stays (see exim_peer.py), logging to its mainlog."""
    return EximPeer(workdir, "exim", domains="example.com")


def start_opensmtpd(workdir):
    """OpenSMTPD (queue mode only): relay for example.com from 127.0.0.1 into its queue, where
    it stays (mta paused, see opensmtpd_peer.py), logging to its smtpd.log."""
    return OpenSmtpdPeer(workdir, "opensmtpd", mode="queue", domains=("example.com",))


def install_haraka():
    return haraka_peer.install()


def add_tls(cfg, tls):
    """The tls plugin first in config/plugins, with the key and certificate where both Upesi's
    and Haraka's tls plugins look for them by default."""
    if tls is None:
        return
    (cfg / "tls_key.pem").write_text(tls[0])
    (cfg / "tls_cert.pem").write_text(tls[1])
    (cfg / "plugins").write_text("tls\n" + (cfg / "plugins").read_text())


def start_haraka(workdir, tls=None, cgroup=None):
    """Haraka nodes=0 at its shipped log level (its skeleton's log.ini: info), in cgroup (a
    MemoryCgroup) when given. The Peer's queue_dir is its queue."""
    home = install_haraka()
    port = free_port()
    cfg_root = workdir / "haraka"
    # Haraka's own skeleton first (connection.ini, log.ini and friends), then the bench's
    # settings.
    subprocess.run(["node", str(home / "node_modules" / "Haraka" / "bin" / "haraka"), "-i",
                    str(cfg_root)], check=True, capture_output=True, timeout=120)
    (cfg_root / "plugins").mkdir(exist_ok=True)
    cfg = cfg_root / "config"
    (cfg / "smtp.ini").write_text("[main]\nlisten=127.0.0.1:%d\nnodes=0\npublic_ip=127.0.0.1\n"
                                  "inactivity_timeout=300\n" % port)
    if MODE == "queue":
        (cfg / "plugins").write_text("skip_rdns\nrelay\nrcpt_to.in_host_list\n")
        (cfg / "relay.ini").write_text("[relay]\nacl=true\n")
        (cfg / "relay_acl_allow").write_text("127.0.0.1/32\n")
        (cfg / "outbound.ini").write_text("[main]\ndisabled=true\n")
    else:
        (cfg / "plugins").write_text("skip_rdns\nrcpt_to.in_host_list\nqueue/discard\n")
    add_tls(cfg, tls)
    (cfg / "host_list").write_text("example.com\n")
    (cfg / "me").write_text("localhost\n")
    (cfg_root / "plugins" / "skip_rdns.js").write_text(
        "exports.hook_lookup_rdns = function (next, connection) {\n"
        "    next(OK, 'localhost');\n};\n")
    peer = Peer("haraka", ["node", str(home / "node_modules" / "Haraka" / "haraka.js")], port,
                env=server_env({"HARAKA": str(cfg_root)}), cwd=str(home),
                log_path=str(workdir / "haraka.log"),
                # Loaded in the background after it listens (haraka_peer.py waits for it too).
                ready_line="loaded Public Suffixes", cgroup=cgroup)
    peer.queue_dir = cfg_root / "queue"
    return peer


def empty_dir(path):
    """Removes every file in path (a stopped server's queue)."""
    if path.exists():
        for entry in os.scandir(path):
            if entry.is_file() or entry.is_symlink():
                os.unlink(entry.path)


class Measured:
    """A server of the comparison. In queue mode: how many messages it keeps (stored) and how
    a round starts over from an empty queue (reset)."""

    def __init__(self, peer):
        self.peer, self.name = peer, peer.name
        self.keeps = MODE == "queue" and peer.name != "sink"

    @property
    def port(self):
        return self.peer.port

    @property
    def pid(self):
        return self.peer.pid

    def logs(self):
        return self.peer.name != "sink"  # smtp-sink writes nothing without -c

    def stored(self):
        if isinstance(self.peer, PostfixPeer):
            return self.peer.held()
        if isinstance(self.peer, (EximPeer, OpenSmtpdPeer)):
            return self.peer.queued()
        return queue_files(self.peer.queue_dir)

    def reset(self):
        if isinstance(self.peer, PostfixPeer):
            self.peer.delete_held()
        elif isinstance(self.peer, (EximPeer, OpenSmtpdPeer)):
            self.peer.reset()
        else:
            self.peer.restart(lambda: empty_dir(self.peer.queue_dir))
        if self.stored() != 0:
            raise RuntimeError("%s: %d messages left in its queue after emptying it"
                               % (self.name, self.stored()))

    def expect_stored(self, n, what):
        """Waits (a little: the 250 came after the queue file) until the queue holds n, and
        fails the run when it holds any other number."""
        try:
            wait_until(lambda: self.stored() >= n, 10, "%s: %d messages stored" % (self.name, n))
        except TimeoutError:
            pass
        got = self.stored()
        if got != n:
            raise RuntimeError("invalid run: %s stored %d messages after %s, not %d"
                               % (self.name, got, what, n))


def warm_up(server, sessions, size):
    if server.keeps:
        server.reset()
    load(server.port, server.pid, WARMUP, sessions, size)
    check_pinned(server.pid, server.name)
    if server.keeps:
        server.expect_stored(WARMUP, "the warm-up")


def measure(server, n, sessions, size):
    """One round of one server: {"cpu": ms/msg, "rate": msgs/s, "log": bytes/msg}."""
    log0 = server.peer.log_bytes()
    try:
        rate, cpu = load(server.port, server.pid, n, sessions, size)
    except subprocess.TimeoutExpired as e:
        # Say which server stopped answering, with the end of its log.
        raise RuntimeError("%s: smtp-source got no end in %d s (%d messages, %d sessions); its "
                           "log ends:\n%s" % (server.name, e.timeout, n, sessions,
                                               server.peer.log_tail())) from e
    log = (server.peer.log_bytes() - log0) / n
    if server.keeps:
        server.expect_stored(WARMUP + n, "the round")
    return {"cpu": cpu, "rate": rate, "log": log}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="1 KB at 10 sessions only")
    ap.add_argument("--no-haraka", action="store_true")
    ap.add_argument("--no-postfix", action="store_true", help="(queue mode) leave Postfix out")
    ap.add_argument("--no-exim", action="store_true", help="(queue mode) leave Exim out")
    ap.add_argument("--no-opensmtpd", action="store_true",
                    help="(queue mode) leave OpenSMTPD out")
    ap.add_argument("--mode", choices=["discard", "queue"], default="discard")
    ap.add_argument("--nodes", default="default,2",
                    help="comma-separated smtp.ini nodes values to run Upesi with, \"default\" "
                    "for the shipped one (e.g. default,0,2)")
    ap.add_argument("--json", help="also write the medians to this file")
    ap.add_argument("--metrics", action="store_true",
                    help="also run upesi with /metrics served (the counters on), to show their cost")
    args = ap.parse_args()
    global MODE
    MODE = args.mode
    if not shutil.which("smtp-source"):
        sys.exit("smtp-source not found: apt-get install postfix")
    if args.rounds < 5 and not args.quick:
        print("note: %d rounds; the fair method asks for at least 5" % args.rounds,
              file=sys.stderr)

    cells = [(1000, 10)] if args.quick else [(1000, 10), (1000, 50)] if MODE == "queue" else [(1000, 1), (1000, 10), (1000, 50),
                                             (100000, 1), (100000, 10), (100000, 50)]
    # Runs of well over a second each: at 10,000 msgs/s the anchors' 3000 last 0.3 s, and start-up
    # and the last stragglers then weigh more than the rate.
    # In queue mode every server keeps every message, so runs stay at the anchors' 3000.
    counts = {1000: {1: 2000, 10: 10000, 50: 10000}, 100000: {1: 1000, 10: 3000, 50: 3000}}
    if MODE == "queue":
        counts[1000] = {10: 3000, 50: 3000}
    exit_on_sigterm()
    pin_cpus()
    shipped_nodes = shipped_ini(args.upesi, "smtp.ini").get("nodes", "?")
    with servers_run("upesi-bench-") as (workdir, peers):
        for nodes in parse_nodes(args.nodes):
            peers.append(start_upesi(args.upesi, workdir, nodes))
            if args.metrics:
                peers.append(start_upesi(args.upesi, workdir, nodes, metrics=True))
        peers.append(start_sink(logdir=workdir, role="server"))
        if MODE == "queue" and not args.no_postfix:
            if os.geteuid() != 0:
                sys.exit("Postfix needs root (or run with --no-postfix)")
            peers.append(start_postfix(workdir))
        if MODE == "queue" and not args.no_exim and peer_available("exim", exim_peer.install):
            peers.append(start_exim(workdir))
        if MODE == "queue" and not args.no_opensmtpd and \
                peer_available("opensmtpd", opensmtpd_peer.install):
            peers.append(start_opensmtpd(workdir))
        if not args.no_haraka:
            peers.append(start_haraka(workdir))
        servers = [Measured(p) for p in peers]
        # Taken before the rounds: the state of the trees and the versions the run started with.
        versions = machine_line(args.upesi)
        results = {}
        for size, sessions in cells:
            n = counts[size][sessions]
            if MODE == "discard":
                for server in servers:
                    warm_up(server, sessions, size)
            for _ in range(args.rounds):
                for server in servers:  # interleaved, so drift hits every server alike
                    if server.keeps:
                        warm_up(server, sessions, size)  # from an empty queue
                    results.setdefault((size, sessions, server.name), []).append(
                        measure(server, n, sessions, size))
        report(args, cells, counts, servers, results, shipped_nodes, versions)


def report(args, cells, counts, servers, results, shipped_nodes, versions):
    names = [s.name for s in servers]
    logging = {s.name: s.logs() for s in servers}
    print("inbound, mode %s: median (min–max) of %d rounds; upesi = shipped nodes=%s"
          % (MODE, args.rounds, shipped_nodes))
    print()
    print("| size | sessions | messages | server | server cpu ms/msg | msgs/s | log bytes/msg |")
    print("|---|---|---|---|---|---|---|")
    medians = []
    for size, sessions in cells:
        for name in names:
            runs = results[(size, sessions, name)]
            cpu, rate, log = ([r[k] for r in runs] for k in ("cpu", "rate", "log"))
            print("| %d KB | %d | %d | %s | %s | %s | %s |" % (
                size // 1000, sessions, counts[size][sessions], name, median_range(cpu),
                median_range(rate, "%.0f"),
                "%.0f" % statistics.median(log) if logging[name] else "–"))
            medians.append({"size": size, "sessions": sessions, "server": name,
                            "cpu_ms_per_msg": statistics.median(cpu),
                            "msgs_per_s": statistics.median(rate),
                            "log_bytes_per_msg": statistics.median(log) if logging[name] else None,
                            "cpu": summary(cpu), "rate": summary(rate)})
    print()
    print(versions)
    print()
    print("Ratios, paired round by round, median (min–max): server cpu below 1 and msgs/s above"
          " 1 favour Upesi.")
    print()
    print("| size | sessions | upesi / peer | server cpu ms/msg | msgs/s |")
    print("|---|---|---|---|---|")
    ratios = []
    for size, sessions in cells:
        for mine in (n for n in names if n.startswith("upesi")):
            for peer in (n for n in names if not n.startswith("upesi")):
                a, b = results[(size, sessions, mine)], results[(size, sessions, peer)]
                cpu = paired_ratios([r["cpu"] for r in a], [r["cpu"] for r in b])
                rate = paired_ratios([r["rate"] for r in a], [r["rate"] for r in b])
                print("| %d KB | %d | %s / %s | %s | %s |" % (
                    size // 1000, sessions, mine, peer, ratio_range(cpu),
                    ratio_range(rate)))
                ratios.append({"size": size, "sessions": sessions, "server": mine,
                               "peer": peer, "cpu": summary(cpu), "rate": summary(rate)})
    print()
    print(versions)
    write_json(args.json, {"mode": MODE, "rounds": args.rounds, "cells": medians,
                           "ratios": ratios, "versions": versions})


if __name__ == "__main__":
    main()
