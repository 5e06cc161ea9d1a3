#!/usr/bin/env python3
"""A long deferred queue: what a backlog of a million messages costs Upesi.

    test/bench/backlog.py [--upesi BUILD/master/upesi] [--backlog 1000000] [--rounds 5]
                          [--messages 3000] [--nodes N] [--json PATH]

Two Upesi installs run side by side, the same config (relay, a get_mx route to their own
smtp-sink, shipped defaults otherwise: `nodes` as shipped unless --nodes, log level info to a
file): one with an empty queue, one whose queue the script fills with --backlog queue files
in Haraka's format, every one deferred for an hour (its name says so, as a failed attempt
leaves it), and --due more that are due now. The files are copies of a message the server
itself queued, under new names. Then:
  start      seconds from starting the backlog server to the first message at its sink
             (one of the due files; a server that reads the whole list before it delivers
             anything shows here);
  memory     PSS of each server's processes (master and workers) once started and warmed up;
             the difference per queued message;
  accept     --rounds paired rounds, the servers taking turns (which goes first alternates
             round by round): smtp-source sends --messages messages of 1 KB in 10 sessions to
             each server (relayed: queued with fsync, then delivered to its sink); msgs/s and
             server CPU per message, median (min-max), and the ratio backlog / empty of each
             round, median (min-max);
  fresh      one message by smtplib to each server, seconds from its 250 to its arrival at
             the sink, median of --rounds; sent once the round's messages are delivered (the
             queue holds only the deferred files again), so that the sink's next arrival is
             this message, not one of the round's;
  kept       the backlog server's queue still holds every deferred file at the end, once the
             rounds' messages are delivered.
Targets (issue 21): memory at most 100 bytes per queued message above the empty queue; start
to first delivery under 5 s; accept rate at least 0.9x the empty queue's; a fresh message
delivered within 1 s.

The queue lives in a temporary directory on the disk the script runs on (refused on tmpfs,
where a queue is not durable and a directory of a million files is not what a server sees);
a million files of about 1.5 KB take about 4 GB and a minute or two to write, and as long to
remove. The servers run on one CPU, this script, its client and the sinks on another
(bench_common.pin_cpus).
"""
import argparse
import os
import pathlib
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import (ROOT, Peer, exit_on_sigterm, free_port, machine_line,  # noqa: E402
                          pin_cpus, pss_kb, refuse_memory_fs, servers_run, smtp_source,
                          start_sink, tree_cpu_s, tree_pids, wait_until, write_json)

DEFERRED_FOR_S = 3600


class Upesi:
    def __init__(self, name, binary, scripted, workdir, sink, nodes):
        self.name = name
        self.inst = workdir / name
        self.queue = self.inst / "queue"
        self.sink = sink
        self.port = free_port()
        self.binary = binary
        subprocess.run([binary, "-i", str(self.inst)], check=True, capture_output=True,
                       timeout=60)
        (self.inst / "plugins").mkdir(exist_ok=True)
        shutil.copy(scripted, self.inst / "plugins" / "route.so")
        cfg = self.inst / "config"
        smtp = "[main]\nlisten=127.0.0.1:%d\n" % self.port
        if nodes is not None:
            smtp += "nodes=%d\n" % nodes
        (cfg / "smtp.ini").write_text(smtp)
        (cfg / "plugins").write_text("relay\nroute\n")
        (cfg / "relay_acl_allow").write_text("127.0.0.1/32\n")
        (cfg / "route.ini").write_text("[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n" % sink.port)
        (cfg / "me").write_text("localhost\n")
        self.peer = None

    def start(self):
        t0 = time.monotonic()
        self.peer = Peer(self.name, [self.binary, "-c", str(self.inst)], self.port,
                         log_path=str(self.inst / "server.log"))
        self.pid = self.peer.pid
        return t0

    def log_tail(self):
        return self.peer.log_tail() if self.peer else ""

    def stop(self):
        if self.peer:
            self.peer.stop()
            self.peer = None

    def queued(self):
        return sum(1 for e in os.scandir(self.queue) if not e.name.startswith(("__tmp__", ".")))


def template_file(server):
    """Bytes of a queue file the server wrote itself (deliveries held), and its name."""
    (server.inst / "config" / "outbound.ini").write_text("[main]\ndisabled=true\n")
    server.start()
    try:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as s:
            s.sendmail("sender@example.com", ["user@backlog.example"],
                       "Subject: deferred\r\n\r\n" + ("x" * 70 + "\r\n") * 14)
        wait_until(lambda: server.queued() == 1, 10, "the template message in the queue")
        [name] = [e.name for e in os.scandir(server.queue) if not e.name.startswith("__tmp__")]
        data = (server.queue / name).read_bytes()
        os.unlink(server.queue / name)
    finally:
        server.stop()
        (server.inst / "config" / "outbound.ini").unlink()
    return name, data


