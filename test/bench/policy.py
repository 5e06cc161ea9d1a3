#!/usr/bin/env python3
"""Policy benchmark: Upesi against Haraka 3.3.4 with the DNS-driven policy plugins on, in one run.

    test/bench/policy.py [--upesi BUILD/master/upesi] [--rounds 5] [--quick] [--json FILE]
                         [--nodes default,2]

Both servers run the same plugins with the same config files, accept mail for example.com and
discard it:
    dns-list                 3 zones (two block lists, one allow list), search=all
    helo.checks              Haraka's defaults
    fcrdns                   the client's PTR name and its addresses
    mail_from.is_resolvable  the sender domain's MX and the MX host's address
    rcpt_to.in_host_list, queue/discard
against one resolver on a loopback port that answers every query after 1 ms (slow_resolver.py),
as a nearby caching resolver would. The client, Postfix's smtp-source, opens one connection per
message from 127.0.0.1 and greets as client.bench.test, which the zone names back and forth;
nothing is listed, so every message is accepted. Loopback clients are private, which both
servers' plugins skip by default: Upesi is told `[skip] private_ip=false`, Haraka gets a first
plugin that marks the client public.

Rows: the policy plugins (Upesi as shipped, with its resolver's answer cache and dns-list's
per-client cache; and "nocache" with both off, so that it asks every lookup, as Haraka does),
and the same servers without them, for scale. The resolver's negative answers carry an SOA, as
real ones do, so that a cache may keep them. Each cell prints server CPU per message, msgs/s
and log bytes per message, median (min–max) of the rounds, the DNS queries
per message each server asked, and the ratios of each Upesi row to its Haraka row (with or
without the plugins), paired round by round: median (min–max).

The fair method (README, issue 21):
  * --rounds paired rounds (default 5), the servers interleaved round by round; every ratio is
    the median (min–max) of the per-round ratios; server CPU per message is the first column.
  * The client (smtp-source), this script and the resolver (a thread of this script) run on one
    CPU, the servers on the other (taskset; Haraka, started by haraka_peer.py, is moved there
    once it listens). The resolver is a shared helper standing for a remote one: it serves both
    servers alike and its CPU is no server's.
  * Every server logs at its shipped default to a file: Upesi at log.ini's level (info) on
    stderr, Haraka at its shipped info; log bytes per message are printed.
  * After each round each server must have logged "discarding message" (queue/discard, both at
    info) exactly once per message sent, else the run stops with an error.
  * Upesi runs at its shipped `nodes` (--nodes lists others: 2 adds the "-n2" rows); Haraka at
    nodes=0, its fastest on one CPU. Nothing is queued, yet a temporary directory on tmpfs is
    refused as by every bench here; the versions are printed under every table.
"""
import os
import statistics
import subprocess
import sys

from bench_common import (ROOT, Peer, check_pinned, exit_on_sigterm, expect_logged, file_size,
                          free_port, load, machine_line, median_range, paired_ratios,
                          paired_run_parser, pin_cpus, pin_tree, ratio_range, servers_run,
                          shipped_ini, summary, write_json)
from inbound import parse_nodes
from slow_resolver import SlowResolver

sys.path.insert(0, str(ROOT / "test" / "integration"))
import haraka_peer  # noqa: E402

ZONES = ("bl1.bench.test", "bl2.bench.test", "wl.bench.test")
CLIENT_NAME = "client.bench.test"
SENDER = "sender@sender.bench.test"
POLICY_PLUGINS = ["dns-list", "helo.checks", "fcrdns", "mail_from.is_resolvable"]
BASE_PLUGINS = ["rcpt_to.in_host_list", "queue/discard"]
# What queue/discard logs at info for every message, in Upesi and in Haraka.
DISCARDED = "discarding message"


def records():
    """The zone: the client's PTR and name, the sender's MX, and each list's self-test entry
    (127.0.0.2 listed); the client, 127.0.0.1, is on no list."""
    zone = {
        ("1.0.0.127.in-addr.arpa", "PTR"): [CLIENT_NAME + "."],
        (CLIENT_NAME, "A"): ["127.0.0.1"],
        (CLIENT_NAME, "AAAA"): [],
        ("sender.bench.test", "MX"): ["10 mx.sender.bench.test."],
        ("mx.sender.bench.test", "A"): ["192.0.2.25"],
        ("mx.sender.bench.test", "AAAA"): [],
    }
    for z in ZONES:
        zone[("2.0.0.127." + z, "A")] = ["127.0.0.2"]
    return zone


