"""The access plugin through the real binary: each list file for connect (IP and rDNS name),
HELO, MAIL FROM and RCPT TO, regex files, the whitelist beating the blacklist, access.domains by
organizational domain, the deny_msg texts, and a list file changed under a running server.
Clients connect from several loopback addresses; the core names them all "localhost"."""
import smtplib
import time

import pytest

ACCEPT = {"accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\n"}


def start(start_server, files, ini=""):
    all_files = dict(ACCEPT, **files)
    all_files["access.ini"] = ini
    return start_server(plugins=["access", "accept"], so=["accept"], files=all_files)


def greeting(server, source):
    """The greeting's code for a client from `source`."""
    client = smtplib.SMTP(timeout=10, source_address=(source, 0))
    try:
        code, text = client.connect("127.0.0.1", server.port)
        return code, text.decode()
    except smtplib.SMTPServerDisconnected:
        return None, ""
    finally:
        client.close()


def session(server, source="127.0.0.1", helo="client.example.org", sender="a@example.org",
            rcpt="b@example.org", from_header=None):
    """Runs one transaction; returns the first refusal as (stage, code, text) or ("ok", 250, "")."""
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10,
                      source_address=(source, 0)) as client:
        code, text = client.ehlo(helo)
        if code != 250:
            return "helo", code, text.decode()
        code, text = client.mail(sender)
        if code != 250:
            return "mail", code, text.decode()
        code, text = client.rcpt(rcpt)
        if code != 250:
            return "rcpt", code, text.decode()
        body = "From: %s\r\nSubject: t\r\n\r\nbody\r\n" % (from_header or "<%s>" % sender)
        code, text = client.data(body.encode())
        if code != 250:
            return "data", code, text.decode()
    return "ok", 250, ""


def test_connect_lists_by_ip_and_rdns_name_whitelist_first(start_server):
    server = start(start_server, {
        "connect.rdns_access.blacklist": "127.0.0.3\nlocalhost\n",
        "connect.rdns_access.whitelist": "127.0.0.2\n",
        "connect.rdns_access.whitelist_regex": "127\\.0\\.0\\.[4-5]\n",
    }, "[deny_msg]\nconn=Go away\n")
    code, text = greeting(server, "127.0.0.3")
    assert code == 554, (code, text)
    assert "localhost [127.0.0.3] Go away" in text
    # the rDNS name "localhost" is blacklisted for everyone not whitelisted
    assert greeting(server, "127.0.0.9")[0] == 554
    assert greeting(server, "127.0.0.2")[0] == 220
    assert greeting(server, "127.0.0.4")[0] == 220
    log = server.log()
    assert "fail: connect.rdns_access.blacklist" in log
    assert "pass: connect.rdns_access.whitelist_regex" in log


def test_connect_regex_blacklist_and_reload_without_restart(start_server, install):
    server = start(start_server, {"connect.rdns_access.blacklist_regex": "local.*\n",
                                  "connect.rdns_access.whitelist": "\n"})
    assert greeting(server, "127.0.0.6")[0] == 554
    assert "fail: connect.rdns_access.blacklist_regex" in server.log()
    (install / "config" / "connect.rdns_access.whitelist").write_text("127.0.0.6\n")
    deadline = time.monotonic() + 10
    while greeting(server, "127.0.0.6")[0] != 220:
        assert time.monotonic() < deadline, "the changed whitelist was not read"
        time.sleep(0.2)
    assert greeting(server, "127.0.0.7")[0] == 554


def test_helo_regexps_and_any_on_the_helo_name(start_server):
    server = start(start_server, {
        "helo.checks.regexps": ".*\\.dynamic\\.example\\.net\n(unclosed\n",
        "access.domains": "spam.example.com\n",
    }, "[check]\nhelo=true\n[deny_msg]\nhelo=is no name of yours\n")
    stage, code, text = session(server, helo="h1.dynamic.example.net")
    assert (stage, code) == ("helo", 550)
    assert "h1.dynamic.example.net is no name of yours" in text
    stage, code, text = session(server, helo="mx.other.example.com")
    assert (stage, code, text) == ("helo", 550, "5.7.1 You are not welcome here.")
    assert session(server, helo="fine.example.org")[0] == "ok"
    assert "config/helo.checks.regexps:2: the regular expression (unclosed" in server.log()


