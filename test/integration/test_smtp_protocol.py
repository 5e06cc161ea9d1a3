"""The SMTP engine, driven over real sockets: replies, sequencing, pipelining, limits, and the
bad input a server on the Internet receives. The `accept` plugin (the scripted test plugin) says
OK to every recipient and queues by answering OK."""
import smtplib
import subprocess
import time

import pytest

ACCEPT = {"accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\n"}


@pytest.fixture
def server(start_server):
    return start_server(plugins=["accept"], so=["accept"], files=ACCEPT)


def ehlo(c):
    code, lines = c.cmd("EHLO client.example")
    assert code == 250, lines
    return lines


def test_greeting_and_ehlo_capabilities(server, connect):
    c = connect(server, greet=False)
    code, lines = c.reply()
    assert code == 220 and lines[0].startswith("mx.test.example ESMTP")
    caps = ehlo(c)
    assert caps[0].startswith("mx.test.example Hello")
    for cap in ["PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "SIZE 26214400"]:
        assert cap in caps[1:]


def test_smtplib_happy_path(server):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        refused = s.sendmail("sender@client.example", ["a@example.com", "b@example.com"],
                             "Subject: hi\r\n\r\nhello\r\n")
        assert refused == {}
    assert server.wait_log('queued from="<sender@client.example>" rcpts=2')


def test_swaks_pipelined_transaction(server):
    r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % server.port, "--pipeline",
                        "--to", "rcpt@example.com", "--from", "s@client.example",
                        "--timeout", "10"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Message Queued" in r.stdout


def test_sequencing_errors(server, connect):
    c = connect(server)
    assert c.cmd("MAIL FROM:<a@b.example>")[0] == 503          # before EHLO
    ehlo(c)
    assert c.cmd("RCPT TO:<x@example.com>")[0] == 503           # before MAIL
    assert c.cmd("DATA")[0] == 503                               # before MAIL
    assert c.cmd("MAIL FROM:<a@b.example>")[0] == 250
    assert c.cmd("MAIL FROM:<a@b.example>")[0] == 503           # nested
    assert c.cmd("DATA")[0] == 503                               # no RCPT
    assert c.cmd("RSET now")[0] == 501
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("DATA")[0] == 503                               # RSET ended it
    assert c.cmd("MAIL FROM:<a@b.example>")[0] == 250           # HELO state survives
    assert c.cmd("EHLO again.example")[0] == 250                # EHLO resets
    assert c.cmd("RCPT TO:<x@example.com>")[0] == 503


def test_helo_requires_a_name_and_commands_are_case_insensitive(server, connect):
    c = connect(server)
    assert c.cmd("HELO")[0] == 501
    assert c.cmd("EHLO")[0] == 501
    assert c.cmd("eHlO client.example")[0] == 250
    assert c.cmd("mail from:<a@b.example>")[0] == 250
    assert c.cmd("rcpt to:<x@example.com>")[0] == 250
    assert c.cmd("nOoP")[0] == 250
    code, lines = c.cmd("QUIT")
    assert code == 221
    assert c.closed()


def test_unknown_commands_counted_then_disconnect(start_server, connect):
    server = start_server(plugins=["accept"], so=["accept"], files=ACCEPT,
                          smtp={"max_unrecognized_commands": 3})
    c = connect(server)
    assert c.cmd("XYZZY")[0] == 500
    assert c.cmd("NOOP")[0] == 250
    assert c.cmd("EXPN list")[0] == 500
    code, _ = c.cmd("FOO")
    assert code == 500
    assert c.reply()[0] == 421
    assert c.closed()


def test_pipelined_group_replies_in_order(server, connect):
    c = connect(server)
    ehlo(c)
    c.send("".join("MAIL FROM:<s%d@client.example>\r\nRCPT TO:<r%d@example.com>\r\nRSET\r\n"
                   % (i, i) for i in range(40)))
    codes = [c.reply()[0] for _ in range(120)]
    assert codes == [250] * 120


def test_pipelined_after_final_dot_is_refused(server, connect):
    c = connect(server)
    ehlo(c)
    c.send("MAIL FROM:<s@client.example>\r\nRCPT TO:<r@example.com>\r\nDATA\r\n")
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send("Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<evil@client.example>\r\nRSET\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 503
    assert c.reply()[0] == 503
    assert c.cmd("NOOP")[0] == 250  # what comes after the answer is a command again


def test_early_talker_is_flagged_and_still_served(start_server, connect):
    # connect answers after 300 ms, so the banner waits and the client speaks first.
    files = {"slow.ini": "[connect]\ncode=CONT\nmode=async\ndelay_ms=300\n"}
    files.update(ACCEPT)
    server = start_server(plugins=["slow", "accept"], so=["slow", "accept"], files=files)
    c = connect(server, greet=False)
    c.send("EHLO early.example\r\n")
    assert c.reply()[0] == 220
    assert c.reply()[0] == 250
    assert c.cmd("QUIT")[0] == 221
    assert server.wait_log("early=Y")


def test_mail_parameters(server, connect):
    c = connect(server)
    ehlo(c)
    assert c.cmd("MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME")[0] == 250
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("MAIL FROM:<a@b.example> SIZE=abc")[0] in (501, 555)
    assert c.cmd("MAIL FROM:<a@b.example> SIZE=999999999999")[0] == 552
    assert c.cmd("MAIL FROM:<a@b.example> X-NOSUCH=1")[0] == 555
    c2 = connect(server)
    assert c2.cmd("HELO plain.example")[0] == 250
    assert c2.cmd("MAIL FROM:<a@b.example> SIZE=10")[0] == 555  # parameters need EHLO


def test_unknown_parameters_go_to_the_plugins(start_server, connect, tmp_path):
    # Haraka hands every MAIL/RCPT parameter to the mail and rcpt hooks; one a plugin claims is
    # accepted, one nobody claims gets 555 5.5.4.
    files = {"xparams.ini": "[mail]\nclaim=XFOO\n[rcpt]\nclaim[]=XBAR\nclaim[]=NOTIFY\n",
             "accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\nsave=%s\n" % tmp_path,
             "rcpt_to.in_host_list.ini": "[main]\nmailboxes=any\n"}
    server = start_server(plugins=["xparams", "accept"], so=["xparams", "accept"], files=files)
    c = connect(server)
    ehlo(c)
    assert c.cmd("MAIL FROM:<a@b.example> XFOO=one") == (250, ["2.1.0 sender <a@b.example> OK"])
    assert c.cmd("RCPT TO:<r@example.com> XBAR=two NOTIFY=NEVER")[0] == 250
    code, lines = c.cmd("RCPT TO:<s@example.com> XBAR=2 XQUX=3")
    assert code == 555 and lines == ["5.5.4 Unsupported parameter XQUX"]
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("MAIL FROM:<a@b.example> XQUX=1")[0] == 555
    # Not claimed on MAIL: a rcpt hook may not claim a MAIL parameter.
    assert c.cmd("MAIL FROM:<a@b.example> XBAR=1")[0] == 555
    assert c.cmd("MAIL FROM:<a@b.example> XFOO=1")[0] == 250
    assert c.cmd("RCPT TO:<r@example.com>")[0] == 250
    assert c.cmd("RCPT TO:<s@example.com> XQUX=3")[0] == 555
    assert c.cmd("DATA")[0] == 354
    assert c.cmd("Subject: x\r\n\r\nbody\r\n.")[0] == 250
    saved = list(tmp_path.glob("*.eml"))
    assert len(saved) == 1
    # The refused recipient is not on the envelope.
    assert saved[0].read_text().splitlines()[0] == "X-Test-Envelope: <a@b.example> <r@example.com>"


def test_rcpt_parameters_need_ehlo(server, connect):
    c = connect(server)
    assert c.cmd("HELO plain.example")[0] == 250
    assert c.cmd("MAIL FROM:<a@b.example>")[0] == 250
    assert c.cmd("RCPT TO:<r@example.com> NOTIFY=NEVER")[0] == 555


@pytest.mark.parametrize("path,code", [
    ("MAIL FROM:", 501),
    ("MAIL FROM:<user@client.example", 501),
    ("MAIL FROM:<a b c>", 501),
    ("MAIL FROM:<a@-bad-.example>", 501),
    ("MAIL FROM:<%s@x.example>" % ("l" * 65), 501),
    ("MAIL FROM:<>", 250),
    ("MAIL FROM:<\"john doe\"@client.example>", 250),
    ("MAIL FROM:user@client.example", 250),
])
def test_sender_syntax(server, connect, path, code):
    c = connect(server)
    ehlo(c)
    assert c.cmd(path)[0] == code


def test_recipient_syntax_and_utf8(server, connect):
    c = connect(server)
    ehlo(c)
    assert c.cmd("MAIL FROM:<a@b.example>")[0] == 250
    assert c.cmd("RCPT TO:<%s@example.com>" % ("l" * 300))[0] == 501
    assert c.cmd("RCPT TO:<postmaster>")[0] == 250
    c.send("RCPT TO:<j\xc3\xb6rg@example.com>\r\n".encode("latin-1"))
    assert c.reply()[0] == 553  # UTF-8 without SMTPUTF8
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("MAIL FROM:<a@b.example> SMTPUTF8")[0] == 250
    c.send("RCPT TO:<j\xc3\xb6rg@example.com>\r\n".encode("latin-1"))
    assert c.reply()[0] == 250


def test_nul_and_8bit_in_commands(server, connect):
    c = connect(server)
    ehlo(c)
    c.send(b"MAIL FROM:<a\x00b@client.example>\r\n")
    code, _ = c.reply()
    assert code in (500, 501)
    c.send(b"NO\xffOP\r\n")
    assert c.reply()[0] in (500, 501)
    assert c.cmd("NOOP")[0] == 250  # one reply per line, and the session goes on


def test_command_line_limit(server, connect):
    c = connect(server)
    assert c.cmd("NOOP " + "x" * (512 - 7))[0] == 250  # 512 with CRLF: allowed
    c.send("NOOP " + ("x" * 500 + "XYZZY ") * 16 + "\r\n")
    code, _ = c.reply()
    assert code == 500
    assert c.closed()  # and the rest of the line is never read as commands
    assert "XYZZY" not in c.buf.decode(errors="replace")


def test_recipient_limit(start_server, connect):
    server = start_server(plugins=["accept"], so=["accept"], files=ACCEPT,
                          smtp={"max_recipients": 5, "max_errors": 100})
    c = connect(server)
    ehlo(c)
    assert c.cmd("MAIL FROM:<a@b.example>")[0] == 250
    codes = [c.cmd("RCPT TO:<r%d@example.com>" % i)[0] for i in range(7)]
    assert codes == [250] * 5 + [452, 452]


def test_error_limit_disconnects(start_server, connect):
    server = start_server(plugins=[], smtp={"max_errors": 5})
    c = connect(server)
    ehlo(c)
    assert c.cmd("MAIL FROM:<a@b.example>")[0] == 250
    codes = []
    for i in range(10):
        code, _ = c.cmd("RCPT TO:<victim%d@elsewhere.example>" % i)
        codes.append(code)
        if code in (421, None):
            break
    assert codes[:5] == [550] * 5
    assert 421 in codes or None in codes
    assert c.closed()


def test_idle_timeout(start_server, connect):
    server = start_server(plugins=[], smtp={"inactivity_timeout": 1})
    c = connect(server)
    start = time.monotonic()
    code, lines = c.reply()
    assert code == 421 and "timeout" in lines[0]
    assert time.monotonic() - start < 5
    assert c.closed()


def test_connection_limit_per_ip(start_server, connect):
    server = start_server(plugins=[], smtp={"max_connections_per_ip": 2})
    a, b = connect(server), connect(server)
    c = connect(server, greet=False)
    code, lines = c.reply()
    assert code == 421 and "Too many connections" in lines[0]
    assert c.closed()
    a.cmd("QUIT")
    assert a.closed()
    time.sleep(0.2)
    d = connect(server)  # a slot is free again
    assert d.cmd("NOOP")[0] == 250
    assert b.cmd("NOOP")[0] == 250


def test_vrfy_does_not_enumerate(server, connect):
    c = connect(server)
    ehlo(c)
    assert c.cmd("VRFY postmaster@example.com")[0] == 252
    assert c.cmd("VRFY nosuchuser@example.com")[0] == 252
