#!/usr/bin/env python3
"""Policy benchmark: Upesi against Haraka 3.3.4 with the DNS-driven policy plugins on, in one run.

    test/bench/policy.py [--upesi BUILD/master/upesi] [--rounds 5] [--quick] [--json FILE]

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
real ones do, so that a cache may keep them. Each cell prints the median msgs/s and server CPU
per message of the rounds, the ratio of Upesi to Haraka, and the DNS queries per message each
server asked. Servers run one process each (nodes=0).
"""
import os
import statistics
import subprocess
import sys

from bench_common import (ROOT, Peer, exit_on_sigterm, free_port, load, machine_line,
                          paired_run_parser, servers_run, write_json)
from slow_resolver import SlowResolver

sys.path.insert(0, str(ROOT / "test" / "integration"))
import haraka_peer  # noqa: E402

ZONES = ("bl1.bench.test", "bl2.bench.test", "wl.bench.test")
CLIENT_NAME = "client.bench.test"
SENDER = "sender@sender.bench.test"
POLICY_PLUGINS = ["dns-list", "helo.checks", "fcrdns", "mail_from.is_resolvable"]
BASE_PLUGINS = ["rcpt_to.in_host_list", "queue/discard"]


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
    Haraka's plugins."""
    files = {
        "host_list": "example.com\n",
        "rcpt_to.in_host_list.ini": "[main]\nmailboxes=any\n",
        "log.ini": "[main]\nlevel=warn\n",
    }
    if policy:
        files["dns-list.ini"] = (
            "[main]\nzones=%s\nsearch=all\n%s\n[skip]\nprivate_ip=false\n\n[%s]\ntype=allow\n"
            % (",".join(ZONES), "" if caches else "cache_max_entries=0\n", ZONES[2]))
        files["helo.checks.ini"] = "[skip]\nprivate_ip=false\n"
        files["fcrdns.ini"] = "[skip]\nprivate_ip=false\n"
    return files


def start_upesi(binary, workdir, name, dns_port, policy, caches=True):
    port = free_port()
    inst = workdir / name
    subprocess.run([binary, "-i", str(inst)], check=True, capture_output=True)
    cfg = inst / "config"
    (cfg / "smtp.ini").write_text("[main]\nlisten=127.0.0.1:%d\nnodes=0\n" % port)
    (cfg / "dns.ini").write_text("[main]\nservers=127.0.0.1:%d\n%s" % (
        dns_port, "" if caches else "cache_size=0\n"))
    (cfg / "me").write_text("mx.bench.test\n")
    (cfg / "plugins").write_text("\n".join((POLICY_PLUGINS if policy else []) + BASE_PLUGINS)
                                 + "\n")
    for file, text in config_files(policy, caches).items():
        (cfg / file).write_text(text)
    env = dict(os.environ, YES_REALLY_DO_DISCARD="1")
    return Peer(name, [binary, "-c", str(inst)], port, env=env,
                log_path=str(workdir / (name + ".log")))


class HarakaPeer:
    """Haraka started by the test harness (its DNS pointed at our resolver), with the pid and
    port the load function needs."""

    def __init__(self, workdir, name, dns_port, policy):
        self.name = name
        self.haraka = haraka_peer.start(
            workdir / name, dns_port, plugins=(POLICY_PLUGINS if policy else []) + BASE_PLUGINS,
            files=config_files(policy), public_client=policy, rdns_localhost=not policy)
        self.port, self.pid = self.haraka.port, self.haraka.proc.pid

    def log_tail(self, chars=2000):
        return self.haraka.log()[-chars:]

    def stop(self):
        self.haraka.stop()


def smtp_load(peer, resolver, messages, sessions):
    """(msgs/s, CPU ms/msg, DNS queries/msg) for `messages` 1 KB messages."""
    asked = resolver.queries
    rate, cpu = load(peer.port, peer.pid, messages, sessions, 1000, sender=SENDER,
                     helo=CLIENT_NAME)
    return rate, cpu, (resolver.queries - asked) / messages


def main():
    ap = paired_run_parser(__doc__)
    ap.add_argument("--delay-ms", type=float, default=1.0, help="the resolver's answer delay")
    args = ap.parse_args()
    rounds = 1 if args.quick else args.rounds
    cells = [10] if args.quick else [10, 50]
    exit_on_sigterm()
    with SlowResolver(records(), delay_ms=args.delay_ms) as resolver, \
            servers_run("upesi-policy-") as (workdir, peers):
        dns = resolver.port
        peers.append(start_upesi(args.upesi, workdir, "upesi", dns, policy=True))
        peers.append(start_upesi(args.upesi, workdir, "upesi-nocache", dns, policy=True,
                                 caches=False))
        peers.append(HarakaPeer(workdir, "haraka", dns, policy=True))
        peers.append(start_upesi(args.upesi, workdir, "upesi-plain", dns, policy=False))
        peers.append(HarakaPeer(workdir, "haraka-plain", dns, policy=False))
        results = {}
        for sessions in cells:
            for peer in peers:  # warm-up (also fills the caches that are on)
                smtp_load(peer, resolver, 200, sessions)
            for _ in range(rounds):
                for peer in peers:  # interleaved, so drift hits every server alike
                    results.setdefault((sessions, peer.name), []).append(
                        smtp_load(peer, resolver, args.messages, sessions))
        print(machine_line())
        print("resolver delay %.1f ms; %d rounds of %d messages, 1 KB; medians (min-max)"
              % (args.delay_ms, rounds, args.messages))
        print("| sessions | server | msgs/s | cpu ms/msg | DNS queries/msg | msgs/s vs Haraka "
              "| cpu vs Haraka |")
        print("|---|---|---|---|---|---|---|")
        medians = []
        for sessions in cells:
            for peer in peers:
                runs = results[(sessions, peer.name)]
                rate = statistics.median(r[0] for r in runs)
                cpu = statistics.median(r[1] for r in runs)
                queries = statistics.median(r[2] for r in runs)
                peer_haraka = "haraka-plain" if peer.name.endswith("-plain") else "haraka"
                ref = results[(sessions, peer_haraka)]
                ref_rate = statistics.median(r[0] for r in ref)
                ref_cpu = statistics.median(r[1] for r in ref)
                print("| %d | %s | %.0f (%.0f-%.0f) | %.3f | %.2f | %.2fx | %.2fx |" % (
                    sessions, peer.name, rate, min(r[0] for r in runs),
                    max(r[0] for r in runs), cpu, queries, rate / ref_rate, cpu / ref_cpu))
                medians.append({"sessions": sessions, "server": peer.name, "msgs_per_s": rate,
                                "cpu_ms_per_msg": cpu, "dns_queries_per_msg": queries,
                                "rate_vs_haraka": rate / ref_rate})
        write_json(args.json, medians)


if __name__ == "__main__":
    main()
