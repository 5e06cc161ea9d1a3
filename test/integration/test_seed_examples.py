"""The code examples of Haraka's own documentation (docs/Plugins.md, docs/Tutorial.md,
docs/Outbound.md), written in C++ as test/plugins/seed_examples.cpp and run in the real
binary: each test checks what the documentation says its example does, so the documentation a
Haraka user follows and Upesi cannot drift apart."""
import datetime
import json
import os
import shutil
import smtplib
import time

from conftest import free_port
from test_outbound import lmtp, mx, received  # noqa: F401 (fixtures)

SEED_EXAMPLES = os.environ["UPESI_SEED_EXAMPLES_PLUGIN"]


def start(start_server, install, plugins, files, routes=None):
    target = install / "plugins" / "seed_examples.so"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(SEED_EXAMPLES, target)
    record = install / "examples.log"
    ini = "[main]\nrecord=%s\n" % record
    if routes:
        ini += "[get_mx]\n" + "".join("%s=%s\n" % item for item in routes.items())
    files = dict(files, **{"seed_examples.ini": ini})
    files.setdefault("outbound.ini", "[main]\nscan_interval=1\ntemp_fail_intervals=1h\n")
    server = start_server(plugins=plugins, so=[p for p in plugins if p in ("accept", "deny_booya")],
                          files=files)
    return server, record


