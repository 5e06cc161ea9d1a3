#!/usr/bin/env python3
"""Inbound benchmark: Upesi against smtp-sink and Haraka, in one run, on loopback.

    test/bench/inbound.py [--upesi BUILD/master/upesi] [--rounds 3] [--quick]

Starts every server itself on free loopback ports (Haraka 3.3.4 from npm, installed on first
use into test/bench/peers/, which git ignores), drives each with Postfix's smtp-source (one new
connection per message: banner, HELO, MAIL, RCPT, DATA, QUIT), and prints, per cell, the median
msgs/s and server CPU per message, and the ratios of Upesi to each peer. Server CPU is the
user+system time of the server's process tree (children included) over the run.

Configurations compared (the same policy everywhere):
  --mode discard (default): accept example.com, discard the message
    upesi   plugins rcpt_to.in_host_list + queue/discard
    haraka  plugins rcpt_to.in_host_list + queue/discard
  --mode queue: relay for 127.0.0.1 into the outbound queue (written, fsynced, renamed; the
    directory fsynced by Upesi), deliveries disabled
    upesi   plugins relay; outbound.ini disabled=true
    haraka  plugins relay + rcpt_to.in_host_list; outbound.ini disabled=true
  sink      smtp-sink (keeps nothing: the protocol ceiling for this client on this machine)
Haraka also gets a local plugin answering lookup_rdns, so that it sends no DNS query.
"""
import argparse
import os
import pathlib
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PEERS = HERE / "peers"
CLK = os.sysconf("SC_CLK_TCK")
HARAKA_VERSION = "3.3.4"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.recv(100)
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server on port %d did not answer" % port)


def tree_cpu_s(root):
    """user+system seconds of root and its descendants (reaped children included)."""
    kids = {}
    stats = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            st = open("/proc/%s/stat" % d).read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        stats[int(d)] = fields
        kids.setdefault(int(fields[1]), []).append(int(d))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += sum(int(x) for x in stats[pid][11:15])
        todo.extend(kids.get(pid, []))
    return total / CLK


def load(port, pid, messages, sessions, size):
    cmd = ["smtp-source", "-A", "-M", "bench.client", "-m", str(messages), "-s", str(sessions),
           "-l", str(size), "-t", "user@example.com", "-f", "sender@example.com", "-4",
           "inet:127.0.0.1:%d" % port]
    cpu0 = tree_cpu_s(pid)
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - t0
    time.sleep(0.3)  # work the server does after its last reply
    cpu = tree_cpu_s(pid) - cpu0
    errors = r.stdout.count("warning") + r.stderr.count("warning") + r.stderr.count("fatal")
    if r.returncode != 0 or errors:
        raise RuntimeError("smtp-source failed (rc=%d): %s" % (r.returncode, r.stderr[-300:]))
    return messages / wall, cpu * 1000 / messages


class Peer:
    def __init__(self, name, argv, port, env=None, cwd=None):
        self.name, self.port = name, port
        self.log = open(tempfile.mktemp(prefix="bench-%s-" % name, suffix=".log"), "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, cwd=cwd, start_new_session=True)
        wait_port(port, self.proc)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


MODE = "discard"


def start_upesi(binary, workdir, nodes=0):
    port = free_port()
    name = "upesi" if nodes == 0 else "upesi-n%d" % nodes
    inst = workdir / name
    subprocess.run([binary, "-i", str(inst)], check=True, capture_output=True)
    cfg = inst / "config"
    (cfg / "smtp.ini").write_text("[main]\nlisten=127.0.0.1:%d\nnodes=%d\n" % (port, nodes))
    if MODE == "queue":
        (cfg / "plugins").write_text("relay\n")
        (cfg / "relay_acl_allow").write_text("127.0.0.1/32\n")
        (cfg / "outbound.ini").write_text("[main]\ndisabled=true\n")
    else:
        (cfg / "plugins").write_text("rcpt_to.in_host_list\nqueue/discard\n")
    (cfg / "host_list").write_text("example.com\n")
    (cfg / "me").write_text("localhost\n")
    (cfg / "log.ini").write_text("[main]\nlevel=warn\n")
    env = dict(os.environ, YES_REALLY_DO_DISCARD="1",
               UPESI_DEFAULTS_DIR=str(ROOT / "etc"))
    return Peer(name, [binary, "-c", str(inst)], port, env=env)


def start_sink():
    port = free_port()
    return Peer("sink", ["smtp-sink", "-u", os.environ.get("USER", "root"), "-m", "5000",
                         "127.0.0.1:%d" % port, "1024"], port)


def install_haraka():
    target = PEERS / "haraka"
    if (target / "node_modules" / "Haraka" / "haraka.js").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "init", "-y"], cwd=target, check=True, capture_output=True)
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "Haraka@" + HARAKA_VERSION],
                   cwd=target, check=True, capture_output=True, timeout=900)
    return target


