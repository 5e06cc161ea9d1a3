#!/usr/bin/env python3
"""Clients that pipeline commands and never read the replies: the worker's memory under them,
and how long an ordinary client waits meanwhile.

    test/bench/unread_replies.py [--upesi BUILD/master/upesi] [--clients 100] [--mb 2]
                                 [--seconds 20] [--json PATH]

Upesi runs its shipped defaults (nodes=1, max_output_buffer 64 KiB, write_timeout 60 s) on a
free loopback port. Each attacker connects with a 4 KiB receive buffer and sends `--mb` MB of
HELP (71 bytes of reply for 6 sent) as fast as the server takes it, reading nothing, for at
most `--seconds`. Meanwhile an ordinary smtplib client sends a message every second. Printed:
the worker's peak RSS (sampled every 0.1 s), the bytes the attackers got in, and the ordinary
client's slowest transaction. Not a comparison: a resilience figure (the goal: under 64 MB).
"""
import argparse
import pathlib
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import free_port, machine_line, wait_port, write_json  # noqa: E402


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def worker_pid(master):
    with open("/proc/%d/task/%d/children" % (master, master)) as f:
        pids = [int(p) for p in f.read().split()]
    return pids[0] if pids else None


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upesi", default=str(HERE.parent.parent / "build" / "master" / "upesi"))
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--mb", type=float, default=2)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--json")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        inst = pathlib.Path(tmp) / "inst"
        subprocess.run([a.upesi, "-i", str(inst)], check=True, capture_output=True)
        port = free_port()
        # Room for the attackers and the ordinary client from one address.
        (inst / "config" / "smtp.ini").write_text(
            "[main]\nlisten=127.0.0.1:%d\nmax_connections_per_ip=1000\n" % port)
        (inst / "config" / "plugins").write_text("rcpt_to.in_host_list\nqueue/discard\n")
        (inst / "config" / "log.ini").write_text("[main]\nlevel=warn\n")
        server = subprocess.Popen([a.upesi, "-c", str(inst)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL,
                                  env={"YES_REALLY_DO_DISCARD": "1", "PATH": "/usr/bin:/bin"})
        try:
            wait_port(port, server)
            time.sleep(0.5)
            worker = worker_pid(server.pid)
            before = rss_kib(worker)
            peak = [before]
            done = threading.Event()

            def sample():
                while not done.is_set():
                    peak[0] = max(peak[0], rss_kib(worker))
                    time.sleep(0.1)

            waits = []

            def ordinary():
                while not done.is_set():
                    start = time.monotonic()
                    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                        s.sendmail("a@client.example", ["you@example.com"], "Subject: x\r\n\r\nx\r\n")
                    waits.append(time.monotonic() - start)
                    time.sleep(1)

            threads = [threading.Thread(target=sample), threading.Thread(target=ordinary)]
            for t in threads:
                t.start()
            clients = []
            for _ in range(a.clients):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.connect(("127.0.0.1", port))
                s.setblocking(False)
                clients.append(s)
            burst = b"HELP\r\n" * 10000
            left = {s: int(a.mb * 1_000_000) for s in clients}
            sent = 0
            deadline = time.monotonic() + a.seconds
            while left and time.monotonic() < deadline:
                progress = False
                for s in list(left):
                    try:
                        n = s.send(burst[:left[s]])
                        sent += n
                        left[s] -= n
                        progress = progress or n > 0
                        if left[s] <= 0:
                            del left[s]
                    except BlockingIOError:
                        pass
                    except OSError:
                        del left[s]
                if not progress:
                    time.sleep(0.05)
            time.sleep(max(0.0, deadline - time.monotonic()))
            done.set()
            for t in threads:
                t.join()
            for s in clients:
                s.close()
            result = {"clients": a.clients, "sent_mb": round(sent / 1e6, 1),
                      "rss_before_mb": round(before / 1024, 1),
                      "rss_peak_mb": round(peak[0] / 1024, 1),
                      "ordinary_transactions": len(waits),
                      "ordinary_slowest_s": round(max(waits), 3) if waits else None}
            print(machine_line())
            for k, v in result.items():
                print("%s: %s" % (k, v))
            if a.json:
                write_json(a.json, result)
            return 0 if peak[0] < 64 * 1024 and waits else 1
        finally:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    sys.exit(main())