def fill_queue(queue, template, data, n, due_now):
    """n queue files deferred for an hour and due_now due at once, named as Haraka names
    them (arrival_next_attempts_pid_uid_counter_host), with the template's bytes."""
    parts = template.split("_")
    host = "_".join(parts[6:])
    now = int(time.time() * 1000)
    later = now + DEFERRED_FOR_S * 1000
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for i in range(n + due_now):
        deferred = i < n
        arrival = now - 86400000 + i  # a day ago, one a millisecond
        name = "%d_%d_%d_%d_bk%06x_%d_%s" % (arrival, later if deferred else now,
                                            1 if deferred else 0, 4000000 + i % 1000,
                                            i % 0xffffff, i, host)
        fd = os.open(os.path.join(queue, name), flags, 0o600)
        os.write(fd, data)
        os.close(fd)


def delivered_all(server, deferred):
    """Waits until the server's queue holds only its deferred files: what the rounds accepted
    for the healthy domain is delivered. Counting the sink before that would count those."""
    wait_until(lambda: server.queued() <= deferred, 300,
               lambda: "%s: the accepted messages delivered (%d files queued, %d deferred)"
               % (server.name, server.queued(), deferred), interval=0.5)


def fresh_latency(server, deferred):
    """Seconds from a fresh message's 250 to its delivery, sent once nothing else is on its way
    to the healthy domain (so that the sink's next message is this one)."""
    delivered_all(server, deferred)
    before = server.sink.messages()
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as s:
        s.sendmail("sender@example.com", ["fresh@healthy.example"],
                   "Subject: fresh\r\n\r\nhello\r\n")
        t0 = time.monotonic()
    wait_until(lambda: server.sink.messages() > before, 30, "%s: the fresh message" % server.name,
               interval=0.002)
    return time.monotonic() - t0


def accept(server, messages):
    """msgs/s of smtp-source's run and the server's CPU ms per message over it."""
    cpu0 = tree_cpu_s(server.pid)
    t0 = time.monotonic()
    smtp_source(server.port, messages, 10, 1000, rcpt="user@healthy.example")
    wall = time.monotonic() - t0
    time.sleep(0.3)
    cpu = tree_cpu_s(server.pid) - cpu0
    return messages / wall, cpu * 1000 / messages


