"""The MIME body API through the real binary: a plugin loaded from a shared object hashes each
attachment (SHA-256, OpenSSL) from attachmentHooks while the message streams in, and writes the
body tree it reads at data_post; python's email package builds the messages and smtplib (or a
raw BDAT client) sends them."""
import email.message
import email.policy
import hashlib
import json
import os
import random
import shutil
import smtplib
import time

ATTACHMENT_HASH = os.environ["UPESI_ATTACHMENT_HASH_PLUGIN"]
ACCEPT = {"accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\n"}


def start(start_server, install, parse_body=True, stream_message=False):
    target = install / "plugins" / "attachment_hash.so"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(ATTACHMENT_HASH, target)
    record = install / "attachments.jsonl"
    files = dict(ACCEPT)
    files["attachment_hash.ini"] = "[main]\nrecord=%s\nparse_body=%s\nstream_message=%s\n" % (
        record, "true" if parse_body else "false", "true" if stream_message else "false")
    server = start_server(plugins=["attachment_hash", "accept"], so=["accept"], files=files)
    return server, record


def records(path, count, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = [json.loads(line) for line in path.read_text().splitlines() if line]
            if len(lines) >= count:
                return lines
        time.sleep(0.05)
    raise AssertionError("expected %d records in %s" % (count, path))


def send(server, message):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as s:
        assert s.send_message(message, "a@client.example", ["b@example.com"]) == {}


def random_bytes(size, seed):
    return random.Random(seed).randbytes(size)


def test_attachment_hashed_while_the_message_streams(start_server, install):
    server, record = start(start_server, install)
    data = random_bytes(300_000, 1)
    msg = email.message.EmailMessage()
    msg["Subject"] = "with an attachment"
    msg.set_content("See the file.\n")
    msg.add_attachment(data, maintype="application", subtype="octet-stream",
                       filename="data.bin")
    assert "Content-Transfer-Encoding: base64" in msg.as_string()
    send(server, msg)

    attachment, body = records(record, 2)
    assert attachment["event"] == "attachment"
    assert attachment["filename"] == "data.bin"
    assert attachment["content_type"] == "application/octet-stream"
    assert attachment["sha256"] == hashlib.sha256(data).hexdigest()
    assert attachment["bytes"] == len(data)
    # Streamed: in several chunks, finished before data_post ran.
    assert attachment["chunks"] > 1
    assert attachment["before_data_post"] is True

    tree = body["tree"]
    assert tree["content_type"] == "multipart/mixed"
    text, file = tree["children"]
    assert text["content_type"] == "text/plain"
    assert text["text"].replace("\r\n", "\n").rstrip("\n") == "See the file."
    assert file["attachment"] is True and file["text"] == ""
    assert file["decoded_bytes"] == len(data)
    assert body["limits"] == []


def test_nested_multipart_tree_text_and_attachments(start_server, install):
    server, record = start(start_server, install)
    png = random_bytes(20_000, 2)
    pdf = random_bytes(70_001, 3)
    msg = email.message.EmailMessage()
    msg["Subject"] = "nested"
    msg.set_content("Caf\u00e9 au lait\n")
    msg.add_alternative("<p>Caf\u00e9</p>\n", subtype="html")
    msg.add_attachment(png, maintype="image", subtype="png", filename="pic.png")
    msg.add_attachment(pdf, maintype="application", subtype="pdf",
                       filename="r\u00e9sum\u00e9.pdf")
    send(server, msg)

    *attachments, body = records(record, 3)
    assert [(a["filename"], a["content_type"], a["sha256"], a["bytes"]) for a in attachments] == [
        ("pic.png", "image/png", hashlib.sha256(png).hexdigest(), len(png)),
        ("r\u00e9sum\u00e9.pdf", "application/pdf", hashlib.sha256(pdf).hexdigest(), len(pdf)),
    ]
    tree = body["tree"]
    shape = [tree["content_type"], [c["content_type"] for c in tree["children"]],
             [c["content_type"] for c in tree["children"][0]["children"]]]
    assert shape == ["multipart/mixed", ["multipart/alternative", "image/png", "application/pdf"],
                     ["text/plain", "text/html"]]
    plain, html = tree["children"][0]["children"]
    assert plain["charset"] == "utf-8" and plain["text_utf8"] is True
    assert plain["text"].replace("\r\n", "\n").rstrip("\n") == "Caf\u00e9 au lait"
    assert html["text"].replace("\r\n", "\n").rstrip("\n") == "<p>Caf\u00e9</p>"


def test_without_parse_body_the_tree_has_no_text(start_server, install):
    server, record = start(start_server, install, parse_body=False)
    data = random_bytes(1000, 4)
    msg = email.message.EmailMessage()
    msg["Subject"] = "no text kept"
    msg.set_content("not kept\n")
    msg.add_attachment(data, maintype="application", subtype="zip", filename="a.zip")
    send(server, msg)
    attachment, body = records(record, 2)
    assert attachment["sha256"] == hashlib.sha256(data).hexdigest()
    text = body["tree"]["children"][0]
    assert text["text"] == "" and text["decoded_bytes"] > 0


def test_bdat_chunks_split_anywhere(start_server, install, connect):
    server, record = start(start_server, install)
    data = random_bytes(50_000, 5)
    msg = email.message.EmailMessage()
    msg["Subject"] = "bdat"
    msg.set_content("chunked\n")
    msg.add_attachment(data, maintype="application", subtype="octet-stream", filename="c.bin")
    wire = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    c = connect(server)
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("MAIL FROM:<a@client.test>")[0] == 250
    assert c.cmd("RCPT TO:<b@example.com>")[0] == 250
    # Chunk sizes that cut base64 lines and line ends in odd places.
    at, size = 0, 1
    while at < len(wire):
        chunk = wire[at:at + size]
        at += len(chunk)
        last = at >= len(wire)
        c.send(b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b"") + chunk)
        assert c.reply()[0] == 250
        size = size * 3 + 1
    attachment, body = records(record, 2)
    assert attachment["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["tree"]["children"][1]["filename"] == "c.bin"


def test_banner_added_to_each_text_part_as_the_message_is_queued(start_server, install):
    saved = install / "saved"
    saved.mkdir()
    files = {
        "banner.ini": "[data]\ncode=CONT\nbanner=-- \\nsent through Upesi\n"
                      "banner_html=<p>sent through Upesi</p>\n",
        "accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\nsave=%s\n" % saved,
    }
    server = start_server(plugins=["banner", "accept"], so=["banner", "accept"], files=files)
    msg = email.message.EmailMessage()
    msg["Subject"] = "with a banner"
    msg.set_content("Caf\u00e9 au lait.\n.a line with a dot\n", cte="quoted-printable")
    msg.add_alternative("<html><body><p>Caf\u00e9</p></body></html>\n", subtype="html",
                        cte="base64")
    attachment = b"attached text\n"
    msg.add_attachment(attachment, maintype="text", subtype="plain", filename="notes.txt")
    send(server, msg)

    deadline = time.monotonic() + 10
    while not list(saved.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    [eml] = list(saved.iterdir())
    raw = eml.read_bytes().split(b"\r\n", 1)[1]  # after the envelope line the test plugin adds
    got = email.message_from_bytes(raw, policy=email.policy.default)
    plain = got.get_body(("plain",))
    html = got.get_body(("html",))
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert plain.get_content().replace("\r\n", "\n") == "Caf\u00e9 au lait.\n.a line with a dot\n-- \nsent through Upesi\n"
    assert html["Content-Transfer-Encoding"] == "base64"
    assert html.get_content().replace("\r\n", "\n") == "<html><body><p>Caf\u00e9</p><p>sent through Upesi</p></body></html>\n"
    [file] = list(got.iter_attachments())
    assert file.get_filename() == "notes.txt" and file.get_content().encode() == attachment


def test_whole_message_streamed_to_a_plugin_as_stored(start_server, install, connect):
    """streamMessage gets the header as received and the body, unstuffed, before data_post,
    whether the message came by DATA or in BDAT chunks."""
    server, record = start(start_server, install, parse_body=False, stream_message=True)
    wire = (b"Subject: streamed\r\nFrom: <a@client.test>\r\n\r\n"
            b"..a line that was dot-stuffed\r\n" + random_bytes(300, 7).hex().encode() +
            b"\r\n")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as s:
        assert s.sendmail("a@client.test", ["b@example.com"], wire) == {}
    message = [r for r in records(record, 2) if r["event"] == "message"]
    assert len(message) == 1
    # smtplib stuffs the leading dots on the wire; the plugin sees them unstuffed, as sent.
    expected = wire
    assert message[0]["sha256"] == hashlib.sha256(expected).hexdigest()
    assert message[0]["bytes"] == len(expected)
    assert message[0]["before_data_post"] is True

    c = connect(server)
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("MAIL FROM:<a@client.test>")[0] == 250
    assert c.cmd("RCPT TO:<b@example.com>")[0] == 250
    for at in range(0, len(expected), 333):
        chunk = expected[at:at + 333]
        last = at + 333 >= len(expected)
        c.send(b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b"") + chunk)
        assert c.reply()[0] == 250
    message = [r for r in records(record, 4) if r["event"] == "message"]
    assert len(message) == 2
    assert message[1]["sha256"] == hashlib.sha256(expected).hexdigest()
