#!/usr/bin/env python3
"""Milter benchmark: Upesi's milter client against Postfix's, both signing through the same
OpenDKIM, in one run.

    test/bench/milter.py [--upesi BUILD/master/upesi] [--rounds 3] [--messages 3000]
                         [--sessions 10,50] [--socket inet|unix] [--no-milter-upesi]

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
picked at random, verify with dkimpy against the run's key. A run that fails the check stops
the benchmark: figures of unsigned mail would mean nothing.

Measured per run: msgs/s (messages / smtp-source's wall time: the accept rate), the CPU
(user+system, /proc) per message of the server's process tree and, apart, of OpenDKIM's
process, from the first connection until the sink has the last message (+0.3 s). Printed:
medians of --rounds interleaved rounds (min-max), then per session count the ratios and each
milter client's own CPU per message: server with milter - server without (OpenDKIM's CPU is
in neither: it is a process of its own), paired round by round, against the 0.2 ms target.
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

from bench_common import (ROOT, Peer, exit_on_sigterm, free_port, machine_line, servers_run,
                          smtp_source, start_sink, tree_cpu_s, wait_until, write_json)
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


def start_upesi(binary, workdir, name, milter, sink_port, nodes, log_level="warn"):
    """Upesi relaying for 127.0.0.1 into queue/smtp_forward towards the sink; milter: the
    filter's socket (Postfix syntax) or None for no milter plugin."""
    port = free_port()
    inst = workdir / name
    subprocess.run([binary, "-i", str(inst)], check=True, capture_output=True)
    cfg = inst / "config"
    (cfg / "smtp.ini").write_text("[main]\nlisten=127.0.0.1:%d\nnodes=%d\n" % (port, nodes))
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
        """(msgs/s, server CPU ms/msg, OpenDKIM CPU ms/msg) for `messages` 1 KB messages."""
        expected = self.sink.messages() + messages
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
        return messages / wall, cpu * 1000 / messages, dkim_cpu * 1000 / messages


def median_range(values, fmt):
    return (fmt + " (" + fmt + "-" + fmt + ")") % (statistics.median(values), min(values),
                                                   max(values))


def report(results, cells, names, rounds, args, verified):
    print(machine_line())
    print("upesi: %s; opendkim on %s; %d rounds of %d messages, 1 KB, one connection each; "
          "medians (min-max)" % (args.upesi, args.socket, rounds, args.messages))
    print("| sessions | server | msgs/s | server cpu ms/msg | opendkim cpu ms/msg "
          "| server + opendkim |")
    print("|---|---|---|---|---|---|")
    medians = {}
    for sessions in cells:
        for name in names:
            runs = results[(sessions, name)]
            rate, cpu, dk = ([r[i] for r in runs] for i in range(3))
            total = [r[1] + r[2] for r in runs]
            medians[(sessions, name)] = {"msgs_per_s": statistics.median(rate),
                                         "cpu_ms_per_msg": statistics.median(cpu),
                                         "opendkim_cpu_ms_per_msg": statistics.median(dk),
                                         "total_cpu_ms_per_msg": statistics.median(total)}
            print("| %d | %s | %s | %s | %s | %.3f |" % (
                sessions, name, median_range(rate, "%.0f"), median_range(cpu, "%.3f"),
                median_range(dk, "%.3f"), statistics.median(total)))
    print()
    summary = []
    for sessions in cells:
        m = lambda name, key: medians[(sessions, name)][key]  # noqa: E731
        line = {"sessions": sessions}
        if "upesi-milter" in names:
            # Paired round by round, so that drift between rounds cancels.
            own = statistics.median(
                a[1] - b[1] for a, b in zip(results[(sessions, "upesi-milter")],
                                            results[(sessions, "upesi")]))
            line["upesi_milter_client_ms"] = own
            print("c%d: Upesi's milter client adds %.3f ms CPU per message beside OpenDKIM's "
                  "%.3f ms (target <= %.1f: %s)" % (
                      sessions, own, m("upesi-milter", "opendkim_cpu_ms_per_msg"), TARGET_MS,
                      "met" if own <= TARGET_MS else "MISSED"))
        if "postfix" in names:
            own = statistics.median(
                a[1] - b[1] for a, b in zip(results[(sessions, "postfix-milter")],
                                            results[(sessions, "postfix")]))
            line["postfix_milter_client_ms"] = own
            print("c%d: Postfix's milter client adds %.3f ms CPU per message beside OpenDKIM's "
                  "%.3f ms" % (sessions, own, m("postfix-milter", "opendkim_cpu_ms_per_msg")))
        if "upesi-milter" in names:
            rate = m("upesi-milter", "msgs_per_s") / m("postfix-milter", "msgs_per_s")
            cpu = m("upesi-milter", "cpu_ms_per_msg") / m("postfix-milter", "cpu_ms_per_msg")
            line.update(rate_vs_postfix=rate, cpu_vs_postfix=cpu)
            print("c%d: signing through the milter, upesi-milter / postfix-milter: msgs/s "
                  "%.2fx, server cpu %.2fx" % (sessions, rate, cpu))
        summary.append(line)
    print("signatures: every message of every run checked for one at the sink, %d verified"
          % verified)
    return {"servers": [dict(v, sessions=k[0], server=k[1]) for k, v in medians.items()],
            "summary": summary}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--sessions", default="10,50", help="session counts, comma-separated")
    ap.add_argument("--socket", choices=("inet", "unix"), default="inet",
                    help="OpenDKIM on 127.0.0.1:PORT (default) or on a unix socket")
    ap.add_argument("--nodes", type=int, default=0, help="Upesi's worker processes")
    ap.add_argument("--sample", type=int, default=5,
                    help="signatures verified per run (every message is checked for one)")
    ap.add_argument("--postfix-log", choices=("on", "off"), default="on")
    ap.add_argument("--upesi-log", default="warn", help="Upesi's log level (debug to see a stall)")
    ap.add_argument("--no-milter-upesi", action="store_true",
                    help="Postfix and the Upesi without milter only (before the plugin exists)")
    ap.add_argument("--json", help="also write the medians to this file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("Postfix needs root")
    cells = [int(s) for s in args.sessions.split(",")]
    exit_on_sigterm()
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
        if not args.no_milter_upesi:
            servers.append(start_upesi(args.upesi, workdir, "upesi-milter", opendkim.milter,
                                       sink.port, args.nodes, args.upesi_log))
        servers += [
            start_upesi(args.upesi, workdir, "upesi", None, sink.port, args.nodes, args.upesi_log),
            start_postfix(workdir, "postfix-milter", opendkim.milter, sink.port, log),
            start_postfix(workdir, "postfix", None, sink.port, log),
        ]
        peers.extend(servers)
        bench = Bench(sink, dump_dir, opendkim, record, args.sample)
        results = {}
        for sessions in cells:
            for server in servers:
                bench.run(server, 200, sessions)  # warm-up
            for _ in range(args.rounds):
                for server in servers:  # interleaved, so that drift hits every server alike
                    results.setdefault((sessions, server.name), []).append(
                        bench.run(server, args.messages, sessions))
        medians = report(results, cells, [s.name for s in servers], args.rounds, args,
                         bench.verified)
        write_json(args.json, medians)


if __name__ == "__main__":
    main()
