#!/usr/bin/env python3
"""Idle connections: memory per connection held after EHLO, Upesi against Haraka and Postfix,
from each server's own memory cgroup.

    test/bench/idle.py [--upesi BUILD/master/upesi] [--rounds 5] [--connections 10000]
                       [--postfix-connections 1000] [--hold 5] [--no-haraka] [--no-postfix]
                       [--json PATH]

Needs root (cgroups, Postfix). Every round starts each server afresh, in a memory cgroup of
its own made for it (bench_common.MemoryCgroup), which the server joins before it execs, so
that every process it forks is charged there too: Upesi's master and workers, Postfix's
master and every child (the smtpd processes it spawns as connections come, postlogd, qmgr,
cleanup), Haraka's node process. The server is warmed up with 300 messages; then the client
opens the connections (at most 200 handshakes in flight), reads the banner, says EHLO, waits
for its final 250 and holds every connection open. The cgroup is read before the first
connection and again `--hold` seconds after the last one was established; the cgroup is removed
once the server has stopped (also after an error or SIGTERM).

The figure, per server and round: (cgroup memory with N connections - before) / N, cgroup
memory being what is charged to the cgroup less its page cache:
  * cgroup v2, where a v2 hierarchy has the memory controller: memory.current (user memory,
    kernel memory such as the socket structures, kernel stacks and page tables of each process,
    and socket buffers).
  * else cgroup v1: memory.usage_in_bytes (user memory and kernel memory: v1 charges kernel
    memory to the total as well as to memory.kmem.usage_in_bytes, checked to be non-zero) plus
    memory.kmem.tcp.usage_in_bytes (TCP socket buffers, counted apart on v1, and only once its
    limit is written: a limit far above any use is written before the server starts).
  * Page cache (the file LRU lists of memory.stat) is left out, and printed apart: the log files
    the servers write grow it with every connection logged, and a page of cache is charged to
    whichever cgroup touched it first (a binary or config file cached by an earlier round or
    another program is not charged at all), so it tells more of history than of the server;
    and the kernel drops it when memory is short. What remains is anonymous memory and kernel
    memory, which the connections hold.
  * The kernel batches charges per CPU (up to 256 KiB each), small against N connections.
PSS (proportional set size, fair to servers of several processes) summed over the cgroup's
processes is the second figure, measured at the same two points: it leaves out kernel memory.

The fair method: the servers take turns within each round (--rounds, at least 5), the ratios
upesi/haraka and upesi/postfix are paired round by round and reported as the median (min–max)
of the rounds, absolute figures too; the client runs on one CPU and the servers on the other
(bench_common.pin_cpus); every server logs at its shipped default, to a file (Upesi's stderr and
Haraka's output captured to files, Postfix to its maillog through postlogd); the versions, the
pinning and the cgroup hierarchy used are printed under the tables; a work directory on tmpfs is
refused. A refused or dropped connection is counted and fails the run.

Upesi (nodes=0) and Haraka (nodes=0) get `--connections`; Postfix runs one smtpd process per
connection, so it gets `--postfix-connections` (its process limit raised to match). Upesi's
max_connections and max_connections_per_ip are raised to the test's size.
"""
import argparse
import errno
import os
import pathlib
import resource
import selectors
import socket
import statistics
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import (MemoryCgroup, check_pinned, exit_on_sigterm, load,  # noqa: E402
                          machine_line, median_range, paired_ratios,
                          pin_cpus, pss_kb, ratio_range, servers_run, summary, write_json)
import inbound  # noqa: E402
from postfix_peer import PostfixPeer  # noqa: E402

HANDSHAKES_IN_FLIGHT = 200


