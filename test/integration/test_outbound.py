"""Outbound: relayed mail is queued durably in Haraka's format, delivered to the next hop,
retried on temporary failure, bounced on permanent failure, flushed by SIGHUP."""
import json
import os
import pathlib
import signal
import smtplib
import struct
import subprocess
import time

import pytest

from conftest import free_port

PEERS = pathlib.Path(__file__).resolve().parent / "peers"


def start_peer(script, out, env=None, args=()):
    """Starts peers/<script> PORT OUT [ARGS] on a free loopback port; returns (port, process)."""
    out.mkdir()
    port = free_port()
    proc = subprocess.Popen(["/usr/bin/python3", str(PEERS / script), str(port), str(out)]
                            + [str(a) for a in args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "ready"
    return port, proc


def stop_peer(proc):
    proc.stdin.close()
    proc.terminate()
    proc.wait(timeout=10)


def run_peer(script, out):
    """start_peer as a generator for fixtures: yields the port, then stops the peer."""
    port, proc = start_peer(script, out)
    try:
        yield port
    finally:
        stop_peer(proc)


def sink_starter(tmp_path):
    """For fixtures that start several sinks: start(**env) runs sink_mx.py with those
    environment variables added and returns (port, received dir); yields start, then stops
    every sink it started."""
    procs = []

    def start(**env):
        out = tmp_path / ("received-%d" % len(procs))
        port, proc = start_peer("sink_mx.py", out, dict(os.environ, **env))
        procs.append(proc)
        return port, out

    try:
        yield start
    finally:
        for proc in procs:
            stop_peer(proc)


@pytest.fixture
def mx(tmp_path):
    """An aiosmtpd MX on a loopback port; yields (port, dir of received messages)."""
    out = tmp_path / "received"
    for port in run_peer("sink_mx.py", out):
        yield port, out


@pytest.fixture
def lmtp(tmp_path):
    """An aiosmtpd LMTP server on a loopback port; yields (port, dir of received messages)."""
    out = tmp_path / "lmtp"
    for port in run_peer("lmtp_sink.py", out):
        yield port, out


def received(out, want=1, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted(p for p in out.iterdir() if p.suffix == ".json")
        if len(files) >= want:
            return [json.loads(p.read_text()) for p in files]
        time.sleep(0.05)
    return [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]


def relay_server(start_server, mx_port, outbound="", extra_plugins=(), nodes=0):
    files = {"hold.ini": "[send_email]\ncode=DELAY\nmsg=2\n"} if "hold" in extra_plugins else {}
    files.update({
        "relay_acl_allow": "127.0.0.1/32\n",
        "route.ini": "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n" % mx_port,
        "outbound.ini": "[main]\ntemp_fail_intervals=1s*3\nscan_interval=1\n" + outbound,
    })
    return start_server(plugins=["relay", *extra_plugins, "route"],
                        so=["route", *extra_plugins], files=files,
                        smtp={"nodes": nodes})


def send(server, rcpts, body="Subject: out\r\n\r\nhello\r\n.leading dot\r\n",
         sender="alice@client.example"):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        return s.sendmail(sender, rcpts, body)


def queue_empties(install, timeout=5):
    deadline = time.monotonic() + timeout
    while queue_files(install) and time.monotonic() < deadline:
        time.sleep(0.05)
    return queue_files(install) == []


def queue_files(install):
    q = install / "queue"
    return sorted(p for p in q.iterdir() if not p.name.startswith("__tmp__")) if q.exists() else []


def test_relayed_mail_is_delivered_and_the_queue_emptied(start_server, mx, install):
    port, out = mx
    server = relay_server(start_server, port)
    assert send(server, ["bob@example.net", "carol@example.net"]) == {}
    [msg] = received(out)
    assert msg["mail_from"] == "alice@client.example"
    assert sorted(msg["rcpts"]) == ["bob@example.net", "carol@example.net"]
    assert msg["data"].startswith("Received: (Upesi outbound); ")
    assert "\r\n.leading dot\r\n" in msg["data"]  # stuffed on disk, unstuffed on the wire
    assert "Message-Id: <" in msg["data"] and "\r\nDate: " in msg["data"]
    deadline = time.monotonic() + 5
    while queue_files(install) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert queue_files(install) == []
    assert server.wait_log("outbound: delivered to 2 recipient(s)")


def test_queue_file_is_haraka_format_and_durable_before_250(start_server, mx, install):
    port, out = mx
    server = relay_server(start_server, port, outbound="disabled=true\n")
    assert send(server, ["bob@example.net", "dave@other.example"]) == {}
    files = queue_files(install)
    assert len(files) == 2  # one per destination domain
    todos = []
    for f in files:
        raw = f.read_bytes()
        (length,) = struct.unpack(">I", raw[:4])
        header = raw[4:4 + length]
        assert header.startswith(b"\n{\n\t\"queue_time\": ") and header.endswith(b"\n}\n")
        todo = json.loads(header)
        todos.append(todo)
        body = raw[4 + length:]
        assert body.startswith(b"Received: (Upesi outbound); ")
        assert b"\r\n..leading dot\r\n" in body  # stored dot-stuffed, as Haraka stores it
        assert not body.endswith(b".\r\n") or body.endswith(b"..leading dot\r\n")
        parts = f.name.split("_")
        assert len(parts) == 7 and parts[2] == "0" and int(parts[0]) == todo["queue_time"]
    domains = sorted(t["domain"] for t in todos)
    assert domains == ["example.net", "other.example"]
    for t in todos:
        assert t["mail_from"]["original"] == "<alice@client.example>"
        assert t["uuid"].rsplit(".", 1)[1] in ("1", "2")
        assert t["force_tls"] is False
    time.sleep(1.5)
    assert received(out, want=1, timeout=0.1) == []  # disabled: nothing leaves


def test_temporary_failure_is_retried_then_delivered(start_server, mx, install):
    port, out = mx
    (out / "fail-once").write_text("")
    server = relay_server(start_server, port)
    assert send(server, ["bob@example.net"]) == {}
    assert server.wait_log("deferred 1 recipient(s) for 1 s")
    [msg] = received(out, timeout=15)
    assert msg["rcpts"] == ["bob@example.net"]
    assert queue_empties(install)


def test_permanent_failure_bounces_to_the_sender(start_server, mx, install):
    port, out = mx
    server = relay_server(start_server, port)
    assert send(server, ["perm-user@example.net", "bob@example.net"]) == {}
    msgs = received(out, want=2, timeout=15)
    assert len(msgs) == 2
    normal = [m for m in msgs if m["mail_from"] == "alice@client.example"]
    bounces = [m for m in msgs if m["mail_from"] in ("", "<>")]
    assert normal[0]["rcpts"] == ["bob@example.net"]
    assert len(bounces) == 1 and bounces[0]["rcpts"] == ["alice@client.example"]
    dsn = bounces[0]["data"]
    assert "Content-Type: multipart/report; report-type=delivery-status;" in dsn
    assert "Final-Recipient: rfc822; perm-user@example.net" in dsn
    assert "Status: 5.1.1" in dsn
    assert "Diagnostic-Code: smtp; 550 5.1.1 no such user here" in dsn
    assert "Subject: out" in dsn  # the original headers come back
    deadline = time.monotonic() + 5
    while queue_files(install) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert queue_files(install) == []


def test_retries_exhausted_bounce(start_server, mx, install):
    port, out = mx
    server = relay_server(start_server, port)
    assert send(server, ["tempdata-x@example.net"]) == {}
    bounces = [m for m in received(out, want=1, timeout=20) if m["mail_from"] in ("", "<>")]
    assert len(bounces) == 1
    assert "Too many failures" in bounces[0]["data"]
    assert "Status: 5.3.0" in bounces[0]["data"]


def test_sighup_flushes_deferred_mail(start_server, mx, install):
    port, out = mx
    (out / "fail-once").write_text("")
    files = {
        "relay_acl_allow": "127.0.0.1/32\n",
        "route.ini": "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n" % port,
        "outbound.ini": "[main]\ntemp_fail_intervals=1h\n",
    }
    server = start_server(plugins=["relay", "route"], so=["route"], files=files)
    assert send(server, ["bob@example.net"]) == {}
    assert server.wait_log("deferred 1 recipient(s) for 3600 s")
    [f] = queue_files(install)
    assert f.name.split("_")[2] == "1"  # attempts recorded in the name
    time.sleep(0.5)
    assert received(out, want=1, timeout=0.2) == []
    server.proc.send_signal(signal.SIGHUP)
    [msg] = received(out, timeout=10)
    assert msg["rcpts"] == ["bob@example.net"]


def test_queue_survives_a_restart(start_server, mx, install):
    port, out = mx
    server = relay_server(start_server, port, outbound="disabled=true\n")
    assert send(server, ["bob@example.net"]) == {}
    assert len(queue_files(install)) == 1
    assert server.stop() == 0
    (install / "config" / "outbound.ini").write_text("[main]\ntemp_fail_intervals=1s\n")
    relay_server(start_server, port)  # a new server on the queue the first one left
    [msg] = received(out, timeout=15)
    assert msg["rcpts"] == ["bob@example.net"]


def test_disabled_switch_takes_effect_without_restart(start_server, mx, install):
    port, out = mx
    server = relay_server(start_server, port, outbound="disabled=true\n")
    assert send(server, ["bob@example.net"]) == {}
    time.sleep(1.2)
    assert received(out, want=1, timeout=0.1) == []
    (install / "config" / "outbound.ini").write_text(
        "[main]\ntemp_fail_intervals=1s*3\nscan_interval=1\ndisabled=false\n")
    [msg] = received(out, timeout=15)
    assert msg["rcpts"] == ["bob@example.net"]
    assert server.wait_log("outbound: deliveries resumed")


def test_plugin_send_email_is_queued_and_delivered(start_server, mx, install):
    port, out = mx
    files = {
        "route.ini": "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n[helo]\ncode=CONT\n"
                     "send_to=ops@example.net\n" % port,
        "outbound.ini": "[main]\ntemp_fail_intervals=1s\nscan_interval=1\n",
    }
    server = start_server(plugins=["route"], so=["route"], files=files)
    import socket
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.recv(1000)
        s.sendall(b"HELO x.example\r\n")
        s.recv(1000)
    [msg] = received(out)
    assert msg["mail_from"] == "robot@plugin.example"
    assert msg["rcpts"] == ["ops@example.net"]
    # As Haraka's send_email: our Received first, a Message-Id and a Date added.
    header, body = msg["data"].split("\r\n\r\n", 1)
    lines = header.split("\r\n")
    assert lines[0].startswith("Received: (Upesi outbound); ")
    assert lines[1] == "Subject: generated by a plugin"
    assert lines[2].startswith("Message-Id: <") and lines[2].endswith("@mx.test.example>")
    assert lines[3].startswith("Date: ")
    assert body == ".dot first\r\nbody\r\n"


def test_send_email_hook_delay(start_server, mx, install):
    port, out = mx
    server = relay_server(start_server, port, extra_plugins=["hold"])
    assert send(server, ["bob@example.net"]) == {}
    assert server.wait_log("send_email delayed it 2 s")
    time.sleep(1.0)
    assert received(out, want=1, timeout=0.1) == []
    assert len(queue_files(install)) == 1  # held, not lost


def test_pre_send_trans_email_can_refuse(start_server, mx, install):
    port, out = mx
    files = {
        "relay_acl_allow": "127.0.0.1/32\n",
        "route.ini": "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n[pre_send_trans_email]\ncode=DENY\n"
                     "msg=not signed\n" % port,
    }
    server = start_server(plugins=["relay", "route"], so=["route"], files=files)
    with pytest.raises(smtplib.SMTPDataError) as err:
        send(server, ["bob@example.net"])
    assert err.value.smtp_code == 550 and b"not signed" in err.value.smtp_error
    assert queue_files(install) == []


def test_lmtp_next_hop_from_get_mx(start_server, install, lmtp):
    """get_mx answers lmtp://: LHLO, one final reply per recipient; a 452 after the dot defers
    just that recipient into a file of its own, the others are delivered."""
    port, out = lmtp
    files = {
        "relay_acl_allow": "127.0.0.1/32\n",
        "route.ini": "[get_mx]\ncode=OK\nmsg=lmtp://127.0.0.1:%d\n" % port,
        "outbound.ini": "[main]\ntemp_fail_intervals=1h\nscan_interval=1\n",
    }
    server = start_server(plugins=["relay", "route"], so=["route"], files=files)
    assert send(server, ["ann@example.net", "full-box@example.net"]) == {}
    [msg] = received(out)
    assert msg["rcpts"] == ["ann@example.net"]
    assert server.wait_log("deferred 1 recipient(s) for 3600 s")
    [left] = queue_files(install)
    raw = left.read_bytes()
    (length,) = struct.unpack(">I", raw[:4])
    todo = json.loads(raw[4:4 + length])
    assert [r["user"] for r in todo["rcpt_to"]] == ["full-box"]
    assert left.name.split("_")[2] == "1"


def test_connections_to_a_next_hop_are_reused(start_server, mx, install):
    port, out = mx
    server = relay_server(start_server, port)
    for i in range(5):
        assert send(server, ["user%d@example.net" % i]) == {}
        received(out, want=i + 1)
    assert len(received(out, want=5)) == 5
    assert (out / "ehlo-count").read_text() == "1"  # five messages, one connection


def test_a_burst_of_deliveries_keeps_its_connections(start_server, mx, install):
    """30 messages released at once to three domains on one MX, 5 at a time per domain: the
    pool keeps only one idle connection for long (pool_concurrency_max=1), but the others
    linger for the next message, so the burst opens no more connections than it runs at once."""
    port, out = mx
    limits = "destination_concurrency_max=5\npool_concurrency_max=1\n"
    server = relay_server(start_server, port, outbound=limits + "disabled=true\n")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        for i in range(30):
            s.sendmail("alice@client.example", ["user%d@d%d.example" % (i, i % 3)],
                       "Subject: burst %d\r\n\r\nhello\r\n" % i)
    assert len(queue_files(install)) == 30
    (install / "config" / "outbound.ini").write_text(
        "[main]\ntemp_fail_intervals=1s*3\nscan_interval=1\n" + limits)
    assert len(received(out, want=30, timeout=30)) == 30
    assert queue_empties(install)
    opened = int((out / "ehlo-count").read_text())
    assert 1 <= opened <= 15, "%d connections for 30 messages, 15 at once" % opened


def test_due_mail_goes_round_robin_across_domains(start_server, install, tmp_path):
    """Mail queued domain by domain (6 to each of 3 domains, each with an MX of its own) and
    released at once, 3 deliveries at a time: they go round-robin across the domains, so each
    domain gets one delivery at a time and sends its next message on the connection its last
    one left idle. Taken in queue order, the first domain would get all 3 at once, each on a
    connection of its own, and so would each domain after it."""
    starter = sink_starter(tmp_path)
    start = next(starter)
    try:
        sinks = [start() for _ in range(3)]
        files = {"route%d.ini" % i: "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\nmatch=d%d.example\n"
                 % (port, i) for i, (port, _) in enumerate(sinks)}
        files.update({
            "relay_acl_allow": "127.0.0.1/32\n",
            "outbound.ini": "[main]\nconcurrency_max=3\ndisabled=true\n",
        })
        routes = ["route%d" % i for i in range(3)]
        server = start_server(plugins=["relay", *routes], so=routes, files=files,
                              smtp={"nodes": 0})
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
            for d in range(3):
                for i in range(6):
                    s.sendmail("alice@client.example", ["user%d@d%d.example" % (i, d)],
                               "Subject: turn %d.%d\r\n\r\nhello\r\n" % (d, i))
        assert len(queue_files(install)) == 18
        (install / "config" / "outbound.ini").write_text("[main]\nconcurrency_max=3\n")
        for d, (port, out) in enumerate(sinks):
            got = received(out, want=6, timeout=30)
            assert sorted(m["rcpts"][0] for m in got) == [
                "user%d@d%d.example" % (i, d) for i in range(6)]
        assert queue_empties(install)
        opened = [int((out / "ehlo-count").read_text()) for _, out in sinks]
        assert max(opened) <= 2 and sum(opened) <= 4, opened
    finally:
        next(starter, None)


def drain_held_burst(start_server, install, port, out, limits, count, tag):
    """Queues `count` messages for the MX on `port` with deliveries held, releases them at once
    under outbound.ini `limits`, waits until the queue is empty; the MX's stats.json."""
    server = relay_server(start_server, port, outbound=limits + "disabled=true\n")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        for i in range(count):
            s.sendmail("alice@client.example", ["user%d@example.net" % i],
                       "Subject: %s %d\r\n\r\nhello\r\n" % (tag, i))
    assert len(queue_files(install)) == count
    (install / "config" / "outbound.ini").write_text(
        "[main]\ntemp_fail_intervals=1s*3\nscan_interval=1\n" + limits)
    assert queue_empties(install, timeout=30)
    return json.loads((out / "stats.json").read_text())


def test_the_next_message_follows_a_final_dot_before_its_reply(start_server, install, tmp_path):
    """With pipeline_messages on (off by default), an MX that takes 0.3 s to answer each
    final dot: the next message for it goes out on the same connection behind the dot (RFC 2920
    3.1) instead of waiting for the reply, so two deliveries at a time keep their two
    connections and most messages ride behind another."""
    out = tmp_path / "slow"
    port, proc = start_peer("slow_dot_mx.py", out)
    try:
        stats = drain_held_burst(start_server, install, port, out,
                                 "destination_concurrency_max=2\npipeline_messages=true\n", 12,
                                 "behind")
        assert stats["messages"] == 12
        assert stats["pipelined"] >= 8, stats
        assert stats["connections"] <= 4, stats  # 2 at a time; at most one more behind each
    finally:
        stop_peer(proc)


def test_deliveries_wait_for_a_connection_in_use_rather_than_open_one(start_server, install,
                                                                     tmp_path):
    """An MX whose greeting takes 0.5 s (a distant one's setup: connect, EHLO, STARTTLS) and
    20 messages released at once, 10 at a time: each delivery that finds every connection busy
    waits for the next turn on one of them, one waiter per connection, instead of paying for a
    setup of its own, so about half as many connections are opened as deliveries start."""
    out = tmp_path / "slow"
    port, proc = start_peer("slow_dot_mx.py", out, args=(0.2, 0.5))
    try:
        stats = drain_held_burst(start_server, install, port, out,
                                 "destination_concurrency_max=10\n", 20, "turn")
        assert stats["messages"] == 20, stats
        # 10 at once would open 10 without waiting.
        assert stats["connections"] <= 6, stats
    finally:
        stop_peer(proc)


def test_waiting_deliveries_leave_room_but_connections_stay_within_concurrency_max(
        start_server, install, tmp_path):
    """Deliveries waiting for a turn do not count against concurrency_max (3 here), but those
    that do bound the connections: never more than 3 open at once, and every message out."""
    out = tmp_path / "slow"
    port, proc = start_peer("slow_dot_mx.py", out, args=(0.2, 0.3))
    try:
        stats = drain_held_burst(start_server, install, port, out, "concurrency_max=3\n", 15,
                                 "room")
        assert stats["messages"] == 15, stats
        assert 1 <= stats["most_open"] <= 3, stats
    finally:
        stop_peer(proc)


def test_outbound_helo_and_source_ip_from_notes(start_server, mx, install):
    """notes.outbound_helo and notes.outbound_ip (Haraka's) choose the HELO name and the source
    address when get_mx names none."""
    port, out = mx
    files = {
        "relay_acl_allow": "127.0.0.1/32\n",
        "route.ini": "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n"
                     "[mail]\ncode=CONT\nnote=outbound_helo:\"out.example\"\n" % port,
        "outbound.ini": "[main]\nscan_interval=1\n",
    }
    server = start_server(plugins=["relay", "route"], so=["route"], files=files)
    assert send(server, ["bob@example.net"]) == {}
    [msg] = received(out)
    assert msg["rcpts"] == ["bob@example.net"]
    assert msg["helo"] == "out.example"
