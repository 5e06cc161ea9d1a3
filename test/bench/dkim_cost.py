#!/usr/bin/env python3
"""DKIM benchmark: what signing and verifying cost Upesi, against OpenDKIM signing as a milter
behind Postfix, in one run.

    test/bench/dkim_cost.py [--upesi BUILD/master/upesi] [--rounds 5] [--messages 3000]
                            [--nodes default]

Every server relays 10 KB messages from 127.0.0.1, signing with an RSA-2048 key
(relaxed/relaxed, the From domain). What signing costs Upesi is measured without a queue file
(whose directory work in the kernel varies more than signing costs):
  upesi              relay + queue/discard (the baseline)
  upesi-sign         relay + dkim [sign] + queue/discard (queue_outbound signs, then discards)
and its cost against OpenDKIM's with both keeping their queue files (as inbound.py --mode
queue, and with its checks):
  upesi-sign-queue   relay + dkim [sign]: signed, then written and fsynced into the outbound
                     queue, which delivers nothing (outbound.ini disabled=true)
  postfix            relay, no milter, every message into the hold queue (postfix_peer.HOLD_ALL:
                     cleanup writes and fsyncs it before the 250; no qmgr, no transport): the
                     baseline for OpenDKIM's cost
  postfix-opendkim   the same with smtpd_milters = OpenDKIM (Mode s, rsa-sha256, relaxed) on a
                     unix socket
Verification: Upesi accepting and discarding a message dkimpy signed (its key served by
dnsmasq on a loopback port), with `dkim` verify on and off:
  upesi-inbound      rcpt_to.in_host_list + queue/discard
  upesi-verify       the same + dkim [verify]
Signing runs are driven by Postfix's smtp-source, verifying runs by a small client sending the
signed message over 10 sessions. Printed: server CPU ms/msg (the process tree of the server;
for postfix-opendkim the opendkim process too), msgs/s and log bytes per message, median
(min–max) of --rounds paired rounds; the added CPU of signing and verifying (paired
differences); and upesi-sign-queue against postfix-opendkim (paired ratios, CPU first).

The fair method (README, issue 21):
  * --rounds paired rounds (default 5), the servers interleaved round by round; every ratio and
    difference is the median (min–max) of the per-round ones.
  * smtp-source, the verifying client, this script and dnsmasq (a resolver both verifiers
    share, standing for a remote one) run on one CPU, the servers on the other (taskset).
    OpenDKIM runs on the server CPU too: it is the signer measured, its CPU counted in
    postfix-opendkim's as Upesi's signing is in Upesi's.
  * Every server logs at its shipped default to a file: Upesi at log.ini's level (info) on
    stderr, Postfix through postlogd to a maillog at its default verbosity; log bytes per
    message printed. OpenDKIM can log to syslog only, which is not running here: its lines
    (none per message at its defaults without SyslogSuccess) are not counted.
  * After each round each server must have handled exactly the messages sent: Upesi's
    discarding servers logged "discarding message" once per message (upesi-sign also "signed
    for", upesi-verify "result=pass" once each), the queueing servers hold exactly the warm-up
    and the round's messages (each round starts from an empty queue, as in inbound.py), and
    every message postfix-opendkim holds carries a DKIM-Signature; else the run stops with an
    error.
  * Upesi runs at its shipped `nodes` (--nodes picks another). Queues are on disk: a temporary
    directory on tmpfs is refused; the versions are printed under the table.
Needs root (Postfix), postfix, opendkim, dnsmasq-base, python3-dkim and a release build.
"""
import argparse
import os
import pathlib
import shutil
import smtplib
import statistics
import subprocess
import sys
import threading
import time

from bench_common import (ROOT, Peer, check_pinned, exit_on_sigterm, expect_logged, free_port,
                          machine_line, median_range, paired_ratios, pin_cpus, pin_tree,
                          ratio_range, servers_run, shipped_ini, smtp_source, summary,
                          tree_cpu_s, write_json)
from opendkim_peer import OpenDkim, make_key
from postfix_peer import HOLD_ALL, PostfixPeer
import inbound

sys.path.insert(0, str(ROOT / "test" / "integration"))
import dns_zone  # noqa: E402

SIZE = 10_000
SESSIONS = 10
DOMAIN = "example.com"
SELECTOR = "bench"
WARMUP = inbound.WARMUP
# What Upesi logs at info per message: queue/discard, dkim's signer and its verifier.
DISCARDED = "discarding message"
SIGNED = "signed for %s" % DOMAIN
VERIFIED = "result=pass"


