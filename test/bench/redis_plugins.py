#!/usr/bin/env python3
"""Shared-state benchmark: Upesi against Haraka 3.3.4 with limit, greylist and karma on, both
keeping their state in one redis-server, in one run.

    test/bench/redis_plugins.py [--upesi BUILD/master/upesi] [--rounds 5] [--quick] [--json FILE]
                                [--nodes default,2]

Both servers accept mail for example.com and discard it, with the same limits, greylisting and
karma settings:
    limit     [concurrency] and every rate section on, each far above the load (so every
              connection and recipient is counted in Redis and none is refused)
    greylist  black period 1 s; the client's sender/recipient pair is let through once before
              the load, so each message is looked up and found on the white list
    karma     history per IP, as shipped, greylisting's refusals left as they are
against one redis-server on a loopback port (no persistence), Upesi in database 9 and Haraka's
plugins in 10-12, so that neither finds the other's state. Loopback clients are private, which
every plugin here skips by default: Upesi is told `[skip] private_ip=false`, Haraka gets a first
plugin that marks the client public. Haraka also gets haraka-plugin-redis first, as its
plugins need.

The client, Postfix's smtp-source, opens one connection per message from 127.0.0.1. Each cell
prints server CPU per message, msgs/s and log bytes per message, median (min–max) of the
rounds, Redis's own CPU and the commands each server sent it per message (from INFO
commandstats, so that one can see both did the work), and the ratios of Upesi to Haraka,
paired round by round: median (min–max).

The fair method (README, issue 21):
  * --rounds paired rounds (default 5), the servers interleaved round by round; every ratio is
    the median (min–max) of the per-round ratios; server CPU per message is the first column.
  * The client, this script and redis-server run on one CPU, the servers on the other
    (taskset; Haraka, started by haraka_peer.py, is moved there once it listens). Redis is a
    shared helper: both servers use the same one, as they would a Redis on another host, and
    its CPU is no server's (it is printed apart), so it stays off the servers' CPU.
  * Every server logs at its shipped default to a file: Upesi at log.ini's level (info) on
    stderr, Haraka at its shipped info; log bytes per message are printed.
  * After each round each server must have logged "discarding message" (queue/discard, both at
    info) exactly once per message sent, else the run stops with an error.
  * Upesi runs at its shipped `nodes` (--nodes lists others: 2 adds "upesi-n2"); Haraka at
    nodes=0, its fastest on one CPU. Nothing is queued, yet a temporary directory on tmpfs is
    refused as by every bench here; the versions are printed under every table.
"""
import os
import re
import smtplib
import statistics
import subprocess
import sys
import time

from bench_common import (ROOT, Peer, check_pinned, exit_on_sigterm, expect_logged, file_size,
                          free_port, load, machine_line, median_range, paired_ratios,
                          paired_run_parser, pin_cpus, pin_tree, ratio_range, servers_run,
                          shipped_ini, summary, tree_cpu_s, write_json)
from inbound import parse_nodes
from slow_resolver import SlowResolver

sys.path.insert(0, str(ROOT / "test" / "integration"))
import haraka_peer  # noqa: E402
from redis_peer import RedisPeer  # noqa: E402

SENDER = "sender@sender.bench.test"
RCPT = "user@example.com"
BLACK_S = 1
PLUGINS = ["limit", "greylist", "karma", "rcpt_to.in_host_list", "queue/discard"]
HIGH = "100000000/1m"  # far above any load here: counted, never refused
KARMA_KEEPS = "access,attachment,clamd,headers,helo.checks,limit,rspamd,spamassassin,send_email," \
              "tls,greylist"
UPESI_DB = 9
HARAKA_DBS = {"limit": 10, "greylist": 11, "karma": 12}
# What queue/discard logs at info for every message, in Upesi and in Haraka.
DISCARDED = "discarding message"


def limit_ini():
    rates = "".join("[%s]\nenabled=true\n127=%s\ndefault=%s\n\n" % (section, HIGH, HIGH)
                    for section in ("rate_conn", "rate_rcpt_host", "rate_rcpt_sender",
                                    "rate_rcpt"))
    return "[main]\ntarpit_delay=0\n\n[concurrency]\nenabled=true\nmax=100000\n\n" + rates


