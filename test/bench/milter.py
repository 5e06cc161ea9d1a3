#!/usr/bin/env python3
"""Milter benchmark: Upesi's milter client against Postfix's, both signing through the same
OpenDKIM, in one run.

    test/bench/milter.py [--upesi BUILD/master/upesi] [--rounds 5] [--messages 3000]
                         [--sessions 10,50] [--socket inet|unix] [--nodes default,2]
                         [--no-milter-upesi]

One OpenDKIM (Debian's opendkim, Mode s, RSA-2048, relaxed/relaxed, a key made for the run)
listens on 127.0.0.1:PORT (--socket unix: a unix socket) and signs for example.com, the
domain of the load's sender. Every server relays for 127.0.0.1 and hands each message to one
smtp-sink, which writes every message it gets to a file:
  upesi-milter    relay + milter (OpenDKIM) + queue/smtp_forward to the sink: the sink has
                  the message before the client gets its 250; nothing is written to disk
  upesi           the same without milter: the milter client's cost is the difference
  postfix-milter  smtpd_milters = OpenDKIM; relayhost = the sink: cleanup writes and fsyncs
                  the queue file before the 250, then qmgr and smtp deliver it to the sink
  postfix         the same without smtpd_milters
Load: Postfix's smtp-source, one new connection per message (1 KB), --sessions in parallel.
A run ends when the sink has every message; then the dump is checked: every message from a
milter server carries a DKIM-Signature (and none from the others), and --sample of them,
picked at random, verify with dkimpy against the run's key. A run that fails the check, or
after which the sink got any other number of messages than were sent, stops the benchmark:
figures of unsigned or lost mail would mean nothing.

Measured per run: the CPU (user+system, /proc) per message of the server's process tree and,
apart, of OpenDKIM's process, from the first connection until the sink has the last message
(+0.3 s); msgs/s (messages / smtp-source's wall time: the accept rate); the server's log bytes
per message. Printed: median (min–max) of --rounds rounds, then per session count the paired
ratios upesi-milter / postfix-milter and each milter client's own CPU per message: server with
milter - server without (OpenDKIM's CPU is in neither: it is a process of its own), paired
round by round, against the 0.2 ms target.

The fair method (README, issue 21):
  * --rounds paired rounds (default 5), the servers interleaved round by round; every ratio
    and difference is the median (min–max) of the per-round ones; server CPU per message is
    the first column.
  * smtp-source, this script, the sink and OpenDKIM run on one CPU, the servers on the other
    (taskset). OpenDKIM is a helper both servers share: its CPU is counted apart and in no
    server's, so it stays off the servers' CPU, where it would take time slices from the
    server measured; both servers wait for the same OpenDKIM on the same CPU.
  * Every server logs at its shipped default to a file: Upesi at log.ini's level (info) on
    stderr, Postfix through postlogd to a maillog at its default verbosity (--upesi-log and
    --postfix-log off depart from that, for a look at a stall); log bytes per message printed.
  * Upesi runs at its shipped `nodes` (--nodes lists others: 2 adds upesi-n2 and
    upesi-n2-milter). Postfix's queue is on disk: a temporary directory on tmpfs is refused;
    the versions are printed under every table.
Needs root (Postfix), postfix, opendkim, python3-dkim and a release build of Upesi.
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import time

import dkim

from bench_common import (ROOT, Peer, check_pinned, exit_on_sigterm, free_port, machine_line,
                          median_range, paired_ratios, pin_cpus, ratio_range, servers_run,
                          shipped_ini, smtp_source, start_sink, summary, tree_cpu_s, wait_until,
                          write_json)
from inbound import parse_nodes
from opendkim_peer import OpenDkim, make_key
from postfix_peer import PostfixPeer

DOMAIN = "example.com"
SELECTOR = "bench"
SENDER = "sender@" + DOMAIN
RCPT = "user@" + DOMAIN
SIZE = 1000
TARGET_MS = 0.2
# The lines smtp-sink writes before each message it dumps (the last one: its Received header,
# three lines).
SINK_FIELDS = ("X-Client-Addr:", "X-Client-Proto:", "X-Helo-Args:", "X-Mail-Args:",
               "X-Rcpt-Args:")


def start_upesi(binary, workdir, name, milter, sink_port, nodes=None, log_level=None):
    """Upesi relaying for 127.0.0.1 into queue/smtp_forward towards the sink; milter: the
    filter's socket (Postfix syntax) or None for no milter plugin; nodes and log_level None:
    the shipped defaults."""
    port = free_port()
    inst = workdir / name
    subprocess.run([binary, "-i", str(inst)], check=True, capture_output=True)
    cfg = inst / "config"
    (cfg / "smtp.ini").write_text("[main]\nlisten=127.0.0.1:%d\n%s" % (
        port, "" if nodes is None else "nodes=%d\n" % nodes))
    plugins = ["relay"] + (["milter"] if milter else []) + ["queue/smtp_forward"]
    (cfg / "plugins").write_text("".join(p + "\n" for p in plugins))
    (cfg / "relay_acl_allow").write_text("127.0.0.1/32\n")
    (cfg / "smtp_forward.ini").write_text("[main]\nhost=127.0.0.1\nport=%d\n" % sink_port)
    # Should a message miss the forward, it waits in the queue instead of going to an MX.
    (cfg / "outbound.ini").write_text("[main]\ndisabled=true\n")
    if milter:
        (cfg / "milter.ini").write_text(
            "[main]\nmilters=opendkim\ndefault_action=tempfail\n\n[opendkim]\nsocket=%s\n"
            % milter)
    (cfg / "me").write_text("localhost\n")
    if log_level:
        (cfg / "log.ini").write_text("[main]\nlevel=%s\n" % log_level)
    return Peer(name, [binary, "-c", str(inst)], port, log_path=str(workdir / (name + ".log")))


def start_postfix(workdir, name, milter, sink_port, log):
    settings = {
        "relay_domains": DOMAIN,
        "relay_recipient_maps": "",
        "relayhost": "[127.0.0.1]:%d" % sink_port,
    }
    if milter:
        settings.update(smtpd_milters=milter, milter_default_action="tempfail",
                        milter_protocol="6")
    return PostfixPeer(workdir, name, settings, log=log)


def sink_message(path):
    """The message as the server sent it, CRLF-terminated, without smtp-sink's own lines."""
    lines = path.read_bytes().split(b"\n")
    i = 0
    while i < len(lines) and lines[i].startswith(tuple(f.encode() for f in SINK_FIELDS)):
        i += 1
    if i < len(lines) and lines[i].startswith(b"Received:"):
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    body = lines[i:]
    while body and body[-1] == b"":  # the file ends with an empty line of smtp-sink's
        body.pop()
    return b"\r\n".join(body) + b"\r\n"


