"""BDAT (RFC 3030 CHUNKING) through the real binary: chunks read by count whatever they hold,
refused chunks still read to their end, and the same DATA rules for the content."""
import time

from conftest import Client

PLUGINS = ["rcpt_to.in_host_list", "queue/maildir"]
FILES = {"host_list": "example.com\n", "local_mailboxes": "u@example.com\n"}


def delivered(install, count=1, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(p for p in (install / "maildir").rglob("new/*") if p.is_file())
        if len(found) >= count:
            return [p.read_bytes() for p in found]
        time.sleep(0.05)
    return []


def body_of(message):
    """The message from its Subject on, with CRLF (maildir stores LF line ends)."""
    return message[message.index(b"Subject:"):].replace(b"\n", b"\r\n")


def transaction(c):
    code, lines = c.cmd("EHLO client.test")
    assert code == 250 and "CHUNKING" in lines
    assert c.cmd("MAIL FROM:<a@client.test>")[0] == 250
    assert c.cmd("RCPT TO:<u@example.com>")[0] == 250


def bdat(c, data, last=False):
    c.send(b"BDAT %d%s\r\n" % (len(data), b" LAST" if last else b"") + data)
    return c.reply()


def test_chunks_are_delivered_byte_for_byte(start_server, install, connect):
    server = start_server(plugins=PLUGINS, files=FILES)
    c = connect(server)
    transaction(c)
    parts = [b"Subject: chunks\r\n\r\nfirst line\r", b"\n.starts with a dot\r\n..two\r\n",
             b"8-bit \xc3\xa9t\xc3\xa9\r\n.\r\nafter a lone dot\r\n"]
    code, lines = bdat(c, parts[0])
    assert code == 250 and lines[0] == "2.0.0 %d octets received" % len(parts[0])
    assert bdat(c, parts[1])[0] == 250
    code, lines = bdat(c, parts[2], last=True)
    assert code == 250 and "Queued" in lines[0], lines
    [message] = delivered(install)
    assert body_of(message) == b"".join(parts)
    assert c.cmd("QUIT")[0] == 221


def test_last_chunk_without_final_crlf_gets_one(start_server, install, connect):
    server = start_server(plugins=PLUGINS, files=FILES)
    c = connect(server)
    transaction(c)
    assert bdat(c, b"Subject: x\r\n\r\nno newline at the end", last=True)[0] == 250
    [message] = delivered(install)
    assert body_of(message) == b"Subject: x\r\n\r\nno newline at the end\r\n"


def test_pipelined_chunks_and_an_empty_last(start_server, install, connect):
    server = start_server(plugins=PLUGINS, files=FILES)
    c = connect(server)
    c.send(b"EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<u@example.com>\r\n"
           b"BDAT 12\r\nSubject: p\r\nBDAT 8\r\n\r\nbody\r\nBDAT 0 LAST\r\nNOOP\r\n")
    codes = [c.reply()[0] for _ in range(7)]
    assert codes == [250] * 7
    [message] = delivered(install)
    assert body_of(message) == b"Subject: p\r\n\r\nbody\r\n"


def test_refused_chunks_are_still_read_to_their_end(start_server, connect):
    server = start_server(plugins=PLUGINS, files=FILES)
    c = connect(server)
    assert c.cmd("EHLO client.test")[0] == 250
    code, _ = bdat(c, b"NOOP\r\nQUIT\r\n")          # no transaction: 503, bytes skipped
    assert code == 503
    assert c.cmd("NOOP")[0] == 250, "the chunk's content was not read as commands"
    assert c.cmd("MAIL FROM:<a@client.test>")[0] == 250
    assert bdat(c, b"RSET\r\n")[0] == 503           # no recipient yet
    assert c.cmd("RCPT TO:<u@example.com>")[0] == 250
    assert bdat(c, b"Subject: x\r\n\r\n")[0] == 250
    assert c.cmd("DATA")[0] == 503                  # not after BDAT
    assert c.cmd("RSET")[0] == 250


def test_bare_lf_in_a_chunk_fails_the_message(start_server, install, connect):
    server = start_server(plugins=PLUGINS, files=FILES)
    c = connect(server)
    transaction(c)
    assert bdat(c, b"Subject: x\r\n\r\nsmuggled\n.\nMAIL FROM:<x@y>\r\n")[0] == 451
    assert bdat(c, b"more\r\n", last=True)[0] == 503  # the rest of the message is refused
    assert c.cmd("RSET")[0] == 250
    assert delivered(install, timeout=1) == []


def test_nul_in_a_chunk_fails_the_message_at_the_last_chunk(start_server, install, connect):
    server = start_server(plugins=PLUGINS, files=FILES)
    c = connect(server)
    transaction(c)
    assert bdat(c, b"Subject: x\r\n\r\nbefore\x00after\r\n")[0] == 250
    assert bdat(c, b"more\r\n", last=True) == (554, ["5.6.0 NUL character in message not allowed"])
    assert delivered(install, timeout=1) == []


def test_size_limit_applies_across_chunks(start_server, install, connect):
    server = start_server(plugins=PLUGINS, files=FILES, smtp={"max_message_size": 2048})
    c = connect(server)
    transaction(c)
    assert bdat(c, b"Subject: big\r\n\r\n" + b"x" * 78 + b"\r\n")[0] == 250
    code, lines = bdat(c, (b"y" * 78 + b"\r\n") * 40, last=True)
    assert code == 552, lines
    assert delivered(install, timeout=1) == []


def test_a_bad_size_closes_the_connection(start_server, connect):
    server = start_server(plugins=PLUGINS, files=FILES)
    c = connect(server)
    transaction(c)
    code, _ = c.cmd("BDAT twelve")
    assert code == 501
    assert c.closed()
