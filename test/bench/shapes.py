#!/usr/bin/env python3
"""Message shapes: server CPU per message, Upesi against Postfix, both keeping every message in
their queue (inbound.py --mode queue's servers and checks), for the shapes that hurt MTAs.

    test/bench/shapes.py [--upesi BUILD/master/upesi] [--rounds 5] [--nodes default]
                         [--only NAME,...] [--json PATH]

Shapes (each a cell; the servers take turns round by round, each round from an empty queue):
  rcpt100    100 recipients per message (smtp-source -r 100), 1 KB, 10 sessions
  10mb       10 MB messages (smtp-source -l), 2 sessions: past Upesi's spool_after, so the
             message is spilled to disk while it arrives
  10perconn  10 messages per connection, 1 KB, 10 connections at a time (this script's client:
             EHLO, then MAIL/RCPT/DATA pipelined and the body, ten times, then QUIT)
  chunking   1 KB messages sent with BDAT ... LAST (RFC 3030) after MAIL/RCPT pipelined, one
             per connection, 10 connections at a time (this script's client)
Reported per shape: server CPU ms per message (the primary figure), msgs/s against this client,
median (min–max), and the paired ratio Upesi / Postfix. Target (issue 21): no worse than 2x
Postfix's CPU per message on any shape, and better on most. Postfix's message_size_limit is
raised to 20 MB for the 10 MB shape (its default, 10240000 bytes, is below it); Upesi's default
(max_message_size) already allows it.
"""
import argparse
import asyncio
import os
import subprocess
import sys
import time

import inbound
from open_loop import reply_code
from bench_common import (ROOT, exit_on_sigterm, median_range, paired_ratios, pin_cpus,
                          ratio_range, servers_run, summary, tree_cpu_s, write_json)


def smtp_source_shape(extra, size):
    def send(port, n, sessions):
        cmd = ["smtp-source", "-A", "-M", "bench.client", "-m", str(n), "-s", str(sessions),
               "-l", str(size), "-t", "user@example.com", "-f", "sender@example.com"] + extra + \
              ["-4", "inet:127.0.0.1:%d" % port]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if r.returncode != 0 or "warning" in r.stdout + r.stderr or "fatal" in r.stderr:
            raise RuntimeError("smtp-source failed (rc=%d): %s" % (r.returncode,
                                                                    (r.stdout + r.stderr)[-300:]))
    return send