def config_files(redis_port, haraka):
    """Config files (name -> text) for one server; Haraka's plugins each get a [redis] section
    (Upesi's one client follows redis.ini). No log.ini: both log at their shipped level."""
    def redis_section(plugin):
        if not haraka:
            return ""
        return "\n[redis]\nhost=127.0.0.1\nport=%d\ndb=%d\n" % (redis_port, HARAKA_DBS[plugin])

    return {
        "host_list": "example.com\n",
        "rcpt_to.in_host_list.ini": "[main]\nmailboxes=any\n",
        # [pubsub]: karma in Haraka subscribes per connection to its results channel there.
        "redis.ini": "[server]\nhost=127.0.0.1\nport=%d\ndb=%d\n\n[pubsub]\nhost=127.0.0.1\n"
                     "port=%d\n" % (redis_port, HARAKA_DBS["limit"] if haraka else UPESI_DB,
                                     redis_port),
        "limit.ini": limit_ini() + redis_section("limit"),
        "greylist.ini": "[period]\nblack=%d\ngrey=90000\nwhite=3024000\n\n[skip]\n"
                        "private_ip=false\n%s" % (BLACK_S, redis_section("greylist")),
        # Greylisting's refusals stand: karma would take them over (both take over refusals at
        # rcpt_ok, where greylist answers), and the load would be greylisted forever.
        "karma.ini": "[skip]\nprivate_ip=false\n\n[deny_excludes]\nplugins=%s\n%s"
                     % (KARMA_KEEPS, redis_section("karma")),
    }


def start_upesi(binary, workdir, redis_port, nodes=None):
    """nodes: smtp.ini's (None: the shipped default)."""
    port = free_port()
    name = "upesi" if nodes is None else "upesi-n%d" % nodes
    inst = workdir / name
    subprocess.run([binary, "-i", str(inst)], check=True, capture_output=True)
    cfg = inst / "config"
    (cfg / "smtp.ini").write_text("[main]\nlisten=127.0.0.1:%d\n%s" % (
        port, "" if nodes is None else "nodes=%d\n" % nodes))
    (cfg / "me").write_text("mx.bench.test\n")
    (cfg / "plugins").write_text("\n".join(PLUGINS) + "\n")
    for file, text in config_files(redis_port, haraka=False).items():
        (cfg / file).write_text(text)
    env = dict(os.environ, YES_REALLY_DO_DISCARD="1")
    return Peer(name, [binary, "-c", str(inst)], port, env=env,
                log_path=str(workdir / (name + ".log")))


class HarakaPeer:
    """Haraka (its DNS pointed at an empty zone: these plugins look nothing up) at its shipped
    log level (info), moved to the server CPU; with the pid, port and log the bench needs."""

    def __init__(self, workdir, dns_port, redis_port):
        self.name = "haraka"
        self.haraka = haraka_peer.start(
            workdir / "haraka", dns_port, plugins=["redis"] + PLUGINS,
            files=config_files(redis_port, haraka=True), public_client=True)
        self.port, self.pid = self.haraka.port, self.haraka.proc.pid
        self.log_path = str(self.haraka.log_path)
        pin_tree(self.pid)

    def log_bytes(self):
        return file_size(self.log_path)

    def log_tail(self, chars=2000):
        return self.haraka.log()[-chars:]

    def stop(self):
        self.haraka.stop()


def pass_greylist(peer):
    """The load's sender/recipient pair from 127.0.0.1: greylisted once, let through after the
    black period; from then on it is white."""
    def rcpt_code():
        with smtplib.SMTP("127.0.0.1", peer.port, timeout=30) as s:
            s.ehlo("bench.client")
            s.mail(SENDER)
            return s.rcpt(RCPT)[0]

    first = rcpt_code()
    if first == 250:
        return
    if first // 100 != 4:
        raise RuntimeError("%s: the first recipient got %d, not a greylisting 4xx" % (peer.name,
                                                                                   first))
    deadline = time.monotonic() + 30
    while True:
        time.sleep(BLACK_S + 0.5)
        code = rcpt_code()
        if code == 250:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("%s still refuses the retry (%d) after the black period"
                               % (peer.name, code))


def redis_commands(redis):
    """Commands the Redis server has run so far (INFO commandstats)."""
    stats = redis.cli("INFO", "commandstats")
    return sum(int(n) for n in re.findall(r"calls=(\d+)", stats))


def measure(peer, redis, messages, sessions):
    """{"cpu": server ms/msg, "rate": msgs/s, "log": log bytes/msg, "redis_cpu": Redis ms/msg,
    "commands": Redis commands/msg}; the server must have discarded every message."""
    commands, log0 = redis_commands(redis), peer.log_bytes()
    redis_cpu = tree_cpu_s(redis.proc.pid)
    rate, cpu = load(peer.port, peer.pid, messages, sessions, 1000, sender=SENDER, rcpt=RCPT,
                     helo="bench.client")
    redis_ms = (tree_cpu_s(redis.proc.pid) - redis_cpu) * 1000 / messages
    expect_logged(peer.name, peer.log_path, log0, DISCARDED, messages)
    # The INFO call itself counts once.
    return {"cpu": cpu, "rate": rate, "log": (peer.log_bytes() - log0) / messages,
            "redis_cpu": redis_ms, "commands": (redis_commands(redis) - commands - 1) / messages}


