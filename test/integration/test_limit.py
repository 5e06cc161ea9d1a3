"""The limit plugin with a real redis-server shared by two Upesi nodes: a connection rate
counted across both, concurrency entries that expire after a node is killed with -9 (and no
key left without a TTL), Redis stopped under load (mail flows, the outage is logged once and
counted) and started again (the nodes reconnect by themselves, the limits apply again)."""
import os
import signal
import socket
import time
import urllib.request

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
