"""Outbound with several workers sharing one queue through flock: a worker killed with -9 in
the middle of a delivery loses nothing (another worker delivers the message, once); and a queue
file Haraka wrote is delivered."""
import os
import pathlib
import shutil
import signal
import smtplib
import subprocess
import time

import pytest

from conftest import free_port

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures" / "queue"


def wait_for(predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_worker_killed_mid_delivery_loses_nothing(start_server, install, tmp_path):
    out = tmp_path / "mx"
    out.mkdir()
    port = free_port()
    mx = subprocess.Popen(["/usr/bin/python3", str(HERE / "peers" / "stall_mx.py"), str(port),
                           str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert mx.stdout.readline().strip() == "ready"
        server = start_server(plugins=["relay", "route"], so=["route"], files={
            "relay_acl_allow": "127.0.0.1/32\n",
            "route.ini": "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n" % port,
            "outbound.ini": "[main]\ntemp_fail_intervals=1s*5\nscan_interval=1\n",
        }, smtp={"nodes": 2})
        first = server.wait_workers(2)
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
            assert s.sendmail("a@client.example", ["b@example.net"],
                              "Subject: kill\r\n\r\nsurvive\r\n") == {}
        # The MX now holds the first attempt after its final dot: kill every worker.
        time.sleep(1.0)
        assert list(out.iterdir()) == []
        for pid in first:
            os.kill(pid, signal.SIGKILL)
        server.wait_workers(2, exclude=first)
        assert wait_for(lambda: len(list(out.iterdir())) >= 1)
        time.sleep(2)
        delivered = list(out.iterdir())
        assert len(delivered) == 1, delivered  # exactly once after the crash
        assert b"survive" in delivered[0].read_bytes()
        assert wait_for(lambda: not [p for p in (install / "queue").iterdir()])
    finally:
        mx.kill()
        mx.wait()


def test_a_haraka_queue_file_is_delivered(start_server, install, tmp_path):
    fixtures = sorted(p for p in FIXTURES.iterdir() if p.name[0].isdigit())
    if not fixtures:
        pytest.skip("no Haraka fixture")
    out = tmp_path / "mx"
    port = free_port()
    proc = subprocess.Popen(["/usr/bin/python3", str(HERE / "peers" / "sink_mx.py"), str(port),
                             str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    out.mkdir()
    try:
        assert proc.stdout.readline().strip() == "ready"
        queue = install / "queue"
        queue.mkdir(exist_ok=True)
        shutil.copy(fixtures[0], queue / fixtures[0].name)
        server = start_server(plugins=["route"], so=["route"], files={
            "route.ini": "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n" % port,
            "outbound.ini": "[main]\ntemp_fail_intervals=1s\nscan_interval=1\n",
        })
        assert wait_for(lambda: list(out.glob("*.json")))
        import json
        [msg] = [json.loads(p.read_text()) for p in out.glob("*.json")]
        assert msg["rcpts"]
        assert wait_for(lambda: not (queue / fixtures[0].name).exists())
    finally:
        proc.stdin.close()
        proc.terminate()
        proc.wait(timeout=10)