def main():
    ap = paired_run_parser(__doc__)
    ap.add_argument("--nodes", default="default",
                    help="comma-separated smtp.ini nodes values for Upesi (\"default\": "
                    "shipped), e.g. default,2")
    args = ap.parse_args()
    rounds = 1 if args.quick else args.rounds
    if rounds < 5 and not args.quick:
        print("note: %d rounds; the fair method asks for at least 5" % rounds, file=sys.stderr)
    cells = [10] if args.quick else [10, 50]
    exit_on_sigterm()
    pin_cpus()  # redis-server, a child of this script, stays on the client CPU
    shipped_nodes = shipped_ini(args.upesi, "smtp.ini").get("nodes", "?")
    with SlowResolver({}, delay_ms=1) as resolver, servers_run("upesi-redis-") as (workdir,
                                                                                   peers):
        redis = RedisPeer(workdir / "redis")
        try:
            for nodes in parse_nodes(args.nodes):
                peers.append(start_upesi(args.upesi, workdir, redis.port, nodes))
            peers.append(HarakaPeer(workdir, resolver.port, redis.port))
            for peer in peers:
                pass_greylist(peer)
            versions = machine_line(args.upesi)  # before the rounds: what the run started with
            results = {}
            for sessions in cells:
                for peer in peers:  # warm-up
                    measure(peer, redis, 200, sessions)
                    check_pinned(peer.pid, peer.name)
                for _ in range(rounds):
                    for peer in peers:  # interleaved, so drift hits both alike
                        results.setdefault((sessions, peer.name), []).append(
                            measure(peer, redis, args.messages, sessions))
            version = redis.cli("INFO", "server")
            redis_version = re.search(r"redis_version:(\S+)", version).group(1)
        finally:
            redis.stop()
        medians = report(args, rounds, cells, peers, results, redis_version, shipped_nodes,
                         versions)
        write_json(args.json, medians)


def report(args, rounds, cells, peers, results, redis_version, shipped_nodes, versions):
    print("redis plugins: redis-server %s on loopback; %d rounds of %d messages, 1 KB, one "
          "connection each; median (min–max); upesi = shipped nodes=%s"
          % (redis_version, rounds, args.messages, shipped_nodes))
    print()
    print("| sessions | server | server cpu ms/msg | msgs/s | log bytes/msg | redis cpu ms/msg "
          "| redis commands/msg | cpu vs Haraka | msgs/s vs Haraka |")
    print("|---|---|---|---|---|---|---|---|---|")
    medians = []
    for sessions in cells:
        ref = results[(sessions, "haraka")]
        for peer in peers:
            runs = results[(sessions, peer.name)]
            cpu, rate, log, redis_cpu, commands = (
                [r[k] for r in runs] for k in ("cpu", "rate", "log", "redis_cpu", "commands"))
            entry = {"sessions": sessions, "server": peer.name,
                     "msgs_per_s": statistics.median(rate),
                     "cpu_ms_per_msg": statistics.median(cpu),
                     "redis_cpu_ms_per_msg": statistics.median(redis_cpu),
                     "redis_commands_per_msg": statistics.median(commands),
                     "log_bytes_per_msg": statistics.median(log),
                     "cpu": summary(cpu), "rate": summary(rate), "versions": versions}
            cpus = paired_ratios(cpu, [r["cpu"] for r in ref])
            rates = paired_ratios(rate, [r["rate"] for r in ref])
            entry.update(rate_vs_haraka=statistics.median(rates),
                         cpu_vs_haraka=statistics.median(cpus), cpu_ratio=summary(cpus),
                         rate_ratio=summary(rates))
            mine = peer.name != "haraka"
            print("| %d | %s | %s | %s | %.0f | %s | %.1f | %s | %s |" % (
                sessions, peer.name, median_range(cpu), median_range(rate, "%.0f"),
                statistics.median(log), median_range(redis_cpu), statistics.median(commands),
                ratio_range(cpus) if mine else "–", ratio_range(rates) if mine else "–"))
            medians.append(entry)
    print()
    print("Ratios paired round by round, median (min–max): cpu below 1 and msgs/s above 1 "
          "favour Upesi.")
    print(versions)
    return medians


if __name__ == "__main__":
    main()
