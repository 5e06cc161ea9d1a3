#!/usr/bin/env python3
"""Shared-state benchmark: Upesi against Haraka 3.3.4 with limit, greylist and karma on, both
keeping their state in one redis-server, in one run.

    test/bench/redis_plugins.py [--upesi BUILD/master/upesi] [--rounds 5] [--quick] [--json FILE]

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
prints the median msgs/s and server CPU per message of the rounds, Redis's own CPU and the
commands each server sent it per message (from INFO commandstats, so that one can see both did
the work), and the ratio of Upesi to Haraka. Servers run one process each (nodes=0), at warn.
"""
import os
import re
import smtplib
import statistics
import subprocess
import sys
import time

from bench_common import (ROOT, Peer, exit_on_sigterm, free_port, load, machine_line,
                          paired_run_parser, servers_run, tree_cpu_s, write_json)
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


def limit_ini():
    rates = "".join("[%s]\nenabled=true\n127=%s\ndefault=%s\n\n" % (section, HIGH, HIGH)
                    for section in ("rate_conn", "rate_rcpt_host", "rate_rcpt_sender",
                                    "rate_rcpt"))
    return "[main]\ntarpit_delay=0\n\n[concurrency]\nenabled=true\nmax=100000\n\n" + rates


def config_files(redis_port, haraka):
    """Config files (name -> text) for one server; Haraka's plugins each get a [redis] section
    (Upesi's one client follows redis.ini)."""
    def redis_section(plugin):
        if not haraka:
            return ""
        return "\n[redis]\nhost=127.0.0.1\nport=%d\ndb=%d\n" % (redis_port, HARAKA_DBS[plugin])

    return {
        "host_list": "example.com\n",
        "rcpt_to.in_host_list.ini": "[main]\nmailboxes=any\n",
        "log.ini": "[main]\nlevel=warn\n",
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


def start_upesi(binary, workdir, redis_port):
    port = free_port()
    inst = workdir / "upesi"
    subprocess.run([binary, "-i", str(inst)], check=True, capture_output=True)
    cfg = inst / "config"
    (cfg / "smtp.ini").write_text("[main]\nlisten=127.0.0.1:%d\nnodes=0\n" % port)
    (cfg / "me").write_text("mx.bench.test\n")
    (cfg / "plugins").write_text("\n".join(PLUGINS) + "\n")
    for file, text in config_files(redis_port, haraka=False).items():
        (cfg / file).write_text(text)
    env = dict(os.environ, YES_REALLY_DO_DISCARD="1")
    return Peer("upesi", [binary, "-c", str(inst)], port, env=env,
                log_path=str(workdir / "upesi.log"))


class HarakaPeer:
    """Haraka (its DNS pointed at an empty zone: these plugins look nothing up), with the pid and
    port the load function needs."""

    def __init__(self, workdir, dns_port, redis_port):
        self.name = "haraka"
        self.haraka = haraka_peer.start(
            workdir / "haraka", dns_port, plugins=["redis"] + PLUGINS,
            files=config_files(redis_port, haraka=True), public_client=True)
        self.port, self.pid = self.haraka.port, self.haraka.proc.pid

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
    """(msgs/s, server CPU ms/msg, Redis CPU ms/msg, Redis commands/msg)."""
    commands = redis_commands(redis)
    redis_cpu = tree_cpu_s(redis.proc.pid)
    rate, cpu = load(peer.port, peer.pid, messages, sessions, 1000, sender=SENDER, rcpt=RCPT,
                     helo="bench.client")
    redis_ms = (tree_cpu_s(redis.proc.pid) - redis_cpu) * 1000 / messages
    # The INFO call itself counts once.
    return rate, cpu, redis_ms, (redis_commands(redis) - commands - 1) / messages


def main():
    ap = paired_run_parser(__doc__)
    args = ap.parse_args()
    rounds = 1 if args.quick else args.rounds
    cells = [10] if args.quick else [10, 50]
    exit_on_sigterm()
    with SlowResolver({}, delay_ms=1) as resolver, servers_run("upesi-redis-") as (workdir,
                                                                                   peers):
        redis = RedisPeer(workdir / "redis")
        try:
            peers.append(start_upesi(args.upesi, workdir, redis.port))
            peers.append(HarakaPeer(workdir, resolver.port, redis.port))
            for peer in peers:
                pass_greylist(peer)
            results = {}
            for sessions in cells:
                for peer in peers:  # warm-up
                    measure(peer, redis, 200, sessions)
                for _ in range(rounds):
                    for peer in peers:  # interleaved, so drift hits both alike
                        results.setdefault((sessions, peer.name), []).append(
                            measure(peer, redis, args.messages, sessions))
            version = redis.cli("INFO", "server")
            redis_version = re.search(r"redis_version:(\S+)", version).group(1)
        finally:
            redis.stop()
        print(machine_line())
        print("redis-server %s on loopback; %d rounds of %d messages, 1 KB; medians (min-max)"
              % (redis_version, rounds, args.messages))
        print("| sessions | server | msgs/s | cpu ms/msg | redis cpu ms/msg | redis commands/msg "
              "| msgs/s vs Haraka | cpu vs Haraka |")
        print("|---|---|---|---|---|---|---|---|")
        medians = []
        for sessions in cells:
            ref = results[(sessions, "haraka")]
            ref_rate = statistics.median(r[0] for r in ref)
            ref_cpu = statistics.median(r[1] for r in ref)
            for peer in peers:
                runs = results[(sessions, peer.name)]
                rate, cpu, redis_cpu, commands = (statistics.median(r[i] for r in runs)
                                                  for i in range(4))
                print("| %d | %s | %.0f (%.0f-%.0f) | %.3f | %.3f | %.1f | %.2fx | %.2fx |" % (
                    sessions, peer.name, rate, min(r[0] for r in runs), max(r[0] for r in runs),
                    cpu, redis_cpu, commands, rate / ref_rate, cpu / ref_cpu))
                medians.append({"sessions": sessions, "server": peer.name, "msgs_per_s": rate,
                                "cpu_ms_per_msg": cpu, "redis_cpu_ms_per_msg": redis_cpu,
                                "redis_commands_per_msg": commands,
                                "rate_vs_haraka": rate / ref_rate})
        write_json(args.json, medians)


if __name__ == "__main__":
    main()
