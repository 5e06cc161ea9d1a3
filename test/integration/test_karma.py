"""The karma plugin on two nodes sharing one redis-server: a connection that talks before the
greeting scores badly on node A and is refused at DATA; its IP's history, kept in Redis, then
makes node B refuse the same IP's polite connection, while another IP passes."""
import socket
import time

from redis_nodes import nodes, redis, send  # noqa: F401 (nodes and redis are fixtures)

KARMA_INI = """[thresholds]
negative=-2
positive=2
[deny]
hooks=data
message=bad karma {score}
[skip]
private_ip=false
[tarpit]
max=0
[awards]
early_talker=-3
[result_awards]
001 = karma | history | lt | 0 | -5 | IP reputation is poor
"""


class Raw:
    def __init__(self, port, source):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20,
                                             source_address=(source, 0))
        self.buffer = b""

    def reply(self):
        """The next whole reply: (code, its last line)."""
        while True:
            lines = self.buffer.split(b"\r\n")
            for i, line in enumerate(lines[:-1]):
                if len(line) >= 4 and line[3:4] == b" ":
                    self.buffer = b"\r\n".join(lines[i + 1:])
                    return int(line[:3]), line.decode()
            chunk = self.sock.recv(4096)
            assert chunk, "closed: %r" % self.buffer
            self.buffer += chunk

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()


def test_history_from_one_node_decides_on_the_other(nodes, redis):
    # The greeting waits half a second (a plugin's connect hook), so that the rude client's
    # EHLO surely comes before it, however loaded the machine.
    a, b = nodes(["pause", "karma"], {"karma.ini": KARMA_INI,
                                      "pause.ini": "[connect]\nmode=async\ndelay_ms=500\n"},
                 so=["pause"])
    rude = Raw(a.port, "127.0.0.2")
    rude.sock.sendall(b"EHLO rude.example\r\n")  # before the greeting
    assert rude.reply()[0] == 220
    assert rude.reply()[0] == 250
    assert rude.cmd("MAIL FROM:<s@client.example>")[0] == 250
    assert rude.cmd("RCPT TO:<user@example.com>")[0] == 250
    code, line = rude.cmd("DATA")
    assert code == 554 and "bad karma -3" in line, line
    rude.cmd("QUIT")
    rude.sock.close()
    assert a.wait_log("score -3")
    key = "karma|127.0.0.2"
    for _ in range(100):
        if redis.cli("HGET", key, "bad").strip() == "1":
            break
        time.sleep(0.05)
    assert redis.cli("HGET", key, "bad").strip() == "1"
    assert redis.cli("HGET", key, "connections").strip() == "1"
    assert 0 < int(redis.cli("TTL", key)) <= 60 * 86400

    # A polite connection from the same IP, on the other node: its history condemns it.
    polite = Raw(b.port, "127.0.0.2")
    assert polite.reply()[0] == 220
    assert polite.cmd("EHLO polite.example")[0] == 250
    assert polite.cmd("MAIL FROM:<s@client.example>")[0] == 250
    assert polite.cmd("RCPT TO:<user@example.com>")[0] == 250
    code, line = polite.cmd("DATA")
    assert code == 554 and "bad karma -5" in line, line
    polite.cmd("QUIT")
    # Another IP has no history: it passes.
    assert send(b.port, source="127.0.0.3") == (250, 250)


def karma_ini(negative, extra=""):
    """Refusals at DATA only, below `negative`; loopback clients scored; no tarpit."""
    return ("[thresholds]\nnegative=%d\npositive=2\n[deny]\nhooks=data\n[skip]\n"
            "private_ip=false\n[tarpit]\nmax=0\n" % negative) + extra


TAKE_OVER_INI = karma_ini(-1)
# A plugin karma does not exclude: a hard refusal at MAIL for spam@, a temporary one at HELO for
# soft.example.
BLOCKER_INI = "[mail]\ncode=DENY\nmsg=blocked sender\nmatch=spam@\n" \
              "[ehlo]\ncode=DENYSOFT\nmsg=try later\nmatch=soft.example\n"