class IdleClients:
    """Opens n connections to 127.0.0.1:port, each through banner and EHLO, and keeps them."""

    def __init__(self, port, n, timeout=300):
        self.socks, self.failed = [], 0
        sel = selectors.DefaultSelector()
        pending = {}  # socket -> [phase, buffered reply]
        started = 0
        deadline = time.monotonic() + timeout
        t0 = time.monotonic()
        while (started < n or pending) and time.monotonic() < deadline:
            while started < n and len(pending) < HANDSHAKES_IN_FLIGHT:
                started += 1
                s = socket.socket()
                s.setblocking(False)
                if s.connect_ex(("127.0.0.1", port)) not in (0, errno.EINPROGRESS):
                    s.close()
                    self.failed += 1
                    continue
                pending[s] = ["connect", b""]
                sel.register(s, selectors.EVENT_WRITE)
            for key, _ in sel.select(timeout=0.5):
                s = key.fileobj
                try:
                    if self._step(s, pending[s], sel):
                        sel.unregister(s)
                        del pending[s]
                        self.socks.append(s)
                except OSError:
                    sel.unregister(s)
                    del pending[s]
                    s.close()
                    self.failed += 1
        self.failed += len(pending) + (n - started)
        for s in pending:
            s.close()
        sel.close()
        self.setup_s = time.monotonic() - t0

    @staticmethod
    def _step(s, state, sel):
        """Advances one connection; True once EHLO has been answered."""
        if state[0] == "connect":
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err))
            state[0] = "banner"
            sel.modify(s, selectors.EVENT_READ)
            return False
        data = s.recv(4096)
        if not data:
            raise OSError("closed by the server")
        state[1] += data
        finals = [l for l in state[1].split(b"\r\n")[:-1] if l[3:4] == b" "]
        if not finals:
            return False
        state[1] = b""
        if state[0] == "banner":
            if not finals[-1].startswith(b"220"):
                raise OSError("banner %r" % finals[-1])
            s.sendall(b"EHLO idle.client\r\n")
            state[0] = "ehlo"
            return False
        if not finals[-1].startswith(b"250"):
            raise OSError("EHLO answered %r" % finals[-1])
        return True

    def still_open(self):
        """Connections the server has not closed (a readable socket with nothing to read is
        closed)."""
        sel = selectors.DefaultSelector()
        for s in self.socks:
            sel.register(s, selectors.EVENT_READ)
        closed = len(sel.select(timeout=0.1))
        sel.close()
        return len(self.socks) - closed

    def close(self):
        for s in self.socks:
            s.close()


def measure(peer, cgroup, n, hold):
    """One server, one round: the figures of its cgroup and PSS before and with n idle
    connections (sizes in kB, per connection in KiB)."""
    load(peer.port, peer.pid, 300, 10, 1000)  # warm-up
    check_pinned(peer.pid, peer.name)
    cgroup.check_kmem()
    time.sleep(1)
    before = cgroup.read()
    pss_before = pss_kb(cgroup.pids())
    clients = IdleClients(peer.port, n)
    try:
        time.sleep(hold)
        pids = cgroup.pids()
        after = cgroup.read()
        pss_after = pss_kb(pids)
        held = clients.still_open()
    finally:
        clients.close()

    def per_conn(key):
        if before[key] is None or after[key] is None:
            return None
        return (after[key] - before[key]) / 1024 / n
    resident_before = (before["charged"] - before["file"]) / 1024
    resident_after = (after["charged"] - after["file"]) / 1024
    return {"connections": n, "established": len(clients.socks), "held": held,
            "failed": clients.failed, "setup_s": clients.setup_s, "processes": len(pids),
            "pss_before_kb": pss_before, "pss_after_kb": pss_after,
            "pss_per_conn_kb": (pss_after - pss_before) / n,
            "cgroup_before_kb": resident_before, "cgroup_after_kb": resident_after,
            "cgroup_per_conn_kb": (resident_after - resident_before) / n,
            "charged_per_conn_kb": per_conn("charged"),
            "page_cache_per_conn_kb": per_conn("file"),
            "sock_per_conn_kb": per_conn("sock"), "kernel_per_conn_kb": per_conn("kernel")}


def start_postfix(workdir, n, cgroup):
    return PostfixPeer(workdir, "postfix", {
        "relay_domains": "example.com", "relay_recipient_maps": "",
        "relay_transport": "discard:", "default_transport": "discard:",
        "transport_maps": "inline:{ example.com=discard: }",
        "default_process_limit": str(n + 100), "smtpd_client_connection_count_limit": "0",
        "smtpd_timeout": "600s"}, log=True, cgroup=cgroup)