def config_files(policy, caches=True):
    """Config files (name -> text) both servers read alike; Upesi's own keys are ignored by
    Haraka's plugins. No log.ini: both log at their shipped level."""
    files = {
        "host_list": "example.com\n",
        "rcpt_to.in_host_list.ini": "[main]\nmailboxes=any\n",
    }
    if policy:
        files["dns-list.ini"] = (
            "[main]\nzones=%s\nsearch=all\n%s\n[skip]\nprivate_ip=false\n\n[%s]\ntype=allow\n"
            % (",".join(ZONES), "" if caches else "cache_max_entries=0\n", ZONES[2]))
        files["helo.checks.ini"] = "[skip]\nprivate_ip=false\n"
        files["fcrdns.ini"] = "[skip]\nprivate_ip=false\n"
    return files


def upesi_name(base, nodes):
    """nodes None: the shipped default (no suffix)."""
    return base if nodes is None else "%s-n%d" % (base, nodes)


def start_upesi(binary, workdir, name, dns_port, policy, caches=True, nodes=None):
    port = free_port()
    inst = workdir / name
    subprocess.run([binary, "-i", str(inst)], check=True, capture_output=True)
    cfg = inst / "config"
    (cfg / "smtp.ini").write_text("[main]\nlisten=127.0.0.1:%d\n%s" % (
        port, "" if nodes is None else "nodes=%d\n" % nodes))
    (cfg / "dns.ini").write_text("[main]\nservers=127.0.0.1:%d\n%s" % (
        dns_port, "" if caches else "cache_size=0\n"))
    (cfg / "me").write_text("mx.bench.test\n")
    (cfg / "plugins").write_text("\n".join((POLICY_PLUGINS if policy else []) + BASE_PLUGINS)
                                 + "\n")
    for file, text in config_files(policy, caches).items():
        (cfg / file).write_text(text)
    env = dict(os.environ, YES_REALLY_DO_DISCARD="1")
    peer = Peer(name, [binary, "-c", str(inst)], port, env=env,
                log_path=str(workdir / (name + ".log")))
    peer.haraka_row = "haraka" if policy else "haraka-plain"
    return peer


class HarakaPeer:
    """Haraka started by the test harness (its DNS pointed at our resolver), at its shipped log
    level (info), moved to the server CPU; with the pid, port and log the bench needs."""

    def __init__(self, workdir, name, dns_port, policy):
        self.name = name
        self.haraka = haraka_peer.start(
            workdir / name, dns_port, plugins=(POLICY_PLUGINS if policy else []) + BASE_PLUGINS,
            files=config_files(policy), public_client=policy, rdns_localhost=not policy)
        self.port, self.pid = self.haraka.port, self.haraka.proc.pid
        self.log_path = str(self.haraka.log_path)
        pin_tree(self.pid)

    def log_bytes(self):
        return file_size(self.log_path)

    def log_tail(self, chars=2000):
        return self.haraka.log()[-chars:]

    def stop(self):
        self.haraka.stop()


def smtp_load(peer, resolver, messages, sessions):
    """{"cpu": server ms/msg, "rate": msgs/s, "log": log bytes/msg, "dns": queries/msg} for
    `messages` 1 KB messages, each of which the server must have discarded."""
    asked, log0 = resolver.queries, peer.log_bytes()
    rate, cpu = load(peer.port, peer.pid, messages, sessions, 1000, sender=SENDER,
                     helo=CLIENT_NAME)
    expect_logged(peer.name, peer.log_path, log0, DISCARDED, messages)
    return {"cpu": cpu, "rate": rate, "log": (peer.log_bytes() - log0) / messages,
            "dns": (resolver.queries - asked) / messages}