def check_dump(dump_dir, signed, record, sample):
    """Checks and removes the messages dumped by the sink: every one (or, signed=False, none)
    has a DKIM-Signature; `sample` of them verify. Returns (messages, verified)."""
    files = list(dump_dir.iterdir())
    with_signature = [f for f in files if b"\nDKIM-Signature:" in f.read_bytes()]
    if len(with_signature) != (len(files) if signed else 0):
        raise RuntimeError("%d of %d messages at the sink carry a DKIM-Signature (expected %s)"
                           % (len(with_signature), len(files), "all" if signed else "none"))
    verified = 0
    for f in random.sample(with_signature, min(sample, len(with_signature))):
        message = sink_message(f)
        if not dkim.verify(message, dnsfunc=lambda name, timeout=5: record.encode()):
            raise RuntimeError("a signature does not verify:\n%s" % message.decode(
                errors="replace")[:1500])
        verified += 1
    for f in files:
        f.unlink()
    return len(files), verified


class Bench:
    def __init__(self, sink, dump_dir, opendkim, record, sample):
        self.sink, self.dump_dir, self.opendkim = sink, dump_dir, opendkim
        self.record, self.sample = record, sample
        self.signed_checked = self.verified = 0

    def run(self, server, messages, sessions):
        """{"cpu": server ms/msg, "rate": msgs/s, "dkim": OpenDKIM ms/msg, "log": the server's
        log bytes/msg} for `messages` 1 KB messages."""
        expected = self.sink.messages() + messages
        log0 = server.log_bytes()
        cpu0, dkim0 = tree_cpu_s(server.pid), self.opendkim.cpu_s()
        t0 = time.monotonic()
        smtp_source(server.port, messages, sessions, SIZE, rcpt=RCPT, sender=SENDER)
        wall = time.monotonic() - t0
        # Postfix delivers after its 250: the run lasts until the sink has every message.
        wait_until(lambda: self.sink.messages() >= expected, 300,
                   lambda: "%s: %d of %d messages at the sink" % (
                       server.name, self.sink.messages() - expected + messages, messages))
        time.sleep(0.3)  # work the servers do after their last reply
        cpu = tree_cpu_s(server.pid) - cpu0
        dkim_cpu = self.opendkim.cpu_s() - dkim0
        if self.sink.messages() != expected:
            raise RuntimeError("%s: the sink got %d messages, not %d" % (
                server.name, self.sink.messages() - expected + messages, messages))
        count, verified = check_dump(self.dump_dir, server.name.endswith("-milter"),
                                     self.record, self.sample)
        if count != messages:
            raise RuntimeError("%s: %d messages dumped, not %d" % (server.name, count, messages))
        self.verified += verified
        return {"cpu": cpu * 1000 / messages, "rate": messages / wall,
                "dkim": dkim_cpu * 1000 / messages,
                "log": (server.log_bytes() - log0) / messages}


