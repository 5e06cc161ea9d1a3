"""The mail_from.is_resolvable plugin through the real binary, against dnsmasq serving MX and
address records on a loopback port: what must be refused is refused (550), what could not be
asked is deferred (450) within the plugin's timeout, and the verdicts are logged as results."""
import contextlib
import smtplib
import socket
import time

import pytest

import dns_zone
from dns_zone import host, mx

pytestmark = pytest.mark.skipif(not dns_zone.AVAILABLE, reason="needs dnsmasq")

ZONE = [
    mx("ok.test", "mx.ok.test", 10),
    host("mx.ok.test", "192.0.2.25"),
    host("aonly.test", "192.0.2.7"),
    host("v6only.test", "2a00:1450:4001::1b"),
    mx("null.test", ".", 0),
    mx("loop.test", "mx.loop.test", 10),
    host("mx.loop.test", "127.0.0.1"),
    mx("private.test", "mx.private.test", 10),
    host("mx.private.test", "10.1.2.3"),
    mx("nomxhost.test", "gone.nomxhost.test", 10),
    mx("ipmx.test", "192.0.2.40", 10),
    "txt-record=noaddress.test,\"v=spf1 -all\"",
]


@pytest.fixture(scope="module")
def zone():
    with dns_zone.serve(ZONE) as port:
        yield port


def start(start_server, dns_ini, ini="", extra_plugins=(), extra_files=None):
    files = {
        "dns.ini": dns_ini,
        "mail_from.is_resolvable.ini": ini,
        "accept.ini": "[rcpt]\ncode=OK\n",
    }
    files.update(extra_files or {})
    return start_server(plugins=list(extra_plugins) + ["mail_from.is_resolvable", "accept"],
                        so=["accept"] + [p for p in extra_plugins], files=files)


def mail(server, sender):
    """The reply to MAIL FROM as (code, text)."""
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
        client.ehlo("client.example.org")
        code, text = client.mail(sender)
        return code, text.decode()


def test_each_kind_of_domain_gets_haraka_reply(start_server, zone):
    server = start(start_server, dns_zone.resolver_ini(zone))
    cases = [
        ("u@ok.test", 250, None),
        ("u@aonly.test", 250, None),
        ("u@v6only.test", 250, None),
        ("u@nxdomain.test", 550, "No MX for your FROM address"),
        ("u@null.test", 550, "5.7.27 Null MX: null.test does not send mail"),
        ("u@loop.test", 550, "No valid MX for your FROM address"),
        ("u@private.test", 250, None),  # 10/8 counts only when re_bogus_ip says so
        ("u@nomxhost.test", 550, "No valid MX for your FROM address"),
        ("u@noaddress.test", 550, "No MX for your FROM address"),
        ("u@ipmx.test", 550, "No valid MX for your FROM address"),
        ("", 250, None),
    ]
    for sender, code, text in cases:
        got = mail(server, sender)
        assert got[0] == code, (sender, got)
        if text:
            assert text in got[1], (sender, got)
    log = server.log()
    assert "ok.test: pass: has_fwd_dns" in log
    assert "aonly.test: pass: implicit_mx" in log
    assert "null.test: fail: null_mx" in log
    assert "loop.test: fail: has_fwd_dns" in log


def test_config_keys_change_the_verdicts(start_server, zone):
    ini = ("[main]\nallow_mx_ip=true\nre_bogus_ip=^(?:127\\.|10\\.)\nmax_mx_hosts=1\n"
           "timeout_ms=4000\n[reject]\nno_mx=defer\n")
    server = start(start_server, dns_zone.resolver_ini(zone), ini)
    assert mail(server, "u@private.test")[0] == 450
    assert mail(server, "u@loop.test")[0] == 450
    assert mail(server, "u@nxdomain.test")[0] == 450
    assert mail(server, "u@ipmx.test")[0] == 250
    assert mail(server, "u@null.test")[0] == 550  # a null MX is refused whatever no_mx says
    assert mail(server, "u@ok.test")[0] == 250


def test_no_mx_no_accepts_and_reload_changes_it(start_server, zone, install):
    server = start(start_server, dns_zone.resolver_ini(zone), "[reject]\nno_mx=no\n")
    assert mail(server, "u@nxdomain.test")[0] == 250
    assert mail(server, "u@null.test")[0] == 250
    (install / "config" / "mail_from.is_resolvable.ini").write_text("[reject]\nno_mx=deny\n")
    deadline = time.monotonic() + 10
    while mail(server, "u@nxdomain.test")[0] != 550:
        assert time.monotonic() < deadline, "the changed ini was not read"
        time.sleep(0.2)


@contextlib.contextmanager
def silent_resolver():
    """A UDP socket on loopback that reads questions and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_a_resolver_that_never_answers_defers_within_the_timeout(start_server):
    with silent_resolver() as port:
        dns_ini = "[main]\nservers=127.0.0.1:%d\ntimeout_ms=20000\ntries=1\n" % port
        server = start(start_server, dns_ini, "[main]\ntimeout_ms=700\n")
        began = time.monotonic()
        code, text = mail(server, "u@ok.test")
        took = time.monotonic() - began
        assert code == 450
        assert "Temp. resolver error (ETIMEOUT)" in text
        assert 0.6 < took < 5, took
        assert "err: MX lookup timed out after 700ms" in server.log()


def test_null_sender_and_relaying_are_skipped(start_server, zone):
    server = start(start_server, dns_zone.resolver_ini(zone), extra_plugins=["relayer"],
                   extra_files={"relayer.ini": "[mail]\nrelay=true\nmatch=relayed\n"})
    assert mail(server, "")[0] == 250
    assert mail(server, "u@relayed.nxdomain.test")[0] == 250
    assert mail(server, "u@other.nxdomain.test")[0] == 550
    server.stop()

    checked = start(start_server, dns_zone.resolver_ini(zone), "[skip]\nrelaying=false\n",
                    extra_plugins=["relayer"],
                    extra_files={"relayer.ini": "[mail]\nrelay=true\nmatch=relayed\n"})
    assert mail(checked, "u@relayed.nxdomain.test")[0] == 550
