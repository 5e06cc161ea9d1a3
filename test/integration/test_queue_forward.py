"""queue/smtp_forward and queue/lmtp: the message is handed to the configured next hop at queue
time and the client gets the next hop's answer (250 with its text, 550, 451), over SMTP to an
aiosmtpd MX and over LMTP to an aiosmtpd LMTP server."""
import json
import pathlib
import subprocess
import time

import pytest

from conftest import free_port

PEERS = pathlib.Path(__file__).resolve().parent / "peers"

# Lines a client must dot-stuff: a leading dot, two leading dots, a lone dot.
BODY = (b"From: a@client.example\r\nTo: b@example.com\r\nSubject: forward\r\n\r\n"
        b".leading dot\r\n..two dots\r\n.\r\nlast line\r\n")


def stuffed(data):
    return b"".join((b"." + line if line.startswith(b".") else line)
                    for line in data.splitlines(keepends=True))


class Peer:
    def __init__(self, script, tmp_path, name):
        self.out = tmp_path / name
        self.out.mkdir()
        self.port = free_port()
        self.proc = subprocess.Popen(["/usr/bin/python3", str(PEERS / script), str(self.port),
                                      str(self.out)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def received(self, want=1, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            files = sorted(p for p in self.out.iterdir() if p.suffix == ".json")
            if len(files) >= want:
                break
            time.sleep(0.05)
        return [json.loads(p.read_text()) for p in sorted(self.out.glob("*.json"))]

    def stop(self):
        self.proc.stdin.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def peers(tmp_path):
    started = []

    def start(script="sink_mx.py"):
        peer = Peer(script, tmp_path, "peer%d" % len(started))
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()


def forward_server(start_server, ini, plugin="queue/smtp_forward", config="smtp_forward.ini",
                   extra_plugins=(), files=None):
    # Forwarding: the next hop knows which mailboxes exist, so every local part is passed on.
    all_files = {"host_list": "example.com\nother.example\n", config: ini,
                 "rcpt_to.in_host_list.ini": "[main]\nmailboxes=any\n"}
    all_files.update(files or {})
    return start_server(plugins=[*extra_plugins, "rcpt_to.in_host_list", plugin], files=all_files)


def transaction(connect, server, rcpts, body=BODY, sender="a@client.example"):
    """Sends one message with exact bytes; returns the reply to the final dot."""
    c = connect(server)
    assert c.cmd("EHLO client.example")[0] == 250
    assert c.cmd("MAIL FROM:<%s>" % sender)[0] == 250
    for rcpt in rcpts:
        code, lines = c.cmd("RCPT TO:<%s>" % rcpt)
        assert code == 250, lines
    assert c.cmd("DATA")[0] == 354
    c.send(stuffed(body) + b".\r\n")
    return c.reply()


def test_forwarded_byte_exact_with_the_next_hops_reply(start_server, connect, peers):
    mx = peers()
    server = forward_server(start_server, "host=127.0.0.1\nport=%d\n" % mx.port)
    code, lines = transaction(connect, server, ["b@example.com", "c@example.com"])
    assert code == 250, lines
    assert lines == ["2.0.0 accepted"]  # the next hop's text, after our enhanced code
    [msg] = mx.received()
    assert msg["mail_from"] == "a@client.example"
    assert msg["rcpts"] == ["b@example.com", "c@example.com"]
    data = msg["data"].encode()
    assert data.startswith(b"Received: from client.example")
    assert data.endswith(b"\r\n" + BODY)  # unstuffed again by the next hop: exactly what was sent
    assert server.wait_log("forwarded")


def test_permanent_refusal_of_every_recipient_is_a_550(start_server, connect, peers):
    mx = peers()
    server = forward_server(start_server, "host=127.0.0.1\nport=%d\n" % mx.port)
    code, lines = transaction(connect, server, ["perm1@example.com", "perm2@example.com"])
    assert code == 550, lines
    assert "no such user here" in lines[0]
    assert mx.received(timeout=0.5) == []


def test_temporary_refusal_is_a_451(start_server, connect, peers):
    mx = peers()
    server = forward_server(start_server, "host=127.0.0.1\nport=%d\n" % mx.port)
    code, lines = transaction(connect, server, ["temp@example.com", "perm@example.com"])
    assert code == 451, lines
    assert "try again later" in lines[0]


def test_some_recipients_refused_is_still_a_250_and_logged(start_server, connect, peers):
    mx = peers()
    server = forward_server(start_server, "host=127.0.0.1\nport=%d\n" % mx.port)
    code, lines = transaction(connect, server, ["b@example.com", "perm@example.com"])
    assert code == 250, lines
    [msg] = mx.received()
    assert msg["rcpts"] == ["b@example.com"]
    assert server.wait_log("refused <perm@example.com> after the client was told")


def test_next_hop_down_is_a_451(start_server, connect):
    server = forward_server(start_server, "host=127.0.0.1\nport=%d\nconnect_timeout=5\n"
                            % free_port())
    code, lines = transaction(connect, server, ["b@example.com"])
    assert code == 451, lines
    assert lines[0].startswith("4.3.0 Next hop unavailable: ")
    assert server.wait_log("not forwarded")


def test_per_domain_route_by_first_recipient(start_server, connect, peers):
    main, other = peers(), peers()
    ini = "host=127.0.0.1\nport=%d\n\n[other.example]\nport=%d\n" % (main.port, other.port)
    server = forward_server(start_server, ini)
    assert transaction(connect, server, ["x@other.example"])[0] == 250
    assert transaction(connect, server, ["y@example.com"])[0] == 250
    [to_other] = other.received()
    assert to_other["rcpts"] == ["x@other.example"]
    [to_main] = main.received()
    assert to_main["rcpts"] == ["y@example.com"]


def test_per_domain_route_by_sender(start_server, connect, peers):
    main, other = peers(), peers()
    ini = ("domain_selector=mail_from\nhost=127.0.0.1\nport=%d\n\n[client.example]\nport=%d\n"
           % (main.port, other.port))
    server = forward_server(start_server, ini)
    assert transaction(connect, server, ["x@other.example"])[0] == 250
    assert transaction(connect, server, ["y@example.com"], sender="z@elsewhere.example")[0] == 250
    assert [m["mail_from"] for m in other.received()] == ["a@client.example"]
    assert [m["mail_from"] for m in main.received()] == ["z@elsewhere.example"]


def test_relayed_mail_forwarded_unless_enable_outbound_false(start_server, connect, peers,
                                                             install):
    mx = peers()
    relay = {"relay_acl_allow": "127.0.0.1/32\n", "outbound.ini": "[main]\ndisabled=true\n"}
    ini = "host=127.0.0.1\nport=%d\n\n[far.example]\nenable_outbound=false\n" % mx.port
    server = forward_server(start_server, ini, extra_plugins=["relay"], files=relay)
    code, lines = transaction(connect, server, ["someone@remote.example"])
    assert code == 250 and lines == ["2.0.0 accepted"], lines
    assert mx.received()[0]["rcpts"] == ["someone@remote.example"]
    # Not forwarded: the built-in outbound queue takes it (disabled here, so it stays queued).
    code, lines = transaction(connect, server, ["someone@far.example"])
    assert code == 250, lines
    assert lines[0].startswith("2.0.0 Message Queued")
    assert len(mx.received(want=2, timeout=1)) == 1
    assert any((install / "queue").iterdir())


def test_lmtp_delivers_byte_exact(start_server, connect, peers):
    store = peers("lmtp_sink.py")
    server = forward_server(start_server, "port=%d\n" % store.port, plugin="queue/lmtp",
                            config="lmtp.ini")
    code, lines = transaction(connect, server, ["b@example.com", "c@example.com"])
    assert code == 250, lines
    assert lines == ["2.0.0 <b@example.com> delivered"]
    [msg] = store.received()
    assert msg["rcpts"] == ["b@example.com", "c@example.com"]
    assert msg["data"].encode().endswith(b"\r\n" + BODY)
    assert server.wait_log("forwarded")


def test_lmtp_partial_failure_refuses_the_whole_message(start_server, connect, peers):
    store = peers("lmtp_sink.py")
    server = forward_server(start_server, "host=localhost\nport=%d\n" % store.port,
                            plugin="queue/lmtp", config="lmtp.ini")
    # A temporary failure after the dot: 451, the client retries for everyone.
    code, lines = transaction(connect, server, ["b@example.com", "full@example.com"])
    assert code == 451, lines
    assert "mailbox full" in lines[0]
    assert server.wait_log("1 of 2 recipient(s) took the message")
    # Only permanent failures: 550.
    code, lines = transaction(connect, server, ["gone@example.com", "perm@example.com"])
    assert code == 550, lines
    assert "mailbox gone" in lines[0] or "no such user" in lines[0]


def test_lmtp_per_domain_route_and_down(start_server, connect, peers):
    store = peers("lmtp_sink.py")
    ini = "port=%d\n\n[other.example]\nhost=127.0.0.1\nport=%d\n" % (free_port(), store.port)
    server = forward_server(start_server, ini, plugin="queue/lmtp", config="lmtp.ini")
    assert transaction(connect, server, ["x@other.example"])[0] == 250
    assert store.received()[0]["rcpts"] == ["x@other.example"]
    code, lines = transaction(connect, server, ["y@example.com"])
    assert code == 451, lines
