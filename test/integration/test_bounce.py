"""The bounce plugin over SMTP: all_bounces, bad_rcpt, single_recipient, empty_return_path,
the X-Haraka-Bounce-Validation hash (made by our outbound, checked on bounces with a fresh, a
stale and a forged hash, and the whitelist), and bounce_spf against a dnsmasq zone."""
import email.utils
import hashlib
import hmac
import re
import time

import pytest

import dns_zone
from dns_zone import txt

SECRET = "s3cret-s3cret-s3cret-s3cret-s3cret!"
HOSTS = "example.com\nbounce.test\nnone.test\n"
ZONE = [txt("bounce.test", "v=spf1 ip4:203.0.113.0/24 -all")]


def serve(start_server, ini="", files=None, plugins=("bounce",)):
    config = {"host_list": HOSTS, "rcpt_to.in_host_list.ini": "[main]\nmailboxes=any\n",
              "outbound.ini": "[main]\ndisabled=true\n", "bounce.ini": ini}
    config.update(files or {})
    return start_server(plugins=list(plugins) + ["rcpt_to.in_host_list", "queue/maildir"],
                        files=config)


def reply_text(lines):
    return re.sub(r"^\d\.\d+\.\d+ ", "", " ".join(lines))


def envelope(connect, server, sender, recipients):
    """(client, reply): the first refusal of MAIL or RCPT, else (250, "")."""
    c = connect(server)
    assert c.cmd("EHLO client.example")[0] == 250
    code, lines = c.cmd("MAIL FROM:<%s>" % sender)
    if code != 250:
        return c, (code, reply_text(lines))
    for rcpt in recipients:
        code, lines = c.cmd("RCPT TO:<%s>" % rcpt)
        if code != 250:
            return c, (code, reply_text(lines))
    return c, (250, "")


def session(connect, server, sender, recipients):
    c, reply = envelope(connect, server, sender, recipients)
    c.cmd("QUIT")
    return reply


def deliver(connect, server, message, recipients=("a@example.com",), sender=""):
    """The reply to the whole transaction: the first refusal, or the reply after the dot."""
    c, reply = envelope(connect, server, sender, recipients)
    if reply[0] == 250:
        code, lines = c.cmd("DATA")
        reply = (code, reply_text(lines))
        if code == 354:
            c.send(message.replace("\n", "\r\n") + "\r\n.\r\n")
            code, lines = c.reply()
            reply = (code, reply_text(lines))
    c.cmd("QUIT")
    return reply


def original(date=None, message_id="<orig-1@example.com>", sender="a@example.com", hashed=True,
             secret=SECRET, received="Received: from mua (mua.example [203.0.113.7])\n"):
    """The returned original message's header, with the hash a node with `secret` adds."""
    date = date or email.utils.formatdate(usegmt=True)
    lines = received + "From: %s\nDate: %s\nMessage-ID: %s\nSubject: hello\n" % (
        sender, date, message_id)
    if hashed:
        mac = hmac.new(secret.encode(), ("%s:%s:%s" % (sender, date, message_id)).encode(),
                       hashlib.sha256).hexdigest()
        lines += "X-Haraka-Bounce-Validation: %s\n" % mac
    return lines


def bounce(returned, to="a@example.com"):
    """A DSN (RFC 3464) returning `returned` as its message/rfc822 part."""
    return ("From: MAILER-DAEMON@remote.example\nTo: %s\nDate: %s\nSubject: failure\n"
            "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status;"
            " boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nundeliverable\n"
            "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; remote.example\n"
            "--B\nContent-Type: message/rfc822\n\n%s\nbody\n--B--\n"
            % (to, email.utils.formatdate(usegmt=True), returned))


def test_all_bounces_refuses_null_senders_only(start_server, connect):
    server = serve(start_server, "[reject]\nall_bounces=true\n")
    refused = session(connect, server, "", ["a@example.com"])
    assert refused == (550, "Bounces not accepted here")
    assert session(connect, server, "s@remote.example", ["a@example.com"])[0] == 250


def test_all_bounces_from_the_old_check_key(start_server, connect):
    server = serve(start_server, "[check]\nreject_all=true\n")
    assert session(connect, server, "", ["a@example.com"])[0] == 550


def test_bad_rcpt_takes_no_bounces(start_server, connect):
    files = {"bounce_bad_rcpt": "No-Reply@example.com\n"}
    server = serve(start_server, files=files)
    refused = session(connect, server, "", ["no-reply@example.com"])
    assert refused == (550, "no-reply@example.com does not accept bounces")
    # Mail with a sender may go there, and bounces to others are fine.
    assert session(connect, server, "s@remote.example", ["no-reply@example.com"])[0] == 250
    assert session(connect, server, "", ["a@example.com"])[0] == 250
    server.stop()
    server = serve(start_server, "[reject]\nbad_rcpt=false\n", files=files)
    assert session(connect, server, "", ["no-reply@example.com"])[0] == 250


