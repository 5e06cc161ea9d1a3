#!/usr/bin/env python3
"""The whole comparison in one command: Upesi against smtp-sink, Haraka and Postfix, every
figure a ratio against a peer measured in the same run, checked against the project's targets.

    test/bench/compare.py [--upesi BUILD/master/upesi] [--rounds 5] [--quick]
                          [--keep DIR [--resume]] [--queues-here]

Runs, one after the other (each starts and stops its own servers on loopback):
  inbound.py --mode discard   accept + discard, 1 KB and 100 KB, against smtp-sink and Haraka
  inbound.py --mode queue     accept into the fsynced queue, against Postfix and Haraka
  outbound.py                 queue drain into smtp-sink, against Postfix
  idle.py                     memory per idle connection after EHLO, against Haraka and Postfix:
                              from each server's own memory cgroup (kernel and socket memory
                              in, page cache out), and PSS
  tls.py                      server CPU per STARTTLS session, against Postfix's smtpd
                              (smtpd_tls_security_level=may) and Haraka, 1 and 10
                              clients, the protocol and cipher checked on both sides
  shapes.py                   100 recipients, 10 MB, 10 per connection, CHUNKING: CPU per
                              message against Postfix
  latency.py                  end of DATA to 250 under open-loop load, against Postfix
  backlog.py                  a million deferred messages: memory, start, accept rate, fresh mail
  outbound_wan.py             delivery to 100 domains 20 to 150 ms away, some with STARTTLS,
                              some deferring first: msgs/s against Postfix at equal concurrency
with the queues of every server on a journaled ext4 made for the run and removed after it
(scratch_fs.py: without a journal, ext4 makes each new file pay for the files deleted in the
last minutes; --queues-here keeps TMPDIR as it is), then prints every script's own table and
one table of the targets. Each ratio is the median of the ratios paired round by round (see
the scripts: the fair method of issue 21); `upesi` is Upesi at its shipped nodes. Needs root
(Postfix), the Debian postfix package, node/npm (Haraka, installed on first use into
~/.cache/upesi/), a release build of Upesi and the scripted test plugin (see outbound.py).
Takes about an hour on a 2-vCPU machine with 5 rounds, Exim included (`--quick`: one round
each, fewer cells and a backlog of 100,000).
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import scratch_fs  # noqa: E402
from bench_common import ROOT  # noqa: E402


def run(script, args, out, log, resume=False):
    """Runs one script, its JSON into out and its printout beside it (out with .txt, or
    .failed.txt when it fails). resume: a script that finished before with the same arguments
    (its printout says so) is not run again."""
    command = "$ test/bench/%s %s" % (script, " ".join(args))
    text_out = out.with_suffix(".txt")
    if resume and out.exists() and text_out.exists() and \
            text_out.read_text().startswith(command + "\n"):
        print(command + "  (finished before: " + out.name + ")", flush=True)
        log.append(text_out.read_text())
        return json.loads(out.read_text())
    out.unlink(missing_ok=True)
    cmd = ["/usr/bin/python3", str(HERE / script)] + args + ["--json", str(out)]
    print(command, flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        out.with_suffix(".failed.txt").write_text("%s\n%s" % (command, r.stdout))
        print(r.stdout[-3000:], file=sys.stderr)
        raise SystemExit("%s failed (exit %d)" % (script, r.returncode))
    text_out.write_text("%s\n%s" % (command, r.stdout))
    log.append(text_out.read_text())
    return json.loads(out.read_text())


def cell(cells, size, sessions, server):
    for c in cells:
        if c["size"] == size and c["sessions"] == sessions and c["server"] == server:
            return c
    raise KeyError((size, sessions, server))


def paired(ratios, server, peer, size=None, sessions=None):
    """The paired ratios of `server` to `peer` (inbound: of one cell)."""
    for r in ratios:
        if r["server"] == server and r["peer"] == peer and \
                (size is None or (r["size"] == size and r["sessions"] == sessions)):
            return r
    raise KeyError((server, peer, size, sessions))


def at_least(what, mine, peer, ratio, goal):
    """A row of the targets table: (what, Upesi, peer, ratio, goal, met); ratio: the paired
    ratios' summary (its median is judged)."""
    return (what, "%.0f" % mine, "%.0f" % peer, ratio_text(ratio), ">= %gx" % goal,
            ratio["median"] >= goal)