def lines(record, prefix, want=1, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        found = [line for line in (record.read_text().splitlines() if record.exists() else [])
                 if line.startswith(prefix)]
        if len(found) >= want or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def inbound(start_server, install):
    return start(start_server, install, ["seed_examples", "accept"],
                 {"accept.ini": "[rcpt]\ncode=OK\n"})


def test_register_hook_twice_on_queue_runs_both_in_order(start_server, install):
    server, record = inbound(start_server, install)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        assert s.sendmail("sender@example.com", ["ann@myserver.com"], "Subject: q\r\n\r\nhi\r\n") == {}
    assert lines(record, "try_") == ["try_queue_my_way", "try_queue_highway ann@myserver.com"]


def test_connection_hook_names_the_running_hook(start_server, install):
    server, record = inbound(start_server, install)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.ehlo()
        s.mail("sender@example.com")
        assert s.rcpt("ann@myserver.com")[0] == 250
    assert lines(record, "my_rcpt", want=2) == ["my_rcpt rcpt ann@myserver.com",
                                                "my_rcpt rcpt_ok ann@myserver.com"]


def test_tutorial_disposable_addresses(start_server, install):
    server, record = inbound(start_server, install)
    future = (datetime.date.today() + datetime.timedelta(days=30)).strftime("%Y%m%d")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.ehlo()
        s.mail("sender@example.com")
        # "The remote end sees: <** 550 Expired email address" (with the enhanced status code
        # that ENHANCEDSTATUSCODES promises)
        assert s.rcpt("booya-20200101@myserver.com") == (550, b"5.7.1 Expired email address")
        assert s.rcpt("booya-%s@myserver.com" % future)[0] == 250
        assert s.rcpt("plain@myserver.com")[0] == 250
        assert s.data("Subject: tagged\r\n\r\nhi\r\n")[0] == 250
    # The live tagged address reaches the queue rewritten to user@domain.
    assert lines(record, "try_queue_highway") == [
        "try_queue_highway booya@myserver.com plain@myserver.com"]
    # The tutorial's log lines.
    assert server.wait_log("got recipient: <booya-20200101@myserver.com>")
    assert server.wait_log("rewrote recipient to: <booya@myserver.com>")


def test_a_rewritten_recipient_refused_later_is_taken_off_the_list(start_server, install):
    """The tutorial's rewrite, then another plugin refuses that recipient: the rewritten entry
    leaves the transaction, so the message does not go to it."""
    server, record = start(start_server, install, ["seed_examples", "deny_booya", "accept"],
                           {"deny_booya.ini": "[rcpt]\ncode=DENY\nmatch=booya\n",
                            "accept.ini": "[rcpt]\ncode=OK\n"})
    future = (datetime.date.today() + datetime.timedelta(days=30)).strftime("%Y%m%d")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.ehlo()
        s.mail("sender@example.com")
        assert s.rcpt("booya-%s@myserver.com" % future)[0] == 550
        assert s.rcpt("plain@myserver.com")[0] == 250
        assert s.data("Subject: tagged\r\n\r\nhi\r\n")[0] == 250
    assert lines(record, "try_queue_highway") == ["try_queue_highway plain@myserver.com"]


def test_hook_next_from_unrecognized_command_runs_rcpt_ok(start_server, install):
    server, record = inbound(start_server, install)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.ehlo()
        s.mail("sender@example.com")
        assert s.rcpt("ann@myserver.com")[0] == 250
        code, _ = s.docmd("XRCPTOK")
        assert code == 250
    # rcpt_ok ran twice: after the RCPT, and again through HOOK_NEXT.
    assert len(lines(record, "my_rcpt rcpt_ok", want=2)) == 2


def test_send_email_with_a_callback_and_with_dot_stuffed_and_notes(start_server, install, mx):
    port, out = mx
    server, record = start(start_server, install, ["seed_examples"], {},
                           routes={"example.com": "127.0.0.1:%d" % port})
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.ehlo()
        assert s.docmd("XSEND") == (250, b"both queued")
    queued = lines(record, "send_email", want=2)
    assert [line.split()[1] for line in queued] == ["OK", "OK"]
    assert all("Message Queued" in line for line in queued)
    msgs = {m["rcpts"][0]: m for m in received(out, want=2)}
    hello = msgs["user@example.com"]
    assert hello["mail_from"] == "sender@example.com"
    assert "Subject: Hello" in hello["data"] and "Body here." in hello["data"]
    # Added when missing, as for relayed mail.
    assert "Message-Id:" in hello["data"] or "Message-ID:" in hello["data"]
    assert "Date:" in hello["data"]
    stuffed = msgs["stuffed@example.com"]
    # dot_stuffed: the text was already stuffed, so the line arrives with one dot.
    body = stuffed["data"].split("\r\n\r\n", 1)[1] if "\r\n\r\n" in stuffed["data"] \
        else stuffed["data"].split("\n\n", 1)[1]
    assert body.splitlines()[0] == ".a line that starts with a dot"
    # notes: the new transaction's notes reach the outbound hooks (hmail.todo.notes).
    notes = [json.loads(line.split(" ", 2)[2]) for line in lines(record, "get_mx", want=2)]
    assert sorted(n.get("sent_by", "") for n in notes) == ["", "seed_examples"]


def test_get_mx_answers_in_each_form(start_server, install, mx, lmtp):
    port, out = mx
    lmtp_port, lmtp_out = lmtp
    dead = free_port()
    routes = {
        "hostport.example": "127.0.0.1:%d" % port,
        "url.example": "smtp://127.0.0.1:%d" % port,
        "lmtp.example": "lmtp://127.0.0.1:%d" % lmtp_port,
        "object.example": json.dumps({"exchange": "127.0.0.1", "port": port, "priority": 10}),
        # An array: the first MX refuses the connection, the next one takes the mail.
        "array.example": json.dumps(["127.0.0.1:%d" % dead,
                                     {"exchange": "127.0.0.1", "port": port, "priority": 20}]),
    }
    server, record = start(start_server, install, ["relay", "seed_examples"],
                           {"relay_acl_allow": "127.0.0.1/32\n"}, routes=routes)
    rcpts = ["ann@" + domain for domain in routes]
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        assert s.sendmail("sender@example.com", rcpts, "Subject: forms\r\n\r\nhi\r\n") == {}
    smtp_rcpts = sorted(m["rcpts"][0] for m in received(out, want=4))
    assert smtp_rcpts == ["ann@array.example", "ann@hostport.example", "ann@object.example",
                          "ann@url.example"]
    [delivered] = received(lmtp_out)
    assert delivered["rcpts"] == ["ann@lmtp.example"]