def start_haraka(workdir):
    home = install_haraka()
    port = free_port()
    cfg_root = workdir / "haraka"
    # Haraka's own skeleton first (connection.ini and friends), then the bench's settings.
    subprocess.run(["node", str(home / "node_modules" / "Haraka" / "bin" / "haraka"), "-i",
                    str(cfg_root)], check=True, capture_output=True, timeout=120)
    (cfg_root / "plugins").mkdir(exist_ok=True)
    cfg = cfg_root / "config"
    (cfg / "smtp.ini").write_text("[main]\nlisten=127.0.0.1:%d\nnodes=0\npublic_ip=127.0.0.1\n"
                                  "inactivity_timeout=300\n" % port)
    if MODE == "queue":
        (cfg / "plugins").write_text("skip_rdns\nrelay\nrcpt_to.in_host_list\n")
        (cfg / "relay.ini").write_text("[relay]\nacl=true\n")
        (cfg / "relay_acl_allow").write_text("127.0.0.1/32\n")
        (cfg / "outbound.ini").write_text("[main]\ndisabled=true\n")
    else:
        (cfg / "plugins").write_text("skip_rdns\nrcpt_to.in_host_list\nqueue/discard\n")
    (cfg / "host_list").write_text("example.com\n")
    (cfg / "me").write_text("localhost\n")
    (cfg / "log.ini").write_text("[main]\nlevel=warn\n")
    (cfg_root / "plugins" / "skip_rdns.js").write_text(
        "exports.hook_lookup_rdns = function (next, connection) {\n"
        "    next(OK, 'localhost');\n};\n")
    env = dict(os.environ, HARAKA=str(cfg_root), YES_REALLY_DO_DISCARD="1")
    return Peer("haraka", ["node", str(home / "node_modules" / "Haraka" / "haraka.js")], port,
                env=env, cwd=str(home))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1 KB at 10 sessions only")
    ap.add_argument("--no-haraka", action="store_true")
    ap.add_argument("--mode", choices=["discard", "queue"], default="discard")
    ap.add_argument("--nodes", default="0",
                    help="comma-separated smtp.ini nodes values to run Upesi with (e.g. 0,1,2)")
    args = ap.parse_args()
    global MODE
    MODE = args.mode
    if not shutil.which("smtp-source"):
        sys.exit("smtp-source not found: apt-get install postfix")

    cells = [(1000, 10)] if args.quick else [(1000, 10), (1000, 50)] if MODE == "queue" else [(1000, 1), (1000, 10), (1000, 50),
                                             (100000, 1), (100000, 10), (100000, 50)]
    counts = {1000: {1: 1000, 10: 3000, 50: 3000}, 100000: {1: 500, 10: 1000, 50: 1000}}
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="upesi-bench-"))
    peers = []
    try:
        for nodes in (int(n) for n in args.nodes.split(",")):
            peers.append(start_upesi(args.upesi, workdir, nodes))
        peers.append(start_sink())
        if not args.no_haraka:
            peers.append(start_haraka(workdir))
        results = {}
        for size, sessions in cells:
            n = counts[size][sessions]
            for peer in peers:  # warm-up
                load(peer.port, peer.proc.pid, 200, sessions, size)
            for _ in range(args.rounds):
                for peer in peers:  # interleaved, so drift hits every peer alike
                    results.setdefault((size, sessions, peer.name), []).append(
                        load(peer.port, peer.proc.pid, n, sessions, size))
        print("mode: %s" % MODE)
        print("date: %s  machine: %d cpus, %s" % (
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(),
            open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")))
        names = [p.name for p in peers]
        header = "| size | sessions | " + " | ".join(
            "%s msgs/s | %s cpu ms/msg" % (n, n) for n in names)
        header += " | " + " | ".join("%s/%s msgs/s" % (names[0], n) for n in names[1:]) + " |"
        print(header)
        print("|" + "---|" * (2 + 2 * len(names) + len(names) - 1))
        for size, sessions in cells:
            row = ["%d KB" % (size // 1000), str(sessions)]
            med = {}
            for name in names:
                runs = results[(size, sessions, name)]
                rate = statistics.median(r[0] for r in runs)
                cpu = statistics.median(r[1] for r in runs)
                med[name] = rate
                row += ["%.0f" % rate, "%.3f" % cpu]
            row += ["%.2fx" % (med[names[0]] / med[n]) for n in names[1:]]
            print("| " + " | ".join(row) + " |")
    finally:
        for peer in peers:
            peer.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