def differences(a, b, key):
    """Round by round a[key] - b[key] (a server with milter minus the same without)."""
    return [x[key] - y[key] for x, y in zip(a, b)]


def report(results, cells, names, rounds, args, verified, shipped_nodes, versions):
    print("milter: upesi %s (shipped nodes=%s); opendkim on %s; %d rounds of %d messages, 1 KB, "
          "one connection each; median (min–max)" % (args.upesi, shipped_nodes, args.socket,
                                                     rounds, args.messages))
    print()
    print("| sessions | server | server cpu ms/msg | msgs/s | log bytes/msg | opendkim cpu ms/msg "
          "| server + opendkim |")
    print("|---|---|---|---|---|---|---|")
    medians = {}
    for sessions in cells:
        for name in names:
            runs = results[(sessions, name)]
            cpu, rate, dk, log = ([r[k] for r in runs] for k in ("cpu", "rate", "dkim", "log"))
            total = [r["cpu"] + r["dkim"] for r in runs]
            medians[(sessions, name)] = {"msgs_per_s": statistics.median(rate),
                                         "cpu_ms_per_msg": statistics.median(cpu),
                                         "opendkim_cpu_ms_per_msg": statistics.median(dk),
                                         "total_cpu_ms_per_msg": statistics.median(total),
                                         "log_bytes_per_msg": statistics.median(log),
                                         "cpu": summary(cpu), "rate": summary(rate)}
            print("| %d | %s | %s | %s | %.0f | %s | %s |" % (
                sessions, name, median_range(cpu), median_range(rate, "%.0f"),
                statistics.median(log), median_range(dk), median_range(total)))
    print()
    lines = []
    for sessions in cells:
        runs = lambda name: results[(sessions, name)]  # noqa: E731
        m = lambda name, key: medians[(sessions, name)][key]  # noqa: E731
        line = {"sessions": sessions}
        for name in (n for n in names if n.endswith("-milter")):
            # Paired round by round, so that drift between rounds cancels.
            own = differences(runs(name), runs(name[:-len("-milter")]), "cpu")
            mine = name.startswith("upesi")
            key = ("%s_milter_client_ms" % name[:-len("-milter")].replace("-", "_"))
            line[key] = statistics.median(own)
            line[key + "_range"] = summary(own)
            print("c%d: %s's milter client adds %s ms CPU per message beside OpenDKIM's "
                  "%.3f ms%s" % (
                      sessions, name[:-len("-milter")], median_range(own),
                      m(name, "opendkim_cpu_ms_per_msg"),
                      " (target <= %.1f: %s)" % (
                          TARGET_MS, "met" if statistics.median(own) <= TARGET_MS
                          else "MISSED") if mine else ""))
        for name in (n for n in names if n.startswith("upesi") and n.endswith("-milter")):
            cpus = paired_ratios([r["cpu"] for r in runs(name)],
                                 [r["cpu"] for r in runs("postfix-milter")])
            rates = paired_ratios([r["rate"] for r in runs(name)],
                                  [r["rate"] for r in runs("postfix-milter")])
            suffix = "" if name == "upesi-milter" else "_" + name[len("upesi-"):-len(
                "-milter")]
            line.update({"cpu_vs_postfix" + suffix: statistics.median(cpus),
                         "rate_vs_postfix" + suffix: statistics.median(rates),
                         "cpu_ratio" + suffix: summary(cpus),
                         "rate_ratio" + suffix: summary(rates)})
            print("c%d: signing through the milter, %s / postfix-milter: server cpu %s, "
                  "msgs/s %s" % (sessions, name, ratio_range(cpus), ratio_range(rates)))
        lines.append(line)
    print("ratios and differences paired round by round, median (min–max); cpu below 1 and "
          "msgs/s above 1 favour Upesi")
    print("signatures: every message of every run checked for one at the sink, %d verified"
          % verified)
    print(versions)
    return {"servers": [dict(v, sessions=k[0], server=k[1]) for k, v in medians.items()],
            "summary": lines, "versions": versions}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--sessions", default="10,50", help="session counts, comma-separated")
    ap.add_argument("--socket", choices=("inet", "unix"), default="inet",
                    help="OpenDKIM on 127.0.0.1:PORT (default) or on a unix socket")
    ap.add_argument("--nodes", default="default",
                    help="comma-separated smtp.ini nodes values for Upesi (\"default\": "
                    "shipped), e.g. default,2")
    ap.add_argument("--sample", type=int, default=5,
                    help="signatures verified per run (every message is checked for one)")
    ap.add_argument("--postfix-log", choices=("on", "off"), default="on")
    ap.add_argument("--upesi-log", default=None,
                    help="Upesi's log level (default: the shipped one; debug to see a stall)")
    ap.add_argument("--no-milter-upesi", action="store_true",
                    help="Postfix and the Upesi without milter only (before the plugin exists)")
    ap.add_argument("--json", help="also write the medians to this file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("Postfix needs root")
    if args.rounds < 5:
        print("note: %d rounds; the fair method asks for at least 5" % args.rounds,
              file=sys.stderr)
    cells = [int(s) for s in args.sessions.split(",")]
    exit_on_sigterm()
    pin_cpus()  # OpenDKIM and the sink, children of this script, stay on the client CPU
    shipped_nodes = shipped_ini(args.upesi, "smtp.ini").get("nodes", "?")
    with servers_run("upesi-milter-bench-") as (workdir, peers):
        key, record = make_key(workdir)
        opendkim = OpenDkim(workdir, key, DOMAIN, SELECTOR,
                            port=free_port() if args.socket == "inet" else None)
        peers.append(opendkim)
        dump_dir = workdir / "sink"
        dump_dir.mkdir()
        sink = start_sink(counting=True, logdir=str(workdir), dump_dir=str(dump_dir))
        peers.append(sink)
        log = args.postfix_log == "on"
        servers = []
        for nodes in parse_nodes(args.nodes):
            base = "upesi" if nodes is None else "upesi-n%d" % nodes
            if not args.no_milter_upesi:
                servers.append(start_upesi(args.upesi, workdir, base + "-milter",
                                           opendkim.milter, sink.port, nodes, args.upesi_log))
            servers.append(start_upesi(args.upesi, workdir, base, None, sink.port, nodes,
                                       args.upesi_log))
        servers += [
            start_postfix(workdir, "postfix-milter", opendkim.milter, sink.port, log),
            start_postfix(workdir, "postfix", None, sink.port, log),
        ]
        peers.extend(servers)
        versions = machine_line(args.upesi)  # before the rounds: what the run started with
        bench = Bench(sink, dump_dir, opendkim, record, args.sample)
        results = {}
        for sessions in cells:
            for server in servers:
                bench.run(server, 200, sessions)  # warm-up
                check_pinned(server.pid, server.name)
            for _ in range(args.rounds):
                for server in servers:  # interleaved, so that drift hits every server alike
                    results.setdefault((sessions, server.name), []).append(
                        bench.run(server, args.messages, sessions))
        medians = report(results, cells, [s.name for s in servers], args.rounds, args,
                         bench.verified, shipped_nodes, versions)
        write_json(args.json, medians)


if __name__ == "__main__":
    main()
