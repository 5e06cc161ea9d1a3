#!/usr/bin/env python3
"""TLS benchmark: STARTTLS sessions per second and server CPU per TLS session, Upesi against
Haraka's tls plugin, in one run, on loopback.

    test/bench/tls.py [--upesi BUILD/master/upesi] [--rounds 5] [--messages 300] [--procs 1,4]

Both servers run one process (nodes=0) with rcpt_to.in_host_list + queue/discard and the tls
plugin, with the same self-signed RSA-2048 certificate. The client is Python's smtplib, as in
the shared tls-seq.py harness: per message a new connection, EHLO, STARTTLS, EHLO, MAIL, RCPT,
DATA (1 KB), QUIT; PROCS client processes in parallel. Each cell also runs without STARTTLS
(plain), so the TLS cost per session is the difference of the two. The Python client is much
heavier than the servers, so msgs/s is client-bound; server CPU per message is the figure to
compare (the first columns). As in inbound.py (issue 21's fair method): the clients and this
script run on one CPU, the servers on the other (taskset), both servers log at their shipped
level to a file, and the ratios are paired round by round, median (min–max) of the rounds.
"""
import argparse
import multiprocessing
import pathlib
import signal
import smtplib
import ssl
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import (exit_on_sigterm, machine_line, median_range,  # noqa: E402
                          paired_ratios, pin_cpus, servers_run, tree_cpu_s, write_json)
import inbound  # noqa: E402

BODY = "Subject: bench\r\n\r\n" + ("x" * 78 + "\r\n") * 13


def client(args):
    port, count, tls = args
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    errors = 0
    for _ in range(count):
        try:
            with smtplib.SMTP("127.0.0.1", port, local_hostname="tls.client", timeout=30) as s:
                s.ehlo()
                if tls:
                    s.starttls(context=ctx)
                    s.ehlo()
                s.sendmail("sender@example.com", ["user@example.com"], BODY)
        except (OSError, smtplib.SMTPException) as e:
            errors += 1
            print("error: %r" % e, file=sys.stderr)
    return errors


def quiet_worker():
    # Pool workers inherit the bench's SIGTERM handler; theirs is the default one.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run(peer, messages, procs, tls):
    per_proc = messages // procs
    cpu0 = tree_cpu_s(peer.proc.pid)
    t0 = time.monotonic()
    with multiprocessing.Pool(procs, initializer=quiet_worker) as pool:
        errors = sum(pool.map(client, [(peer.port, per_proc, tls)] * procs))
    wall = time.monotonic() - t0
    time.sleep(0.3)
    cpu = tree_cpu_s(peer.proc.pid) - cpu0
    if errors:
        raise RuntimeError("%s: %d errors" % (peer.name, errors))
    n = per_proc * procs
    return n / wall, cpu * 1000 / n


def self_signed(workdir):
    key, cert = workdir / "key.pem", workdir / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return key.read_text(), cert.read_text()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(inbound.ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--procs", default="1,4")
    ap.add_argument("--json", help="also write the medians to this file")
    args = ap.parse_args()
    exit_on_sigterm()
    pin_cpus()
    with servers_run("upesi-bench-tls-") as (workdir, peers):
        pems = self_signed(workdir)
        peers.append(inbound.start_upesi(args.upesi, workdir, 0, tls=pems, name="upesi"))
        peers.append(inbound.start_haraka(workdir, tls=pems))
        versions = machine_line(args.upesi)  # before the rounds: what the run started with
        results = {}
        cells = [(int(p), tls) for p in args.procs.split(",") for tls in (True, False)]
        for procs, tls in cells:
            for peer in peers:
                run(peer, 40, procs, tls)  # warm-up
            for _ in range(args.rounds):
                for peer in peers:
                    results.setdefault((procs, tls, peer.name), []).append(
                        run(peer, args.messages, procs, tls))
        print("| clients | mode | upesi CPU ms/msg | haraka CPU ms/msg | upesi/haraka CPU | "
              "upesi msgs/s | haraka msgs/s |")
        print("|---|---|---|---|---|---|---|")
        med, medians = {}, []
        for procs, tls in cells:
            row = [str(procs), "STARTTLS" if tls else "plain"]
            runs = {name: results[(procs, tls, name)] for name in ("upesi", "haraka")}
            for name in ("upesi", "haraka"):
                rate = statistics.median(r[0] for r in runs[name])
                cpu = statistics.median(r[1] for r in runs[name])
                med[(procs, tls, name)] = cpu
                medians.append({"clients": procs, "starttls": tls, "server": name,
                                "msgs_per_s": rate, "cpu_ms_per_msg": cpu})
                row.append(median_range([r[1] for r in runs[name]]))
            row.append(median_range(paired_ratios([r[1] for r in runs["upesi"]],
                                                  [r[1] for r in runs["haraka"]]), "%.2f"))
            row += [median_range([r[0] for r in runs[name]], "%.0f")
                    for name in ("upesi", "haraka")]
            print("| " + " | ".join(row) + " |")
        print()
        print("TLS cost per session (STARTTLS CPU minus plain CPU, ms):")
        for procs in sorted({c[0] for c in cells}):
            u = med[(procs, True, "upesi")] - med[(procs, False, "upesi")]
            h = med[(procs, True, "haraka")] - med[(procs, False, "haraka")]
            print("  %d client(s): upesi %.3f, haraka %.3f, upesi/haraka %.2f" %
                  (procs, u, h, u / h if h > 0 else float("nan")))
        print()
        print(versions)
        write_json(args.json, medians)


if __name__ == "__main__":
    main()
