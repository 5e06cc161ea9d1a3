"""The headers plugin over SMTP: each check's [reject] switch on and off with Haraka's reply
texts, Haraka's defaults (only a looping Delivered-To is refused), Return-Path removed from
inbound mail, and the old name data.headers with its own config and defaults."""
import email.utils
import re

import pytest

HOSTS = "example.com\n"
NOW = email.utils.formatdate(usegmt=True)


def serve(start_server, plugin="headers", ini=None, relay=False):
    files = {"host_list": HOSTS, "rcpt_to.in_host_list.ini": "[main]\nmailboxes=any\n",
             "outbound.ini": "[main]\ndisabled=true\n"}
    plugins = [plugin, "rcpt_to.in_host_list", "queue/maildir"]
    if relay:
        plugins.insert(0, "relay")
        files["relay_acl_allow"] = "127.0.0.0/8\n"
    if ini is not None:
        files[plugin + ".ini"] = ini
    return start_server(plugins=plugins, files=files)


def send(connect, server, header, sender="a@example.com", rcpt="you@example.com"):
    c = connect(server)
    assert c.cmd("EHLO client.example")[0] == 250
    assert c.cmd("MAIL FROM:<%s>" % sender)[0] == 250
    assert c.cmd("RCPT TO:<%s>" % rcpt)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(header + "\r\nbody\r\n.\r\n")
    code, lines = c.reply()
    c.cmd("QUIT")
    # The reply text without its enhanced status code (5.7.1), as Haraka's tests compare it.
    return code, re.sub(r"^\d\.\d+\.\d+ ", "", " ".join(lines))


GOOD = "From: a@example.com\r\nDate: %s\r\nSubject: ok\r\n" % NOW

# check, reject key, the header that fails it, the reply when rejected
CASES = [
    ("duplicate_singular", GOOD + "Subject: again\r\n",
     "Only one Subject header allowed. See RFC 5322, Section 3.6"),
    ("missing_required", "From: a@example.com\r\nSubject: x\r\n",
     "Required header 'Date' missing"),
    ("invalid_date", "From: a@example.com\r\nDate: tomorrow-ish\r\n",
     "The Date header could not be parsed"),
    ("invalid_date", "From: a@example.com\r\nDate: Mon, 1 Jan 2001 10:00:00 +0000\r\n",
     "The Date header is too old"),
    ("invalid_date", "From: a@example.com\r\nDate: Mon, 1 Jan 2101 10:00:00 +0000\r\n",
     "The Date header is too far in the future"),
    ("delivered_to", GOOD + "Delivered-To: You@example.com\r\n",
     "Invalid Delivered-To header content"),
    ("from_phish", "From: \"PayPa| Support\" <help@evil.example>\r\nDate: %s\r\n" % NOW,
     "Phishing message appears to impersonate paypal.com"),
]


@pytest.mark.parametrize("check,header,reply", CASES)
def test_reject_switch_refuses_with_harakas_text(start_server, connect, check, header, reply):
    server = serve(start_server, ini="[reject]\n%s=true\n" % check)
    code, text = send(connect, server, header)
    assert (code, text) == (550, reply)
    # The same message passes with the reject switch off (delivered_to: and the check off).
    off = "[reject]\n%s=false\n" % check
    if check == "delivered_to":
        off = "[check]\ndelivered_to=false\n"
    server.stop()
    server = serve(start_server, ini=off)
    assert send(connect, server, header)[0] == 250
    # A good message passes the check with its switch on.
    assert send(connect, server, GOOD)[0] == 250


def test_harakas_defaults_refuse_only_a_looping_delivered_to(start_server, connect):
    server = serve(start_server)
    for header, _ in [(c[1], c[2]) for c in CASES if c[0] != "delivered_to"]:
        assert send(connect, server, header)[0] == 250, header
    code, text = send(connect, server, GOOD + "Delivered-To: you@example.com\r\n")
    assert (code, text) == (550, "Invalid Delivered-To header content")
    # Another recipient named in Delivered-To is no loop.
    assert send(connect, server, GOOD + "Delivered-To: else@example.com\r\n")[0] == 250