def start_upesi(binary, workdir, name, plugins, files, nodes=None):
    """nodes None: the shipped default; logs at the shipped level."""
    port = free_port()
    inst = workdir / name
    subprocess.run([binary, "-i", str(inst)], check=True, capture_output=True)
    cfg = inst / "config"
    (cfg / "smtp.ini").write_text("[main]\nlisten=127.0.0.1:%d\n%s" % (
        port, "" if nodes is None else "nodes=%d\n" % nodes))
    (cfg / "plugins").write_text("".join(p + "\n" for p in plugins))
    (cfg / "host_list").write_text(DOMAIN + "\n")
    (cfg / "me").write_text("localhost\n")
    for rel, content in files.items():
        path = cfg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, pathlib.Path):
            shutil.copy(content, path)
        else:
            path.write_text(content)
    # Only a server that discards gets YES_REALLY_DO_DISCARD: one that queues keeps every
    # message, whatever plugin is loaded.
    env = dict(os.environ)
    env.pop("YES_REALLY_DO_DISCARD", None)
    if "queue/discard" in plugins:
        env["YES_REALLY_DO_DISCARD"] = "1"
    peer = Peer(name, [binary, "-c", str(inst)], port, env=env,
                log_path=str(workdir / (name + ".log")))
    peer.queue_dir = inst / "queue"
    return peer


def relay_files(extra=None):
    files = {"relay_acl_allow": "127.0.0.1/32\n", "outbound.ini": "[main]\ndisabled=true\n"}
    files.update(extra or {})
    return files


POSTFIX_RELAY = dict(HOLD_ALL, **{
    "relay_domains": DOMAIN,
    "relay_recipient_maps": "",
    "in_flow_delay": "0",
    # Nothing is delivered (every message is held); were one not held, it is discarded.
    "relay_transport": "discard:",
    "default_transport": "discard:",
    "transport_maps": "inline:{ %s=discard: }" % DOMAIN,
})


class Row:
    """A server of the comparison: its CPU (its process tree, and `helpers`' trees counted with
    it), its log, what its log must say once per message (`logged`), and for a server that
    keeps every message (kept=True) its queue, checked and emptied as inbound.Measured does."""

    def __init__(self, peer, logged=(), kept=False, helpers=(), check=None):
        self.peer, self.name, self.logged, self.helpers = peer, peer.name, logged, helpers
        self.kept = inbound.Measured(peer) if kept else None
        self.check = check  # called after each round, raises when the mail is not as it must be

    @property
    def port(self):
        return self.peer.port

    def pids(self):
        return [self.peer.pid] + [h.pid for h in self.helpers]

    def cpu_s(self):
        return sum(tree_cpu_s(pid) for pid in self.pids())


def all_held_signed(postfix):
    """Raises unless every message in Postfix's hold queue carries a DKIM-Signature (OpenDKIM
    signed them all: its cost is the cost of signing)."""
    def check():
        files = [pathlib.Path(d) / f for d, _, names in os.walk(postfix.queue / "hold")
                 for f in names]
        unsigned = sum(1 for f in files if b"DKIM-Signature:" not in f.read_bytes())
        if unsigned:
            raise RuntimeError("%s: %d of %d held messages carry no DKIM-Signature"
                               % (postfix.name, unsigned, len(files)))
    return check


def smtp_source_send(port, n):
    smtp_source(port, n, SESSIONS, SIZE, sender="sender@" + DOMAIN)


def copies_send(message):
    return lambda port, n: send_copies(port, message, n, SESSIONS)


def one_round(row, n, send):
    """One round of one server: {"cpu": ms/msg, "rate": msgs/s, "log": bytes/msg}, after
    checking that it handled exactly the n messages. A server that keeps its mail starts from
    an empty queue and a warm-up."""
    if row.kept:
        row.kept.reset()
        send(row.port, WARMUP)
        row.kept.expect_stored(WARMUP, "the warm-up")
    log0 = row.peer.log_bytes()
    cpu0, t0 = row.cpu_s(), time.monotonic()
    send(row.port, n)
    wall = time.monotonic() - t0
    time.sleep(0.3)  # work the server does after its last reply
    cpu = row.cpu_s() - cpu0
    for needle in row.logged:
        expect_logged(row.name, row.peer.log_path, log0, needle, n)
    if row.kept:
        row.kept.expect_stored(WARMUP + n, "the round")
    if row.check:
        row.check()
    return {"cpu": cpu * 1000 / n, "rate": n / wall, "log": (row.peer.log_bytes() - log0) / n}


