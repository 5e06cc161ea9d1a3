"""Outbound faults through the whole engine, against receiving MXes on loopback addresses that
misbehave (peers/fault_mx.py): a connection dropped in the middle of DATA, a banner that never
comes, 421 at the banner, 452 to one recipient of two. Mail is never lost, bounced or delivered
twice: what failed waits in the queue, and once the MX recovers a flush delivers it once. A
flush also covers a delivery whose deferral is being written, and files not yet scanned.
And the destination concurrency limit: at most destination_concurrency_max deliveries to one
domain at a time, the others waiting for them, none failing."""
import json
import os
import pathlib
import shutil
import smtplib
import subprocess
import time

import pytest

import dns_zone
from conftest import free_port, run_upesi
from dns_zone import host, mx as mx_record
from test_outbound import queue_files, received, send
from test_outbound_hooks import bounces, calls, relay_server, wait_empty
from test_queue_cli import FIXTURES, LL3, deferred_name

PEERS = pathlib.Path(__file__).resolve().parent / "peers"
BIG_BODY = "Subject: big\r\n\r\n" + "".join("line %05d of a long message\r\n" % i
                                             for i in range(8000))


class FaultMx:
    """A running fault_mx.py: `fault(mode)` turns a fault on, `recover()` off."""

    def __init__(self, address, port, out, proc):
        self.address, self.port, self.out, self.proc = address, port, out, proc

    def fault(self, mode):
        (self.out / "fault").write_text(mode)

    def recover(self):
        (self.out / "fault").unlink(missing_ok=True)

    def events(self):
        path = self.out / "events"
        return path.read_text().splitlines() if path.exists() else []

    def connections(self):
        """(connections opened, most open at once)."""
        path = self.out / "connections"
        opened, most = path.read_text().split() if path.exists() else (0, 0)
        return int(opened), int(most)

    def received(self, want=1, timeout=15):
        return received(self.out, want, timeout)


@pytest.fixture
def fault_mx(tmp_path):
    """fault_mx(address, port=None, hold_ms=0, fault=None) -> FaultMx, stopped after the test."""
    peers = []

    def start(address, port=None, hold_ms=0, fault=None):
        out = tmp_path / ("mx-" + address)
        out.mkdir()
        port = port or free_port()
        if fault:
            (out / "fault").write_text(fault)
        proc = subprocess.Popen(["/usr/bin/python3", str(PEERS / "fault_mx.py"), address,
                                 str(port), str(out), str(hold_ms)],
                                stdout=subprocess.PIPE, text=True)
        peers.append(proc)
        assert proc.stdout.readline().strip() == "ready"
        return FaultMx(address, port, out, proc)

    yield start
    for proc in peers:
        proc.terminate()
        proc.wait(timeout=10)


