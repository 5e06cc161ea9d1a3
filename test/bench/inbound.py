#!/usr/bin/env python3
"""Inbound benchmark: Upesi against smtp-sink, Haraka and (queue mode) Postfix, in one run.

    test/bench/inbound.py [--upesi BUILD/master/upesi] [--rounds 3] [--quick] [--mode queue]

Starts every server itself on free loopback ports (Haraka 3.3.4 from npm, installed on first
use into the user's cache directory by test/integration/haraka_peer.py, which the side-by-side
tests share; Postfix as a private instance, see postfix_peer.py), drives each with Postfix's
smtp-source (one new connection per message: banner, HELO, MAIL, RCPT, DATA, QUIT), and prints,
per cell, the median msgs/s and server CPU per message, and the ratios of Upesi to each peer.
Server CPU is the user+system time of the server's process tree (children included) over the
run.

Configurations compared (the same policy everywhere):
  --mode discard (default): accept example.com, discard the message
    upesi   plugins rcpt_to.in_host_list + queue/discard
    haraka  plugins rcpt_to.in_host_list + queue/discard
  --mode queue: relay for 127.0.0.1 into the outbound queue (written, fsynced, renamed; the
    directory fsynced by Upesi), deliveries disabled
    upesi   plugins relay; outbound.ini disabled=true
    haraka  plugins relay + rcpt_to.in_host_list; outbound.ini disabled=true
    postfix relay_domains example.com, mynetworks 127.0.0.0/8: cleanup writes and fsyncs the
            queue file before smtpd answers 250, then qmgr hands it to the discard: transport
            (as in the shared anchors); logs to its maillog unless --postfix-log off
  sink      smtp-sink (keeps nothing: the protocol ceiling for this client on this machine)
Haraka also gets a local plugin answering lookup_rdns, so that it sends no DNS query.
Postfix runs in queue mode only (it cannot accept without queueing); it needs root.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys

from bench_common import (ROOT, Peer, exit_on_sigterm, free_port, load, machine_line,
                          servers_run, start_sink, write_json)
from postfix_peer import PostfixPeer

sys.path.insert(0, str(ROOT / "test" / "integration"))
import haraka_peer  # noqa: E402  (one Haraka install for the benchmarks and the tests)


MODE = "discard"


def start_upesi(binary, workdir, nodes=0, tls=None, smtp_ini="", metrics=False):
    """tls: (key PEM, certificate PEM) to add the tls plugin (STARTTLS) with them; smtp_ini:
    more lines for smtp.ini's [main]; metrics: serve /metrics (http.ini), which turns the
    counters on."""
    port = free_port()
    name = ("upesi" if nodes == 0 else "upesi-n%d" % nodes) + ("-metrics" if metrics else "")
    inst = workdir / name
    subprocess.run([binary, "-i", str(inst)], check=True, capture_output=True)
    cfg = inst / "config"
    (cfg / "smtp.ini").write_text(
        "[main]\nlisten=127.0.0.1:%d\nnodes=%d\n%s" % (port, nodes, smtp_ini))
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
    (cfg / "log.ini").write_text("[main]\nlevel=warn\n")
    # The shipped defaults: the binary's own (its source tree's etc/, compiled in), unless
    # UPESI_DEFAULTS_DIR is set.
    env = dict(os.environ, YES_REALLY_DO_DISCARD="1")
    return Peer(name, [binary, "-c", str(inst)], port, env=env,
                log_path=str(workdir / (name + ".log")))


def start_postfix(workdir, log):
    """Postfix (queue mode only): relay for example.com from 127.0.0.1; cleanup writes and
    fsyncs the queue file before smtpd answers 250, then qmgr hands it to discard:."""
    return PostfixPeer(workdir, "postfix", {
        "relay_domains": "example.com",
        "relay_recipient_maps": "",
        "relay_transport": "discard:",
        "default_transport": "discard:",
        "transport_maps": "inline:{ example.com=discard: }",
    }, log=log)


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


def start_haraka(workdir, tls=None):
    home = install_haraka()
    port = free_port()
    cfg_root = workdir / "haraka"
    # Haraka's own skeleton first (connection.ini and friends), then the bench's settings.
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
    (cfg / "log.ini").write_text("[main]\nlevel=warn\n")
    (cfg_root / "plugins" / "skip_rdns.js").write_text(
        "exports.hook_lookup_rdns = function (next, connection) {\n"
        "    next(OK, 'localhost');\n};\n")
    env = dict(os.environ, HARAKA=str(cfg_root), YES_REALLY_DO_DISCARD="1")
    return Peer("haraka", ["node", str(home / "node_modules" / "Haraka" / "haraka.js")], port,
                env=env, cwd=str(home), log_path=str(workdir / "haraka.log"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1 KB at 10 sessions only")
    ap.add_argument("--no-haraka", action="store_true")
    ap.add_argument("--no-postfix", action="store_true", help="(queue mode) leave Postfix out")
    ap.add_argument("--postfix-log", choices=["on", "off"], default="on",
                    help="Postfix's maillog (default on: a Postfix in service logs every message)")
    ap.add_argument("--mode", choices=["discard", "queue"], default="discard")
    ap.add_argument("--nodes", default="0",
                    help="comma-separated smtp.ini nodes values to run Upesi with (e.g. 0,1,2)")
    ap.add_argument("--json", help="also write the medians to this file")
    ap.add_argument("--metrics", action="store_true",
                    help="also run upesi with /metrics served (the counters on), to show their cost")
    args = ap.parse_args()
    global MODE
    MODE = args.mode
    if not shutil.which("smtp-source"):
        sys.exit("smtp-source not found: apt-get install postfix")

    cells = [(1000, 10)] if args.quick else [(1000, 10), (1000, 50)] if MODE == "queue" else [(1000, 1), (1000, 10), (1000, 50),
                                             (100000, 1), (100000, 10), (100000, 50)]
    # Runs of well over a second each: at 10,000 msgs/s the anchors' 3000 last 0.3 s, and start-up
    # and the last stragglers then weigh more than the rate.
    # In queue mode Upesi and Haraka keep every message, so runs stay at the anchors' 3000.
    counts = {1000: {1: 2000, 10: 10000, 50: 10000}, 100000: {1: 1000, 10: 3000, 50: 3000}}
    if MODE == "queue":
        counts[1000] = {10: 3000, 50: 3000}
    exit_on_sigterm()
    with servers_run("upesi-bench-") as (workdir, peers):
        for nodes in (int(n) for n in args.nodes.split(",")):
            peers.append(start_upesi(args.upesi, workdir, nodes))
            if args.metrics:
                peers.append(start_upesi(args.upesi, workdir, nodes, metrics=True))
        peers.append(start_sink(logdir=workdir))
        if MODE == "queue" and not args.no_postfix:
            if os.geteuid() != 0:
                sys.exit("Postfix needs root (or run with --no-postfix)")
            peers.append(start_postfix(workdir, args.postfix_log == "on"))
        if not args.no_haraka:
            peers.append(start_haraka(workdir))
        results = {}
        for size, sessions in cells:
            n = counts[size][sessions]
            for peer in peers:  # warm-up
                load(peer.port, peer.pid, 200, sessions, size)
            for _ in range(args.rounds):
                for peer in peers:  # interleaved, so drift hits every peer alike
                    results.setdefault((size, sessions, peer.name), []).append(
                        load(peer.port, peer.pid, n, sessions, size))
        print("mode: %s" % MODE)
        print(machine_line())
        names = [p.name for p in peers]
        header = "| size | sessions | " + " | ".join(
            "%s msgs/s | %s cpu ms/msg" % (n, n) for n in names)
        header += " | " + " | ".join("%s/%s msgs/s" % (names[0], n) for n in names[1:]) + " |"
        print(header)
        print("|" + "---|" * (2 + 2 * len(names) + len(names) - 1))
        medians = []
        for size, sessions in cells:
            row = ["%d KB" % (size // 1000), str(sessions)]
            med = {}
            for name in names:
                runs = results[(size, sessions, name)]
                rate = statistics.median(r[0] for r in runs)
                cpu = statistics.median(r[1] for r in runs)
                med[name] = rate
                row += ["%.0f" % rate, "%.3f" % cpu]
                medians.append({"size": size, "sessions": sessions, "server": name,
                                "msgs_per_s": rate, "cpu_ms_per_msg": cpu})
            row += ["%.2fx" % (med[names[0]] / med[n]) for n in names[1:]]
            print("| " + " | ".join(row) + " |")
        write_json(args.json, {"mode": MODE, "cells": medians})


if __name__ == "__main__":
    main()
