"""The limit plugin with a real redis-server shared by two Upesi nodes: a connection rate
counted across both, concurrency entries that expire after a node is killed with -9 (and no
key left without a TTL), Redis stopped under load (mail flows, the outage is logged once and
counted) and started again (the nodes reconnect by themselves, the limits apply again), and
deliveries to a domain at once and per period counted across both nodes' outbound queues (an
aiosmtpd MX that holds each message counts them)."""
import asyncio
import email
import os
import signal
import smtplib
import socket
import time
import urllib.request

from aiosmtpd.controller import Controller

from conftest import free_port
from redis_nodes import nodes, redis, send  # noqa: F401 (nodes and redis are fixtures)


def banner(port, source="127.0.0.2"):
    """The first reply a client at `source` gets; the connection is left at once."""
    with socket.create_connection(("127.0.0.1", port), timeout=10,
                                  source_address=(source, 0)) as s:
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace")


def test_the_connection_rate_is_counted_across_both_nodes(nodes, redis):
    # The shipped limit.ini exempts loopback (127=0), as Haraka's: these clients get limits of
    # their own, each counted under its address.
    a, b = nodes(["limit"], {"limit.ini": "[rate_conn]\nenabled=true\n127.0.0.2=5/1m\n"
                                          "127.0.0.3=5/1m\n"})
    for i in range(5):
        reply = banner((a, b)[i % 2].port)
        assert reply.startswith("220 "), (i, reply)
    sixth = banner(b.port)
    assert sixth.startswith("421") and "connection rate limit exceeded" in sixth, sixth
    assert banner(a.port, source="127.0.0.3").startswith("220 "), "another client is welcome"
    key = "limit:rate_conn:127.0.0.2"
    assert int(redis.cli("ZCARD", key)) == 5, "the window holds no more than its limit"
    assert 0 < int(redis.cli("PTTL", key)) <= 60000


def test_a_killed_node_leaves_no_concurrency_behind(nodes, redis):
    a, b = nodes(["limit"], {"limit.ini": "[concurrency]\nenabled=true\nmax=2\nlease=3\n"
                                          "[rate_rcpt]\nenabled=true\ndefault=100/1m\n"})
    held = []
    try:
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", a.port), timeout=10,
                                         source_address=("127.0.0.2", 0))
            held.append(s)
            assert s.recv(4096).startswith(b"220 ")
        third = banner(b.port)
        assert third.startswith("421") and "Too many concurrent connections" in third, third
        assert send(b.port, source="127.0.0.3") == (250, 250)
        os.kill(a.proc.pid, signal.SIGKILL)
        a.proc.wait(10)
        # Its two entries outlive it by their lease (3 s), renewed by nobody.
        deadline = time.monotonic() + 10
        while banner(b.port).startswith("421"):
            assert time.monotonic() < deadline, "the dead node's entries never expired"
            time.sleep(0.5)
    finally:
        for s in held:
            s.close()
    time.sleep(3.5)  # b's own connections have ended: their entries go at disconnect
    keys = redis.keys()
    for key in keys:
        assert int(redis.cli("TTL", key)) > 0, "%s has no TTL" % key
    assert "limit:concurrency:127.0.0.2" not in keys or \
        int(redis.cli("ZCARD", "limit:concurrency:127.0.0.2")) == 0


def test_redis_down_lets_mail_through_and_comes_back(nodes, redis):
    [a] = nodes(["limit"], {"limit.ini": "[rate_rcpt]\nenabled=true\ndefault=2/1m\n"},
                names=("a",), http=True)
    assert send(a.port) == (250, 250)
    assert send(a.port) == (250, 250)
    assert send(a.port)[0] == 450, "the third message to one recipient in a minute waits"
    redis.stop(signal.SIGKILL)
    for _ in range(5):
        assert send(a.port, rcpt="other@example.com") == (250, 250), "fail open"
    log = a.log()
    assert log.count("its checks let mail through until it answers") == 1, log
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % a.http, timeout=10) as r:
        scraped = r.read().decode()
    failures = [line for line in scraped.splitlines()
                if line.startswith('upesi_redis_failures_total{plugin="limit"')]
    assert failures and sum(float(line.split()[-1]) for line in failures) >= 5, scraped
    redis.start()
    assert a.wait_log("again", timeout=15), a.log()
    # A fresh server: the window starts empty, and the limit holds again.
    assert send(a.port, rcpt="third@example.com") == (250, 250)
    assert send(a.port, rcpt="third@example.com") == (250, 250)
    assert send(a.port, rcpt="third@example.com")[0] == 450
    assert "Redis answers again" in a.log()