def rounds_of(rows, n, send, rounds, results):
    for row in rows:
        if not row.kept:
            one_round(row, WARMUP, send)  # warm-up (the queueing ones warm up every round)
        for pid in row.pids():
            check_pinned(pid, row.name)
    for _ in range(rounds):
        for row in rows:  # interleaved, so that drift hits every server alike
            results.setdefault(row.name, []).append(one_round(row, n, send))


def signed_message(key_path, record):
    """A 10 KB message dkimpy signed (relaxed/relaxed) for DOMAIN."""
    import dkim
    body = "".join("line %04d %s\r\n" % (i, "x" * 60) for i in range(SIZE // 70))
    message = ("From: <sender@%s>\r\nTo: <user@%s>\r\nSubject: dkim bench\r\n"
               "Date: Sat, 05 Dec 2026 06:00:00 +0000\r\nMessage-ID: <bench@%s>\r\n\r\n%s"
               % (DOMAIN, DOMAIN, DOMAIN, body)).encode()
    signature = dkim.sign(message, SELECTOR.encode(), DOMAIN.encode(),
                          key_path.read_bytes(), canonicalize=(b"relaxed", b"relaxed"),
                          include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    return signature + message


def send_copies(port, message, messages, sessions):
    """Sends `messages` copies over `sessions` parallel connections, one message each."""
    errors = []
    per = [messages // sessions + (1 if i < messages % sessions else 0) for i in range(sessions)]

    def worker(count):
        try:
            for _ in range(count):
                with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                    refused = client.sendmail("sender@" + DOMAIN, ["user@" + DOMAIN], message)
                    if refused:
                        errors.append(refused)
        except Exception as e:  # reported after the run
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in per]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("sending failed: %r" % errors[:3])


def server_summary(runs):
    rates = [r["rate"] for r in runs]
    cpus = [r["cpu"] for r in runs]
    return {"msgs_per_s": statistics.median(rates), "cpu_ms_per_msg": statistics.median(cpus),
            "cpu_min": min(cpus), "cpu_max": max(cpus), "rate_min": min(rates),
            "rate_max": max(rates), "log_bytes_per_msg": statistics.median(r["log"] for r in runs)}


def differences(results, mine, base):
    """Round by round CPU ms/msg of mine minus base's."""
    return [a["cpu"] - b["cpu"] for a, b in zip(results[mine], results[base])]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--nodes", default="default",
                    help="smtp.ini nodes for every Upesi (\"default\": shipped)")
    ap.add_argument("--json")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("Postfix needs root")
    for tool in ("smtp-source", "/usr/sbin/opendkim", dns_zone.DNSMASQ):
        if not shutil.which(tool) and not os.path.exists(tool):
            sys.exit("%s not found (packages postfix, opendkim, dnsmasq-base)" % tool)
    if args.rounds < 5:
        print("note: %d rounds; the fair method asks for at least 5" % args.rounds,
              file=sys.stderr)
    nodes = inbound.parse_nodes(args.nodes)[0]
    inbound.MODE = "queue"  # for inbound.Measured: the queueing rows keep every message
    exit_on_sigterm()
    pin_cpus()
    shipped_nodes = shipped_ini(args.upesi, "smtp.ini").get("nodes", "?")
    with servers_run("upesi-dkim-bench-") as (workdir, peers):
        key, record = make_key(workdir)
        sign_ini = "[sign]\nenabled=true\n[verify]\nenabled=false\n"
        key_files = {"dkim.ini": sign_ini, "dkim/%s/private" % DOMAIN: key,
                     "dkim/%s/selector" % DOMAIN: SELECTOR + "\n"}

        def upesi(name, plugins, files):
            peer = start_upesi(args.upesi, workdir, name, plugins, files, nodes)
            peers.append(peer)
            return peer

        # On a unix socket, as Debian configures it: over loopback TCP the milter's small
        # writes meet delayed ACKs (90 ms a message).
        opendkim = OpenDkim(workdir, key, DOMAIN, SELECTOR)
        peers.append(opendkim)
        pin_tree(opendkim.pid)  # the signer measured: on the server CPU
        postfix = PostfixPeer(workdir, "postfix", POSTFIX_RELAY)
        peers.append(postfix)
        miltered = PostfixPeer(workdir, "postfix-opendkim", dict(
            POSTFIX_RELAY, smtpd_milters=opendkim.milter, milter_default_action="tempfail",
            milter_protocol="6"))
        peers.append(miltered)
        signing = [
            Row(upesi("upesi", ["relay", "queue/discard"], relay_files()), [DISCARDED]),
            Row(upesi("upesi-sign", ["relay", "dkim", "queue/discard"], relay_files(key_files)),
                [DISCARDED, SIGNED]),
            Row(upesi("upesi-sign-queue", ["relay", "dkim"], relay_files(key_files)), [SIGNED],
                kept=True),
            Row(postfix, kept=True),
            Row(miltered, kept=True, helpers=[opendkim], check=all_held_signed(miltered)),
        ]
        versions = machine_line(args.upesi)  # before the rounds: what the run started with
        results = {}
        rounds_of(signing, args.messages, smtp_source_send, args.rounds, results)

        with dns_zone.serve([dns_zone.txt("%s._domainkey.%s" % (SELECTOR, DOMAIN), record)],
                            local_zones=(DOMAIN,)) as dns_port:
            inbound_files = {"dns.ini": dns_zone.resolver_ini(dns_port),
                             "rcpt_to.in_host_list.ini": "[main]\nmailboxes=any\n"}
            plugins = ["rcpt_to.in_host_list", "queue/discard"]
            # The verifier must really pass each message, or the figure means nothing: at
            # its shipped level (info) it logs every verdict, each round's counted.
            verifying = [
                Row(upesi("upesi-inbound", plugins, inbound_files), [DISCARDED]),
                Row(upesi("upesi-verify", ["dkim"] + plugins,
                          dict(inbound_files, **{"dkim.ini": "[verify]\nenabled=true\n"})),
                    [DISCARDED, VERIFIED]),
            ]
            count = max(args.messages // 3, 300)
            rounds_of(verifying, count, copies_send(signed_message(key, record)), args.rounds,
                      results)
        report(args, results, shipped_nodes, versions)


def report(args, results, shipped_nodes, versions):
    print("dkim cost: upesi %s (nodes=%s); 10 KB messages, %d sessions; median (min–max) of %d "
          "rounds" % (args.upesi, shipped_nodes if args.nodes == "default" else args.nodes,
                      SESSIONS, args.rounds))
    print()
    print("| server | server cpu ms/msg | msgs/s | log bytes/msg |")
    print("|---|---|---|---|")
    medians = {}
    for name, runs in results.items():
        medians[name] = server_summary(runs)
        print("| %s | %s | %s | %.0f |" % (
            name, median_range([r["cpu"] for r in runs]),
            median_range([r["rate"] for r in runs], "%.0f"), medians[name]["log_bytes_per_msg"]))
    sign = differences(results, "upesi-sign", "upesi")
    milter = differences(results, "postfix-opendkim", "postfix")
    verify = differences(results, "upesi-verify", "upesi-inbound")
    cpu = paired_ratios([r["cpu"] for r in results["upesi-sign-queue"]],
                        [r["cpu"] for r in results["postfix-opendkim"]])
    rate = paired_ratios([r["rate"] for r in results["upesi-sign-queue"]],
                         [r["rate"] for r in results["postfix-opendkim"]])
    print()
    print("signing adds %s ms CPU per 10 KB message to Upesi (target <= 0.3), %s ms to Postfix "
          "as OpenDKIM's milter" % (median_range(sign), median_range(milter)))
    print("verifying adds %s ms CPU per 10 KB message to Upesi (target <= 0.3)"
          % median_range(verify))
    print("signing, both queueing, upesi-sign-queue / postfix-opendkim: server cpu %s, msgs/s %s"
          % (ratio_range(cpu), ratio_range(rate)))
    print("differences and ratios paired round by round, median (min–max)")
    print(versions)
    write_json(args.json, {"servers": medians, "sign_cost_ms": statistics.median(sign),
                           "milter_cost_ms": statistics.median(milter),
                           "verify_cost_ms": statistics.median(verify),
                           "sign_rate_ratio": statistics.median(rate),
                           "sign_cpu_ratio": statistics.median(cpu),
                           "sign_cost": summary(sign), "milter_cost": summary(milter),
                           "verify_cost": summary(verify), "sign_rate": summary(rate),
                           "sign_cpu": summary(cpu), "rounds": args.rounds,
                           "versions": versions})


if __name__ == "__main__":
    main()