async def _session(port, messages, chunking, size):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert await reply_code(reader) == 220
    writer.write(b"EHLO bench.client\r\n")
    assert await reply_code(reader) == 250
    text = b"Subject: shape\r\n\r\n" + (b"x" * 78 + b"\r\n") * max(1, size // 80)
    envelope = b"MAIL FROM:<sender@example.com>\r\nRCPT TO:<user@example.com>\r\n"
    for _ in range(messages):
        if chunking:
            writer.write(envelope + b"BDAT %d LAST\r\n" % len(text) + text)
            codes = [await reply_code(reader) for _ in range(3)]
        else:
            writer.write(envelope + b"DATA\r\n")
            codes = [await reply_code(reader) for _ in range(3)]
            if codes[2] == 354:
                writer.write(text + b".\r\n")
                codes.append(await reply_code(reader))
        if codes[:2] != [250, 250] or codes[-1] != 250:
            raise RuntimeError("refused: replies %s" % codes)
    writer.write(b"QUIT\r\n")
    await reply_code(reader)
    writer.close()


def python_shape(per_connection, chunking, size=1000):
    def send(port, n, sessions):
        async def all_sessions():
            connections = n // per_connection
            queue = asyncio.Queue()
            for _ in range(connections):
                queue.put_nowait(per_connection)

            async def worker():
                while not queue.empty():
                    await _session(port, queue.get_nowait(), chunking, size)
            await asyncio.gather(*(worker() for _ in range(sessions)))
        asyncio.run(all_sessions())
    return send


SHAPES = {
    # name: (messages per round, sessions, sender)
    "rcpt100": (1000, 10, smtp_source_shape(["-r", "100"], 1000)),
    "10mb": (40, 2, smtp_source_shape([], 10 * 1024 * 1024)),
    "10perconn": (3000, 10, python_shape(10, False)),
    "chunking": (3000, 10, python_shape(1, True)),
}


def measure(server, shape):
    n, sessions, send = SHAPES[shape]
    cpu0 = tree_cpu_s(server.pid)
    t0 = time.monotonic()
    send(server.port, n, sessions)
    wall = time.monotonic() - t0
    time.sleep(0.3)  # work the server does after its last reply
    cpu = tree_cpu_s(server.pid) - cpu0
    server.expect_stored(inbound.WARMUP + n, "the %s round" % shape)
    return {"cpu": cpu * 1000 / n, "rate": n / wall}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--nodes", default="default",
                    help="comma-separated smtp.ini nodes values for Upesi (\"default\": shipped)")
    ap.add_argument("--only", help="comma-separated shapes (default: all)")
    ap.add_argument("--json", help="also write the medians to this file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("Postfix needs root")
    shapes = args.only.split(",") if args.only else list(SHAPES)
    inbound.MODE = "queue"
    exit_on_sigterm()
    pin_cpus()
    with servers_run("upesi-bench-shapes-") as (workdir, peers):
        for nodes in inbound.parse_nodes(args.nodes):
            peers.append(inbound.start_upesi(args.upesi, workdir, nodes))
        postfix = inbound.start_postfix(workdir)
        postfix.set(message_size_limit=str(20 * 1024 * 1024))
        peers.append(postfix)
        servers = [inbound.Measured(p) for p in peers]
        versions = inbound.machine_line(args.upesi)
        results = {}
        for shape in shapes:
            for _ in range(args.rounds):
                for server in servers:
                    inbound.warm_up(server, 10, 1000)
                    results.setdefault((shape, server.name), []).append(measure(server, shape))
        print("message shapes, queue mode: median (min–max) of %d rounds" % args.rounds)
        print()
        print("| shape | messages | server | server cpu ms/msg | msgs/s |")
        print("|---|---|---|---|---|")
        out = {"cells": [], "ratios": [], "versions": versions}
        for shape in shapes:
            for server in servers:
                runs = results[(shape, server.name)]
                cpu, rate = [r["cpu"] for r in runs], [r["rate"] for r in runs]
                print("| %s | %d | %s | %s | %s |" % (shape, SHAPES[shape][0], server.name,
                                                     median_range(cpu),
                                                     median_range(rate, "%.0f")))
                out["cells"].append({"shape": shape, "server": server.name,
                                     "cpu": summary(cpu), "rate": summary(rate)})
        print()
        print("| shape | upesi / postfix | server cpu ms/msg | msgs/s |")
        print("|---|---|---|---|")
        for shape in shapes:
            theirs = results[(shape, "postfix")]
            for server in (s for s in servers if s.name != "postfix"):
                mine = results[(shape, server.name)]
                cpu = paired_ratios([r["cpu"] for r in mine], [r["cpu"] for r in theirs])
                rate = paired_ratios([r["rate"] for r in mine], [r["rate"] for r in theirs])
                print("| %s | %s / postfix | %s | %s |" % (shape, server.name, ratio_range(cpu),
                                                          ratio_range(rate)))
                out["ratios"].append({"shape": shape, "server": server.name,
                                      "cpu": summary(cpu), "rate": summary(rate)})
        print()
        print(versions)
        worst = max(r["cpu"]["median"] for r in out["ratios"])
        better = sum(1 for r in out["ratios"] if r["cpu"]["median"] < 1)
        met = worst <= 2 and better > len(out["ratios"]) / 2
        print("target: cpu/msg at most 2x Postfix's on every shape (worst %.2fx) and better on "
              "most (%d of %d): %s" % (worst, better, len(out["ratios"]),
                                       "met" if met else "NOT met"))
        out["target_met"] = met
        write_json(args.json, out)


if __name__ == "__main__":
    main()
