"""The greylist plugin on two nodes sharing one redis-server: a new tuple is deferred (451) on
one node, its retry after the black period passes on the other, and the host stays white for
its next mail; Redis down lets mail through (fail_open) or defers it."""
import signal
import time

from redis_nodes import nodes, redis, send  # noqa: F401 (nodes and redis are fixtures)

GREYLIST_INI = ("[main]\ntext=come back later\n[period]\nblack=2\ngrey=600\nwhite=3600\n"
                "[skip]\nprivate_ip=false\n[recipient_whitelist]\npostmaster@example.com\n")


def test_a_retry_passes_on_the_other_node(nodes, redis):
    a, b = nodes(["greylist"], {"greylist.ini": GREYLIST_INI})
    assert send(a.port) == (451, None)
    assert send(b.port)[0] == 451, "still within the black period"
    assert send(a.port, rcpt="postmaster@example.com") == (250, 250), "whitelisted recipient"
    time.sleep(2.5)
    assert send(b.port) == (250, 250), "the retry passes on the other node"
    # The host (127.0.0.0/24: no rDNS) is white now, for any sender and recipient.
    assert send(a.port, rcpt="new@example.com", source="127.0.0.9",
                sender="other@elsewhere.example") == (250, 250)
    white = "greylist:white:127.0.0.0/24"
    assert int(redis.cli("HGET", white, "tried_when_greylisted")) == 3
    assert 0 < int(redis.cli("TTL", white)) <= 3600
    assert [k for k in redis.keys() if k.startswith("greylist:grey:")] == [], \
        "a passed tuple's grey record is gone"
    assert "passed greylisting" in a.log() + b.log()


def test_redis_down_fails_open_or_defers(nodes, redis):
    a, b = nodes(["greylist"], {"greylist.ini": GREYLIST_INI})
    redis.stop(signal.SIGKILL)
    assert send(a.port) == (250, 250), "fail_open"
    assert a.wait_log("its checks let mail through until it answers")
    b.stop()
    closed = GREYLIST_INI.replace("[period]", "fail_open=false\n[period]")
    [c] = nodes(["greylist"], {"greylist.ini": closed}, names=("c",))
    code, _ = send(c.port)
    assert code == 451
