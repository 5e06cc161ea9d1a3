#!/usr/bin/env python3
"""TLS benchmark: server CPU per STARTTLS session, Upesi against Postfix's smtpd and Haraka's
tls plugin, in one run, on loopback.

    test/bench/tls.py [--upesi BUILD/master/upesi] [--rounds 5] [--messages 300] [--procs 1,10]

The target (issue): TLS on every session, 10 concurrent clients, server CPU per session at
most 0.5x Postfix's. The servers, each with the same self-signed RSA-2048 certificate and
accepting example.com, at their shipped log level, to a file:
  upesi    shipped nodes (master + worker), tls + rcpt_to.in_host_list + queue/discard
  postfix  private instance (postfix_peer.py) with smtpd_tls_security_level=may, relay for
           example.com from 127.0.0.1, every message discarded after the end of DATA
           (postfix_peer.DISCARD_ALL: cleanup takes the message, nothing stays queued); tlsmgr
           as in Debian's master.cf; smtpd_tls_loglevel=1, not the default 0, which logs
           neither protocol nor cipher: the one "TLS connection established" line per session
           that it adds is the counterpart of Upesi's and Haraka's "secured:" lines at info
  haraka   nodes=0, tls + rcpt_to.in_host_list + queue/discard
The client is Python's smtplib, as in the shared tls-seq.py harness: per message a new
connection, EHLO, STARTTLS, EHLO, MAIL, RCPT, DATA (1 KB), QUIT; PROCS client processes in
parallel. Each cell also runs without STARTTLS (plain), so the TLS cost per session is the
difference of the two. The Python client is much heavier than the servers, so msgs/s is
client-bound; server CPU per message (= per session) is the figure to compare.

TLS is checked on both sides, every round: the client takes the protocol and cipher of every
session from its socket; each server's log from the round must hold exactly one line per
session naming the same protocol and cipher (Upesi: "secured: version=... cipher=...", Haraka:
"secured: cipher=... version=...", Postfix: "TLS connection established from ...: PROTOCOL
with cipher CIPHER"), and none in a plain cell. All servers must negotiate the same protocol.
Any mismatch, a STARTTLS session without TLS or a client error stops the run with an error.

As in inbound.py (issue 21's fair method): the clients and this script run on one CPU, the
servers on the other (taskset, checked for every process of each server), the servers take
turns round by round, and each ratio is paired round by round, median (min–max) of the rounds.
The versions (and the TLS libraries) are printed under the table; a temporary directory on
tmpfs is refused.
"""
import argparse
import collections
import multiprocessing
import re
import signal
import smtplib
import ssl
import statistics
import subprocess
import sys
import time

from bench_common import (ROOT, check_pinned, exit_on_sigterm, machine_line, median_range,
                          paired_ratios, pin_cpus, ratio_range, servers_run, shipped_ini,
                          summary, tree_cpu_s, wait_until, write_json)
import inbound

BODY = "Subject: bench\r\n\r\n" + ("x" * 78 + "\r\n") * 13
SERVERS = ("upesi", "postfix", "haraka")
PEERS = ("postfix", "haraka")
# What each server logs once a TLS session is established.
SECURED = {
    "upesi": re.compile(r"secured: version=(?P<version>\S+) cipher=(?P<cipher>\S+)"),
    "haraka": re.compile(r"secured: cipher=(?P<cipher>\S+) version=(?P<version>\S+)"),
    "postfix": re.compile(r"TLS connection established from \S+: (?P<version>\S+) "
                          r"with cipher (?P<cipher>\S+)"),
}


def client(args):
    """errors, and {(protocol, cipher): sessions} ((None, None) for sessions without TLS)."""
    port, count, tls = args
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    errors, seen = 0, collections.Counter()
    for _ in range(count):
        try:
            with smtplib.SMTP("127.0.0.1", port, local_hostname="tls.client", timeout=30) as s:
                s.ehlo()
                if tls:
                    s.starttls(context=ctx)
                    s.ehlo()
                s.sendmail("sender@example.com", ["user@example.com"], BODY)
                if isinstance(s.sock, ssl.SSLSocket):
                    seen[(s.sock.version(), s.sock.cipher()[0])] += 1
                else:
                    seen[(None, None)] += 1
        except (OSError, smtplib.SMTPException) as e:
            errors += 1
            print("error: %r" % e, file=sys.stderr)
    return errors, seen


