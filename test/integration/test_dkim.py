"""The dkim plugin through the real binary. Signing: keys made here with openssl, mail relayed
through the outbound queue to an aiosmtpd sink, every signature it carries checked by python3-dkim
(dkimpy) and by opendkim's test mode. Verifying: a corpus signed by dkimpy, and mail OpenDKIM
signed as Postfix's milter, some of it broken on purpose, keys served by dnsmasq; the dkim=
results in the stored messages' Authentication-Results must pass exactly what dkimpy passes.
upesi --check names a key file that cannot sign."""
import base64
import email
import email.policy
import os
import pathlib
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

import pytest

import dns_zone
from conftest import run_upesi
from dns_zone import txt
from saved_messages import stored_raw as stored
from test_outbound import received, start_peer, stop_peer

dkim = pytest.importorskip("dkim")
pytest.importorskip("nacl")  # dkimpy's Ed25519

OPENDKIM = "/usr/sbin/opendkim"
BENCH = pathlib.Path(__file__).resolve().parent.parent / "bench"
needs_dnsmasq = pytest.mark.skipif(not dns_zone.AVAILABLE, reason="needs dnsmasq")

SUBJECTS = iter(range(1, 1000000))


def openssl(*args, data=None):
    r = subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


class Key:
    """A key pair made by openssl: the PEM, the p= of its DNS record, and what dkimpy signs
    with (the PEM for RSA, the base64 seed for Ed25519)."""

    def __init__(self, algorithm, bits=2048):
        self.kind = "ed25519" if algorithm == "ed25519" else "rsa"
        opts = [] if self.kind == "ed25519" else ["-pkeyopt", "rsa_keygen_bits:%d" % bits]
        self.pem = openssl("genpkey", "-algorithm", self.kind.upper(), *opts)
        public = openssl("pkey", "-pubout", "-outform", "DER", data=self.pem)
        if self.kind == "ed25519":
            # RFC 8463: the 32 raw bytes, which end the DER SubjectPublicKeyInfo.
            public = public[-32:]
            private = openssl("pkey", "-outform", "DER", data=self.pem)
            self.for_dkimpy = base64.b64encode(private[-32:])
        else:
            self.for_dkimpy = self.pem
        self.p = base64.b64encode(public).decode()

    def record(self):
        return "v=DKIM1; k=%s; p=%s" % (self.kind, self.p)


@pytest.fixture(scope="module")
def keys():
    return {"rsa": Key("rsa"), "ed25519": Key("ed25519"), "rsa-other": Key("rsa"),
            "ed25519-other": Key("ed25519"), "rsa-default": Key("rsa"),
            "rsa-512": Key("rsa", 512), "rsa-1024": Key("rsa", 1024),
            "rsa-4096": Key("rsa", 4096)}


def tags(field):
    """The tag=value pairs of a DKIM-Signature field's value, whitespace removed."""
    value = re.sub(r"\s+", "", field)
    return dict(part.split("=", 1) for part in value.split(";") if part)


def signature_fields(data):
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    return message.get_all("DKIM-Signature") or []


def dkimpy_verify(data, records, index=0):
    """dkimpy's verdict on signature `index` (0 is the topmost), keys from `records`."""
    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        found = records.get(name.rstrip(".").lower())  # as DNS, ignoring case
        return found.encode() if found is not None else None
    try:
        return dkim.DKIM(data).verify(idx=index, dnsfunc=dnsfunc)
    except dkim.DKIMException:
        return False


def without_other_signatures(data, keep):
    """The message with only DKIM-Signature number `keep` left: opendkim's test mode reports
    a single signature, so each is given to it alone."""
    head, blank, body = data.partition(b"\r\n\r\n")
    fields = re.split(rb"\r\n(?![ \t])", head)
    seen = -1
    kept = []
    for field in fields:
        if field.lower().startswith(b"dkim-signature:"):
            seen += 1
            if seen != keep:
                continue
        kept.append(field)
    return b"\r\n".join(kept) + blank + body


