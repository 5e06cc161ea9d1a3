#!/usr/bin/env python3
"""The whole comparison in one command: Upesi against smtp-sink, Haraka and Postfix, every
figure a ratio against a peer measured in the same run, checked against the project's targets.

    test/bench/compare.py [--upesi BUILD/master/upesi] [--rounds 3] [--quick] [--keep DIR]

Runs, one after the other (each starts and stops its own servers on loopback):
  inbound.py --mode discard   accept + discard, 1 KB and 100 KB, against smtp-sink and Haraka
  inbound.py --mode queue     accept into the fsynced queue, against Postfix and Haraka
  outbound.py                 queue drain into smtp-sink, against Postfix
  idle.py                     memory per idle connection after EHLO, against Haraka and Postfix
  tls.py                      server CPU per STARTTLS session, against Haraka
then prints every script's own table and one table of the targets. Needs root (Postfix), the
Debian postfix package, node/npm (Haraka, installed on first use into ~/.cache/upesi/), a
release build of Upesi and the scripted test plugin (see outbound.py). Takes about 6 minutes on
a 2-vCPU machine (`--quick`: one round each and fewer cells, about 3).
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import ROOT, machine_line  # noqa: E402


def run(script, args, out, log):
    cmd = ["/usr/bin/python3", str(HERE / script)] + args + ["--json", str(out)]
    print("$ " + " ".join(["test/bench/" + script] + args), flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log.append("$ test/bench/%s %s\n%s" % (script, " ".join(args), r.stdout))
    if r.returncode != 0:
        print(r.stdout[-3000:], file=sys.stderr)
        raise SystemExit("%s failed (exit %d)" % (script, r.returncode))
    return json.loads(out.read_text())


def cell(cells, size, sessions, server):
    for c in cells:
        if c["size"] == size and c["sessions"] == sessions and c["server"] == server:
            return c
    raise KeyError((size, sessions, server))


def at_least(what, mine, peer, goal):
    """A row of the targets table: (what, Upesi, peer, ratio, goal, met)."""
    ratio = mine / peer
    return (what, "%.0f" % mine, "%.0f" % peer, "%.2fx" % ratio, ">= %gx" % goal,
            ratio >= goal)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one round, fewer cells")
    ap.add_argument("--keep", help="keep each script's JSON output in this directory")
    args = ap.parse_args()
    rounds = ["--rounds", "1" if args.quick else str(args.rounds), "--upesi", args.upesi]
    out = pathlib.Path(args.keep or tempfile.mkdtemp(prefix="upesi-compare-"))
    out.mkdir(parents=True, exist_ok=True)
    log = []
    discard = run("inbound.py", ["--mode", "discard"] + rounds, out / "discard.json", log)["cells"]
    queue = run("inbound.py", ["--mode", "queue"] + rounds, out / "queue.json", log)["cells"]
    drain = run("outbound.py", rounds + (["--messages", "1000"] if args.quick else []),
                out / "outbound.json", log)
    idle = run("idle.py", ["--upesi", args.upesi] +
               (["--connections", "2000", "--postfix-connections", "200"] if args.quick else []),
               out / "idle.json", log)
    tls = run("tls.py", rounds + (["--procs", "1", "--messages", "150"] if args.quick else []),
              out / "tls.json", log)

    rows = []
    for sessions in (10, 50):
        mine = cell(discard, 1000, sessions, "upesi")
        sink = cell(discard, 1000, sessions, "sink")
        rows.append(at_least("accept+discard 1 KB, %d sessions: msgs/s vs smtp-sink" % sessions,
                             mine["msgs_per_s"], sink["msgs_per_s"], 0.8))
        haraka = cell(discard, 1000, sessions, "haraka")
        cpu = mine["cpu_ms_per_msg"]
        rows.append(("accept+discard 1 KB, %d sessions: server CPU ms/msg (Haraka alongside)"
                     % sessions, "%.3f" % cpu, "%.3f" % haraka["cpu_ms_per_msg"],
                     "%.2fx" % (cpu / haraka["cpu_ms_per_msg"]), "<= 0.2 ms", cpu <= 0.2))
    for sessions in (10, 50):
        rows.append(at_least("accept+discard 100 KB, %d sessions: msgs/s vs smtp-sink" % sessions,
                             cell(discard, 100000, sessions, "upesi")["msgs_per_s"],
                             cell(discard, 100000, sessions, "sink")["msgs_per_s"], 0.8))
    rows.append(at_least("accept into the fsynced queue, 1 KB, 50 sessions: msgs/s vs Postfix",
                         cell(queue, 1000, 50, "upesi")["msgs_per_s"],
                         cell(queue, 1000, 50, "postfix")["msgs_per_s"], 3))
    rows.append(at_least("queue drain to a local sink: msgs/s vs Postfix relaying to it",
                         drain["upesi"]["rate"], drain["postfix"]["rate"], 2))
    mine, haraka = idle["upesi"], idle["haraka"]
    ok = mine["pss_per_conn_kb"] <= 4 and mine["failed"] == 0 and \
        mine["held"] == mine["connections"]
    rows.append(("%d idle connections after EHLO: PSS KiB per connection vs Haraka (%d held)"
                 % (mine["connections"], mine["held"]), "%.2f" % mine["pss_per_conn_kb"],
                 "%.2f" % haraka["pss_per_conn_kb"],
                 "%.2fx" % (mine["pss_per_conn_kb"] / haraka["pss_per_conn_kb"]),
                 "<= 4 KiB, none refused", ok))
    if "postfix" in idle:
        pf = idle["postfix"]["pss_per_conn_kb"]
        rows.append(("idle connections: PSS KiB per connection vs Postfix (%d held)"
                     % idle["postfix"]["held"], "%.2f" % mine["pss_per_conn_kb"], "%.0f" % pf,
                     "%.4fx" % (mine["pss_per_conn_kb"] / pf), "(no target)", True))
    for c in sorted({t["clients"] for t in tls}):
        def cpu_of(server):
            return next(t["cpu_ms_per_msg"] for t in tls
                        if t["clients"] == c and t["starttls"] and t["server"] == server)
        u, h = cpu_of("upesi"), cpu_of("haraka")
        rows.append(("STARTTLS session, %d client(s): server CPU ms/session vs Haraka" % c,
                     "%.3f" % u, "%.3f" % h, "%.2fx" % (u / h), "<= 0.5x", u / h <= 0.5))

    print()
    print("\n".join(log))
    print(machine_line())
    print("| target | upesi | peer | ratio | goal | met |")
    print("|---|---|---|---|---|---|")
    for what, a, b, ratio, goal, met in rows:
        print("| %s | %s | %s | %s | %s | %s |" % (what, a, b, ratio, goal,
                                                  "yes" if met else "**no**"))
    missed = sum(1 for r in rows if not r[-1])
    print("%d of %d targets met" % (len(rows) - missed, len(rows)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