def quiet_worker():
    # Pool workers inherit the bench's SIGTERM handler; theirs is the default one.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def log_since(peer, offset):
    with open(peer.log_path, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def server_sessions(peer, offset, expected):
    """[(protocol, cipher)] of the TLS sessions the server logged since offset; waits (Postfix
    logs through postlogd) for `expected` of them."""
    def found():
        return [(m["version"], m["cipher"])
                for m in SECURED[peer.name].finditer(log_since(peer, offset))]
    try:
        wait_until(lambda: len(found()) >= expected, 10,
                   "%s: %d TLS sessions in its log" % (peer.name, expected))
    except TimeoutError:
        pass
    return found()


def check_tls(peer, tls, n, seen, logged):
    """The negotiated (protocol, cipher) of a run, the same on both sides for every session;
    None for a plain run. Raises on any disagreement."""
    client_side = set(seen)
    if not tls:
        if client_side != {(None, None)} or logged:
            raise RuntimeError("%s: plain run, yet TLS: client %s, server logged %d sessions"
                               % (peer.name, dict(seen), len(logged)))
        return None
    if (None, None) in client_side:
        raise RuntimeError("%s: %d STARTTLS sessions without TLS on the client's socket"
                           % (peer.name, seen[(None, None)]))
    if len(client_side) != 1 or sum(seen.values()) != n:
        raise RuntimeError("%s: the client saw %s over %d sessions" % (peer.name, dict(seen), n))
    if len(logged) != n or set(logged) != client_side:
        raise RuntimeError("%s: the client negotiated %s in %d sessions, the server logged %s"
                           % (peer.name, client_side.pop(), n, dict(collections.Counter(logged))))
    return client_side.pop()


def run(peer, messages, procs, tls):
    """One run: {"rate": msgs/s, "cpu": server ms/msg, "log": log bytes/msg, "tls": (protocol,
    cipher) or None}."""
    per_proc = messages // procs
    n = per_proc * procs
    log0 = peer.log_bytes()
    cpu0 = tree_cpu_s(peer.pid)
    t0 = time.monotonic()
    with multiprocessing.Pool(procs, initializer=quiet_worker) as pool:
        out = pool.map(client, [(peer.port, per_proc, tls)] * procs)
    wall = time.monotonic() - t0
    time.sleep(0.3)  # work the server does after its last reply
    cpu = tree_cpu_s(peer.pid) - cpu0
    errors = sum(e for e, _ in out)
    if errors:
        raise RuntimeError("%s: %d errors" % (peer.name, errors))
    seen = sum((s for _, s in out), collections.Counter())
    negotiated = check_tls(peer, tls, n, seen, server_sessions(peer, log0, n if tls else 0))
    return {"rate": n / wall, "cpu": cpu * 1000 / n,
            "log": (peer.log_bytes() - log0) / n, "tls": negotiated}


def self_signed(workdir):
    key, cert = workdir / "key.pem", workdir / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return key.read_text(), cert.read_text()


def tls_libraries():
    """The TLS libraries of the client and the servers (Upesi and Postfix: the system's)."""
    def first_line(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            return r.stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    return "tls libraries: client %s, system (upesi, postfix) %s, haraka's node OpenSSL %s" % (
        ssl.OPENSSL_VERSION, first_line(["openssl", "version"]),
        first_line(["node", "-p", "process.versions.openssl"]))


def negotiated_text(tls_of):
    """The table's TLS column: one (protocol, cipher) when every server agrees."""
    values = set(tls_of.values())
    if values == {None}:
        return "none"
    if len(values) == 1:
        return "%s %s" % values.pop()
    return ", ".join("%s %s %s" % ((name,) + tls_of[name]) for name in SERVERS)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--procs", default="1,10", help="client counts (10: the target's cell)")
    ap.add_argument("--json", help="also write the medians to this file")
    args = ap.parse_args()
    if args.rounds < 5:
        print("note: %d rounds; the fair method asks for at least 5" % args.rounds,
              file=sys.stderr)
    exit_on_sigterm()
    pin_cpus()
    shipped_nodes = shipped_ini(args.upesi, "smtp.ini").get("nodes", "?")
    with servers_run("upesi-bench-tls-") as (workdir, peers):
        pems = self_signed(workdir)
        peers.append(inbound.start_upesi(args.upesi, workdir, tls=pems, name="upesi"))
        peers.append(inbound.start_postfix(workdir, tls=pems))
        peers.append(inbound.start_haraka(workdir, tls=pems))
        versions = machine_line(args.upesi)  # before the rounds: what the run started with
        results = {}
        cells = [(int(p), tls) for p in args.procs.split(",") for tls in (True, False)]
        for procs, tls in cells:
            for peer in peers:
                run(peer, 40, procs, tls)  # warm-up
                check_pinned(peer.pid, peer.name)
            for _ in range(args.rounds):
                for peer in peers:  # interleaved, so drift hits every server alike
                    results.setdefault((procs, tls, peer.name), []).append(
                        run(peer, args.messages, procs, tls))
            protocols = {name: {r["tls"] and r["tls"][0] for r in results[(procs, tls, name)]}
                         for name in SERVERS}
            if len(set.union(*protocols.values())) != 1:
                raise RuntimeError("the servers negotiated different protocols: %s" % protocols)
        report(args, cells, results, shipped_nodes, versions)


def report(args, cells, results, shipped_nodes, versions):
    print("tls, %d messages per run: median (min–max) of %d rounds; upesi = shipped nodes=%s"
          % (args.messages, args.rounds, shipped_nodes))
    print()
    print("| clients | mode | TLS (client = server) | " +
          " | ".join("%s CPU ms/msg" % s for s in SERVERS) + " | " +
          " | ".join("upesi/%s CPU" % p for p in PEERS) + " | " +
          " | ".join("%s msgs/s" % s for s in SERVERS) + " | log bytes/msg " +
          "/".join(SERVERS) + " |")
    print("|---" * (3 + 2 * len(SERVERS) + len(PEERS) + 1) + "|")
    medians, med = [], {}
    for procs, tls in cells:
        runs = {name: results[(procs, tls, name)] for name in SERVERS}
        cpu = {name: [r["cpu"] for r in runs[name]] for name in SERVERS}
        rate = {name: [r["rate"] for r in runs[name]] for name in SERVERS}
        log = {name: statistics.median(r["log"] for r in runs[name]) for name in SERVERS}
        ratios = {p: paired_ratios(cpu["upesi"], cpu[p]) for p in PEERS}
        row = [str(procs), "STARTTLS" if tls else "plain",
               negotiated_text({name: runs[name][0]["tls"] for name in SERVERS})]
        row += [median_range(cpu[name]) for name in SERVERS]
        row += [ratio_range(ratios[p]) for p in PEERS]
        row += [median_range(rate[name], "%.0f") for name in SERVERS]
        row.append("/".join("%.0f" % log[name] for name in SERVERS))
        print("| " + " | ".join(row) + " |")
        for name in SERVERS:
            med[(procs, tls, name)] = statistics.median(cpu[name])
            negotiated = runs[name][0]["tls"]
            entry = {"clients": procs, "starttls": tls, "server": name,
                     "msgs_per_s": statistics.median(rate[name]),
                     "cpu_ms_per_msg": statistics.median(cpu[name]),
                     "log_bytes_per_msg": log[name],
                     "cpu": summary(cpu[name]), "rate": summary(rate[name]),
                     "protocol": negotiated and negotiated[0],
                     "cipher": negotiated and negotiated[1]}
            if name == "upesi":
                entry["cpu_ratio"] = {p: summary(ratios[p]) for p in PEERS if ratios[p]}
            medians.append(entry)
    print()
    print("TLS cost per session (STARTTLS CPU minus plain CPU, medians, ms):")
    for procs in sorted({c[0] for c in cells}):
        cost = {name: med[(procs, True, name)] - med[(procs, False, name)] for name in SERVERS}
        print("  %d client(s): %s; %s" % (
            procs, ", ".join("%s %.3f" % (name, cost[name]) for name in SERVERS),
            ", ".join("upesi/%s %.2f" % (p, cost["upesi"] / cost[p]) if cost[p] > 0 else
                      "upesi/%s –" % p for p in PEERS)))
    print()
    print(versions)
    print(tls_libraries())
    write_json(args.json, medians)


if __name__ == "__main__":
    main()
