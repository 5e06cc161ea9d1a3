"""The milter plugin through the real binary, against a libmilter filter (python3-milter,
peers/smoke_milter.py): every stage reaches the filter with its macros, a refusal at MAIL and
at RCPT answers the client, the header the filter adds at the end of the message is in the
stored message, and a filter that is not listening gives the default tempfail."""
import json
import pathlib
import smtplib
import socket
import subprocess
import sys
import time

import pytest

from conftest import free_port
from saved_messages import stored

pytest.importorskip("Milter")

PEER = pathlib.Path(__file__).resolve().parent / "peers" / "smoke_milter.py"


def wait_listening(port, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the filter exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the filter did not listen on %d" % port)


@pytest.fixture
def smoke_milter(tmp_path):
    port = free_port()
    events = tmp_path / "events.jsonl"
    events.touch()
    proc = subprocess.Popen([sys.executable, str(PEER), str(port), str(events)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_listening(port, proc)
    yield port, events
    proc.terminate()
    try:
        proc.wait(timeout=0.5)  # libmilter would wait for its next 5 s poll; the events are written
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def read_events(events, until=None, timeout=10):
    """The filter's events; with `until`, waits for an event of that name first."""
    deadline = time.monotonic() + timeout
    while True:
        found = [json.loads(line) for line in events.read_text().splitlines() if line]
        if until is None or any(e["event"] == until for e in found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError("no %r event in %r" % (until, found))
        time.sleep(0.05)


def start(start_server, tmp_path, socket_spec, extra=""):
    saved = tmp_path / "saved"
    saved.mkdir()
    files = {
        "milter.ini": "[main]\nmilters=smoke\ncommand_timeout=5\ncontent_timeout=5\n%s\n"
                      "[smoke]\nsocket=%s\n" % (extra, socket_spec),
        "accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\nsave=%s\n" % saved,
    }
    server = start_server(plugins=["accept", "milter"], so=["accept"], files=files)
    return server, saved


def message(subject):
    return ("From: a@sender.example\r\nTo: b@rcpt.example\r\nSubject: %s\r\n\r\n"
            "Hello milter.\r\n" % subject)


def test_every_stage_reaches_the_filter_and_its_header_is_stored(start_server, tmp_path,
                                                                 smoke_milter):
    port, events = smoke_milter
    server, saved = start(start_server, tmp_path, "inet:127.0.0.1:%d" % port)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=20) as client:
        client.ehlo("client.example")
        client.sendmail("a@sender.example", ["b@rcpt.example"], message("stages"))
    got = stored(saved, "stages")
    assert got["X-Smoke-Milter"] == "seen"

    seen = read_events(events, until="eom")
    names = [e["event"] for e in seen]
    for stage in ["connect", "helo", "mail", "rcpt", "data", "header", "eoh", "eom"]:
        assert stage in names, names
    assert names.index("connect") < names.index("helo") < names.index("mail") \
        < names.index("rcpt") < names.index("data") < names.index("eoh") < names.index("eom")

    connect = next(e for e in seen if e["event"] == "connect")
    assert connect["hostaddr"][0] == "127.0.0.1"
    assert connect["macros"]["j"] == "mx.test.example"
    assert connect["macros"]["{daemon_name}"] == "upesi"
    assert connect["macros"]["{client_addr}"] == "127.0.0.1"
    assert connect["macros"]["{if_addr}"] == "127.0.0.1"
    assert connect["macros"]["_"].endswith("[127.0.0.1]")
    assert next(e for e in seen if e["event"] == "helo")["name"] == "client.example"

    mail = next(e for e in seen if e["event"] == "mail")
    assert mail["sender"] == "<a@sender.example>"
    assert mail["macros"]["{mail_addr}"] == "a@sender.example"
    assert mail["macros"]["i"]  # the transaction's uuid
    rcpt = next(e for e in seen if e["event"] == "rcpt")
    assert rcpt["recipient"] == "<b@rcpt.example>"
    assert rcpt["macros"]["{rcpt_addr}"] == "b@rcpt.example"
    headers = {e["name"]: e["value"] for e in seen if e["event"] == "header"}
    assert headers["Subject"] == "stages"
    eom = next(e for e in seen if e["event"] == "eom")
    assert eom["body_bytes"] == len(b"Hello milter.\r\n")
    assert eom["macros"]["i"] == mail["macros"]["i"]


def test_refusals_at_mail_and_rcpt(start_server, tmp_path, smoke_milter, connect):
    port, events = smoke_milter
    server, saved = start(start_server, tmp_path, "inet:%d@127.0.0.1" % port)  # Sendmail's form
    c = connect(server)
    assert c.cmd("EHLO client.example")[0] == 250
    code, lines = c.cmd("MAIL FROM:<reject-mail@sender.example>")
    assert code == 550, lines
    assert lines == ["5.7.1 sender refused by smoke milter"]

    assert c.cmd("RSET")[0] == 250
    assert c.cmd("MAIL FROM:<a@sender.example>")[0] == 250
    code, lines = c.cmd("RCPT TO:<reject-rcpt@rcpt.example>")
    assert code == 550, lines
    assert lines == ["5.1.1 no such mailbox", "5.1.1 ask someone else"]
    code, lines = c.cmd("RCPT TO:<tempfail-rcpt@rcpt.example>")
    assert code // 100 == 4, lines
    assert lines[0].startswith("4.7.1")
    assert c.cmd("RCPT TO:<b@rcpt.example>")[0] == 250
    assert c.cmd("QUIT")[0] == 221
    recipients = [e["recipient"] for e in read_events(events, until="close")
                  if e["event"] == "rcpt"]
    assert recipients == ["<reject-rcpt@rcpt.example>", "<tempfail-rcpt@rcpt.example>",
                          "<b@rcpt.example>"]
    assert "milter smoke:" not in server.log()  # no failure was logged


def test_a_filter_not_listening_gives_the_default_tempfail(start_server, tmp_path, connect):
    port = free_port()  # nobody listens there
    server, saved = start(start_server, tmp_path, "inet:127.0.0.1:%d" % port)
    c = connect(server, greet=False)
    code, lines = c.reply()
    assert code == 421, lines
    assert lines[0].startswith("4.7.1")
    assert server.wait_log("milter smoke")
    assert "connection refused" in server.log()


def test_default_accept_lets_mail_through_a_filter_that_is_down(start_server, tmp_path):
    port = free_port()
    server, saved = start(start_server, tmp_path, "inet:127.0.0.1:%d" % port,
                          extra="default_action=accept")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=20) as client:
        client.sendmail("a@sender.example", ["b@rcpt.example"], message("down"))
    got = stored(saved, "down")
    assert got["X-Smoke-Milter"] is None
    assert server.wait_log("default_action accept")