def transaction(port, helo, sender, source="127.0.0.2"):
    """The replies to EHLO, MAIL, RCPT and DATA (code, last line) of one connection; after a
    354 the message is sent and must be accepted."""
    c = Raw(port, source)
    assert c.reply()[0] == 220
    replies = [c.cmd("EHLO " + helo), c.cmd("MAIL FROM:<%s>" % sender),
               c.cmd("RCPT TO:<user@example.com>"), c.cmd("DATA")]
    if replies[3][0] == 354:
        assert c.cmd("Subject: karma\r\n\r\nhi\r\n.")[0] == 250
    c.cmd("QUIT")
    c.sock.close()
    return replies


def test_other_plugins_refusals_are_taken_over_unless_excluded(nodes, redis):
    a, b = nodes(["blocker", "karma"], {"karma.ini": TAKE_OVER_INI, "blocker.ini": BLOCKER_INI},
                 so=["blocker"])
    ehlo, mail, rcpt, data = transaction(a.port, "ok.example", "spam@client.example")
    assert (ehlo[0], mail[0], rcpt[0]) == (250, 250, 250), mail  # the DENY was taken over
    assert data[0] == 554 and "very bad karma score: -2" in data[1], data
    assert a.wait_log("took over DENY from blocker at mail")
    # A temporary refusal taken over makes karma's own refusal temporary too.
    ehlo, mail, rcpt, data = transaction(a.port, "soft.example", "ok@client.example")
    assert (ehlo[0], mail[0], rcpt[0]) == (250, 250, 250), ehlo
    assert data[0] == 451 and "very bad karma score: -2" in data[1], data
    # Named in [deny_excludes], the plugin's refusal stands.
    (b.install / "config" / "karma.ini").write_text(
        TAKE_OVER_INI + "[deny_excludes]\nplugins=blocker\n")
    deadline = time.monotonic() + 10
    while transaction(b.port, "ok.example", "spam@client.example")[1][0] != 550:
        assert time.monotonic() < deadline, "karma.ini was not read again"
        time.sleep(0.2)
    ehlo, mail, rcpt, data = transaction(b.port, "ok.example", "spam@client.example")
    assert mail[0] == 550 and "blocked sender" in mail[1], mail


ASN_INI = karma_ini(-3, "[asn_awards]\n64496=-1\n[result_awards]\n"
                        "001 = karma | fail | equals | asn:all_bad | -5 | network is spam-only\n")


def test_a_networks_history_on_one_node_decides_on_the_other(nodes, redis):
    # An asn plugin (here the scripted one) says every client is in AS 64496, which costs a
    # point ([asn_awards]): each connection ends bad, on node A, from six addresses.
    a, b = nodes(["asn", "karma"],
                 {"karma.ini": ASN_INI, "asn.ini": "[connect]\nresult=asn:64496\n"}, so=["asn"])
    for n in range(2, 8):
        replies = transaction(a.port, "ok.example", "ok@client.example", source="127.0.0.%d" % n)
        assert replies[3][0] == 354, replies  # -1: not enough to refuse
    deadline = time.monotonic() + 10
    while redis.cli("HGET", "as64496", "bad").strip() != "6":
        assert time.monotonic() < deadline, redis.cli("HGETALL", "as64496")
        time.sleep(0.05)
    assert redis.cli("HGET", "as64496", "good").strip() == "0"
    assert 60 * 86400 < int(redis.cli("TTL", "as64496")) <= 2 * 60 * 86400
    # A new address in the same network, on node B: the network is all bad (-5), with the
    # award (-1) below the threshold.
    replies = transaction(b.port, "ok.example", "ok@client.example", source="127.0.0.9")
    assert replies[3][0] == 554 and "very bad karma score: -6" in replies[3][1], replies
    assert b.wait_log("asn:all_bad")


def test_greylisting_still_refuses_beside_karma(nodes, redis):
    # greylist refuses at rcpt_ok, which Haraka's karma does not exclude (it takes the refusal
    # over); ours keeps refusals of recipients as they are.
    [a] = nodes(["greylist", "karma"], {"karma.ini": TAKE_OVER_INI,
                                        "greylist.ini": "[skip]\nprivate_ip=false\n"}, names=("a",))
    ehlo, mail, rcpt, data = transaction(a.port, "ok.example", "ok@client.example")
    assert rcpt[0] == 451 and "Greylisted" in rcpt[1], rcpt
    assert "took over" not in a.log()