def spread(values, fmt="%.0f"):
    return (fmt + " (" + fmt + "-" + fmt + ")") % (statistics.median(values), min(values),
                                                 max(values))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--scripted", help="the scripted test plugin (default: the one of --upesi's "
                    "build directory, else build/test/plugins/scripted.so)")
    ap.add_argument("--backlog", type=int, default=1000000)
    ap.add_argument("--due", type=int, default=100, help="backlog files due at once")
    ap.add_argument("--messages", type=int, default=3000, help="messages per accept round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--nodes", type=int, help="smtp.ini nodes (default: the shipped value)")
    ap.add_argument("--settle", type=float, default=10,
                    help="seconds after start before memory is read")
    ap.add_argument("--workdir", help="where the installs and queues go (default: a temporary "
                    "directory under the current one)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    if not args.scripted:
        own = pathlib.Path(args.upesi).resolve().parents[1] / "test" / "plugins" / "scripted.so"
        args.scripted = str(own if own.exists()
                            else ROOT / "build" / "test" / "plugins" / "scripted.so")
    for tool in ("smtp-source", "smtp-sink"):
        if not shutil.which(tool):
            sys.exit("%s not found: apt-get install postfix" % tool)
    base = pathlib.Path(args.workdir or tempfile.gettempdir()).resolve()
    refuse_memory_fs(base)
    tempfile.tempdir = str(base)
    pin_cpus()  # servers on their CPU (bench_common.Peer), this script and its clients on another

    exit_on_sigterm()
    with servers_run("upesi-bench-backlog-") as (workdir, peers):
        servers = {}
        for name in ("empty", "backlog"):
            sink = start_sink(counting=True, name="sink-" + name, logdir=workdir)
            peers.append(sink)
            servers[name] = Upesi(name, args.upesi, args.scripted, workdir, sink, args.nodes)
            peers.append(servers[name])
        empty, backlog = servers["empty"], servers["backlog"]
        template, data = template_file(backlog)
        t = time.monotonic()
        fill_queue(backlog.queue, template, data, args.backlog, args.due)
        fill_s = time.monotonic() - t
        print("wrote %d queue files in %.0f s" % (args.backlog + args.due, fill_s), flush=True)
        os.sync()

        versions = machine_line(args.upesi)
        empty.start()
        t0 = backlog.start()
        wait_until(lambda: backlog.sink.messages() > 0, 120, "the first delivery from the "
                   "backlog server", interval=0.002)
        start_s = time.monotonic() - t0
        wait_until(lambda: backlog.sink.messages() >= args.due, 120,
                   "the %d due files delivered" % args.due)
        for server in (empty, backlog):  # warm both alike
            smtp_source(server.port, 300, 10, 1000, rcpt="user@healthy.example")
        time.sleep(args.settle)
        memory = {name: pss_kb(tree_pids(s.pid)) for name, s in servers.items()}
        per_message = (memory["backlog"] - memory["empty"]) * 1024 / args.backlog

        deferred = {"empty": 0, "backlog": args.backlog}
        rounds = {"empty": [], "backlog": []}
        fresh = {"empty": [], "backlog": []}
        for i in range(args.rounds):
            # which goes first alternates: the one after inherits the other's writeback
            order = ("empty", "backlog") if i % 2 == 0 else ("backlog", "empty")
            for name in order:
                rounds[name].append(accept(servers[name], args.messages))
                fresh[name].append(fresh_latency(servers[name], deferred[name]))
            print("round %d: %s" % (i + 1, ", ".join(
                "%s %.0f msgs/s" % (n, rounds[n][-1][0]) for n in ("empty", "backlog"))),
                flush=True)
        delivered_all(backlog, args.backlog)
        left = backlog.queued()

        rate = {n: [r[0] for r in rounds[n]] for n in rounds}
        cpu = {n: [r[1] for r in rounds[n]] for n in rounds}
        ratios = [b / e for b, e in zip(rate["backlog"], rate["empty"])]
        ratio = statistics.median(ratios)
        print("\nbacklog: %d deferred queue files (+%d due), %d rounds of %d messages x 1 KB, "
              "10 sessions" % (args.backlog, args.due, args.rounds, args.messages))
        print("nodes %s" % ("shipped" if args.nodes is None else args.nodes))
        print(versions)
        print("| queue | server CPU ms/msg | msgs/s | fresh message s | PSS MiB |")
        print("|---|---|---|---|---|")
        for name in ("empty", "backlog"):
            print("| %s | %s | %s | %s | %.1f |" % (
                name, spread(cpu[name], "%.3f"), spread(rate[name]),
                spread(fresh[name], "%.3f"), memory[name] / 1024))
        targets = [
            ("memory per queued message, bytes", "%.1f" % per_message, "<= 100",
             per_message <= 100),
            ("start to first delivery, s", "%.2f" % start_s, "< 5", start_s < 5),
            ("accept rate vs empty queue, paired rounds", "%s" % spread(ratios, "%.2fx"),
             ">= 0.9x", ratio >= 0.9),
            ("fresh message delivered, s (median)",
             "%.3f" % statistics.median(fresh["backlog"]), "<= 1",
             statistics.median(fresh["backlog"]) <= 1),
            ("deferred files still queued", "%d of %d" % (left, args.backlog), "all",
             left == args.backlog),
        ]
        print("\n| target | measured | goal | met |")
        print("|---|---|---|---|")
        for what, got, goal, met in targets:
            print("| %s | %s | %s | %s |" % (what, got, goal, "yes" if met else "NO"))
        write_json(args.json, {
            "per_message_bytes": per_message, "start_s": start_s, "accept_ratio": ratio,
            "accept_ratio_min": min(ratios), "accept_ratio_max": max(ratios),
            "fresh_s": statistics.median(fresh["backlog"]), "kept": left,
            "backlog": args.backlog, "rate": {n: statistics.median(v) for n, v in rate.items()},
            "cpu_ms": {n: statistics.median(v) for n, v in cpu.items()},
            "pss_kb": memory, "fill_s": fill_s})
        print("\nremoving the queue ...", flush=True)
        for s in servers.values():
            s.stop()
        shutil.rmtree(backlog.queue, ignore_errors=True)
        if not args.json and not all(met for *_, met in targets):
            sys.exit(1)  # (with --json the caller, compare.py, judges)


if __name__ == "__main__":
    main()