def test_single_recipient(start_server, connect):
    server = serve(start_server)
    message = "From: x@remote.example\nDate: %s\n\nbody" % email.utils.formatdate(usegmt=True)
    # Refused at DATA: Haraka's code for a data hook's DENY is 554.
    assert deliver(connect, server, message, ["a@example.com", "b@example.com"]) == (
        554, "this bounce message has too many recipients")
    assert deliver(connect, server, message, ["a@example.com"])[0] == 250
    assert deliver(connect, server, message, ["a@example.com", "b@example.com"],
                   sender="s@remote.example")[0] == 250
    server.stop()
    server = serve(start_server, "[reject]\nsingle_recipient=false\n")
    assert deliver(connect, server, message, ["a@example.com", "b@example.com"])[0] == 250


def test_empty_return_path(start_server, connect):
    server = serve(start_server, "[reject]\nempty_return_path=true\n")
    body = "From: x@remote.example\n\nbody"
    assert deliver(connect, server, "Return-Path: <x@remote.example>\n" + body) == (
        550, "bounce with non-empty Return-Path (RFC 3834)")
    assert deliver(connect, server, "Return-Path: <>\n" + body)[0] == 250
    assert deliver(connect, server, body)[0] == 250


HASH_INI = ("[validation]\nsecret=%s\n[check]\nbounce_spf=false\nhash_validation=true\n"
            "[reject]\nhash_validation=true\nhash_date=true\n" % SECRET)


def test_bounce_with_a_valid_fresh_hash_is_accepted(start_server, connect):
    server = serve(start_server, HASH_INI)
    assert deliver(connect, server, bounce(original()))[0] == 250


@pytest.mark.parametrize("returned", [
    original(secret=SECRET + "-other"),  # forged: another secret
    original(hashed=False),  # no hash, not whitelisted
    original().replace("Message-ID: <orig-1@example.com>", "Message-ID: <orig-2@example.com>"),
], ids=["forged", "missing", "altered"])
def test_bounce_without_a_valid_hash_is_refused(start_server, connect, returned):
    server = serve(start_server, HASH_INI)
    assert deliver(connect, server, bounce(returned)) == (550, "invalid bounce")


def test_stale_hash_follows_max_hash_age_days_and_hash_date(start_server, connect):
    ten_days_ago = email.utils.formatdate(time.time() - 10 * 86400, usegmt=True)
    server = serve(start_server, HASH_INI)
    assert deliver(connect, server, bounce(original(date=ten_days_ago))) == (550,
                                                                           "invalid bounce")
    server.stop()
    server = serve(start_server, HASH_INI + "[validation]\nmax_hash_age_days=11\n")
    assert deliver(connect, server, bounce(original(date=ten_days_ago)))[0] == 250
    server.stop()
    server = serve(start_server, HASH_INI.replace("hash_date=true", "hash_date=false"))
    assert deliver(connect, server, bounce(original(date=ten_days_ago)))[0] == 250


def test_whitelisted_sender_needs_no_hash(start_server, connect):
    files = {"bounce_whitelist.json": '{"A@example.com": ["*@remote.example"]}'}
    server = serve(start_server, HASH_INI, files=files)
    assert deliver(connect, server, bounce(original(hashed=False)))[0] == 250
    assert deliver(connect, server, bounce(original(hashed=False), to="b@example.com"),
                   ["b@example.com"]) == (550, "invalid bounce")


def test_reject_off_records_but_accepts_and_bad_secret_disables(start_server, connect):
    server = serve(start_server, HASH_INI.replace("[reject]\nhash_validation=true",
                                                  "[reject]\nhash_validation=false"))
    assert deliver(connect, server, bounce(original(secret="x" * 40)))[0] == 250
    server.stop()
    server = serve(start_server, HASH_INI.replace(SECRET, "short"))
    assert "secret that is too short" in server.log()
    assert deliver(connect, server, bounce(original(secret="x" * 40)))[0] == 250
    server.stop()
    server = serve(start_server, HASH_INI + "[validation]\nhash_algorithm=nosuch\n")
    assert "invalid hash algorithm: nosuch" in server.log()


