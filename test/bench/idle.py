#!/usr/bin/env python3
"""Idle connections: memory per connection held after EHLO, Upesi against Haraka and Postfix.

    test/bench/idle.py [--upesi BUILD/master/upesi] [--connections 10000] [--hold 5]
                       [--postfix-connections 1000] [--no-haraka] [--no-postfix] [--json PATH]

Each server is started on a free loopback port and warmed up with 300 messages; then the
client opens the connections (at most 200 handshakes in flight), reads the banner, says EHLO,
waits for its final 250 and holds every connection open. Memory is the PSS (proportional set
size, fair to servers of several processes) summed over the server's process tree, measured
before the first connection and again `--hold` seconds after the last one was established.
Per connection = the difference / connections. A refused or dropped connection is counted
and fails the run.

Upesi (nodes=0) and Haraka (nodes=0) get `--connections`; Postfix runs one smtpd process per
connection, so it gets `--postfix-connections` (its process limit raised to match).
"""
import argparse
import errno
import os
import pathlib
import resource
import selectors
import socket
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import (exit_on_sigterm, load, machine_line, pss_kb,  # noqa: E402
                          servers_run, tree_pids, write_json)
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


def measure(peer, root_pid, n, hold):
    load(peer.port, root_pid, 300, 10, 1000)  # warm-up
    time.sleep(1)
    before = pss_kb(tree_pids(root_pid))
    clients = IdleClients(peer.port, n)
    try:
        time.sleep(hold)
        pids = tree_pids(root_pid)
        after = pss_kb(pids)
        held = clients.still_open()
    finally:
        clients.close()
    return {"connections": n, "established": len(clients.socks), "held": held,
            "failed": clients.failed, "setup_s": clients.setup_s, "processes": len(pids),
            "pss_before_kb": before, "pss_after_kb": after,
            "pss_per_conn_kb": (after - before) / n}


def start_postfix(workdir, n):
    return PostfixPeer(workdir, "postfix", {
        "relay_domains": "example.com", "relay_recipient_maps": "",
        "relay_transport": "discard:", "default_transport": "discard:",
        "transport_maps": "inline:{ example.com=discard: }",
        "default_process_limit": str(n + 100), "smtpd_client_connection_count_limit": "0",
        "smtpd_timeout": "600s"}, log=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(inbound.ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--postfix-connections", type=int, default=1000)
    ap.add_argument("--hold", type=float, default=5)
    ap.add_argument("--no-haraka", action="store_true")
    ap.add_argument("--no-postfix", action="store_true")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    need = args.connections + 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(need, min(hard, need)), max(hard, need)))
    exit_on_sigterm()
    results = {}
    with servers_run("upesi-idle-") as (workdir, peers):
        # Upesi's own limits are raised to the test's size (defaults: 10000, 100 per IP).
        limits = "max_connections=%d\nmax_connections_per_ip=%d\n" % (need, need)
        runs = [("upesi", lambda: inbound.start_upesi(args.upesi, workdir, 0, smtp_ini=limits),
                 args.connections)]
        if not args.no_haraka:
            runs.append(("haraka", lambda: inbound.start_haraka(workdir), args.connections))
        if not args.no_postfix and os.geteuid() == 0:
            runs.append(("postfix", lambda: start_postfix(workdir, args.postfix_connections),
                         args.postfix_connections))
        for name, start, n in runs:
            peer = start()
            peers.append(peer)
            results[name] = measure(peer, peer.pid, n, args.hold)
            peer.stop()
        print("| server | connections | established | held | setup s | processes | "
              "PSS before MiB | PSS after MiB | PSS per connection KiB |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, r in results.items():
            print("| %s | %d | %d | %d | %.1f | %d | %.1f | %.1f | %.2f |" % (
                name, r["connections"], r["established"], r["held"], r["setup_s"],
                r["processes"], r["pss_before_kb"] / 1024, r["pss_after_kb"] / 1024,
                r["pss_per_conn_kb"]))
        for name, r in results.items():
            if name != "upesi":
                print("upesi/%s PSS per connection: %.3gx" % (
                    name, results["upesi"]["pss_per_conn_kb"] / r["pss_per_conn_kb"]))
        print()
        print(machine_line(args.upesi))
        write_json(args.json, results)
        bad = [n for n, r in results.items() if r["failed"] or r["held"] != r["connections"]]
        if bad:
            sys.exit("connections refused or dropped by: " + ", ".join(bad))


if __name__ == "__main__":
    main()
