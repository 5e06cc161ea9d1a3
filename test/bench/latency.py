#!/usr/bin/env python3
"""Latency under open-loop load: how long the client waits for the 250 after its end of DATA,
Upesi against Postfix, both keeping every message in their queue (inbound.py --mode queue's
servers: Upesi with deliveries disabled, Postfix into its hold queue; each fsyncs the message
before the 250).

    test/bench/latency.py [--upesi BUILD/master/upesi] [--rounds 5] [--seconds 10]
                          [--nodes default] [--json PATH]

Messages arrive at Poisson times at a fixed mean rate whatever the server does (open_loop.py:
persistent connections, MAIL/RCPT/DATA pipelined, 1 KB), so a slow reply shows as latency
instead of slowing the client down. First each server's maximum is measured with that client
in a closed loop (100 connections, each sending its next message as soon as the last was
answered; what the server completed per second). Then, round by round with the
servers interleaved and each round from an empty queue, every server gets --seconds of load at
50 % and 90 % of Postfix's maximum (the same offered load for both), and Upesi also at 50 % and
90 % of its own. Reported: end-of-DATA-to-250 p50, p99 and p99.9 (all rounds' messages
together), and arrival-to-250 p99 (which adds the wait for a free connection). Target (issue
21): Upesi's p99 at most Postfix's at the same offered load. The client runs on its own CPU,
the servers on the other (bench_common.pin_cpus).
"""
import argparse
import os
import sys

import inbound
import open_loop
from bench_common import ROOT, exit_on_sigterm, pin_cpus, servers_run, write_json

CONNECTIONS = 100


def maximum(server, seconds):
    inbound.warm_up(server, 10, 1000)
    r = open_loop.saturate(server.port, seconds, connections=CONNECTIONS)
    if r.refused:
        raise RuntimeError("%s refused %d messages" % (server.name, r.refused))
    server.expect_stored(inbound.WARMUP + len(r.dot_to_reply), "the maximum's run")
    return len(r.dot_to_reply) / r.elapsed


def loaded(server, rate, seconds):
    inbound.warm_up(server, 10, 1000)
    r = open_loop.offer(server.port, rate, seconds, connections=CONNECTIONS)
    if r.refused:
        raise RuntimeError("%s refused %d messages" % (server.name, r.refused))
    server.expect_stored(inbound.WARMUP + len(r.dot_to_reply), "a round at %.0f msgs/s" % rate)
    return r


def ms(seconds):
    return "–" if seconds is None else "%.2f" % (seconds * 1000)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=10, help="of load per round and level")
    ap.add_argument("--nodes", default="default",
                    help="comma-separated smtp.ini nodes values for Upesi (\"default\": shipped)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("Postfix needs root")
    inbound.MODE = "queue"
    exit_on_sigterm()
    pin_cpus()
    with servers_run("upesi-bench-latency-") as (workdir, peers):
        for nodes in inbound.parse_nodes(args.nodes):
            peers.append(inbound.start_upesi(args.upesi, workdir, nodes))
        peers.append(inbound.start_postfix(workdir))
        servers = [inbound.Measured(p) for p in peers]
        versions = inbound.machine_line(args.upesi)
        top = {s.name: maximum(s, min(args.seconds, 5)) for s in servers}
        levels = {}  # server name -> [(label, offered rate)]
        for s in servers:
            levels[s.name] = [("%d%% of postfix's max" % p, top["postfix"] * p / 100)
                              for p in (50, 90)]
            if s.name != "postfix":
                levels[s.name] += [("%d%% of its own max" % p, top[s.name] * p / 100)
                                   for p in (50, 90)]
        samples = {}  # (server, label) -> LoadResult-like lists
        for _ in range(args.rounds):
            for label_index in range(4):
                for s in servers:
                    if label_index >= len(levels[s.name]):
                        continue
                    label, rate = levels[s.name][label_index]
                    r = loaded(s, rate, args.seconds)
                    cell = samples.setdefault((s.name, label), {"dot": [], "arrival": [],
                                                                 "offered": rate, "done": 0,
                                                                 "elapsed": 0.0})
                    cell["dot"] += r.dot_to_reply
                    cell["arrival"] += r.arrival_to_reply
                    cell["done"] += len(r.dot_to_reply)
                    cell["elapsed"] += r.elapsed

        print("latency, queue mode, open loop (Poisson arrivals, %d connections at most), %d "
              "rounds of %.0f s per level" % (CONNECTIONS, args.rounds, args.seconds))
        print()
        print("maximum with this client: " + ", ".join("%s %.0f msgs/s" % (n, r)
                                                       for n, r in top.items()))
        print()
        print("| server | offered load | offered msgs/s | done msgs/s | end of DATA to 250: "
              "p50 ms | p99 ms | p99.9 ms | arrival to 250 p99 ms |")
        print("|---|---|---|---|---|---|---|---|")
        out = {"maximum": top, "cells": [], "versions": versions}
        for (name, label), c in samples.items():
            row = {q: open_loop.percentile(c["dot"], q) for q in (50, 99, 99.9)}
            arrival99 = open_loop.percentile(c["arrival"], 99)
            print("| %s | %s | %.0f | %.0f | %s | %s | %s | %s |" % (
                name, label, c["offered"], c["done"] / c["elapsed"], ms(row[50]), ms(row[99]),
                ms(row[99.9]), ms(arrival99)))
            out["cells"].append({"server": name, "load": label, "offered": c["offered"],
                                 "p50": row[50], "p99": row[99], "p999": row[99.9],
                                 "arrival_p99": arrival99, "messages": c["done"]})
        print()
        print(versions)
        met = True
        for s in servers:
            if s.name == "postfix":
                continue
            for label, _ in levels["postfix"]:
                mine = open_loop.percentile(samples[(s.name, label)]["dot"], 99)
                theirs = open_loop.percentile(samples[("postfix", label)]["dot"], 99)
                ok = mine <= theirs
                met = met and ok
                print("target: %s p99 %s ms <= postfix's %s ms at %s: %s" % (
                    s.name, ms(mine), ms(theirs), label, "met" if ok else "NOT met"))
        out["target_met"] = met
        write_json(args.json, out)


if __name__ == "__main__":
    main()