class SlowSink:
    """An aiosmtpd MX on a loopback port that holds each message `hold` seconds before its 250,
    counting the deliveries in progress at once and when each message arrived."""

    def __init__(self, hold):
        self.hold = hold
        self.in_progress = 0
        self.most_at_once = 0
        self.arrivals = []  # (monotonic time, Subject)
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_DATA(self, server, session, envelope):
        self.in_progress += 1
        self.most_at_once = max(self.most_at_once, self.in_progress)
        try:
            await asyncio.sleep(self.hold)
        finally:
            self.in_progress -= 1
        subject = email.message_from_bytes(envelope.content)["Subject"]
        self.arrivals.append((time.monotonic(), subject))
        return "250 2.0.0 kept"

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    def wait_for(self, count, timeout=40):
        deadline = time.monotonic() + timeout
        while len(self.arrivals) < count:
            assert time.monotonic() < deadline, "only %d of %d arrived" % (len(self.arrivals),
                                                                           count)
            time.sleep(0.1)


def outbound_nodes(nodes, sink, limit_ini):
    """Two nodes relaying for loopback clients into the outbound queue, every message routed to
    `sink` (the scripted plugin's get_mx), retried after a second."""
    return nodes(["relay", "route", "limit"], {
        "relay_acl_allow": "127.0.0.0/8\n",
        "route.ini": "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n" % sink.controller.port,
        "outbound.ini": "[main]\ntemp_fail_intervals=1s*30\nscan_interval=1\n",
        "limit.ini": limit_ini,
    }, so=["route"])


def relay(port, subject):
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
        assert s.sendmail("a@client.example", ["b@example.net"],
                          "Subject: %s\r\n\r\nhi\r\n" % subject) == {}


def relay_through_both(a, b, each):
    """`each` messages through each node, alternately: subjects a0, b0, a1, b1..."""
    for n in range(each):
        relay(a.port, "a%d" % n)
        relay(b.port, "b%d" % n)


def test_deliveries_to_a_domain_at_once_are_limited_across_both_nodes(nodes, redis):
    with SlowSink(hold=0.4) as sink:
        a, b = outbound_nodes(nodes, sink, "[outbound]\nenabled=true\ndelay=1\nexample.net=1\n")
        relay_through_both(a, b, 3)
        sink.wait_for(6)
        assert sink.most_at_once == 1, sink.arrivals
        subjects = sorted(subject for _, subject in sink.arrivals)
        assert subjects == ["a0", "a1", "a2", "b0", "b1", "b2"]  # each once, from both nodes
        assert "waiting 1 s" in a.log() + b.log()
    # Every delivery gave its entry back; whatever remains has a TTL.
    assert int(redis.cli("ZCARD", "limit:outbound:example.net")) == 0
    for key in redis.keys():
        assert int(redis.cli("TTL", key)) > 0, "%s has no TTL" % key


def test_deliveries_to_a_domain_per_period_are_limited_across_both_nodes(nodes, redis):
    with SlowSink(hold=0) as sink:
        a, b = outbound_nodes(nodes, sink, "[rate_outbound]\nenabled=true\nexample.net=2/3s\n")
        relay_through_both(a, b, 2)
        sink.wait_for(4)
        times = sorted(t for t, _ in sink.arrivals)
        # At most two in any 3 s: the third waited for the window (a little slack for the
        # delivery after the check).
        assert times[2] - times[0] >= 2.5, times
        assert times[3] - times[1] >= 2.5, times
        assert int(redis.cli("TTL", "limit:rate_outbound:example.net")) > 0