def test_return_path_is_removed_inbound_and_refused_from_relaying_clients(start_server, install,
                                                                          connect):
    server = serve(start_server)
    assert send(connect, server, GOOD + "Return-Path: <forged@evil.example>\r\n")[0] == 250
    [stored] = list((install / "maildir").rglob("new/*"))
    text = stored.read_text()
    assert "forged@evil.example" not in text
    assert text.startswith("Return-Path: <a@example.com>")  # the one final delivery adds

    server.stop()
    server = serve(start_server, relay=True, ini="[reject]\ninvalid_return_path=true\n")
    code, text = send(connect, server, GOOD + "Return-Path: <a@example.com>\r\n",
                      rcpt="x@elsewhere.example")
    assert (code, text) == (550, "outgoing mail must not have a Return-Path header (RFC 5321)")


def test_phish_target_authenticated_or_own_domain_passes(start_server, connect):
    server = serve(start_server, ini="[reject]\nfrom_phish=true\n[phish_targets]\nacme=acme.test\n")
    assert send(connect, server, "From: ACME <billing@acme.test>\r\nDate: %s\r\n" % NOW)[0] == 250
    code, text = send(connect, server, "From: Acme Billing <x@evil.example>\r\nDate: %s\r\n" % NOW)
    assert (code, text) == (550, "Phishing message appears to impersonate acme.test")
    # A brand inside another word is not the brand.
    assert send(connect, server, "From: Acmeco <x@evil.example>\r\nDate: %s\r\n" % NOW)[0] == 250


def test_required_singular_and_date_bounds_are_configurable(start_server, connect):
    server = serve(start_server, ini="required=From,Date,Message-Id\nsingular=Subject,X-One\n"
                                     "date_past_days=0\ndate_future_days=0\n"
                                     "[reject]\nmissing_required=true\nduplicate_singular=true\n"
                                     "invalid_date=true\n")
    code, text = send(connect, server, GOOD)
    assert (code, text) == (550, "Required header 'Message-Id' missing")
    with_id = GOOD + "Message-Id: <1@example.com>\r\n"
    assert send(connect, server, with_id + "To: a\r\nTo: b\r\n")[0] == 250
    code, text = send(connect, server, with_id + "X-One: a\r\nX-One: b\r\n")
    assert (code, text) == (550, "Only one X-One header allowed. See RFC 5322, Section 3.6")
    old = "From: a@example.com\r\nMessage-Id: <2@x>\r\nDate: Mon, 1 Jan 2001 10:00:00 +0000\r\n"
    assert send(connect, server, old)[0] == 250


def test_old_name_data_headers_keeps_its_config_and_defaults(start_server, connect):
    server = serve(start_server, plugin="data.headers")
    code, text = send(connect, server, GOOD + "Subject: again\r\n")
    assert (code, text) == (550, "Only one Subject header allowed. See RFC 5322, Section 3.6")
    # Its other defaults: a looping Delivered-To and a bad Date are not its business.
    assert send(connect, server, GOOD + "Delivered-To: you@example.com\r\n")[0] == 250
    assert send(connect, server, "From: a@example.com\r\nDate: whenever\r\n")[0] == 250
    server.stop()
    server = serve(start_server, plugin="data.headers",
                   ini="[check]\ninvalid_date=true\n[reject]\ninvalid_date=true\n")
    code, text = send(connect, server, "From: a@example.com\r\nDate: whenever\r\n")
    assert (code, text) == (550, "The Date header is not a valid date")


def test_public_suffix_list_gives_the_organizational_domain(start_server, install, connect):
    # Under a list where paypal.com is itself a public suffix, service.paypal.com is its own
    # organizational domain, so it no longer counts as paypal.com.
    psl = install / "psl.dat"
    psl.write_text("com\npaypal.com\n")
    header = "From: PayPal <x@service.paypal.com>\r\nDate: %s\r\n" % NOW
    ini = "[reject]\nfrom_phish=true\n[phish_targets]\npaypal=paypal.com\n"
    server = serve(start_server, ini=ini)
    assert send(connect, server, header)[0] == 250
    server.stop()
    server = serve(start_server, ini="public_suffix_list=%s\n%s" % (psl, ini))
    code, text = send(connect, server, header)
    assert (code, text) == (550, "Phishing message appears to impersonate paypal.com")