def qlist(install):
    r = run_upesi("-c", str(install), "--qlist", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def deferred_entry(install):
    """The one queued message, once its deferral is written (attempts 1)."""
    assert wait_for(lambda: [e["attempts"] for e in qlist(install)] == [1]), qlist(install)
    return qlist(install)[0]


def flush(install):
    r = run_upesi("-c", str(install), "--flush")
    assert r.returncode == 0, r.stderr


def wait_for(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def assert_delivered_once_after_flush(install, mx, record):
    """The MX has recovered: a flush delivers the deferred message, once, and nothing bounces."""
    before = len(mx.received(timeout=0))
    flush(install)
    msgs = mx.received(want=before + 1)
    assert len(msgs) == before + 1
    assert wait_empty(install) == []
    flush(install)  # nothing is left to send again
    time.sleep(1)
    msgs = mx.received(timeout=0)
    assert len(msgs) == before + 1
    assert bounces(msgs) == [] and calls(record, "bounce", timeout=0) == []
    return msgs


def test_connection_dropped_in_data_is_deferred_then_delivered_once(start_server, fault_mx,
                                                                   install, tmp_path):
    mx = fault_mx("127.0.0.1", fault="drop-in-data")
    record = tmp_path / "calls"
    server = relay_server(start_server, mx.port, record, outbound="temp_fail_intervals=1h\n")
    assert send(server, ["bob@example.net"], body=BIG_BODY) == {}

    [deferred] = calls(record, "deferred")
    assert deferred["fail_recips"] == ["bob@example.net"]
    # Lost while we send, or, when the kernel took the rest of the message first, while we wait.
    assert ("sending message data" in deferred["error"] or
            "waiting for reply to end of data" in deferred["error"]), deferred["error"]
    assert server.wait_log("outbound: deferred 1 recipient(s) for 3600 s")
    [event] = mx.events()
    dropped_after = int(event.split()[2])
    assert 16384 <= dropped_after < len(BIG_BODY)  # the MX had part of it, not all
    assert mx.received(timeout=0) == []
    entry = deferred_entry(install)
    assert entry["rcpt_to"] == ["<bob@example.net>"]
    assert entry["size"] > len(BIG_BODY)  # the whole message is still queued
    assert calls(record, "bounce", timeout=0) == []

    mx.recover()
    [msg] = assert_delivered_once_after_flush(install, mx, record)
    assert msg["rcpts"] == ["bob@example.net"]
    assert msg["data"].endswith(BIG_BODY.split("\r\n\r\n", 1)[1])
    [delivered] = calls(record, "delivered")
    assert delivered["attempts"] == 1


def test_pooled_connection_dropped_in_data_is_retried_on_a_fresh_one(start_server, fault_mx,
                                                                     install, tmp_path):
    """A connection that idled in the pool may be dead by the time it is used: the message goes
    out on a new connection at once, not after a retry interval."""
    mx = fault_mx("127.0.0.1")
    record = tmp_path / "calls"
    server = relay_server(start_server, mx.port, record, outbound="temp_fail_intervals=1h\n")
    assert send(server, ["ann@example.net"]) == {}
    assert len(mx.received()) == 1
    mx.fault("drop-in-data once")
    assert send(server, ["bob@example.net"], body=BIG_BODY) == {}
    msgs = mx.received(want=2)
    assert [m["rcpts"] for m in msgs] == [["ann@example.net"], ["bob@example.net"]]
    assert len(mx.events()) == 1 and mx.connections()[0] == 2
    assert server.wait_log("pooled connection failed")
    assert calls(record, "deferred", timeout=0) == []
    assert wait_empty(install) == []


def test_421_at_the_banner_is_deferred_then_delivered_once(start_server, fault_mx, install,
                                                           tmp_path):
    mx = fault_mx("127.0.0.1", fault="banner-421")
    record = tmp_path / "calls"
    server = relay_server(start_server, mx.port, record, outbound="temp_fail_intervals=1h\n")
    assert send(server, ["bob@example.net", "carol@example.net"]) == {}

    [deferred] = calls(record, "deferred")
    assert sorted(deferred["fail_recips"]) == ["bob@example.net", "carol@example.net"]
    assert "421 4.3.2 fault.test busy" in deferred["error"]
    assert mx.events() == ["banner-421"]
    assert len(deferred_entry(install)["rcpt_to"]) == 2

    mx.recover()
    [msg] = assert_delivered_once_after_flush(install, mx, record)
    assert sorted(msg["rcpts"]) == ["bob@example.net", "carol@example.net"]


def test_452_to_one_recipient_splits_it_off_and_retries_it_alone(start_server, fault_mx,
                                                                 install, tmp_path):
    mx = fault_mx("127.0.0.1", fault="rcpt-452")
    record = tmp_path / "calls"
    server = relay_server(start_server, mx.port, record, outbound="temp_fail_intervals=1h\n")
    assert send(server, ["ann@example.net", "full-box@example.net"]) == {}

    [first] = mx.received()
    assert first["rcpts"] == ["ann@example.net"]
    [delivered] = calls(record, "delivered")
    assert delivered["ok_recips"] == ["ann@example.net"]
    [deferred] = calls(record, "deferred")
    assert deferred["fail_recips"] == ["full-box@example.net"]
    assert "452 4.2.2 mailbox full" in deferred["error"]
    assert deferred_entry(install)["rcpt_to"] == ["<full-box@example.net>"]  # ann's copy is not sent again

    mx.recover()
    msgs = assert_delivered_once_after_flush(install, mx, record)
    assert [m["rcpts"] for m in msgs] == [["ann@example.net"], ["full-box@example.net"]]
    assert [e.split()[0] for e in mx.events()] == ["rcpt-452"]


def test_flush_while_a_deferral_is_being_written_retries_it(start_server, fault_mx, install,
                                                            tmp_path):
    """The flush comes after an attempt failed but before its deferral is written (here the
    deferred hook takes a second): that message is due now too, not in an hour."""
    mx = fault_mx("127.0.0.1", fault="banner-421 once")
    record = tmp_path / "calls"
    server = relay_server(start_server, mx.port, record, outbound="temp_fail_intervals=1h\n",
                          watch="[deferred]\ncode=CONT\nmode=async\ndelay_ms=1000\n")
    assert send(server, ["bob@example.net"]) == {}
    assert calls(record, "deferred")  # the hook has been called and has not answered yet
    flush(install)
    assert server.wait_log("outbound: deferred 1 recipient(s) for 3600 s")
    [msg] = mx.received(timeout=5)
    assert msg["rcpts"] == ["bob@example.net"]
    [delivered] = calls(record, "delivered")
    assert delivered["attempts"] == 1
    assert wait_empty(install) == []


def test_flush_takes_deferred_files_the_worker_has_not_read_yet(start_server, fault_mx,
                                                                install, tmp_path):
    """A deferred file that appeared after the worker's last scan of the queue directory
    (another worker's, or one moved over from Haraka) is due at a flush too."""
    mx = fault_mx("127.0.0.1")
    record = tmp_path / "calls"
    server = relay_server(start_server, mx.port, record, outbound="scan_interval=3600\n")
    time.sleep(0.5)  # past the scan at start
    later = int(time.time() * 1000) + 3600 * 1000
    shutil.copy(FIXTURES / LL3, install / "queue" / deferred_name(LL3, later, 2))
    flush(install)
    [msg] = mx.received(timeout=5)
    assert msg["rcpts"] and all(r.endswith("@example.net") for r in msg["rcpts"])
    assert wait_empty(install) == []
    assert server.wait_log("outbound: delivered")


@pytest.mark.skipif(os.getuid() != 0 or not dns_zone.AVAILABLE,
                    reason="needs root (MX hosts listen on port 25) and dnsmasq")
def test_silent_mx_times_out_while_other_mail_flows(start_server, fault_mx, install, tmp_path):
    """stall.test's MX takes the connection and never greets. While that delivery hangs the
    server goes on taking mail, and healthy.test's MX gets its message; after greeting_timeout
    the stalled message is deferred, and delivered once when its MX recovers."""
    stalled = fault_mx("127.0.0.21", port=25, fault="no-banner")
    healthy = fault_mx("127.0.0.22", port=25)
    zone = [mx_record("stall.test", "mx.stall.test", 10), host("mx.stall.test", "127.0.0.21"),
            mx_record("healthy.test", "mx.healthy.test", 10),
            host("mx.healthy.test", "127.0.0.22")]
    with dns_zone.serve(zone) as dns_port:
        record = tmp_path / "calls"
        watch = "[main]\nrecord=%s\n" % record + "".join(
            "[%s]\ncode=CONT\n" % hook for hook in ("deferred", "bounce", "delivered"))
        server = start_server(plugins=["relay", "observer"], so=["observer"], files={
            "relay_acl_allow": "127.0.0.1/32\n",
            "observer.ini": watch,
            "dns.ini": dns_zone.resolver_ini(dns_port),
            "outbound.ini": "[main]\nlocal_mx_ok=true\ngreeting_timeout=4\n"
                            "temp_fail_intervals=1h\n",
        })
        started = time.monotonic()
        assert send(server, ["bob@stall.test"], sender="alice@client.test") == {}
        assert wait_for(lambda: stalled.events() == ["no-banner"])

        assert send(server, ["carol@healthy.test"], sender="alice@client.test") == {}
        [msg] = healthy.received(timeout=3)
        assert msg["rcpts"] == ["carol@healthy.test"]
        assert time.monotonic() - started < 4  # all while the other delivery still hangs
        assert calls(record, "deferred", timeout=0) == []
        assert stalled.connections() == (1, 1)

        [deferred] = calls(record, "deferred", timeout=10)
        assert time.monotonic() - started >= 4
        assert deferred["fail_recips"] == ["bob@stall.test"]
        assert "timeout waiting for greeting" in deferred["error"]
        assert deferred_entry(install)["domain"] == "stall.test"

        stalled.recover()
        [msg] = assert_delivered_once_after_flush(install, stalled, record)
        assert msg["rcpts"] == ["bob@stall.test"]
        assert len(healthy.received(timeout=0)) == 1


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def deliver_thirty_at_once(start_server, fault_mx, install, tmp_path, limit):
    """30 messages for one domain, all due at the same moment; returns (the MX, the server's
    CPU seconds while it delivered them, the wall-clock seconds)."""
    mx = fault_mx("127.0.0.1", hold_ms=200)
    record = tmp_path / "calls"
    settings = "destination_concurrency_max=%d\ntemp_fail_intervals=1h\n" % limit
    server = relay_server(start_server, mx.port, record, outbound="disabled=true\n" + settings)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        for i in range(30):
            s.sendmail("alice@client.example", ["user%d@example.net" % i],
                       "Subject: %d\r\n\r\nhello\r\n" % i)
    assert len(queue_files(install)) == 30
    cpu, started = cpu_seconds(server.proc.pid), time.monotonic()
    (install / "config" / "outbound.ini").write_text("[main]\nscan_interval=1\n" + settings)
    msgs = mx.received(want=30, timeout=20)
    wall = time.monotonic() - started
    assert sorted(m["rcpts"][0] for m in msgs) == sorted("user%d@example.net" % i
                                                         for i in range(30))
    assert wait_empty(install) == []
    assert calls(record, "deferred", timeout=0) == []
    return mx, cpu_seconds(server.proc.pid) - cpu, wall


def test_destination_concurrency_limit(start_server, fault_mx, install, tmp_path):
    mx, cpu, wall = deliver_thirty_at_once(start_server, fault_mx, install, tmp_path, limit=3)
    most = mx.connections()[1]
    assert 2 <= most <= 3
    assert wall >= 30 * 0.2 / 3 - 0.5  # they really took turns
    assert cpu < wall / 2  # and the waiting ones were not polled for a free slot


def test_destination_concurrency_unlimited(start_server, fault_mx, install, tmp_path):
    """0: no limit (what the engine did before the key existed): one connection per message."""
    mx, cpu, wall = deliver_thirty_at_once(start_server, fault_mx, install, tmp_path, limit=0)
    assert mx.connections()[1] > 3
