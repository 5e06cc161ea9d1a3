#!/usr/bin/env python3
"""DKIM benchmark: what signing and verifying cost Upesi, against OpenDKIM signing as a milter
behind Postfix, in one run.

    test/bench/dkim_cost.py [--upesi BUILD/master/upesi] [--rounds 5] [--messages 3000]

Every server relays 10 KB messages from 127.0.0.1, signing with an RSA-2048 key
(relaxed/relaxed, the From domain). What signing costs Upesi is measured without a queue file
(whose directory work in the kernel varies more than signing costs):
  upesi              relay + queue/discard (the baseline)
  upesi-sign         relay + dkim [sign] + queue/discard (queue_outbound signs, then discards)
and its rate against OpenDKIM's with both writing their queue files (as inbound.py --mode queue):
  upesi-sign-queue   relay + dkim [sign]: signed, then written and fsynced into the outbound
                     queue, which delivers nothing
  postfix            relay into discard:, no milter (the baseline for OpenDKIM's cost)
  postfix-opendkim   the same with smtpd_milters = OpenDKIM (Mode s, rsa-sha256, relaxed)
Verification: Upesi accepting and discarding a message dkimpy signed (its key served by
dnsmasq on a loopback port), with `dkim` verify on and off:
  upesi-inbound      rcpt_to.in_host_list + queue/discard
  upesi-verify       the same + dkim [verify]
Signing runs are driven by Postfix's smtp-source, verifying runs by a small client sending the
signed message over 10 sessions. Printed: median msgs/s and server CPU ms/msg (the process tree
of the server; for postfix-opendkim the opendkim process too) over --rounds paired rounds, with
min-max; the added CPU of signing and verifying; and Upesi's signing rate over OpenDKIM's.
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

from bench_common import (ROOT, Peer, exit_on_sigterm, free_port, load, machine_line,
                          servers_run, tree_cpu_s, write_json)
from opendkim_peer import OpenDkim, make_key
from postfix_peer import PostfixPeer

sys.path.insert(0, str(ROOT / "test" / "integration"))
import dns_zone  # noqa: E402

SIZE = 10_000
SESSIONS = 10
DOMAIN = "example.com"
SELECTOR = "bench"


def start_upesi(binary, workdir, name, plugins, files, log_level="warn"):
    port = free_port()
    inst = workdir / name
    subprocess.run([binary, "-i", str(inst)], check=True, capture_output=True)
    cfg = inst / "config"
    (cfg / "smtp.ini").write_text("[main]\nlisten=127.0.0.1:%d\nnodes=0\n" % port)
    (cfg / "plugins").write_text("".join(p + "\n" for p in plugins))
    (cfg / "host_list").write_text(DOMAIN + "\n")
    (cfg / "me").write_text("localhost\n")
    (cfg / "log.ini").write_text("[main]\nlevel=%s\n" % log_level)
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
    return Peer(name, [binary, "-c", str(inst)], port, env=env,
                log_path=str(workdir / (name + ".log")))


def relay_files(extra=None):
    files = {"relay_acl_allow": "127.0.0.1/32\n", "outbound.ini": "[main]\ndisabled=true\n"}
    files.update(extra or {})
    return files


class MilteredPostfix:
    """Postfix with OpenDKIM as its milter; CPU counts both process trees."""

    def __init__(self, workdir, key):
        self.name = "postfix-opendkim"
        # On a unix socket, as Debian configures it: over loopback TCP the milter's small
        # writes meet delayed ACKs (90 ms a message).
        self.milter = OpenDkim(workdir, key, DOMAIN, SELECTOR)
        self.postfix = PostfixPeer(workdir, self.name, dict(
            POSTFIX_RELAY, smtpd_milters=self.milter.milter,
            milter_default_action="tempfail", milter_protocol="6"))
        self.port, self.pid = self.postfix.port, self.postfix.pid

    def cpu_s(self):
        return tree_cpu_s(self.postfix.pid) + tree_cpu_s(self.milter.pid)

    def stop(self):
        self.postfix.stop()
        self.milter.stop()

    def log_tail(self):
        return self.postfix.log_tail()


POSTFIX_RELAY = {
    "relay_domains": DOMAIN,
    "relay_recipient_maps": "",
    "relay_transport": "discard:",
    "default_transport": "discard:",
    "transport_maps": "inline:{ %s=discard: }" % DOMAIN,
}


def measure_smtp_source(peer, messages):
    if isinstance(peer, MilteredPostfix):
        cpu0, t0 = peer.cpu_s(), time.monotonic()
        from bench_common import smtp_source
        smtp_source(peer.port, messages, SESSIONS, SIZE, sender="sender@" + DOMAIN)
        wall = time.monotonic() - t0
        time.sleep(0.3)
        return messages / wall, (peer.cpu_s() - cpu0) * 1000 / messages
    return load(peer.port, peer.pid, messages, SESSIONS, SIZE)


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


def measure_copies(peer, message, messages):
    cpu0, t0 = tree_cpu_s(peer.pid), time.monotonic()
    send_copies(peer.port, message, messages, SESSIONS)
    wall = time.monotonic() - t0
    time.sleep(0.3)
    return messages / wall, (tree_cpu_s(peer.pid) - cpu0) * 1000 / messages


def summary(runs):
    rates = [r[0] for r in runs]
    cpus = [r[1] for r in runs]
    return {"msgs_per_s": statistics.median(rates), "cpu_ms_per_msg": statistics.median(cpus),
            "cpu_min": min(cpus), "cpu_max": max(cpus), "rate_min": min(rates),
            "rate_max": max(rates)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--json")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("Postfix needs root")
    for tool in ("smtp-source", "/usr/sbin/opendkim", dns_zone.DNSMASQ):
        if not shutil.which(tool) and not os.path.exists(tool):
            sys.exit("%s not found (packages postfix, opendkim, dnsmasq-base)" % tool)
    exit_on_sigterm()
    with servers_run("upesi-dkim-bench-") as (workdir, peers):
        key, record = make_key(workdir)
        sign_ini = "[sign]\nenabled=true\n[verify]\nenabled=false\n"
        key_files = {"dkim.ini": sign_ini, "dkim/%s/private" % DOMAIN: key,
                     "dkim/%s/selector" % DOMAIN: SELECTOR + "\n"}
        signing = [
            start_upesi(args.upesi, workdir, "upesi", ["relay", "queue/discard"], relay_files()),
            start_upesi(args.upesi, workdir, "upesi-sign", ["relay", "dkim", "queue/discard"],
                        relay_files(key_files)),
            start_upesi(args.upesi, workdir, "upesi-sign-queue", ["relay", "dkim"],
                        relay_files(key_files)),
            PostfixPeer(workdir, "postfix", POSTFIX_RELAY),
            MilteredPostfix(workdir, key),
        ]
        peers.extend(signing)
        results = {}
        for peer in signing:
            measure_smtp_source(peer, 200)  # warm-up
        for _ in range(args.rounds):
            for peer in signing:
                results.setdefault(peer.name, []).append(measure_smtp_source(peer, args.messages))

        with dns_zone.serve([dns_zone.txt("%s._domainkey.%s" % (SELECTOR, DOMAIN), record)],
                            local_zones=(DOMAIN,)) as dns_port:
            inbound_files = {"dns.ini": dns_zone.resolver_ini(dns_port),
                             "rcpt_to.in_host_list.ini": "[main]\nmailboxes=any\n"}
            verifying = [
                start_upesi(args.upesi, workdir, "upesi-inbound",
                            ["rcpt_to.in_host_list", "queue/discard"], inbound_files),
                start_upesi(args.upesi, workdir, "upesi-verify",
                            ["dkim", "rcpt_to.in_host_list", "queue/discard"],
                            dict(inbound_files, **{"dkim.ini": "[verify]\nenabled=true\n"})),
            ]
            peers.extend(verifying)
            message = signed_message(key, record)
            # The verifier must really pass it, or the figure means nothing: one message to an
            # instance that logs its verdicts.
            check = start_upesi(args.upesi, workdir, "upesi-verify-check",
                                ["dkim", "rcpt_to.in_host_list", "queue/discard"],
                                dict(inbound_files, **{"dkim.ini": "[verify]\nenabled=true\n"}),
                                log_level="info")
            send_copies(check.port, message, 1, 1)
            check.stop()
            if "result=pass" not in check.log_tail(20000):
                raise RuntimeError("the signed message does not verify:\n" + check.log_tail())
            count = max(args.messages // 3, 300)
            for peer in verifying:
                measure_copies(peer, message, 100)
            for _ in range(args.rounds):
                for peer in verifying:
                    results.setdefault(peer.name, []).append(measure_copies(peer, message, count))

        print(machine_line())
        print("upesi: %s" % args.upesi)
        print("| server | msgs/s (min-max) | cpu ms/msg (min-max) |")
        print("|---|---|---|")
        medians = {}
        for name, runs in results.items():
            s = summary(runs)
            medians[name] = s
            print("| %s | %.0f (%.0f-%.0f) | %.3f (%.3f-%.3f) |" % (
                name, s["msgs_per_s"], s["rate_min"], s["rate_max"], s["cpu_ms_per_msg"],
                s["cpu_min"], s["cpu_max"]))
        sign_cost = medians["upesi-sign"]["cpu_ms_per_msg"] - medians["upesi"]["cpu_ms_per_msg"]
        milter_cost = (medians["postfix-opendkim"]["cpu_ms_per_msg"]
                       - medians["postfix"]["cpu_ms_per_msg"])
        verify_cost = (medians["upesi-verify"]["cpu_ms_per_msg"]
                       - medians["upesi-inbound"]["cpu_ms_per_msg"])
        ratio = (medians["upesi-sign-queue"]["msgs_per_s"]
                 / medians["postfix-opendkim"]["msgs_per_s"])
        print()
        print("signing adds %.3f ms CPU per 10 KB message to Upesi (target <= 0.3), "
              "%.3f ms to Postfix as OpenDKIM's milter" % (sign_cost, milter_cost))
        print("verifying adds %.3f ms CPU per 10 KB message to Upesi (target <= 0.3)"
              % verify_cost)
        print("signing rate, both queueing: upesi-sign-queue / postfix-opendkim = %.2fx" % ratio)
        write_json(args.json, {"servers": medians, "sign_cost_ms": sign_cost,
                               "milter_cost_ms": milter_cost, "verify_cost_ms": verify_cost,
                               "sign_rate_ratio": ratio})


if __name__ == "__main__":
    main()