def server_summary(rounds):
    """The JSON of one server over the rounds: the medians under the names of one round
    (held and established: the worst round; failed: the sum of the rounds), their spread, and
    every round."""
    out = {}
    for key, value in rounds[0].items():
        values = [r[key] for r in rounds]
        if key in ("held", "established"):
            out[key] = min(values)
        elif key == "failed":
            out[key] = sum(values)
        elif key == "connections":
            out[key] = value
        else:
            out[key] = None if None in values else statistics.median(values)
    out["cgroup"] = summary([r["cgroup_per_conn_kb"] for r in rounds])
    out["pss"] = summary([r["pss_per_conn_kb"] for r in rounds])
    out["rounds"] = rounds
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(inbound.ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--postfix-connections", type=int, default=1000)
    ap.add_argument("--hold", type=float, default=5)
    ap.add_argument("--no-haraka", action="store_true")
    ap.add_argument("--no-postfix", action="store_true")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("idle.py needs root: it makes a memory cgroup for each server")
    if args.rounds < 5:
        print("note: %d rounds; the fair method asks for at least 5" % args.rounds,
              file=sys.stderr)
    need = args.connections + 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(need, min(hard, need)), max(hard, need)))
    exit_on_sigterm()
    pin_cpus()
    results = {}
    with servers_run("upesi-idle-") as (workdir, peers):
        os.chmod(workdir, 0o755)  # Postfix's user reaches its queue in a round's directory
        versions = machine_line(args.upesi)
        # Upesi's own limits are raised to the test's size (defaults: 10000, 100 per IP).
        limits = "max_connections=%d\nmax_connections_per_ip=%d\n" % (need, need)
        runs = [("upesi", lambda d, cg: inbound.start_upesi(args.upesi, d, 0, smtp_ini=limits,
                                                              cgroup=cg), args.connections)]
        if not args.no_haraka:
            runs.append(("haraka", lambda d, cg: inbound.start_haraka(d, cgroup=cg),
                         args.connections))
        if not args.no_postfix:
            runs.append(("postfix", lambda d, cg: start_postfix(d, args.postfix_connections, cg),
                         args.postfix_connections))
        method = None
        for r in range(args.rounds):
            rdir = workdir / ("round%d" % (r + 1))
            rdir.mkdir()
            for name, start, n in runs:  # interleaved, so drift hits every server alike
                with MemoryCgroup("upesi-idle-%d-%s" % (os.getpid(), name)) as cgroup:
                    method = cgroup.describe()
                    peer = start(rdir, cgroup)
                    peers.append(peer)
                    try:
                        results.setdefault(name, []).append(measure(peer, cgroup, n, args.hold))
                    finally:
                        peer.stop()  # before the cgroup is removed
        report(args, results, method, versions)


def report(args, results, method, versions):
    print("idle connections after EHLO: median (min–max) of %d rounds; cgroup = %s, page cache "
          "left out" % (args.rounds, method))
    print()
    print("| server | connections | held | setup s | processes | cgroup before MiB | "
          "cgroup after MiB | cgroup KiB per connection | page cache KiB per connection "
          "(left out) | PSS KiB per connection |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, rounds in results.items():
        def col(key, fmt="%.2f", scale=1):
            return median_range([r[key] / scale for r in rounds], fmt)
        print("| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s |" % (
            name, rounds[0]["connections"], min(r["held"] for r in rounds),
            col("setup_s", "%.1f"), col("processes", "%.0f"),
            col("cgroup_before_kb", "%.1f", 1024), col("cgroup_after_kb", "%.1f", 1024),
            col("cgroup_per_conn_kb"), col("page_cache_per_conn_kb"), col("pss_per_conn_kb")))
    print()
    print("Ratios, paired round by round, median (min–max): below 1 favours Upesi.")
    print()
    print("| upesi / peer | cgroup per connection | PSS per connection |")
    print("|---|---|---|")
    ratios = []
    mine = results["upesi"]
    for peer in (n for n in results if n != "upesi"):
        theirs = results[peer]
        cg = paired_ratios([r["cgroup_per_conn_kb"] for r in mine],
                           [r["cgroup_per_conn_kb"] for r in theirs])
        pss = paired_ratios([r["pss_per_conn_kb"] for r in mine],
                            [r["pss_per_conn_kb"] for r in theirs])
        # Against Postfix's process per connection the ratios are far below 0.01.
        print("| upesi / %s | %s | %s |" % (peer, ratio_range(cg, "%.3g"),
                                           ratio_range(pss, "%.3g")))
        ratios.append({"server": "upesi", "peer": peer, "cgroup": summary(cg) if cg else None,
                       "pss": summary(pss) if pss else None})
    print()
    print(versions)
    out = {name: server_summary(rounds) for name, rounds in results.items()}
    out.update({"ratios": ratios, "rounds": args.rounds, "measured": method,
                "versions": versions})
    write_json(args.json, out)
    bad = [n for n, rounds in results.items()
           if any(r["failed"] or r["held"] != r["connections"] for r in rounds)]
    if bad:
        sys.exit("connections refused or dropped by: " + ", ".join(bad))


if __name__ == "__main__":
    main()
