"""The queue commands: --qlist, --qstat, --qshow, --qdelete, --qempty, --qunstick, on queue
files a server wrote and on real Haraka-written ones."""
import fcntl
import json
import os
import pathlib
import shutil
import subprocess
import time

from conftest import UPESI, run_upesi
from test_outbound import mx, received, send  # noqa: F401 (mx is a fixture)

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "queue"
LL3 = "1795430270603_1795430270603_0_25249_LL3BWF_1_vm"
P6M = "1795430270635_1795430270635_0_25249_P6Ml1T_2_vm"
RAL = "1795430270753_1795430270753_0_25249_ral4bn_3_mx\\137a\\072b\\057c"


def copy_fixtures(install, names=(LL3, P6M, RAL)):
    q = install / "queue"
    for name in names:
        shutil.copy(FIXTURES / name, q / name)
    return q


def names(q):
    return sorted(p.name for p in q.iterdir())


def held(path):
    """An open descriptor holding flock(LOCK_EX) on path, as a delivering worker does."""
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def upesi_ok(install, *args):
    r = run_upesi("-c", str(install), *args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def qshow(install, id):
    """--qshow's output as bytes (text mode would turn the message's CRLF into LF)."""
    r = subprocess.run([UPESI, "-c", str(install), "--qshow", id], capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def relay_disabled(start_server):
    files = {
        "relay_acl_allow": "127.0.0.1/32\n",
        "route.ini": "[get_mx]\ncode=OK\nmsg=127.0.0.1:9\n",
        "outbound.ini": "[main]\ndisabled=true\n",
    }
    return start_server(plugins=["relay", "route"], so=["route"], files=files)


def test_list_stat_and_show_mail_a_server_queued(start_server, install):
    server = relay_disabled(start_server)
    assert send(server, ["bob@example.net", "carol@example.net", "dave@other.example"]) == {}
    lines = upesi_ok(install, "--qlist").splitlines()
    assert len(lines) == 2
    by_domain = {line.rsplit("domain=", 1)[1]: line for line in lines}
    net = by_domain["example.net"]
    assert " attempts=0 " in net and " from=<alice@client.example> " in net
    assert " to=<bob@example.net>,<carol@example.net> " in net
    fields = dict(f.split("=", 1) for f in net.split()[1:])
    assert fields["arrival"].endswith("Z") and fields["arrival"] == fields["next"]
    assert time.strftime("%Y-%m-%dT", time.gmtime()) in fields["arrival"]

    listed = json.loads(upesi_ok(install, "--qlist", "--json"))
    assert sorted(e["domain"] for e in listed) == ["example.net", "other.example"]
    files = sorted(p.name for p in (install / "queue").iterdir())
    assert sorted(e["file"] for e in listed) == files
    for e in listed:
        assert e["unreadable"] is False
        assert e["size"] == (install / "queue" / e["file"]).stat().st_size
        assert e["mail_from"] == "<alice@client.example>"
        assert e["arrival_ms"] == e["next_attempt_ms"] and e["attempts"] == 0
        uid, counter = e["id"].split(".")
        assert e["file"].split("_")[4:6] == [uid, counter]
        assert net.startswith(e["id"] + " ") or e["domain"] != "example.net"

    stat = upesi_ok(install, "--qstat")
    assert "total: 2\ndue now: 2\ndeferred: 0\nunreadable: 0\n" in stat
    assert "domain example.net: 1\ndomain other.example: 1\n" in stat
    stats = json.loads(upesi_ok(install, "--qstat", "--json"))
    assert stats["total"] == 2 and stats["due_now"] == 2 and stats["unreadable"] == 0
    assert stats["domains"] == {"example.net": 1, "other.example": 1}
    assert stats["bytes"] == sum(e["size"] for e in listed)
    assert stats["oldest_arrival"] == min(e["arrival"] for e in listed)

    [entry] = [e for e in listed if e["domain"] == "other.example"]
    for id in (entry["id"], entry["file"], entry["id"].split(".")[0]):
        shown = qshow(install, id)
        header, message = shown.split("\n}\n\n", 1)
        todo = json.loads(header + "\n}")
        assert todo["domain"] == "other.example"
        assert todo["rcpt_to"][0]["original"] == "<dave@other.example>"
        assert "\r\nSubject: out\r\n" in message
        assert message.endswith("\r\n\r\nhello\r\n.leading dot\r\n")  # unstuffed
        assert "..leading" not in message


def test_haraka_files_listed_and_unreadable_ones_marked(install):
    q = copy_fixtures(install)
    shutil.copy(FIXTURES / P6M, q / ("error." + P6M))
    (q / "__tmp__.half-written").write_bytes(b"\0\0")
    (q / "README").write_text("not a queue file\n")
    lines = upesi_ok(install, "--qlist").splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("LL3BWF.1 arrival=2026-11-23T10:37:50Z ")
    assert "from=<sender@example.com> to=<b@example.net>,<c@example.net> domain=example.net" in lines[0]
    assert any(line.startswith("ral4bn.3 ") and " from=<> " in line for line in lines)
    [bad] = [line for line in lines if "unreadable" in line]
    assert bad.startswith("error." + P6M + " unreadable ")
    listed = json.loads(upesi_ok(install, "--qlist", "--json"))
    [bad] = [e for e in listed if e["unreadable"]]
    assert bad["file"] == "error." + P6M and bad["id"] == bad["file"]

    stats = json.loads(upesi_ok(install, "--qstat", "--json"))
    assert stats["total"] == 4 and stats["unreadable"] == 1 and stats["due_now"] == 3
    assert stats["oldest_arrival"] == "2026-11-23T10:37:50Z"

    shown = qshow(install, "LL3BWF.1")
    assert "\r\n.leading dot line\r\n" in shown and "\r\n.\r\nlast line\r\n" in shown
    r = run_upesi("-c", str(install), "--qshow", "error." + P6M)
    assert r.returncode == 1 and "unreadable" in r.stderr
    r = run_upesi("-c", str(install), "--qshow", "P6Ml1T")  # uid of both P6M files
    assert r.returncode == 1 and "names 2 files" in r.stderr
    r = run_upesi("-c", str(install), "--qshow", "nosuch")
    assert r.returncode == 1 and r.stderr == "upesi: no queued message nosuch\n"


def test_delete_one_and_a_busy_one_is_kept(install):
    q = copy_fixtures(install)
    assert upesi_ok(install, "--qdelete", "LL3BWF") == "deleted %s\n" % LL3
    assert LL3 not in names(q)
    fd = held(q / P6M)
    try:
        r = run_upesi("-c", str(install), "--qdelete", "P6Ml1T.2")
        assert r.returncode == 1
        assert r.stderr == "upesi: %s: busy: being delivered\n" % P6M
        assert P6M in names(q)
    finally:
        os.close(fd)
    assert upesi_ok(install, "--qdelete", P6M) == "deleted %s\n" % P6M
    r = run_upesi("-c", str(install), "--qdelete", "LL3BWF")
    assert r.returncode == 1 and "no queued message" in r.stderr
    assert names(q) == [RAL]


def test_empty_skips_busy_and_temp_files(install):
    q = copy_fixtures(install)
    shutil.copy(FIXTURES / LL3, q / ("error." + LL3))
    (q / "__tmp__.half-written").write_bytes(b"\0\0")
    fd = held(q / RAL)
    try:
        r = run_upesi("-c", str(install), "--qempty")
        assert r.returncode == 1
        assert "upesi: %s: busy: being delivered\n" % RAL in r.stderr
        assert "deleted 3 file(s), kept 1\n" in r.stdout
        assert names(q) == sorted([RAL, "__tmp__.half-written"])
    finally:
        os.close(fd)
    r = run_upesi("-c", str(install), "--qempty")
    assert r.returncode == 0 and r.stdout == "deleted %s\ndeleted 1 file(s), kept 0\n" % RAL
    assert names(q) == ["__tmp__.half-written"]
    assert json.loads(upesi_ok(install, "--qstat", "--json"))["total"] == 0


def deferred_name(name, next_ms, attempts):
    f = name.split("_")
    return "_".join([f[0], str(next_ms), str(attempts), *f[3:]])


def test_unstick_renames_deferred_files_to_due_now(install):
    q = install / "queue"
    later = int(time.time() * 1000) + 3600 * 1000
    for name in (LL3, P6M):
        shutil.copy(FIXTURES / name, q / deferred_name(name, later, 2))
    shutil.copy(FIXTURES / RAL, q / RAL)  # due already: left alone
    stats = json.loads(upesi_ok(install, "--qstat", "--json"))
    assert stats["due_now"] == 1 and stats["deferred"] == 2

    before = int(time.time() * 1000)
    out = upesi_ok(install, "--qunstick", "Example.ORG")
    after = int(time.time() * 1000)
    assert "due now: %s -> " % deferred_name(P6M, later, 2) in out
    assert "scan_interval" in out
    [moved] = [n for n in names(q) if "_P6Ml1T_" in n]
    f = moved.split("_")
    assert f[0] == P6M.split("_")[0] and f[2] == "2" and f[4] == "P6Ml1T"
    assert before <= int(f[1]) <= after
    assert deferred_name(LL3, later, 2) in names(q)  # another domain: untouched
    assert RAL in names(q)

    fd = held(q / deferred_name(LL3, later, 2))
    try:
        r = run_upesi("-c", str(install), "--qunstick")
        assert r.returncode == 1 and "busy: being delivered" in r.stderr
        assert deferred_name(LL3, later, 2) in names(q)
    finally:
        os.close(fd)
    out = upesi_ok(install, "--qunstick")
    assert "due now: %s -> " % deferred_name(LL3, later, 2) in out
    assert "no server running" in out
    stats = json.loads(upesi_ok(install, "--qstat", "--json"))
    assert stats["due_now"] == 3 and stats["deferred"] == 2
    assert upesi_ok(install, "--qunstick") == "nothing deferred\n"


def test_unstick_makes_a_running_server_retry_now(start_server, mx, install):  # noqa: F811
    port, out = mx
    (out / "fail-once").write_text("")
    files = {
        "relay_acl_allow": "127.0.0.1/32\n",
        "route.ini": "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n" % port,
        "outbound.ini": "[main]\ntemp_fail_intervals=1h\n",
    }
    # A master and a worker: only the master writes the pid file that --qunstick reads.
    server = start_server(plugins=["relay", "route"], so=["route"], files=files,
                          smtp={"nodes": 1})
    assert send(server, ["bob@example.net"]) == {}
    assert server.wait_log("deferred 1 recipient(s) for 3600 s")
    # The worker logs, then renames the file and lets go of it: wait for both.
    deadline = time.monotonic() + 10
    while True:
        [entry] = json.loads(upesi_ok(install, "--qlist", "--json"))
        r = run_upesi("-c", str(install), "--qunstick") if entry["attempts"] == 1 else None
        if r is not None and r.returncode == 0:
            break
        assert time.monotonic() < deadline, r and r.stderr
        time.sleep(0.1)
    assert entry["next_attempt_ms"] > time.time() * 1000 + 3000
    out_text = r.stdout
    assert "asked upesi (pid %d) to flush" % server.proc.pid in out_text
    [msg] = received(out, timeout=10)
    assert msg["rcpts"] == ["bob@example.net"]


def test_usage_errors(install):
    for args in (["--qlist", "--json", "--qstat"], ["--json"], ["--check", "--json"],
                 ["--qshow"], ["--qdelete"]):
        r = run_upesi("-c", str(install), *args)
        assert r.returncode == 2, args
        assert r.stderr.startswith("upesi: ") and r.stderr.count("\n") == 1
    r = run_upesi("--qlist")
    assert r.returncode == 2 and "needs -c DIR" in r.stderr
    assert "--qunstick [DOMAIN]" in run_upesi("--help").stdout