def test_sender_and_recipient_lists_with_regexes_and_deny_msg(start_server):
    server = start(start_server, {
        "mail_from.access.blacklist": "spammer@example.org\n",
        "mail_from.access.blacklist_regex": ".*@bulk\\.example\\.org\n",
        "mail_from.access.whitelist": "boss@bulk.example.org\n",
        "mail_from.access.whitelist_regex": "ceo-.*@bulk\\.example\\.org\n",
        "rcpt_to.access.blacklist": "gone@example.org\n",
        "rcpt_to.access.blacklist_regex": "old-.*@example\\.org\n",
        "rcpt_to.access.whitelist": "old-postmaster@example.org\n",
        "rcpt_to.access.whitelist_regex": "old-abuse@.*\n",
        "mail_from.access.ini": "[general]\ndeny_msg=was banned\n",
    }, "[deny_msg]\nrcpt=left long ago\n")
    assert session(server, sender="spammer@example.org") == (
        "mail", 550, "5.7.1 spammer@example.org was banned")
    assert session(server, sender="x@bulk.example.org")[:2] == ("mail", 550)
    assert session(server, sender="boss@bulk.example.org")[0] == "ok"
    assert session(server, sender="ceo-x@bulk.example.org")[0] == "ok"
    assert session(server, rcpt="gone@example.org") == (
        "rcpt", 550, "5.7.1 gone@example.org left long ago")
    assert session(server, rcpt="old-sales@example.org")[:2] == ("rcpt", 550)
    assert session(server, rcpt="old-postmaster@example.org")[0] == "ok"
    assert session(server, rcpt="old-abuse@example.org")[0] == "ok"
    assert session(server)[0] == "ok"
    log = server.log()
    for result in ("fail: mail_from.access.blacklist", "fail: mail_from.access.blacklist_regex",
                   "pass: mail_from.access.whitelist", "pass: mail_from.access.whitelist_regex",
                   "fail: rcpt_to.access.blacklist", "fail: rcpt_to.access.blacklist_regex",
                   "pass: rcpt_to.access.whitelist", "pass: rcpt_to.access.whitelist_regex"):
        assert result in log, result


def test_rcpt_accept_ends_the_rcpt_hook(start_server):
    files = {"rcpt_to.access.whitelist": "vip@example.org\n", "accept.ini": "[rcpt]\ncode=DENY\n"}
    server = start_server(plugins=["access", "accept"], so=["accept"],
                          files=dict(files, **{"access.ini": "[rcpt]\naccept=true\n"}))
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.ehlo("client.example.org")
        client.mail("a@example.org")
        assert client.rcpt("vip@example.org")[0] == 250
        assert client.rcpt("other@example.org")[0] == 550


def test_access_domains_by_organizational_domain(start_server):
    server = start(start_server, {
        "access.domains": "mail.example.test\n!friend@example.test\n!ok.example.test\n"
                          "news.spam.test\n",
    })
    assert session(server, sender="user@sub.example.test") == (
        "mail", 550, "5.7.1 You are not welcome here.")
    # the From header's domain is checked by itself: only the envelope is whitelisted here
    other = "<x@other.test>"
    assert session(server, sender="friend@example.test", from_header=other)[0] == "ok"
    assert session(server, sender="user@ok.example.test", from_header=other)[0] == "ok"
    assert session(server, sender="friend@example.test")[:2] == ("data", 550)
    assert session(server, rcpt="someone@deep.sub.example.test")[:2] == ("rcpt", 550)
    stage, code, text = session(server, from_header="Spam <x@a.spam.test>")
    assert (stage, code) == ("data", 550)
    assert "Email from that domain is not accepted here." in text
    log = server.log()
    assert "fail: access.domains(example.test)" in log
    assert "pass: mail:access.domains" in log


def test_checks_switched_off(start_server):
    server = start(start_server, {
        "access.domains": "example.test\n",
        "connect.rdns_access.blacklist": "localhost\n",
        "mail_from.access.blacklist": "a@example.org\n",
        "rcpt_to.access.blacklist": "b@example.org\n",
    }, "[check]\nany=false\nconn=false\nmail=false\nrcpt=false\n")
    assert session(server, sender="a@example.org", rcpt="b@example.org")[0] == "ok"
    assert session(server, sender="a@x.example.test")[0] == "ok"


def test_a_list_file_created_while_running_is_read(start_server, install):
    server = start(start_server, {})
    assert session(server, sender="late@example.org")[0] == "ok"
    (install / "config" / "mail_from.access.blacklist").write_text("late@example.org\n")
    deadline = time.monotonic() + 10
    while session(server, sender="late@example.org")[:2] != ("mail", 550):
        assert time.monotonic() < deadline, "the new blacklist was not read"
        time.sleep(0.2)
    assert session(server, sender="early@example.org")[0] == "ok"