def ratio_text(ratio, fmt="%.2f"):
    return "%sx (%s–%s)" % (fmt % ratio["median"], fmt % ratio["min"], fmt % ratio["max"])


def cpu_row(what, mine, peer, ratio):
    """A row without a target: server CPU ms per message, the primary figure."""
    return (what, "%.3f" % mine, "%.3f" % peer, ratio_text(ratio), "(no target)", True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one round, fewer cells")
    ap.add_argument("--keep", help="keep each script's JSON output and printout in this "
                    "directory")
    ap.add_argument("--resume", action="store_true", help="with --keep: do not run again a "
                    "script that finished there with the same arguments")
    ap.add_argument("--queues-here", action="store_true", help="put the queues in TMPDIR as it "
                    "is, not on a journaled ext4 made for the run (scratch_fs.py)")
    args = ap.parse_args()
    if args.resume and not args.keep:
        ap.error("--resume needs --keep")
    # Made before the scratch file system, which goes away after the run.
    out = pathlib.Path(args.keep or tempfile.mkdtemp(prefix="upesi-compare-"))
    if args.queues_here:
        return compare(args, out)
    with scratch_fs.journaled_scratch() as tmpdir:
        os.environ["TMPDIR"] = str(tmpdir)  # the scripts' work directories, queues in them
        return compare(args, out)


def compare(args, out):
    rounds = ["--rounds", "1" if args.quick else str(args.rounds), "--upesi", args.upesi]
    out.mkdir(parents=True, exist_ok=True)
    log = []

    def step(script, script_args, name):
        return run(script, script_args, out / (name + ".json"), log, args.resume)

    discard_run = step("inbound.py", ["--mode", "discard"] + rounds, "discard")
    queue_run = step("inbound.py", ["--mode", "queue"] + rounds, "queue")
    discard, queue = discard_run["cells"], queue_run["cells"]
    quick = args.quick
    drain = step("outbound.py", rounds + (["--messages", "1000"] if quick else []), "outbound")
    idle = step("idle.py", rounds + (["--connections", "2000", "--postfix-connections", "200"]
                                     if quick else []), "idle")
    tls = step("tls.py", rounds + (["--procs", "10", "--messages", "150"] if quick else []),
               "tls")
    shapes = step("shapes.py", rounds, "shapes")
    latency = step("latency.py", rounds + (["--seconds", "4"] if quick else []), "latency")
    backlog = step("backlog.py", rounds + (["--backlog", "100000", "--messages", "1000"]
                                           if quick else []), "backlog")
    wan = step("outbound_wan.py", rounds + (["--messages", "1000", "--warmup", "200"]
                                            if quick else []), "wan")

    rows = []
    cell_sessions = sorted({c["sessions"] for c in discard if c["size"] == 1000} & {10, 50})
    for sessions in cell_sessions:
        mine = cell(discard, 1000, sessions, "upesi")
        sink = cell(discard, 1000, sessions, "sink")
        rows.append(at_least("accept+discard 1 KB, %d sessions: msgs/s vs smtp-sink" % sessions,
                             mine["msgs_per_s"], sink["msgs_per_s"],
                             paired(discard_run["ratios"], "upesi", "sink", 1000,
                                    sessions)["rate"], 0.8))
        haraka = cell(discard, 1000, sessions, "haraka")
        cpu = mine["cpu_ms_per_msg"]
        ratio = paired(discard_run["ratios"], "upesi", "haraka", 1000, sessions)["cpu"]
        rows.append(("accept+discard 1 KB, %d sessions: server CPU ms/msg (Haraka alongside)"
                     % sessions, "%.3f" % cpu, "%.3f" % haraka["cpu_ms_per_msg"],
                     ratio_text(ratio), "<= 0.2 ms", cpu <= 0.2))
    for sessions in sorted({c["sessions"] for c in discard if c["size"] == 100000} & {10, 50}):
        rows.append(at_least("accept+discard 100 KB, %d sessions: msgs/s vs smtp-sink" % sessions,
                             cell(discard, 100000, sessions, "upesi")["msgs_per_s"],
                             cell(discard, 100000, sessions, "sink")["msgs_per_s"],
                             paired(discard_run["ratios"], "upesi", "sink", 100000,
                                    sessions)["rate"], 0.8))
    q_sessions = max(c["sessions"] for c in queue)
    mine, pf = cell(queue, 1000, q_sessions, "upesi"), cell(queue, 1000, q_sessions, "postfix")
    ratios = paired(queue_run["ratios"], "upesi", "postfix", 1000, q_sessions)
    rows.append(cpu_row("accept into the fsynced queue, 1 KB, %d sessions: server CPU ms/msg vs "
                        "Postfix" % q_sessions, mine["cpu_ms_per_msg"], pf["cpu_ms_per_msg"],
                        ratios["cpu"]))
    rows.append(at_least("accept into the fsynced queue, 1 KB, %d sessions: msgs/s vs Postfix"
                         % q_sessions, mine["msgs_per_s"], pf["msgs_per_s"], ratios["rate"], 3))
    servers = drain["servers"]
    ratios = paired(drain["ratios"], "upesi", "postfix")
    rows.append(cpu_row("queue drain to a local sink: server CPU ms/msg vs Postfix relaying to "
                        "it", servers["upesi"]["cpu_ms"], servers["postfix"]["cpu_ms"],
                        ratios["cpu"]))
    rows.append(at_least("queue drain to a local sink: msgs/s vs Postfix relaying to it",
                         servers["upesi"]["rate"], servers["postfix"]["rate"], ratios["rate"], 2))
    rows.append(("queue drain: connections opened to the sink vs Postfix's",
                 "%.0f" % ratios["opened"], "%.0f" % servers["postfix"]["opened"],
                 "%.2fx" % (ratios["opened"] / max(servers["postfix"]["opened"], 1)),
                 "<= 2x + concurrency (%.0f)" % ratios["opened_allowed"],
                 ratios["opened"] <= ratios["opened_allowed"]))
    mine, haraka = idle["upesi"], idle["haraka"]
    ok = mine["pss_per_conn_kb"] <= 4 and mine["failed"] == 0 and \
        mine["held"] == mine["connections"]
    rows.append(("%d idle connections after EHLO: cgroup KiB per connection (kernel and socket "
                 "memory in, page cache out) vs Haraka" % mine["connections"],
                 "%.2f" % mine["cgroup_per_conn_kb"], "%.2f" % haraka["cgroup_per_conn_kb"],
                 ratio_text(paired(idle["ratios"], "upesi", "haraka")["cgroup"]),
                 "(no target)", True))
    rows.append(("%d idle connections after EHLO: PSS KiB per connection vs Haraka (%d held)"
                 % (mine["connections"], mine["held"]), "%.2f" % mine["pss_per_conn_kb"],
                 "%.2f" % haraka["pss_per_conn_kb"],
                 ratio_text(paired(idle["ratios"], "upesi", "haraka")["pss"]),
                 "<= 4 KiB, none refused", ok))
    if "postfix" in idle:
        pf = idle["postfix"]
        ratios = paired(idle["ratios"], "upesi", "postfix")
        rows.append(("idle connections: cgroup KiB per connection vs Postfix (%d held)"
                     % pf["held"], "%.2f" % mine["cgroup_per_conn_kb"],
                     "%.0f" % pf["cgroup_per_conn_kb"], ratio_text(ratios["cgroup"], "%.4f"),
                     "(no target)", True))
        rows.append(("idle connections: PSS KiB per connection vs Postfix (%d held)"
                     % pf["held"], "%.2f" % mine["pss_per_conn_kb"],
                     "%.0f" % pf["pss_per_conn_kb"], ratio_text(ratios["pss"], "%.4f"),
                     "(no target)", True))
    for c in sorted({t["clients"] for t in tls}):
        def starttls(server):
            return next(t for t in tls
                        if t["clients"] == c and t["starttls"] and t["server"] == server)
        mine, pf, haraka = starttls("upesi"), starttls("postfix"), starttls("haraka")
        if c == 10:
            ratio = mine["cpu_ratio"]["postfix"]
            rows.append(("TLS on every session, 10 clients: server CPU per session ≤ 0.5x "
                         "Postfix's (%s)" % mine["protocol"], "%.3f" % mine["cpu_ms_per_msg"],
                         "%.3f" % pf["cpu_ms_per_msg"], ratio_text(ratio), "<= 0.5x",
                         ratio["median"] <= 0.5))
        ratio = mine["cpu_ratio"]["haraka"]
        rows.append(("STARTTLS session, %d client(s): server CPU ms/session vs Haraka" % c,
                     "%.3f" % mine["cpu_ms_per_msg"], "%.3f" % haraka["cpu_ms_per_msg"],
                     ratio_text(ratio), "<= 0.5x", ratio["median"] <= 0.5))

    for r in shapes["ratios"]:
        if r["server"] != "upesi":
            continue
        mine = next(c for c in shapes["cells"] if c["shape"] == r["shape"] and
                    c["server"] == "upesi")["cpu"]["median"]
        pf = next(c for c in shapes["cells"] if c["shape"] == r["shape"] and
                  c["server"] == "postfix")["cpu"]["median"]
        rows.append(("message shape %s: server CPU ms/msg vs Postfix" % r["shape"],
                     "%.3f" % mine, "%.3f" % pf, ratio_text(r["cpu"]), "<= 2x",
                     r["cpu"]["median"] <= 2))
    better = sum(1 for r in shapes["ratios"] if r["server"] == "upesi" and r["cpu"]["median"] < 1)
    total = sum(1 for r in shapes["ratios"] if r["server"] == "upesi")
    rows.append(("message shapes: Upesi's CPU per message below Postfix's", "%d" % better,
                 "of %d" % total, "", "on most", better * 2 > total))
    cells = {(c["server"], c["load"]): c for c in latency["cells"]}
    for (server, load), c in sorted(cells.items()):
        if server != "upesi" or "postfix's" not in load:
            continue
        pf = cells[("postfix", load)]
        rows.append(("latency, end of DATA to 250, p99 ms at %s (%.0f msgs/s offered)"
                     % (load, c["offered"]), "%.2f" % (c["p99"] * 1000),
                     "%.2f" % (pf["p99"] * 1000), "%.2fx" % (c["p99"] / pf["p99"]),
                     "<= Postfix's", c["p99"] <= pf["p99"]))
    n = backlog["backlog"]
    rows.append(("%d deferred messages: memory per queued message, bytes" % n,
                 "%.1f" % backlog["per_message_bytes"], "", "", "<= 100",
                 backlog["per_message_bytes"] <= 100))
    rows.append(("%d deferred messages: start to first delivery, s" % n,
                 "%.2f" % backlog["start_s"], "", "", "< 5", backlog["start_s"] < 5))
    rows.append(("%d deferred messages: accept rate vs an empty queue" % n, "", "",
                 ratio_text({"median": backlog["accept_ratio"], "min": backlog["accept_ratio_min"],
                             "max": backlog["accept_ratio_max"]}),
                 ">= 0.9x", backlog["accept_ratio"] >= 0.9))
    rows.append(("%d deferred messages: a fresh message delivered, s" % n,
                 "%.3f" % backlog["fresh_s"], "", "", "<= 1", backlog["fresh_s"] <= 1))
    for pair, ratio in sorted(wan["ratios"].items()):
        upesi, postfix = (wan[name] for name in pair.split("/"))
        limits = "%d in flight, %d per domain" % tuple(upesi["limits"])
        rows.append(cpu_row("outbound over a WAN (%s): server CPU ms/msg vs Postfix" % limits,
                            upesi["cpu_ms"], postfix["cpu_ms"],
                            {"median": ratio["cpu_ms"], "min": ratio["cpu_ms_min"],
                             "max": ratio["cpu_ms_max"]}))
        rows.append(at_least("outbound over a WAN (%s): msgs/s vs Postfix" % limits,
                             upesi["rate"], postfix["rate"],
                             {"median": ratio["rate"], "min": ratio["rate_min"],
                              "max": ratio["rate_max"]}, 2))

    print()
    print("\n".join(log))
    print("| target | upesi | peer | ratio, median (min–max) of the rounds | goal | met |")
    print("|---|---|---|---|---|---|")
    for what, a, b, ratio, goal, met in rows:
        print("| %s | %s | %s | %s | %s | %s |" % (what, a, b, ratio, goal,
                                                  "yes" if met else "**no**"))
    print()
    print(discard_run["versions"])  # the first script's machine, versions and pinning
    targets = [r for r in rows if r[4] != "(no target)"]
    missed = sum(1 for r in targets if not r[-1])
    print("%d of %d targets met" % (len(targets) - missed, len(targets)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
