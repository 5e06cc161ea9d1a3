"""DATA: the end of data, size limits, long lines, smuggling, and the message as a queue plugin
reads it. The `accept` plugin (the scripted test plugin) saves each message it queues."""
import time

import pytest


@pytest.fixture
def saved(tmp_path):
    d = tmp_path / "saved"
    d.mkdir()
    return d


@pytest.fixture
def server(start_server, saved):
    return start_server(plugins=["accept"], so=["accept"],
                        files={"accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\nsave=%s\n"
                               % saved},
                        smtp={"max_message_size": 10000})


def messages(saved):
    return sorted(p.read_bytes() for p in saved.iterdir())


def open_data(c):
    assert c.cmd("EHLO client.example")[0] == 250
    assert c.cmd("MAIL FROM:<s@client.example>")[0] == 250
    assert c.cmd("RCPT TO:<r@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354


def test_message_accepted_and_dot_unstuffed(server, connect, saved):
    c = connect(server)
    open_data(c)
    c.send("Subject: t\r\n\r\n..leading dot\r\nlast\r\n.\r\n")
    code, lines = c.reply()
    assert code == 250 and "Message Queued" in lines[0]
    assert c.cmd("NOOP")[0] == 250
    [msg] = messages(saved)
    envelope, rest = msg.split(b"\r\n", 1)
    assert envelope == b"X-Test-Envelope: <s@client.example> <r@example.com>"
    assert rest.startswith(b"Received: from client.example (localhost [127.0.0.1])\r\n\tby "
                           b"mx.test.example (Upesi/")
    assert b"envelope-from <s@client.example>;" in rest
    assert rest.endswith(b"Subject: t\r\n\r\n.leading dot\r\nlast\r\n")


def test_a_forged_helo_name_writes_no_fields_into_received_or_the_log(server, connect, saved):
    # A HELO name is free text from the client: quotes, parentheses and spaces in it must not
    # become comments of our Received header nor fields of the disconnect log line.
    c = connect(server)
    forged = 'x" relay=Y (by trusted.example) helo="y'
    assert c.cmd("EHLO " + forged)[0] == 250
    assert c.cmd("MAIL FROM:<s@client.example>")[0] == 250
    assert c.cmd("RCPT TO:<r@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send("Subject: t\r\n\r\nbody\r\n.\r\n")
    assert c.reply()[0] == 250
    assert c.cmd("QUIT")[0] == 221
    [msg] = messages(saved)
    received = msg.split(b"\r\n", 1)[1].split(b";", 1)[0]
    assert received.startswith(b"Received: from x__relay_Y__by_trusted.example__helo__y (")
    assert b"trusted.example)" not in received
    assert server.wait_log('helo="x\\" relay=Y (by trusted.example) helo=\\"y" relay=N')


def test_leading_continuation_line_does_not_fold_into_received(server, connect, saved):
    # A first line starting with WSP continues nothing: kept as it was, it folded into the
    # Received field written before it.
    c = connect(server)
    open_data(c)
    c.send(" X-Orphan: folded?\r\n\tmore\r\nSubject: t\r\n\r\nbody\r\n.\r\n")
    assert c.reply()[0] == 250
    [msg] = messages(saved)
    received, rest = msg.split(b"\r\n", 1)[1].split(b"X-Orphan", 1)
    assert received.startswith(b"Received: from client.example")
    assert received.endswith(b"\r\n")
    assert b"folded?" not in received
    assert rest == b": folded?\r\n\tmore\r\nSubject: t\r\n\r\nbody\r\n"


def test_bytes_survive_and_big_messages_spill_to_disk(start_server, connect, saved):
    server = start_server(plugins=["accept"], so=["accept"],
                          files={"accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\nsave=%s\n"
                                 % saved},
                          smtp={"spool_after": 1000, "allow_nul_in_data": "true"})
    body = b"".join(b"line %d \xc3\xa9\x00\x7f tail\r\n" % i for i in range(2000))
    c = connect(server)
    open_data(c)
    c.send(b"Subject: big\r\n\r\n" + body + b".\r\n")
    assert c.reply()[0] == 250
    [msg] = messages(saved)
    assert msg.endswith(b"Subject: big\r\n\r\n" + body)
    assert not any((server.install / "spool").iterdir())  # the spill file went with the message


def test_only_crlf_dot_crlf_ends_data(server, connect):
    c = connect(server)
    open_data(c)
    # None of these is the end; the server must keep reading.
    c.send("Subject: t\r\n\r\nline\r\n.x\r\n . \r\n..\r\n")
    c.sock.settimeout(1)
    with pytest.raises(OSError):
        c.sock.recv(100)
    c.sock.settimeout(10)
    c.send(".\r\n")
    assert c.reply()[0] == 250


@pytest.mark.parametrize("ending", [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r"])
def test_smuggling_variants_refused(server, connect, ending):
    c = connect(server)
    open_data(c)
    c.send(b"Subject: t\r\n\r\nbody" + ending +
           b"MAIL FROM:<evil@client.example>\r\nRCPT TO:<x@example.com>\r\nDATA\r\n"
           b"Subject: smuggled\r\n\r\nx\r\n.\r\n")
    code, lines = c.reply()
    assert code == 451, lines
    assert c.closed()
    assert "queued" not in server.log()


def test_size_limit_at_end_of_data(server, connect):
    c = connect(server)
    open_data(c)
    c.send("Subject: big\r\n\r\n" + ("x" * 998 + "\r\n") * 20 + ".\r\n")
    code, lines = c.reply()
    assert code == 552, lines
    assert c.cmd("NOOP")[0] == 250


def test_long_data_line_refused_without_splitting(server, connect):
    c = connect(server)
    open_data(c)
    c.send("Subject: t\r\n\r\nx" + ("A" * 1020 + "QUIT") * 5 + "\r\n.\r\n")
    code, _ = c.reply()
    assert code == 550
    assert c.cmd("NOOP")[0] == 250


def test_998_octet_line_is_accepted(server, connect):
    c = connect(server)
    open_data(c)
    c.send("Subject: t\r\n\r\n" + "y" * 998 + "\r\n.\r\n")
    assert c.reply()[0] == 250


def test_received_loop_refused(server, connect):
    c = connect(server)
    open_data(c)
    hops = "".join("Received: from hop%d.example by hop%d.example; Mon, 1 Jan 2024 00:00:00 "
                   "+0000\r\n" % (i, i + 1) for i in range(101))
    c.send(hops + "Subject: loop\r\n\r\nx\r\n.\r\n")
    code, _ = c.reply()
    assert code == 554


def test_nul_in_body_is_refused_after_the_final_dot(server, connect, saved):
    c = connect(server)
    open_data(c)
    c.send(b"Subject: t\r\n\r\nbefore\x00after\r\n.\r\n")
    code, lines = c.reply()
    assert (code, lines) == (554, ["5.6.0 NUL character in message not allowed"])
    assert c.cmd("NOOP")[0] == 250  # the session goes on
    assert messages(saved) == []


def test_nul_in_body_is_data_when_allowed(start_server, connect, saved):
    server = start_server(plugins=["accept"], so=["accept"],
                          files={"accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\nsave=%s\n"
                                 % saved},
                          smtp={"allow_nul_in_data": "true"})
    c = connect(server)
    open_data(c)
    c.send(b"Subject: t\r\n\r\nbefore\x00after\r\n.\r\n")
    assert c.reply()[0] == 250
    assert messages(saved)[0].endswith(b"before\x00after\r\n")


def test_two_transactions_two_messages(server, connect, saved):
    c = connect(server)
    open_data(c)
    c.send("Subject: one\r\n\r\nfirst\r\n.\r\n")
    assert c.reply()[0] == 250
    assert c.cmd("MAIL FROM:<s2@client.example>")[0] == 250
    assert c.cmd("RCPT TO:<r2@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send("Subject: two\r\n\r\nsecond\r\n.\r\n")
    assert c.reply()[0] == 250
    one, two = sorted(messages(saved), key=lambda m: b"first" in m)
    assert b"second" in one and b"first" not in one
    assert b"first" in two and b"second" not in two


def test_data_timeout(start_server, connect):
    server = start_server(plugins=["accept"], so=["accept"],
                          files={"accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\n"},
                          smtp={"data_timeout": 1, "inactivity_timeout": 30})
    c = connect(server)
    open_data(c)
    c.send("Subject: slow\r\n")
    start = time.monotonic()
    code, lines = c.reply()
    assert code == 421 and "timeout" in lines[0]
    assert time.monotonic() - start < 5
    assert c.closed()


def test_client_vanishing_mid_data_queues_nothing(server, connect):
    c = connect(server)
    open_data(c)
    c.send("Subject: partial\r\n\r\n" + "half a message\r\n" * 50)
    c.close()
    assert server.wait_log("client closed the connection")
    assert "queued" not in server.log()