def test_skip_remaining_plugins_after_a_valid_hash(start_server, connect):
    # headers with [reject] missing_required would refuse the bounce (no Date); a valid hash
    # with [skip] remaining_plugins skips it.
    message = bounce(original()).replace("Date: ", "X-Date: ", 1)
    ini = HASH_INI + "[skip]\nremaining_plugins=true\n"
    headers = {"headers.ini": "[reject]\nmissing_required=true\n"}
    server = serve(start_server, ini, files=headers, plugins=("bounce", "headers"))
    assert deliver(connect, server, message)[0] == 250
    server.stop()
    server = serve(start_server, HASH_INI, files=headers, plugins=("bounce", "headers"))
    assert deliver(connect, server, message) == (550, "Required header 'Date' missing")


def test_our_outbound_mail_carries_a_hash_a_bounce_brings_back(start_server, install, connect):
    server = serve(start_server, HASH_INI, files={"relay_acl_allow": "127.0.0.0/8\n"},
                   plugins=("relay", "bounce"))
    date = email.utils.formatdate(usegmt=True)
    message = "From: me@example.com\nDate: %s\nMessage-ID: <out-1@example.com>\n\nhi" % date
    assert deliver(connect, server, message, ["you@elsewhere.example"],
                   sender="me@example.com")[0] == 250
    [queued] = [p for p in (install / "queue").iterdir() if p.is_file()]
    stored = queued.read_bytes().decode("utf-8", "replace")
    found = re.search(r"X-Haraka-Bounce-Validation: ([0-9a-f]+)", stored)
    assert found, stored
    expected = hmac.new(SECRET.encode(), ("me@example.com:%s:<out-1@example.com>" % date)
                        .encode(), hashlib.sha256).hexdigest()
    assert found.group(1) == expected
    # The bounce of that message, carrying its header back, is accepted.
    returned = "From: me@example.com\nDate: %s\nMessage-ID: <out-1@example.com>\n" \
               "X-Haraka-Bounce-Validation: %s\n" % (date, found.group(1))
    assert deliver(connect, server, bounce(returned, to="me@example.com"),
                   ["me@example.com"])[0] == 250


@pytest.fixture
def zone():
    if not dns_zone.AVAILABLE:
        pytest.skip("needs dnsmasq")
    with dns_zone.serve(ZONE) as port:
        yield port


def test_bounce_spf(start_server, connect, zone):
    server = serve(start_server, "[reject]\nbounce_spf=true\n",
                   files={"dns.ini": dns_zone.resolver_ini(zone)})
    spoofed = "Received: from x (x.example [198.51.100.7])\n"
    # A hop in bounce.test's SPF record: a genuine bounce.
    assert deliver(connect, server, bounce(original(hashed=False), to="a@bounce.test"),
                   ["a@bounce.test"])[0] == 250
    # Only hops the domain does not send from: spoofed.
    assert deliver(connect, server, bounce(original(hashed=False, received=spoofed),
                                           to="a@bounce.test"), ["a@bounce.test"]) == (
        550, "Invalid bounce (spoofed sender)")
    # One good hop among bad ones passes.
    both = spoofed + "Received: from y (y.example [203.0.113.9])\n"
    assert deliver(connect, server, bounce(original(hashed=False, received=both),
                                           to="a@bounce.test"), ["a@bounce.test"])[0] == 250
    # No SPF record (none): skipped; no public hop: skipped.
    assert deliver(connect, server, bounce(original(hashed=False, received=spoofed),
                                           to="a@none.test"), ["a@none.test"])[0] == 250
    private = "Received: from lan ([10.0.0.5])\n"
    assert deliver(connect, server, bounce(original(hashed=False, received=private),
                                           to="a@bounce.test"), ["a@bounce.test"])[0] == 250
    server.stop()
    server = serve(start_server, "[main]\nmax_received_ips=1\n[reject]\nbounce_spf=true\n",
                   files={"dns.ini": dns_zone.resolver_ini(zone)})
    # Bounded: only the first hop is looked at.
    assert deliver(connect, server, bounce(original(hashed=False, received=both),
                                           to="a@bounce.test"), ["a@bounce.test"])[0] == 550


def test_bounce_spf_without_an_answer_in_lookup_timeout_is_skipped(start_server, connect):
    dead_port = dns_zone.free_port()  # nothing answers there
    server = serve(start_server, "[main]\nlookup_timeout=1\n[reject]\nbounce_spf=true\n",
                   files={"dns.ini": "[main]\nservers=127.0.0.1:%d\ntimeout_ms=5000\ntries=3\n"
                          % dead_port})
    started = time.time()
    assert deliver(connect, server, bounce(original(hashed=False), to="a@bounce.test"),
                   ["a@bounce.test"])[0] == 250
    assert time.time() - started < 5