def opendkim_verify(tmp_path, data, records):
    """opendkim -t on the message; returns its report line, asserting it ran. Debian 12's
    opendkim (2.11) checks ed25519-sha256 too (its report says "0-bit key"), and exits 0
    whatever it found: the line says "succeeded" or "failed"."""
    keyfile = tmp_path / "opendkim-keys"
    keyfile.write_text("".join("%s %s\n" % kv for kv in records.items()))
    conf = tmp_path / "opendkim.conf"
    conf.write_text("TestPublicKeys %s\nMode v\nSyslog no\n" % keyfile)
    message = tmp_path / "opendkim-message.eml"
    message.write_bytes(data)
    r = subprocess.run([OPENDKIM, "-x", str(conf), "-t", str(message)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return (r.stdout + r.stderr).strip()


# --- Signing -----------------------------------------------------------------------------------


@pytest.fixture
def sink(tmp_path):
    """An aiosmtpd MX on a loopback port; yields (port, dir of received messages)."""
    out = tmp_path / "received"
    port, proc = start_peer("sink_mx.py", out)
    try:
        yield port, out
    finally:
        stop_peer(proc)


def install_key(install, relative, key, selector):
    path = install / "config" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.pem)
    path.chmod(0o600)
    (path.parent / relative.rsplit("/", 1)[-1].replace("private", "selector")).write_text(
        selector + "\n")


def signing_server(start_server, sink_port, sign_ini=""):
    files = {
        "relay_acl_allow": "127.0.0.1/32\n",
        "route.ini": "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n" % sink_port,
        "outbound.ini": "[main]\ntemp_fail_intervals=1s*3\nscan_interval=1\n",
        "dkim.ini": "[sign]\nenabled=true\n" + sign_ini,
    }
    return start_server(plugins=["relay", "dkim", "route"], so=["route"], files=files)


# Dot lines (stuffed on the wire twice: to us and from us), a long header folded over three
# lines, whitespace that relaxed canonicalization changes and simple keeps, trailing blank lines.
# Each header has a single space after its colon: opendkim's test mode rewrites any other
# whitespace there to one space, and so fails simple header canonicalization on its own.
MESSAGE = (
    "From: Alice <alice@{domain}>\r\n"
    "To: Bob   <bob@example.net>\r\n"
    "Subject: {subject}, a subject long enough that it was folded by the sender over\r\n"
    "\tseveral lines, with   runs of   spaces\r\n"
    "  and a third line\r\n"
    "Date: Sat, 05 Dec 2026 06:00:00 +0000\r\n"
    "Message-ID: <{subject_id}@{domain}>\r\n"
    "\r\n"
    ".leading dot\r\n"
    "..two dots\r\n"
    ".\r\n"
    "trailing space  \t\r\n"
    "\r\n"
    "last line\r\n"
    "\r\n"
    "\r\n")


def relay(server, sink_out, domain):
    """Relays MESSAGE from alice@domain; returns the bytes the sink received."""
    number = next(SUBJECTS)
    body = MESSAGE.format(domain=domain, subject="signed %d" % number, subject_id=number)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
        assert client.sendmail("alice@%s" % domain, ["bob@example.net"], body.encode()) == {}
    [message] = received(sink_out)
    data = message["data"].encode()
    assert "signed %d," % number in message["data"]
    assert b"\r\n.leading dot\r\n..two dots\r\n.\r\n" in data  # unstuffed by the sink
    return data


def assert_every_signature_verifies(tmp_path, data, records, want):
    """Each signature verifies with dkimpy and with opendkim; `want` lists (a=, d=, s=) of the
    signatures expected, top first. Returns the signatures' tags."""
    fields = signature_fields(data)
    signed = [tags(f) for f in fields]
    assert [(t["a"], t["d"], t["s"]) for t in signed] == want, fields
    for index in range(len(fields)):
        assert dkimpy_verify(data, records, index), "dkimpy fails %s\n%r" % (fields[index], data)
        report = opendkim_verify(tmp_path, without_other_signatures(data, index), records)
        assert "s=%s" % signed[index]["s"] in report and report.endswith("succeeded"), report
    return signed


def records_for(domain, *selector_keys):
    return {"%s._domainkey.%s" % (s, domain): k.record() for s, k in selector_keys}


def test_rsa_and_ed25519_both_sign_and_each_verifies_with_dkimpy_and_opendkim(
        start_server, install, sink, keys, tmp_path):
    port, out = sink
    install_key(install, "dkim/sign.test/private", keys["rsa"], "rsa2026")
    install_key(install, "dkim/sign.test/ed25519.private", keys["ed25519"], "ed2026")
    server = signing_server(start_server, port)
    data = relay(server, out, "sign.test")
    records = records_for("sign.test", ("rsa2026", keys["rsa"]), ("ed2026", keys["ed25519"]))
    # Each new signature goes above the ones before it: the Ed25519 key signs second.
    signed = assert_every_signature_verifies(
        tmp_path, data, records,
        [("ed25519-sha256", "sign.test", "ed2026"), ("rsa-sha256", "sign.test", "rsa2026")])
    for t in signed:
        assert t["c"] == "relaxed/relaxed"
        names = t["h"].lower().split(":")
        assert names.count("from") == 2, t["h"]  # present once, oversigned once
        for name in ("subject", "date", "message-id", "to"):
            assert name in names, t["h"]
    assert "not signed" not in server.log()


@pytest.mark.parametrize("canonicalization",
                         ["simple/simple", "relaxed/relaxed", "relaxed/simple", "simple/relaxed"])
def test_each_canonicalization_verifies(start_server, install, sink, keys, tmp_path,
                                        canonicalization):
    port, out = sink
    install_key(install, "dkim/canon.test/private", keys["rsa"], "c1")
    install_key(install, "dkim/canon.test/ed25519.private", keys["ed25519"], "c2")
    server = signing_server(start_server, port, "canonicalization=%s\n" % canonicalization)
    data = relay(server, out, "canon.test")
    records = records_for("canon.test", ("c1", keys["rsa"]), ("c2", keys["ed25519"]))
    signed = assert_every_signature_verifies(
        tmp_path, data, records,
        [("ed25519-sha256", "canon.test", "c2"), ("rsa-sha256", "canon.test", "c1")])
    assert {t["c"] for t in signed} == {canonicalization}
    if canonicalization.startswith("simple/"):
        # Simple header canonicalization: one space more in a signed header breaks it.
        changed = data.replace(b"To: Bob   <", b"To: Bob    <", 1)
        assert changed != data
        assert not dkimpy_verify(changed, records, 1)


@pytest.mark.parametrize("oversign", ["", "From, Subject"])
def test_an_oversigned_header_cannot_be_added_above_the_signed_one(
        start_server, install, sink, keys, tmp_path, oversign):
    # dkimpy counts From once more whatever h= says, so Subject shows what oversigning does.
    port, out = sink
    install_key(install, "dkim/plain.test/private", keys["rsa"], "plain")
    server = signing_server(start_server, port, "oversign=%s\n" % oversign)
    data = relay(server, out, "plain.test")
    records = records_for("plain.test", ("plain", keys["rsa"]))
    [signed] = assert_every_signature_verifies(tmp_path, data, records,
                                               [("rsa-sha256", "plain.test", "plain")])
    names = signed["h"].lower().split(":")
    extra = 1 if oversign else 0
    assert names.count("from") == 1 + extra and names.count("subject") == 1 + extra, signed["h"]
    forged = b"Subject: pay this invoice\r\n" + data
    if oversign:
        assert not dkimpy_verify(forged, records, 0)
        report = opendkim_verify(tmp_path, forged, records)
        assert "failed" in report, report
    else:
        # Without it, a Subject added above the signed one goes unnoticed.
        assert dkimpy_verify(forged, records, 0)
        assert opendkim_verify(tmp_path, forged, records).endswith("succeeded")


def test_the_default_key_signs_for_a_domain_without_a_directory(start_server, install, sink, keys,
                                                                tmp_path):
    port, out = sink
    install_key(install, "dkim/sign.test/private", keys["rsa"], "own")
    (install / "config/dkim.private.key").write_bytes(keys["rsa-default"].pem)
    server = signing_server(start_server, port, "domain=default.test\nselector=dflt\n")
    data = relay(server, out, "elsewhere.test")
    records = records_for("default.test", ("dflt", keys["rsa-default"]))
    assert_every_signature_verifies(tmp_path, data, records,
                                    [("rsa-sha256", "default.test", "dflt")])


def test_a_subdomain_is_signed_with_its_parents_key(start_server, install, sink, keys, tmp_path):
    port, out = sink
    install_key(install, "dkim/parent.test/private", keys["rsa"], "par")
    server = signing_server(start_server, port)
    data = relay(server, out, "mail.parent.test")
    records = records_for("parent.test", ("par", keys["rsa"]))
    assert_every_signature_verifies(tmp_path, data, records,
                                    [("rsa-sha256", "parent.test", "par")])


def test_a_replaced_key_signs_from_the_next_message_on(start_server, install, sink, keys,
                                                       tmp_path):
    # Key rotation: a new key and selector written over the old ones are read without a reload.
    port, out = sink
    install_key(install, "dkim/rotate.test/private", keys["rsa"], "old")
    server = signing_server(start_server, port, "expire=86400\n")
    data = relay(server, out, "rotate.test")
    [old] = assert_every_signature_verifies(tmp_path, data, records_for(
        "rotate.test", ("old", keys["rsa"])), [("rsa-sha256", "rotate.test", "old")])
    assert int(old["x"]) == int(old["t"]) + 86400
    for path in out.iterdir():
        path.unlink()
    install_key(install, "dkim/rotate.test/private", keys["rsa-other"], "new")
    deadline = time.monotonic() + 15
    while True:
        data = relay(server, out, "rotate.test")
        for path in out.iterdir():
            path.unlink()
        # While the files are being written a message may go out unsigned or under the old key.
        selectors = [tags(f)["s"] for f in signature_fields(data)]
        if selectors == ["new"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert_every_signature_verifies(tmp_path, data, records_for(
        "rotate.test", ("new", keys["rsa-other"])), [("rsa-sha256", "rotate.test", "new")])


def test_a_new_domain_signs_after_a_reload_and_a_broken_key_is_refused_by_it(
        start_server, install, sink, keys, tmp_path):
    port, out = sink
    install_key(install, "dkim/first.test/private", keys["rsa"], "one")
    files = {
        "relay_acl_allow": "127.0.0.1/32\n",
        "route.ini": "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n" % port,
        "outbound.ini": "[main]\ntemp_fail_intervals=1s*3\nscan_interval=1\n",
        "dkim.ini": "[sign]\nenabled=true\n",
    }
    server = start_server(plugins=["relay", "dkim", "route"], so=["route"], files=files,
                          smtp={"nodes": 1})
    server.wait_workers(1)

    def signed_by(domain):
        data = relay(server, out, domain)
        for path in out.iterdir():
            path.unlink()
        return [(t["d"], t["s"]) for t in map(tags, signature_fields(data))], data

    assert signed_by("second.test")[0] == []
    # A key that cannot sign: the reload's check refuses it, the running generation stays.
    bad = install / "config/dkim/second.test"
    bad.mkdir()
    (bad / "private").write_text("not a key\n")
    (bad / "selector").write_text("two\n")
    server.proc.send_signal(signal.SIGUSR2)
    assert server.wait_log("reload failed, generation 1 keeps serving"), server.log()
    assert "config/dkim/second.test/private" in server.log()
    assert signed_by("first.test")[0] == [("first.test", "one")]
    install_key(install, "dkim/second.test/private", keys["ed25519"], "two")
    server.proc.send_signal(signal.SIGUSR2)
    assert server.wait_log("reload done: generation 2 serves"), server.log()
    signatures, data = signed_by("second.test")
    assert signatures == [("second.test", "two")]
    assert_every_signature_verifies(tmp_path, data, records_for(
        "second.test", ("two", keys["ed25519"])), [("ed25519-sha256", "second.test", "two")])


@pytest.mark.parametrize("canonicalization", ["relaxed/relaxed", "relaxed/simple"])
def test_signed_mail_with_8bit_headers_is_signed_again(
        start_server, install, sink, keys, tmp_path, canonicalization):
    # Mail already signed upstream (a forwarder's case) keeps its signature under ours; an 8-bit
    # Subject and a field with whitespace that relaxed canonicalization removes are signed.
    port, out = sink
    install_key(install, "dkim/sign.test/private", keys["rsa"], "fwd")
    install_key(install, "dkim/sign.test/ed25519.private", keys["ed25519"], "fwd-ed")
    server = signing_server(start_server, port, "canonicalization=%s\n"
                            "headers=From, To, Subject, X-Spaced\n" % canonicalization)
    # With its Date and Message-ID: the queue adds them when missing, which would break a
    # signature upstream that signed their absence.
    text = ("From: Alice <alice@sign.test>\r\nTo: bob@example.net\r\n"
            "Date: Sat, 05 Dec 2026 06:00:00 +0000\r\nMessage-ID: <fwd@upstream.test>\r\n"
            "Subject: caf\u00e9 \u2615 \u00fcber\r\nX-Spaced:  value \t\r\n\r\n"
            "8-bit body: na\u00efve r\u00e9sum\u00e9\r\n").encode()
    upstream = dkimpy_sign(text, keys["rsa-other"], "up", domain="upstream.test")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
        assert client.sendmail("alice@sign.test", ["bob@example.net"], upstream) == {}
    [message] = received(out)
    data = message["data"].encode()
    assert "caf\u00e9 \u2615" in message["data"]
    records = records_for("sign.test", ("fwd", keys["rsa"]), ("fwd-ed", keys["ed25519"]))
    records.update(records_for("upstream.test", ("up", keys["rsa-other"])))
    signed = assert_every_signature_verifies(
        tmp_path, data, records, [("ed25519-sha256", "sign.test", "fwd-ed"),
                                  ("rsa-sha256", "sign.test", "fwd"),
                                  ("rsa-sha256", "upstream.test", "up")])
    for t in signed[:2]:
        assert "x-spaced" in t["h"].lower().split(":"), t["h"]
    # The field is signed: changing its value breaks both of ours.
    changed = data.replace(b"X-Spaced:  value", b"X-Spaced:  other")
    assert not dkimpy_verify(changed, records, 0) and not dkimpy_verify(changed, records, 1)


def test_the_from_domain_is_found_however_the_field_is_written(start_server, install, sink,
                                                               keys, tmp_path):
    port, out = sink
    install_key(install, "dkim/sign.test/private", keys["rsa"], "from")
    install_key(install, "dkim/evil.test/private", keys["rsa-other"], "evil")
    server = signing_server(start_server, port)
    records = records_for("sign.test", ("from", keys["rsa"]))
    froms = ['"bob@evil.test" <alice@sign.test>', "alice@Sign.TEST (Alice, not bob@evil.test)",
             "=?utf-8?q?B=C3=B6b?= <alice@sign.test>", "<alice@sign.test>",
             "Alice\r\n <alice@sign.test>"]
    for number, sender in enumerate(froms):
        text = "From: %s\r\nSubject: from %d\r\n\r\nbody\r\n" % (sender, number)
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
            assert client.sendmail("bounce@evil.test", ["bob@example.net"], text) == {}
        [message] = received(out)
        for path in out.iterdir():
            path.unlink()
        assert_every_signature_verifies(tmp_path, message["data"].encode(), records,
                                        [("rsa-sha256", "sign.test", "from")])


def test_a_domain_without_a_key_is_relayed_unsigned(start_server, install, sink, keys):
    port, out = sink
    install_key(install, "dkim/sign.test/private", keys["rsa"], "own")
    server = signing_server(start_server, port)
    data = relay(server, out, "nokey.test")
    assert signature_fields(data) == []
    assert "not signed" not in server.log()


def test_a_from_without_a_single_domain_is_signed_for_the_envelope_senders(
        start_server, install, sink, keys, tmp_path):
    port, out = sink
    install_key(install, "dkim/sign.test/private", keys["rsa"], "env")
    install_key(install, "dkim/a.test/private", keys["rsa-other"], "from")
    server = signing_server(start_server, port)
    text = ("From: a@a.test, b@b.test\r\nSender: alice@sign.test\r\nSubject: two authors\r\n"
            "\r\nbody\r\n")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
        assert client.sendmail("alice@sign.test", ["bob@example.net"], text) == {}
    [message] = received(out)
    records = records_for("sign.test", ("env", keys["rsa"]))
    assert_every_signature_verifies(tmp_path, message["data"].encode(), records,
                                    [("rsa-sha256", "sign.test", "env")])


def test_mail_from_send_email_without_a_from_field_is_sent_unsigned(start_server, install, sink,
                                                                   keys):
    # The scripted plugin's message has no From field: nothing to sign for (RFC 6376 section
    # 5.4), so it goes out unsigned and the reason is logged.
    port, out = sink
    install_key(install, "dkim/plugin.example/private", keys["rsa"], "robot")
    files = {
        "route.ini": "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n[helo]\ncode=CONT\n"
                     "send_to=ops@example.net\n" % port,
        "outbound.ini": "[main]\ntemp_fail_intervals=1s\nscan_interval=1\n",
        "dkim.ini": "[sign]\nenabled=true\n",
    }
    server = start_server(plugins=["dkim", "route"], so=["route"], files=files)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
        client.helo("x.example")
    [message] = received(out)
    assert message["mail_from"] == "robot@plugin.example"
    assert "Subject: generated by a plugin\r\n" in message["data"]
    assert signature_fields(message["data"].encode()) == []
    assert server.wait_log("not signed: signing for plugin.example (selector robot) failed: "
                           "the message has no From field")


def test_a_bounce_is_signed_for_the_servers_domain(start_server, install, sink, keys, tmp_path):
    port, out = sink
    install_key(install, "dkim/mx.test.example/private", keys["rsa"], "bounces")
    server = signing_server(start_server, port)
    body = MESSAGE.format(domain="nokey.test", subject="bounced", subject_id="b1")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
        assert client.sendmail("alice@nokey.test", ["perm-user@example.net"], body) == {}
    [bounce] = received(out)
    assert bounce["mail_from"] in ("", "<>") and bounce["rcpts"] == ["alice@nokey.test"]
    data = bounce["data"].encode()
    assert b"From: Mail Delivery Subsystem <MAILER-DAEMON@mx.test.example>" in data
    records = records_for("mx.test.example", ("bounces", keys["rsa"]))
    assert_every_signature_verifies(tmp_path, data, records,
                                    [("rsa-sha256", "mx.test.example", "bounces")])


def test_large_bodies_repeated_headers_and_headers_only_messages_verify(
        start_server, install, sink, keys, tmp_path):
    port, out = sink
    install_key(install, "dkim/big.test/private", keys["rsa"], "big")
    install_key(install, "dkim/big.test/ed25519.private", keys["ed25519"], "big-ed")
    server = signing_server(start_server, port, "canonicalization=simple/simple\n"
                            "headers=From, To, Cc, Subject, Date, Message-ID, Received\n")
    records = records_for("big.test", ("big", keys["rsa"]), ("big-ed", keys["ed25519"]))
    want = [("ed25519-sha256", "big.test", "big-ed"), ("rsa-sha256", "big.test", "big")]
    # 1.2 MB with a dot line every few lines (the queue file is read back in chunks), two Cc
    # fields (both signed, bottom first), no Date or Message-ID (the queue adds them).
    lines = [(".%05d" % i if i % 7 == 0 else "line %05d %s" % (i, "x" * (i % 90)))
             for i in range(25000)]
    cases = {
        "big": "From: <alice@big.test>\r\nCc: one@example.net\r\nSubject: big\r\n"
               "Cc: two@example.net\r\n\r\n" + "\r\n".join(lines) + "\r\n",
        "headers only": "From: <alice@big.test>\r\nSubject: headers only\r\n",
        "empty body": "From: <alice@big.test>\r\nSubject: empty body\r\n\r\n",
    }
    for text in cases.values():
        with smtplib.SMTP("127.0.0.1", server.port, timeout=60) as client:
            assert client.sendmail("alice@big.test", ["bob@example.net"], text.encode()) == {}
    messages = received(out, want=len(cases))
    for name in cases:
        assert [m for m in messages if "Subject: %s\r\n" % name in m["data"]], name
    for message in messages:
        data = message["data"].encode()
        signed = assert_every_signature_verifies(tmp_path, data, records, want)
        if b"Subject: big\r\n" in data:
            assert len(data) > 1000000
            for t in signed:
                assert t["h"].lower().split(":").count("cc") == 2, t["h"]


# --- Verifying ---------------------------------------------------------------------------------

CORPUS_BODY = (b"Hello,\r\n\r\n.a line with a leading dot\r\nand one with trailing space  \r\n"
               b"\r\n-- \r\nAlice\r\n")


def unsigned(subject, domain="good.test", body=CORPUS_BODY):
    return (b"From: Alice <alice@%s>\r\nTo: bob@example.com\r\nSubject: %s\r\n"
            b"Date: Sat, 05 Dec 2026 06:00:00 +0000\r\nMessage-ID: <%s@%s>\r\n\r\n"
            % (domain.encode(), subject.encode(), subject.replace(" ", "-").encode(),
               domain.encode()) + body)


class ExtraTags(dkim.DKIM):
    """dkimpy's signer with tags of our own (x=, t=, another c=) placed before h=, inside what
    it signs; a tag given None is left out."""

    extra = []

    def gen_header(self, fields, *args, **kwargs):
        fields = [f for f in fields if f[0] not in {k for k, _ in self.extra}]
        at = [k for k, _ in fields].index(b"h")
        fields[at:at] = [(k, v) for k, v in self.extra if v is not None]
        return super().gen_header(fields, *args, **kwargs)


def dkimpy_sign(message, key, selector, canon="relaxed/relaxed", domain="good.test", length=False,
                extra=(), identity=None, algorithm=None):
    """The message with a DKIM-Signature made by dkimpy prepended."""
    algorithm = algorithm or (b"ed25519-sha256" if key.kind == "ed25519" else b"rsa-sha256")
    header, body = canon.encode().split(b"/")
    signer = ExtraTags(message, signature_algorithm=algorithm)
    signer.extra = list(extra)
    field = signer.sign(selector.encode(), domain.encode(), key.for_dkimpy, identity=identity,
                        canonicalize=(header, body),
                        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
                        length=length)
    return field + message


def corpus(keys):
    """[(subject, message)]: each signed by dkimpy, some broken after signing."""
    now = int(time.time())
    cases = []

    def add(name, build):
        subject = "corpus %s" % name
        cases.append((subject, build(unsigned(subject))))

    add("rsa relaxed", lambda m: dkimpy_sign(m, keys["rsa"], "rsa"))
    add("rsa simple", lambda m: dkimpy_sign(m, keys["rsa"], "rsa", "simple/simple"))
    add("rsa relaxed/simple", lambda m: dkimpy_sign(m, keys["rsa"], "rsa", "relaxed/simple"))
    add("ed25519 relaxed", lambda m: dkimpy_sign(m, keys["ed25519"], "ed"))
    add("ed25519 simple", lambda m: dkimpy_sign(m, keys["ed25519"], "ed", "simple/simple"))
    add("both keys", lambda m: dkimpy_sign(dkimpy_sign(m, keys["rsa"], "rsa"), keys["ed25519"],
                                           "ed"))
    # Changes relaxed canonicalization forgives and simple does not.
    refold = lambda m: m.replace(b"\r\nTo: bob@", b"\r\nto:   bob@").replace(
        b"trailing space  \r\n", b"trailing space\t \r\n") + b"\r\n\r\n"
    add("relaxed rewhitespaced", lambda m: refold(dkimpy_sign(m, keys["rsa"], "rsa")))
    add("simple rewhitespaced",
        lambda m: refold(dkimpy_sign(m, keys["rsa"], "rsa", "simple/simple")))
    add("simple blank lines added",
        lambda m: dkimpy_sign(m, keys["ed25519"], "ed", "simple/simple") + b"\r\n\r\n")
    add("body changed", lambda m: dkimpy_sign(m, keys["rsa"], "rsa").replace(b"Alice\r\n",
                                                                              b"Mallory\r\n"))
    add("signed header changed", lambda m: dkimpy_sign(m, keys["rsa"], "rsa").replace(
        b"Date: Sat, 05 Dec 2026 06:00", b"Date: Sat, 05 Dec 2026 07:00"))
    add("unsigned header added",
        lambda m: b"X-Mailer: later\r\n" + dkimpy_sign(m, keys["rsa"], "rsa"))
    add("other rsa key", lambda m: dkimpy_sign(m, keys["rsa-other"], "rsa"))
    add("other ed25519 key", lambda m: dkimpy_sign(m, keys["ed25519-other"], "ed"))
    add("good and bad", lambda m: dkimpy_sign(dkimpy_sign(m, keys["rsa"], "rsa"),
                                              keys["ed25519-other"], "ed"))
    add("revoked key", lambda m: dkimpy_sign(m, keys["rsa"], "revoked"))
    add("no key record", lambda m: dkimpy_sign(m, keys["rsa"], "nothing"))
    add("no such domain",
        lambda m: dkimpy_sign(m, keys["rsa"], "rsa", domain="gone.test"))
    add("expired", lambda m: dkimpy_sign(
        m, keys["rsa"], "rsa", extra=[(b"t", b"%d" % (now - 3 * 86400)),
                                      (b"x", b"%d" % (now - 2 * 86400))]))
    add("expires tomorrow", lambda m: dkimpy_sign(
        m, keys["ed25519"], "ed", extra=[(b"x", b"%d" % (now + 86400))]))
    add("l= text appended", lambda m: dkimpy_sign(m, keys["rsa"], "rsa", length=True)
        + b"appended below the signed length\r\n")
    add("l= body changed", lambda m: dkimpy_sign(m, keys["rsa"], "rsa", length=True).replace(
        b"Hello,", b"Hullo,"))
    add("512-bit key", lambda m: dkimpy_sign(m, keys["rsa-512"], "short"))
    add("key type mismatch", lambda m: dkimpy_sign(m, keys["ed25519"], "rsa"))
    # Keys of other sizes (4096 bits: a record of three strings) and records written otherwise.
    add("1024-bit key", lambda m: dkimpy_sign(m, keys["rsa-1024"], "k1024"))
    add("4096-bit key", lambda m: dkimpy_sign(m, keys["rsa-4096"], "k4096"))
    add("key in testing", lambda m: dkimpy_sign(m, keys["rsa"], "testing"))
    add("key with every tag", lambda m: dkimpy_sign(m, keys["rsa"], "tagged"))
    add("key with spaces in p=", lambda m: dkimpy_sign(m, keys["rsa"], "spaced"))
    add("key without v=", lambda m: dkimpy_sign(m, keys["ed25519"], "nov"))
    add("key for another service", lambda m: dkimpy_sign(m, keys["rsa"], "service"))
    add("key of version 2", lambda m: dkimpy_sign(m, keys["rsa"], "version"))
    add("key of unknown type", lambda m: dkimpy_sign(m, keys["rsa"], "dsa"))
    add("identity in a subdomain",
        lambda m: dkimpy_sign(m, keys["rsa"], "rsa", identity=b"@mail.good.test"))
    add("identity of a user", lambda m: dkimpy_sign(m, keys["rsa"], "strict",
                                                    identity=b"alice@good.test"))
    # c= left out is simple/simple, c=relaxed alone is relaxed/simple (RFC 6376 section 3.5).
    add("no c=", lambda m: dkimpy_sign(m, keys["rsa"], "rsa", "simple/simple",
                                       extra=[(b"c", None)]))
    add("c= of the header only", lambda m: dkimpy_sign(m, keys["ed25519"], "ed", "relaxed/simple",
                                                       extra=[(b"c", b"relaxed")]))
    add("d= in capitals", lambda m: dkimpy_sign(m, keys["rsa"], "rsa", domain="GOOD.Test"))
    add("selector with a dot", lambda m: dkimpy_sign(m, keys["ed25519"], "2026.ed"))
    add("unsigned", lambda m: m)
    return cases


def corpus_zone(keys):
    p = keys["rsa"].p
    records = {
        "rsa._domainkey.good.test": keys["rsa"].record(),
        "ed._domainkey.good.test": keys["ed25519"].record(),
        "revoked._domainkey.good.test": "v=DKIM1; k=rsa; p=",
        "short._domainkey.good.test": keys["rsa-512"].record(),
        "k1024._domainkey.good.test": keys["rsa-1024"].record(),
        "k4096._domainkey.good.test": keys["rsa-4096"].record(),
        "testing._domainkey.good.test": "v=DKIM1; k=rsa; t=y; p=" + p,
        "tagged._domainkey.good.test": "v=DKIM1; h=sha256; k=rsa; s=email; t=y:s; n=notes; p=" + p,
        "spaced._domainkey.good.test": "v=DKIM1; k=rsa; p=" + " ".join(
            p[i:i + 64] for i in range(0, len(p), 64)),
        "nov._domainkey.good.test": "k=ed25519;p=" + keys["ed25519"].p,
        "service._domainkey.good.test": "v=DKIM1; k=rsa; s=other; p=" + p,
        "version._domainkey.good.test": "v=DKIM2; k=rsa; p=" + p,
        "dsa._domainkey.good.test": "v=DKIM1; k=dsa; p=" + p,
        "strict._domainkey.good.test": "v=DKIM1; k=rsa; t=s; p=" + p,
        "sha1._domainkey.good.test": "v=DKIM1; k=rsa; h=sha1; p=" + p,
        "2026.ed._domainkey.good.test": keys["ed25519"].record(),
    }
    return records, [txt(name, value) for name, value in records.items()]


def verifying_server(start_server, install, dns_port, dkim_ini="", dns_ini=None):
    saved = install / "saved"
    saved.mkdir(exist_ok=True)
    files = {
        "dns.ini": dns_ini or dns_zone.resolver_ini(dns_port),
        "accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\nsave=%s\n" % saved,
    }
    if dkim_ini:
        files["dkim.ini"] = dkim_ini
    return start_server(plugins=["dkim", "accept"], so=["accept"], files=files), saved


def our_dkim_results(raw):
    """[(result, header.b, the entry)] of the dkim= entries in our Authentication-Results field,
    top signature first, as the field lists them."""
    import authres
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    [field] = [f for f in message.get_all("Authentication-Results") or []
               if f.startswith("mx.test.example;")]
    value = " ".join(field.split())
    parsed = authres.AuthenticationResultsHeader.parse_value(value)
    results = [r.result for r in parsed.results if r.method == "dkim"]
    # header.b is quoted when it holds a '/' (not a token character), and authres 1.2.0
    # leaves quoted ones out: read it from the entries, split where no quoted string is open.
    entries = [e.strip() for e in re.findall(r'(?:[^;"]|"[^"]*")+', value)[1:]]
    entries = [e for e in entries if e.startswith("dkim=")]
    assert len(entries) == len(results), value
    found = []
    for result, entry in zip(results, entries):
        b = re.search(r'\bheader\.b=(?:"([^"]*)"|([^\s"]+))', entry)
        found.append((result, b and (b.group(1) or b.group(2)), entry))
    return found


def send_raw(server, message):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
        client.ehlo("client.example.org")
        assert client.sendmail("alice@good.test", ["bob@example.com"], message) == {}


def compare_with_dkimpy(saved, records, subject, message):
    """[(subject, signature, ours, dkimpy's)] where we differ; asserts a result per signature."""
    raw = stored(saved, subject)
    ours = our_dkim_results(raw)
    fields = signature_fields(message)
    if not fields:
        assert [r[0] for r in ours] == ["none"], (subject, ours)
        return []
    assert len(ours) == len(fields), (subject, ours)
    differences = []
    for index, field in enumerate(fields):
        b = tags(field)["b"][:8]
        [(result, _, entry)] = [r for r in ours if r[1] == b]
        theirs = dkimpy_verify(message, records, index)
        if (result == "pass") != theirs:
            differences.append((subject, index, entry, "dkimpy: %s" % theirs))
    return differences


@pytest.fixture(scope="module")
def corpus_dns(keys):
    records, zone = corpus_zone(keys)
    with dns_zone.serve(zone) as port:
        yield port, records


@needs_dnsmasq
def test_verification_passes_exactly_what_dkimpy_passes(start_server, install, keys, corpus_dns):
    port, records = corpus_dns
    server, saved = verifying_server(start_server, install, port)
    cases = corpus(keys)
    assert len(cases) >= 12
    for _, message in cases:
        send_raw(server, message)
    differences = []
    results = {}
    for subject, message in cases:
        differences += compare_with_dkimpy(saved, records, subject, message)
        results[subject] = [r[0] for r in our_dkim_results(stored(saved, subject))]
    assert differences == [], "\n".join(map(str, differences))
    # The corpus has both outcomes, and what is not a pass is named as RFC 8601 names it.
    passes = [s for s, r in results.items() if "pass" in r]
    assert len(passes) >= 8 and len(passes) < len(results) - 8, results
    allowed = {"pass", "fail", "neutral", "policy", "permerror", "temperror", "none"}
    assert all(set(r) <= allowed for r in results.values()), results
    assert results["corpus body changed"] == ["fail"], results
    assert results["corpus unsigned"] == ["none"], results


def stored_with_case(saved, case, timeout=10):
    """The saved message (bytes, without the envelope line) with the field X-Case: `case`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in saved.iterdir():
            raw = path.read_bytes().split(b"\r\n", 1)[1]
            if (b"X-Case: " + case.encode() + b"\r\n") in raw:
                return raw
        time.sleep(0.05)
    raise AssertionError("no stored message with X-Case: %s" % case)


class OpenDkimSigner:
    """OpenDKIM signing as a milter behind a private Postfix (test/bench/postfix_peer.py) that
    relays to `sink_port`: what it delivers there is mail OpenDKIM signed."""

    def __init__(self, key_pem, selector, domain, canonicalization, sink_port):
        sys.path.insert(0, str(BENCH))
        from postfix_peer import PostfixPeer
        # Not under pytest's directories, which the postfix user may not enter.
        self.workdir = workdir = pathlib.Path(tempfile.mkdtemp(prefix="opendkim-signer-"))
        os.chmod(workdir, 0o755)  # the postfix user reaches the milter's socket
        key = workdir / "signing.pem"
        key.write_bytes(key_pem)
        os.chmod(key, 0o600)
        self.socket = workdir / "opendkim.sock"
        conf = workdir / "opendkim.conf"
        conf.write_text(
            "Syslog no\nBackground no\nMode s\nDomain %s\nSelector %s\nKeyFile %s\n"
            "Canonicalization %s\nSignatureAlgorithm rsa-sha256\nSocket local:%s\n"
            "PidFile %s\nUMask 000\nRequireSafeKeys false\n"
            % (domain, selector, key, canonicalization, self.socket, workdir / "opendkim.pid"))
        self.milter = subprocess.Popen([OPENDKIM, "-f", "-x", str(conf)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while not self.socket.exists():
            assert self.milter.poll() is None, self.milter.stderr.read()
            assert time.monotonic() < deadline, "opendkim did not listen"
            time.sleep(0.05)
        relay = "smtp:[127.0.0.1]:%d" % sink_port
        self.postfix = None
        try:
            self.postfix = PostfixPeer(workdir, "postfix", {
                "smtpd_milters": "unix:%s" % self.socket, "milter_default_action": "tempfail",
                "default_transport": relay, "relay_transport": relay,
                "relay_domains": "example.com"})
        except BaseException:
            self.stop()
            raise

    def send(self, message):
        with smtplib.SMTP("127.0.0.1", self.postfix.port, timeout=30) as client:
            assert client.sendmail("alice@good.test", ["bob@example.com"], message) == {}

    def stop(self):
        if getattr(self, "postfix", None) is not None:
            self.postfix.stop()
        self.milter.terminate()
        self.milter.wait(timeout=10)
        shutil.rmtree(self.workdir, ignore_errors=True)


@needs_dnsmasq
@pytest.mark.skipif(os.getuid() != 0 or not os.path.exists(OPENDKIM),
                    reason="needs root (Postfix) and opendkim")
def test_mail_opendkim_signed_verifies_as_dkimpy_says(start_server, install, keys, corpus_dns,
                                                      sink):
    # OpenDKIM signs as Postfix's milter (its test tool signs only rsa-sha1); each message is
    # then sent as signed, and broken after signing, to Upesi.
    sink_port, out = sink
    signed = []
    for canonicalization in ("relaxed/relaxed", "simple/simple"):
        signer = OpenDkimSigner(keys["rsa"].pem, "rsa", "good.test", canonicalization, sink_port)
        try:
            subject = "opendkim %s" % canonicalization
            signer.send(unsigned(subject))
            got = [m for m in received(out, want=len(signed) + 1)
                   if ("Subject: %s\r\n" % subject) in m["data"]]
            assert len(got) == 1, "Postfix did not relay the message through OpenDKIM"
            signed.append((subject, got[0]["data"].encode()))
        finally:
            signer.stop()
    cases = []
    for subject, message in signed:
        [field] = signature_fields(message)
        assert tags(field)["a"] == "rsa-sha256" and tags(field)["d"] == "good.test", field
        cases.append((subject, message))
        cases.append((subject + " body changed",
                      message.replace(b"Alice\r\n", b"Mallory\r\n")))
    port, records = corpus_dns
    server, saved = verifying_server(start_server, install, port)
    differences = []
    results = {}
    for number, (name, message) in enumerate(cases):
        # Copies share their Subject: each is found by a field the signature does not cover.
        case = "opendkim-case-%d" % number
        message = b"X-Case: " + case.encode() + b"\r\n" + message
        send_raw(server, message)
        ours = [r[0] for r in our_dkim_results(stored_with_case(saved, case))]
        theirs = dkimpy_verify(message, records)
        results[name] = (ours, theirs)
        if (ours == ["pass"]) != theirs:
            differences.append((name, ours, "dkimpy: %s" % theirs))
    assert differences == [], "\n".join(map(str, differences))
    assert [name for name, (ours, _) in results.items() if ours == ["pass"]] == [
        "opendkim relaxed/relaxed", "opendkim simple/simple"], results


@needs_dnsmasq
def test_rules_dkimpy_leaves_unchecked_are_honoured(start_server, install, keys,
                                                               corpus_dns):
    # RFC 6376 section 3.6.1: a key's h= lists the hashes it may be used with, and t=s forbids
    # an i= in a subdomain of d=; RFC 8301 retires rsa-sha1. dkimpy passes all three; they must
    # not pass here.
    port, records = corpus_dns
    server, saved = verifying_server(start_server, install, port)
    cases = {
        "sha1 only key": lambda m: dkimpy_sign(m, keys["rsa"], "sha1"),
        "strict key, subdomain identity": lambda m: dkimpy_sign(
            m, keys["rsa"], "strict", identity=b"@mail.good.test"),
        "rsa-sha1": lambda m: dkimpy_sign(m, keys["rsa"], "rsa", algorithm=b"rsa-sha1"),
    }
    for subject, build in cases.items():
        message = build(unsigned(subject))
        assert dkimpy_verify(message, records), "dkimpy checks this now: move it to the corpus"
        send_raw(server, message)
        [(result, _, entry)] = our_dkim_results(stored(saved, subject))
        assert result in ("fail", "permerror"), entry


@needs_dnsmasq
def test_a_body_with_bare_lf_line_ends_signed_as_such_passes(start_server, install, keys,
                                                             corpus_dns):
    # Haraka#2594: signed by a program that writes LF, sent by SMTP with CRLF.
    port, records = corpus_dns
    server, saved = verifying_server(start_server, install, port)
    for key, selector in ((keys["rsa"], "rsa"), (keys["ed25519"], "ed")):
        for canon in ("relaxed/relaxed", "simple/simple"):
            subject = "bare lf %s %s" % (key.kind, canon)
            lf = unsigned(subject).replace(b"\r\n", b"\n")
            message = dkimpy_sign(lf, key, selector, canon)
            assert b"\r" not in message.split(b"\n\n", 1)[1]
            wire = re.sub(rb"\r?\n", b"\r\n", message)
            assert dkimpy_verify(wire, records)
            send_raw(server, wire)
            [(result, _, entry)] = our_dkim_results(stored(saved, subject))
            assert result == "pass", entry


@needs_dnsmasq
def test_bdat_chunks_cut_anywhere_verify(start_server, install, keys, corpus_dns, connect):
    # The body hashes are taken as the message streams in: chunks ending inside a CRLF, inside
    # the empty line ending the header, one byte long.
    port, records = corpus_dns
    server, saved = verifying_server(start_server, install, port)
    c = connect(server)
    code, lines = c.cmd("EHLO client.example.org")
    assert code == 250 and "CHUNKING" in lines
    for size in (1, 2, 3, 7, 64, 1000):
        subject = "chunks of %d" % size
        message = dkimpy_sign(dkimpy_sign(unsigned(subject), keys["rsa"], "rsa", "simple/simple"),
                              keys["ed25519"], "ed")
        assert c.cmd("MAIL FROM:<alice@good.test>")[0] == 250
        assert c.cmd("RCPT TO:<bob@example.com>")[0] == 250
        chunks = [message[i:i + size] for i in range(0, len(message), size)]
        for number, chunk in enumerate(chunks):
            last = number == len(chunks) - 1
            c.send(b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b"") + chunk)
            code, lines = c.reply()
            assert code == 250, (size, number, lines)
        results = our_dkim_results(stored(saved, subject))
        assert [r[0] for r in results] == ["pass", "pass"], (size, results)
    assert c.cmd("QUIT")[0] == 221


@needs_dnsmasq
def test_each_transaction_of_a_session_gets_its_own_results(start_server, install, keys,
                                                            corpus_dns):
    port, records = corpus_dns
    server, saved = verifying_server(start_server, install, port)
    good = dkimpy_sign(unsigned("session good"), keys["ed25519"], "ed")
    broken = dkimpy_sign(unsigned("session broken"), keys["rsa"], "rsa").replace(b"Alice\r\n",
                                                                                b"Eve\r\n")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
        client.ehlo("client.example.org")
        for message in (good, unsigned("session unsigned"), broken):
            assert client.sendmail("alice@good.test", ["bob@example.com"], message) == {}
        # A transaction reset before its DATA leaves nothing for the next one.
        assert client.mail("alice@good.test")[0] == 250
        assert client.rset()[0] == 250
        assert client.sendmail("alice@good.test", ["bob@example.com"], good.replace(
            b"Subject: session good", b"Subject: session good again")) == {}
    expected = {"session good": ["pass"], "session unsigned": ["none"],
                "session broken": ["fail"], "session good again": ["fail"]}
    for subject, want in expected.items():
        results = our_dkim_results(stored(saved, subject))
        assert [r[0] for r in results] == want, (subject, results)


def test_a_key_lookup_nobody_answers_is_a_temperror_after_the_timeout(start_server, install, keys):
    # A loopback UDP socket that reads and never answers; the resolver would wait 20 s, the
    # plugin's [verify] timeout gives up after 2.
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        server, saved = verifying_server(start_server, install, silent.getsockname()[1],
                                         "[verify]\ntimeout=2\n",
                                         dns_ini="[main]\nservers=127.0.0.1:%d\ntimeout_ms=20000\n"
                                                 "tries=1\n" % silent.getsockname()[1])
        message = dkimpy_sign(unsigned("no answer"), keys["rsa"], "rsa")
        started = time.monotonic()
        send_raw(server, message)
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    [(result, _, entry)] = our_dkim_results(stored(saved, "no answer"))
    assert result == "temperror", entry
    assert 1.5 < elapsed < 10, elapsed


@needs_dnsmasq
def test_signatures_past_the_eighth_are_not_checked(start_server, install, keys, corpus_dns):
    port, records = corpus_dns
    server, saved = verifying_server(start_server, install, port)
    message = unsigned("nine signatures")
    for number in range(9):
        key, selector = (keys["rsa"], "rsa") if number % 2 else (keys["ed25519"], "ed")
        message = dkimpy_sign(message, key, selector)
    assert all(dkimpy_verify(message, records, i) for i in range(9))
    send_raw(server, message)
    results = our_dkim_results(stored(saved, "nine signatures"))
    # The eight topmost, in order.
    expected = [tags(f)["b"][:8] for f in signature_fields(message)[:8]]
    assert [(r[0], r[1]) for r in results] == [("pass", b) for b in expected], results


def test_a_client_gone_while_keys_are_looked_up_leaves_the_server_serving(start_server, install,
                                                                          keys):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        server, saved = verifying_server(start_server, install, 0, "[verify]\ntimeout=1\n",
                                         dns_ini="[main]\nservers=127.0.0.1:%d\ntimeout_ms=500\n"
                                                 "tries=4\n" % silent.getsockname()[1])
        for number in range(3):
            subject = "gone %d" % number
            client = smtplib.SMTP("127.0.0.1", server.port, timeout=30)
            client.ehlo("client.example.org")
            assert client.mail("alice@good.test")[0] == 250
            assert client.rcpt("bob@example.com")[0] == 250
            assert client.docmd("DATA")[0] == 354
            message = dkimpy_sign(unsigned(subject), keys["rsa"], "rsa")
            client.send(re.sub(rb"(?m)^\.", b"..", message) + b".\r\n")  # dot-stuffed
            client.close()  # before the reply: the lookup is still waiting
        time.sleep(2.5)  # past the plugin's timeout and the resolver's
        assert server.proc.poll() is None, server.log()
        send_raw(server, dkimpy_sign(unsigned("after"), keys["rsa"], "rsa"))
        [(result, _, entry)] = our_dkim_results(stored(saved, "after", timeout=15))
        assert result == "temperror", entry
    finally:
        silent.close()


@needs_dnsmasq
@pytest.mark.parametrize("verify_ini, expected", [
    ("", ["pass", "pass"]),
    ("min_key_bits=2048\nallowed_time_skew=0\n", ["permerror", "permerror"]),
])
def test_minimum_key_size_and_time_skew_are_read_from_dkim_ini(start_server, install, keys,
                                                               corpus_dns, verify_ini, expected):
    port, records = corpus_dns
    server, saved = verifying_server(start_server, install, port, "[verify]\n" + verify_ini)
    now = int(time.time())
    messages = {
        "1024 bits": dkimpy_sign(unsigned("1024 bits"), keys["rsa-1024"], "k1024"),
        # Expired 100 s ago: within the default skew of 300 s.
        "just expired": dkimpy_sign(unsigned("just expired"), keys["rsa"], "rsa", extra=[
            (b"t", b"%d" % (now - 1000)), (b"x", b"%d" % (now - 100))]),
    }
    for message in messages.values():
        send_raw(server, message)
    results = [our_dkim_results(stored(saved, subject))[0] for subject in messages]
    assert [r[0] for r in results] == expected, results


@needs_dnsmasq
def test_body_length_refuse_makes_an_l_signature_a_policy_result(start_server, install, keys,
                                                                 corpus_dns):
    port, records = corpus_dns
    server, saved = verifying_server(start_server, install, port,
                                     "[verify]\nbody_length=refuse\n")
    message = dkimpy_sign(unsigned("l refused"), keys["rsa"], "rsa", length=True)
    send_raw(server, message + b"appended\r\n")
    [(result, _, entry)] = our_dkim_results(stored(saved, "l refused"))
    assert result == "policy", entry
    # Without l=, the same server passes it.
    send_raw(server, dkimpy_sign(unsigned("no l"), keys["rsa"], "rsa"))
    assert [r[0] for r in our_dkim_results(stored(saved, "no l"))] == ["pass"]


# --- upesi --check -----------------------------------------------------------------------------


def check(install):
    return run_upesi("-c", str(install), "--check")


@pytest.mark.parametrize("problem", ["not pem", "512-bit rsa", "no selector", "empty selector",
                                     "ed25519 not pem", "default key without selector"])
def test_check_names_a_key_file_that_cannot_sign(install, keys, problem):
    (install / "config/plugins").write_text("dkim\n")
    good = install / "config/dkim/good.test"
    good.mkdir(parents=True)
    (good / "private").write_bytes(keys["rsa"].pem)
    (good / "selector").write_text("sel\n")
    r = check(install)
    assert r.returncode == 0 and "configuration OK" in r.stdout, r.stderr
    bad = install / "config/dkim/bad.test"
    bad.mkdir()
    if problem == "not pem":
        (bad / "private").write_text("this is not a key\n")
        (bad / "selector").write_text("sel\n")
        named = "config/dkim/bad.test/private"
    elif problem == "512-bit rsa":
        (bad / "private").write_bytes(keys["rsa-512"].pem)
        (bad / "selector").write_text("sel\n")
        named = "config/dkim/bad.test/private"
    elif problem in ("no selector", "empty selector"):
        (bad / "private").write_bytes(keys["rsa"].pem)
        if problem == "empty selector":
            (bad / "selector").write_text("\n")
        named = "config/dkim/bad.test/selector"
    elif problem == "ed25519 not pem":
        (bad / "private").write_bytes(keys["ed25519"].pem)
        (bad / "selector").write_text("sel\n")
        (bad / "ed25519.private").write_text(base64.b64encode(b"x" * 32).decode() + "\n")
        (bad / "ed25519.selector").write_text("ed\n")
        named = "config/dkim/bad.test/ed25519.private"
    else:
        (install / "config/dkim.private.key").write_bytes(keys["rsa"].pem)
        named = "config/dkim.private.key"
    r = check(install)
    assert r.returncode != 0, (problem, r.stdout, r.stderr)
    assert named in r.stderr, (problem, r.stderr)
    assert "good.test" not in r.stderr, r.stderr


def test_check_reads_the_minimum_key_size_the_plugin_signs_with(install, keys):
    (install / "config/plugins").write_text("dkim\n")
    domain = install / "config/dkim/sizes.test"
    domain.mkdir(parents=True)
    (domain / "selector").write_text("sel\n")
    (domain / "private").write_bytes(keys["rsa-1024"].pem)
    ini = install / "config/dkim.ini"
    assert check(install).returncode == 0
    # Raised above the key's size: the plugin would not sign with it, so the check fails.
    ini.write_text("[sign]\nenabled=true\nmin_key_bits=2048\n")
    r = check(install)
    assert r.returncode != 0 and "config/dkim/sizes.test/private" in r.stderr, r.stderr
    assert "under the minimum 2048" in r.stderr, r.stderr
    # Lowered below it: a 512-bit key the plugin signs with passes the check.
    (domain / "private").write_bytes(keys["rsa-512"].pem)
    ini.write_text("[sign]\nenabled=true\nmin_key_bits=512\n")
    r = check(install)
    assert r.returncode == 0 and "configuration OK" in r.stdout, r.stderr
