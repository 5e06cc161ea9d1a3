"""The outbound SMTP/LMTP client, driven through test/tools/smtp_send against peers: aiosmtpd
(SMTP and LMTP), postfix's smtp-sink, and raw socket servers that misbehave on purpose."""
import os
import shutil
import socket
import subprocess
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP

from conftest import free_port
from smtp_client_support import SMTP_SEND, Recorder, smtp_send, wire
from smtp_client_support import raw_peer  # noqa: F401 (a fixture)


@pytest.fixture(scope="module", autouse=True)
def smtp_send_built():
    if not SMTP_SEND or not os.access(SMTP_SEND, os.X_OK):
        pytest.fail("UPESI_SMTP_SEND must name the built smtp_send driver")


# ----------------------------------------------------------------------------------- aiosmtpd

class LmtpController(Controller):
    def factory(self):
        return LMTP(self.handler, **self.SMTP_kwargs)


@pytest.fixture
def aiosmtpd_peer():
    controllers = []

    def start(handler, lmtp=False, **kwargs):
        port = free_port()
        cls = LmtpController if lmtp else Controller
        controller = cls(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return port

    yield start
    for c in controllers:
        c.stop()


MESSAGE = (b"From: sender@example.test\n"
           b"To: rcpt@example.test\n"
           b"Subject: dots\n"
           b"\n"
           b".x\n"
           b"..y\n"
           b".\n"
           b"a line with 8-bit \xc3\xa9 bytes\n"
           b"\n"
           b"last line without a newline")


def test_aiosmtpd_accepts_and_bytes_arrive_exactly(tmp_path, aiosmtpd_peer):
    handler = Recorder()
    port = aiosmtpd_peer(handler)
    msg = tmp_path / "msg.eml"
    msg.write_bytes(MESSAGE)
    sent = smtp_send(port, ["one@example.test", "two@example.test"], msg)
    assert sent.rc == 0, sent
    assert [r[:3] for r in sent.rcpts] == [("one@example.test", "ok", 250),
                                           ("two@example.test", "ok", 250)]
    assert "Message accepted" in sent.rcpts[0][4]
    assert len(handler.envelopes) == 1
    mail_from, rcpts, options, content = handler.envelopes[0]
    assert mail_from == "sender@example.test"
    assert rcpts == ["one@example.test", "two@example.test"]
    assert "BODY=8BITMIME" in options
    assert any(o.startswith("SIZE=") for o in options)
    assert content == wire(MESSAGE)
    assert b"\r\n.x\r\n..y\r\n.\r\n" in content


def test_aiosmtpd_stuffed_file_streamed_from_disk(tmp_path, aiosmtpd_peer):
    """A big message already in queue form (CRLF, dot-stuffed), read from the file in chunks."""
    handler = Recorder()
    port = aiosmtpd_peer(handler)
    lines = []
    for i in range(40000):
        lines.append((b"." if i % 7 == 0 else b"") + b"line %06d " % i + b"x" * 60)
    plain = b"Subject: big\r\n\r\n" + b"\r\n".join(lines) + b"\r\n"
    stuffed = plain.replace(b"\r\n.", b"\r\n..")
    msg = tmp_path / "stuffed.eml"
    msg.write_bytes(stuffed)
    sent = smtp_send(port, ["big@example.test"], msg, "--stuffed", "--pipelining-off")
    assert sent.rc == 0, sent
    assert handler.envelopes[0][3] == plain


def test_aiosmtpd_smtputf8_needed_but_not_offered(tmp_path, aiosmtpd_peer):
    port = aiosmtpd_peer(Recorder(), enable_SMTPUTF8=False)
    msg = tmp_path / "msg.eml"
    msg.write_bytes(b"Subject: x\n\nbody\n")
    sent = smtp_send(port, ["jos\u00e9@example.test", "plain@example.test"], msg)
    assert sent.rc == 2, sent
    for r in sent.rcpts:
        assert r[1] == "permanent" and r[3] == "5.6.7", sent
        assert "SMTPUTF8" in r[4]


def test_aiosmtpd_smtputf8_offered(tmp_path, aiosmtpd_peer):
    handler = Recorder()
    port = aiosmtpd_peer(handler, enable_SMTPUTF8=True)
    msg = tmp_path / "msg.eml"
    msg.write_bytes(b"Subject: x\n\nbody\n")
    sent = smtp_send(port, ["jos\u00e9@example.test"], msg)
    assert sent.rc == 0, sent
    assert "SMTPUTF8" in handler.envelopes[0][2]
    assert handler.envelopes[0][1] == ["jos\u00e9@example.test"]


def test_lmtp_rejections_at_rcpt_and_after_data(tmp_path, aiosmtpd_peer):
    handler = Recorder(reject_rcpt={"bad": "550 5.1.1 no such user"},
                       data_replies={"full@example.test": "452 4.2.2 mailbox full"})
    port = aiosmtpd_peer(handler, lmtp=True)
    msg = tmp_path / "msg.eml"
    msg.write_bytes(b"Subject: lmtp\n\n.hello\n")
    to = ["good@example.test", "bad@example.test", "full@example.test", "also@example.test"]
    for extra in ([], ["--pipelining-off"]):
        sent = smtp_send(port, to, msg, "--lmtp", *extra)
        assert sent.rc == 2, sent
        assert sent.outcome("good@example.test")[1:4] == ("ok", 250, "2.0.0")
        assert sent.outcome("bad@example.test")[1:4] == ("permanent", 550, "5.1.1")
        assert "no such user" in sent.outcome("bad@example.test")[4]
        assert sent.outcome("full@example.test")[1:4] == ("temporary", 452, "4.2.2")
        assert sent.outcome("also@example.test")[1] == "ok"
    assert all(e[3] == b"Subject: lmtp\r\n\r\n.hello\r\n" for e in handler.envelopes)
    assert handler.envelopes[0][1] == ["good@example.test", "full@example.test",
                                       "also@example.test"]


# -------------------------------------------------------------------------- raw socket peers

@pytest.fixture
def small_msg(tmp_path):
    msg = tmp_path / "small.eml"
    msg.write_bytes(b"Subject: hi\n\nhello\n")
    return msg


def test_421_at_greeting(raw_peer, small_msg):
    peer = raw_peer(replies={"greeting": "421 4.3.2 raw.test too busy, try later"})
    sent = smtp_send(peer.port, ["a@example.test", "b@example.test"], small_msg)
    assert sent.rc == 1, sent
    for r in sent.rcpts:
        assert r[1:4] == ("temporary", 421, "4.3.2"), sent
        assert "too busy" in r[4]
    assert peer.commands == []


def test_554_at_greeting_is_permanent(raw_peer, small_msg):
    peer = raw_peer(replies={"greeting": "554 5.7.1 no service for you"})
    sent = smtp_send(peer.port, ["a@example.test"], small_msg)
    assert sent.rc == 2, sent
    assert sent.rcpts[0][1:3] == ("permanent", 554)


@pytest.mark.parametrize("pipelining", [True, False])
def test_450_to_rcpt(raw_peer, small_msg, pipelining):
    peer = raw_peer(replies={"RCPT": "450 4.2.0 greylisted, come back later"})
    extra = [] if pipelining else ["--pipelining-off"]
    sent = smtp_send(peer.port, ["a@example.test", "b@example.test"], small_msg, *extra)
    assert sent.rc == 1, sent
    for r in sent.rcpts:
        assert r[1:4] == ("temporary", 450, "4.2.0"), sent
        assert "greylisted" in r[4]
    # No message went out; the transaction was reset for the next one.
    assert peer.data_bytes == 0
    assert "RSET" in peer.commands
    if not pipelining:
        assert "DATA" not in peer.commands
    assert "reusable=true" in sent.stderr


def test_mixed_rcpt_replies(raw_peer, small_msg):
    """One recipient refused, the other delivered: per-recipient outcomes."""
    peer = raw_peer(replies={
        "RCPT": lambda cmd: "550 5.1.1 nobody here" if "nobody" in cmd else "250 2.1.5 ok"})
    for extra in ([], ["--pipelining-off"]):
        sent = smtp_send(peer.port, ["nobody@example.test", "somebody@example.test"], small_msg,
                         *extra)
        assert sent.rc == 2, sent
        assert sent.outcome("nobody@example.test")[1:4] == ("permanent", 550, "5.1.1")
        assert sent.outcome("somebody@example.test")[1:4] == ("ok", 250, "2.0.0")


def test_550_to_mail(raw_peer, small_msg):
    for extra in ([], ["--pipelining-off"]):
        peer = raw_peer(replies={"MAIL": "550 5.7.1 sender rejected", "RCPT": "503 5.5.1 no MAIL",
                                 "DATA": "503 5.5.1 no valid recipients"})
        sent = smtp_send(peer.port, ["a@example.test", "b@example.test"], small_msg, *extra)
        assert sent.rc == 2, sent
        for r in sent.rcpts:
            assert r[1:4] == ("permanent", 550, "5.7.1"), sent
            assert "sender rejected" in r[4]
        assert peer.data_bytes == 0


def test_ehlo_refused_falls_back_to_helo(raw_peer, small_msg):
    peer = raw_peer(replies={"EHLO": "502 5.5.2 what is EHLO"})
    sent = smtp_send(peer.port, ["a@example.test"], small_msg)
    assert sent.rc == 0, sent
    assert [c.split(" ")[0] for c in peer.commands[:3]] == ["EHLO", "HELO", "MAIL"]
    # After HELO: no ESMTP parameters.
    assert peer.commands[2] == "MAIL FROM:<sender@example.test>"


def test_connection_dropped_mid_data(raw_peer, tmp_path):
    peer = raw_peer(data="drop")
    msg = tmp_path / "big.eml"
    msg.write_bytes(b"Subject: big\n\n" + (b"y" * 70 + b"\n") * 100000)
    sent = smtp_send(peer.port, ["a@example.test", "b@example.test"], msg)
    assert sent.rc == 1, sent
    for r in sent.rcpts:
        assert r[1] == "temporary" and r[2] == 0, sent
        assert "connection" in r[4]
    assert peer.data_bytes > 0


def test_connection_dropped_before_final_reply(raw_peer, small_msg):
    peer = raw_peer(data="hangup")
    sent = smtp_send(peer.port, ["a@example.test"], small_msg)
    assert sent.rc == 1, sent
    assert sent.rcpts[0][1:3] == ("temporary", 0)
    assert "end of data" in sent.rcpts[0][4]


def test_never_answers_greeting(raw_peer, small_msg):
    peer = raw_peer(replies={"greeting": None})
    sent = smtp_send(peer.port, ["a@example.test"], small_msg, "--timeout", "1")
    assert sent.rc == 1, sent
    assert sent.rcpts[0][1:3] == ("temporary", 0)
    assert sent.rcpts[0][4] == "timeout waiting for greeting"
    assert sent.elapsed < 10


def test_never_answers_final_dot(raw_peer, small_msg):
    peer = raw_peer(data="silent")
    sent = smtp_send(peer.port, ["a@example.test"], small_msg, "--timeout", "1")
    assert sent.rc == 1, sent
    assert sent.rcpts[0][4] == "timeout waiting for reply to end of data"


def test_connection_refused(small_msg):
    port = free_port()  # nobody listens there
    sent = smtp_send(port, ["a@example.test"], small_msg)
    assert sent.rc == 1, sent
    assert sent.rcpts[0][1:3] == ("temporary", 0)
    assert sent.rcpts[0][4] == "connection refused"


def test_garbage_reply_is_a_protocol_error(raw_peer, small_msg):
    peer = raw_peer(replies={"MAIL": "hello there"})
    sent = smtp_send(peer.port, ["a@example.test"], small_msg, "--pipelining-off")
    assert sent.rc == 1, sent
    assert sent.rcpts[0][1] == "temporary"
    assert "protocol error" in sent.rcpts[0][4]


# ------------------------------------------------------------------------------------ smtp-sink

@pytest.fixture
def smtp_sink():
    exe = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    if not os.access(exe, os.X_OK):
        pytest.skip("postfix's smtp-sink is not installed")
    port = free_port()
    proc = subprocess.Popen([exe, "-u", "root", "127.0.0.1:%d" % port, "100"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def test_smtp_sink_pipelining_and_reuse(tmp_path, smtp_sink):
    msg = tmp_path / "msg.eml"
    msg.write_bytes(MESSAGE * 50)
    to = ["r%d@example.test" % i for i in range(20)]
    sent = smtp_send(smtp_sink, to, msg, "--repeat", "3", "--verbose")
    assert sent.rc == 0, sent
    assert len(sent.rcpts) == 60
    assert all(r[1:3] == ("ok", 250) for r in sent.rcpts)
    assert "pipelining=true" in sent.stderr
    # Pipelined: every command of the group went out before the first reply came back.
    log = sent.stderr
    first_mail = log.index("C: MAIL FROM:")
    assert log.index("C: DATA", first_mail) < log.index("S: 250 2.1.0", first_mail)
    assert log.count("C: RSET") == 2
    assert "C: QUIT" in log