def main():
    ap = paired_run_parser(__doc__)
    ap.add_argument("--delay-ms", type=float, default=1.0, help="the resolver's answer delay")
    ap.add_argument("--nodes", default="default",
                    help="comma-separated smtp.ini nodes values for Upesi (\"default\": "
                    "shipped), e.g. default,2")
    args = ap.parse_args()
    rounds = 1 if args.quick else args.rounds
    if rounds < 5 and not args.quick:
        print("note: %d rounds; the fair method asks for at least 5" % rounds, file=sys.stderr)
    cells = [10] if args.quick else [10, 50]
    exit_on_sigterm()
    pin_cpus()
    shipped_nodes = shipped_ini(args.upesi, "smtp.ini").get("nodes", "?")
    with SlowResolver(records(), delay_ms=args.delay_ms) as resolver, \
            servers_run("upesi-policy-") as (workdir, peers):
        dns = resolver.port
        for nodes in parse_nodes(args.nodes):
            peers.append(start_upesi(args.upesi, workdir, upesi_name("upesi", nodes), dns,
                                     policy=True, nodes=nodes))
            peers.append(start_upesi(args.upesi, workdir, upesi_name("upesi-nocache", nodes),
                                     dns, policy=True, caches=False, nodes=nodes))
        peers.append(HarakaPeer(workdir, "haraka", dns, policy=True))
        for nodes in parse_nodes(args.nodes):
            peers.append(start_upesi(args.upesi, workdir, upesi_name("upesi-plain", nodes), dns,
                                     policy=False, nodes=nodes))
        peers.append(HarakaPeer(workdir, "haraka-plain", dns, policy=False))
        versions = machine_line(args.upesi)  # before the rounds: what the run started with
        results = {}
        for sessions in cells:
            for peer in peers:  # warm-up (also fills the caches that are on)
                smtp_load(peer, resolver, 200, sessions)
                check_pinned(peer.pid, peer.name)
            for _ in range(rounds):
                for peer in peers:  # interleaved, so drift hits every server alike
                    results.setdefault((sessions, peer.name), []).append(
                        smtp_load(peer, resolver, args.messages, sessions))
        medians = report(args, rounds, cells, peers, results, shipped_nodes, versions)
        write_json(args.json, medians)


def report(args, rounds, cells, peers, results, shipped_nodes, versions):
    print("policy plugins: resolver delay %.1f ms; %d rounds of %d messages, 1 KB, one "
          "connection each; median (min–max); upesi = shipped nodes=%s"
          % (args.delay_ms, rounds, args.messages, shipped_nodes))
    print()
    print("| sessions | server | server cpu ms/msg | msgs/s | log bytes/msg | DNS queries/msg "
          "| cpu vs Haraka | msgs/s vs Haraka |")
    print("|---|---|---|---|---|---|---|---|")
    medians = []
    for sessions in cells:
        for peer in peers:
            runs = results[(sessions, peer.name)]
            cpu, rate, log, dns = ([r[k] for r in runs] for k in ("cpu", "rate", "log", "dns"))
            entry = {"sessions": sessions, "server": peer.name,
                     "msgs_per_s": statistics.median(rate),
                     "cpu_ms_per_msg": statistics.median(cpu),
                     "dns_queries_per_msg": statistics.median(dns),
                     "log_bytes_per_msg": statistics.median(log),
                     "cpu": summary(cpu), "rate": summary(rate), "versions": versions}
            cpu_ratio = rate_ratio = "–"
            ref = getattr(peer, "haraka_row", None)
            if ref:  # an Upesi row: paired against its Haraka row
                theirs = results[(sessions, ref)]
                cpus = paired_ratios(cpu, [r["cpu"] for r in theirs])
                rates = paired_ratios(rate, [r["rate"] for r in theirs])
                cpu_ratio, rate_ratio = ratio_range(cpus), ratio_range(rates)
                entry.update(peer=ref, rate_vs_haraka=statistics.median(rates),
                             cpu_vs_haraka=statistics.median(cpus), cpu_ratio=summary(cpus),
                             rate_ratio=summary(rates))
            print("| %d | %s | %s | %s | %.0f | %.2f | %s | %s |" % (
                sessions, peer.name, median_range(cpu), median_range(rate, "%.0f"),
                statistics.median(log), statistics.median(dns), cpu_ratio, rate_ratio))
            medians.append(entry)
    print()
    print("Ratios paired round by round, median (min–max): cpu below 1 and msgs/s above 1 "
          "favour Upesi; each Upesi row against haraka (policy) or haraka-plain (none).")
    print(versions)
    return medians


if __name__ == "__main__":
    main()
