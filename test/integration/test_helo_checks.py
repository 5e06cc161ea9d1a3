"""The helo.checks plugin through the real binary, against dnsmasq serving PTR and address
records: clients greet from several loopback addresses ([skip] private_ip=false) and each check
passes and fails, with its [reject] flag off (the greeting goes through, the failure is in the
plugin's log summary) and on (Haraka's reply)."""
import re
import smtplib
import socket
import time

import pytest

import dns_zone
from dns_zone import host

pytestmark = pytest.mark.skipif(not dns_zone.AVAILABLE, reason="needs dnsmasq")

ZONE = [
    host("mail.example.com", "127.0.0.2"),   # PTR and A: 127.0.0.2 is mail.example.com
    host("other.example.com", "192.0.2.9"),  # resolves, but not to a client
    host("mx1.google.com", "127.0.0.5"),     # a big company's own host
    host("dual.example.com", "192.0.2.8", "2001:db8::8"),  # two addresses
    # 127.0.0.3 has no PTR; nowhere.example.com does not exist
]
LOCAL_ZONES = ("test", "in-addr.arpa", "example.com", "google.com")
CHECKS = ("match_re", "bare_ip", "dynamic", "big_company", "valid_hostname", "forward_dns",
          "rdns_match", "host_mismatch", "proto_mismatch")
ALL_REJECT = "[reject]\n" + "".join("%s=true\n" % c for c in CHECKS) + "literal_mismatch=true\n"
CHECK_LOCAL = "[skip]\nprivate_ip=false\n"
REGEXPS = "# names we never want\nlocalhost\n.*\\.bad\\.example\\.com\n(unclosed\n"


@pytest.fixture(scope="module")
def zone():
    with dns_zone.serve(ZONE, local_zones=LOCAL_ZONES) as port:
        yield port


def start(start_server, install, zone_port, ini, plugins=("helo.checks",), dns_ini=None,
          extra=None):
    files = {
        "dns.ini": dns_ini or dns_zone.resolver_ini(zone_port),
        "helo.checks.ini": ini,
        "helo.checks.regexps": REGEXPS,
        "accept.ini": "[rcpt]\ncode=OK\n",
    }
    files.update(extra or {})
    return start_server(plugins=list(plugins) + ["accept"], so=["accept", "relayer", "marker"],
                        files=files)


class Session:
    """One client connection from `source`: greet() and command() give (code, text)."""

    def __init__(self, server, source):
        self.client = smtplib.SMTP("127.0.0.1", server.port, timeout=30,
                                   source_address=(source, 0))

    def greet(self, name, verb="EHLO"):
        code, text = self.client.docmd(verb, name)
        return code, text.decode()

    def command(self, verb, argument=""):
        code, text = self.client.docmd(verb, argument)
        return code, text.decode()

    def close(self):
        self.client.close()


def greet(server, source, name, verb="EHLO"):
    session = Session(server, source)
    try:
        return session.greet(name, verb)
    finally:
        session.close()


def text_of(reply):
    """A reply's text without its enhanced status code."""
    return re.sub(r"^\d\.\d{1,3}\.\d{1,3} ", "", reply)


def fields(line):
    """A summary line as {key: [items]}: "helo_host: a; pass: b, c; fail: d"."""
    found = {}
    for part in line.split("[helo.checks] ", 1)[1].split("; "):
        key, _, items = part.partition(": ")
        found[key.strip()] = items.split(", ")
    return found


def summaries(server):
    """The plugin's result summaries, one a greeting, in order."""
    return [line for line in server.log().splitlines()
            if "[helo.checks]" in line and "helo_host:" in line]


def last_summary(server, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = summaries(server)
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError("no helo.checks summary:\n" + server.log())


def results_after(server, source, name, verb="EHLO"):
    """Greets and returns (code, the summary logged for it)."""
    before = len(summaries(server))
    code, _ = greet(server, source, name, verb)
    deadline = time.monotonic() + 5
    while len(summaries(server)) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    return code, summaries(server)[-1]


def test_each_check_passes_and_fails_without_rejecting(start_server, install, zone):
    server = start(start_server, install, zone, CHECK_LOCAL)
    code, line = results_after(server, "127.0.0.2", "mail.example.com")
    assert code == 250
    for passed in ("match_re", "bare_ip", "dynamic", "big_co(not)", "valid_hostname",
                   "rdns_match", "forward_dns", "host_mismatch", "literal_mismatch"):
        assert passed in fields(line)["pass"], (passed, line)
    assert "fail" not in fields(line)
    assert fields(line)["helo_host"] == ["mail.example.com"]

    failures = {
        ("127.0.0.2", "host.bad.example.com"): "match_re",
        ("127.0.0.2", "127.0.0.2"): "bare_ip(invalid literal)",
        ("127.0.0.3", "c-127-0-0-3.example.com"): "dynamic",
        ("127.0.0.2", "gmail.com"): "big_co",
        ("127.0.0.2", "nodot"): "valid_hostname(no_dot)",
        ("127.0.0.2", "host.invalidtld"): "valid_hostname",
        ("127.0.0.2", "mail.example.org"): "rdns_match",
        ("127.0.0.3", "other.example.com"): "forward_dns(no IP match)",
        ("127.0.0.2", "[192.0.2.1]"): "literal_mismatch",
    }
    for (source, name), failure in failures.items():
        code, line = results_after(server, source, name)
        assert code == 250, (name, line)
        assert failure in fields(line).get("fail", []), (name, failure, line)
    # An address literal skips what needs a name.
    code, line = results_after(server, "127.0.0.2", "[127.0.0.2]")
    assert "dynamic(literal)" in fields(line)["skip"]
    assert "forward_dns(literal)" in fields(line)["skip"]
    assert "rdns_match(literal)" in fields(line)["fail"]


def test_each_reject_flag(start_server, install, zone):
    server = start(start_server, install, zone, ALL_REJECT + CHECK_LOCAL)
    assert greet(server, "127.0.0.2", "mail.example.com")[0] == 250
    expected = {
        ("127.0.0.2", "host.bad.example.com"): "That HELO not allowed here",
        ("127.0.0.2", "localhost"): "That HELO not allowed here",
        ("127.0.0.2", "127.0.0.2"): "Invalid address format in HELO",
        ("127.0.0.3", "c-127-0-0-3.example.com"): "HELO is dynamic",
        ("127.0.0.2", "gmail.com"): "You are not who you say you are",
        ("127.0.0.2", "nodot"): "HELO host must be a FQDN or address literal (RFC 5321 2.3.5)",
        ("127.0.0.2", "host.invalidtld"): "HELO host name invalid",
        ("127.0.0.2", "mail.example.org"): "HELO host does not match rDNS",
        ("127.0.0.2", "[192.0.2.1]"): "HELO IP literal not in the same /24 as your IP address",
    }
    for (source, name), text in expected.items():
        code, reply = greet(server, source, name)
        assert (code, text_of(reply)) == (550, text), name
    # The bad pattern was left out, named by file and line; the others work.
    assert "helo.checks.regexps line 4" in server.log()


def test_forward_dns_rejects(start_server, install, zone):
    ini = "[check]\nrdns_match=false\n[reject]\nforward_dns=true\n" + CHECK_LOCAL
    server = start(start_server, install, zone, ini)
    code, text = greet(server, "127.0.0.3", "other.example.com")
    assert (code, text_of(text)) == (550, "HELO host has no forward DNS match")
    code, text = greet(server, "127.0.0.3", "nowhere.example.com")
    assert code == 250  # no such name: a failure recorded, not a rejection (as Haraka)
    assert "forward_dns(no ips)" in fields(last_summary(server))["fail"]
    code, text = greet(server, "127.0.0.3", "nodot")
    assert (code, text_of(text)) == (
        550, "Invalid HELO host cannot achieve forward DNS match")
    assert greet(server, "127.0.0.2", "mail.example.com")[0] == 250


def test_forward_dns_timeout(start_server, install):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a resolver that never answers
    silent.bind(("127.0.0.1", 0))
    try:
        dns_ini = "[main]\nservers=127.0.0.1:%d\ntimeout_ms=10000\ntries=1\n" % \
            silent.getsockname()[1]
        ini = "dns_timeout=1\n[check]\nrdns_match=false\n[reject]\nforward_dns=true\n" + \
            CHECK_LOCAL
        server = start(start_server, install, 0, ini, dns_ini=dns_ini)
        began = time.monotonic()
        code, text = greet(server, "127.0.0.2", "mail.example.com")
        assert (code, text_of(text)) == (450, "DNS timeout resolving your HELO hostname")
        assert 0.9 < time.monotonic() - began < 5
        server.stop()
        server = start(start_server, install, 0, ini.replace("forward_dns=true", ""),
                       dns_ini=dns_ini)
        code, line = results_after(server, "127.0.0.2", "mail.example.com")
        assert code == 250 and "forward_dns(ETIMEOUT)" in fields(line)["fail"]
    finally:
        silent.close()


def test_big_company_with_fcrdns(start_server, install, zone):
    ini = "[reject]\nbig_company=true\n" + CHECK_LOCAL
    server = start(start_server, install, zone, ini, plugins=("fcrdns", "helo.checks"),
                   extra={"fcrdns.ini": "[skip]\nprivate_ip=false\n"})
    # fcrdns named 127.0.0.5 mx1.google.com: the HELO gmail.com is believed.
    code, line = results_after(server, "127.0.0.5", "gmail.com")
    assert code == 250 and "big_co" in fields(line)["pass"]
    assert "rdns_match" in fields(line)["fail"]  # gmail.com is not google.com's domain
    code, text = greet(server, "127.0.0.2", "google.com")
    assert (code, text_of(text)) == (550, "You are not who you say you are")
    # rdns_match and forward_dns read fcrdns's findings.
    code, line = results_after(server, "127.0.0.2", "mail.example.com")
    assert code == 250
    assert "rdns_match" in fields(line)["pass"] and "forward_dns" in fields(line)["pass"]


def test_literal_mismatch_modes(start_server, install, zone):
    ini = "[check]\nliteral_mismatch=1\n[reject]\nliteral_mismatch=true\n" + CHECK_LOCAL
    server = start(start_server, install, zone, ini)
    assert greet(server, "127.0.0.2", "[127.0.0.2]")[0] == 250
    code, text = greet(server, "127.0.0.2", "[127.0.0.9]")
    assert (code, text_of(text)) == (550, "HELO IP literal does not match your IP address")
    server.stop()
    server = start(start_server, install, zone, ini.replace("=1", "=3"))
    assert greet(server, "127.0.0.2", "[10.0.0.1]")[0] == 250       # private: mode 3 allows it
    assert greet(server, "127.0.0.2", "[127.0.0.9]")[0] == 250      # same /24
    assert greet(server, "127.0.0.2", "[192.0.2.1]")[0] == 550


def test_host_and_proto_mismatch(start_server, install, zone):
    ini = "[reject]\nhost_mismatch=true\nproto_mismatch=true\n" + CHECK_LOCAL
    server = start(start_server, install, zone, ini)
    session = Session(server, "127.0.0.2")
    assert session.greet("mail.example.com")[0] == 250
    assert session.greet("mail.example.com")[0] == 250
    code, text = session.greet("other.example.com")
    assert (code, text_of(text)) == (
        550, "HELO host host_mismatch(mail.example.com / other.example.com)")
    session.close()

    session = Session(server, "127.0.0.2")
    assert session.greet("mail.example.com", "EHLO")[0] == 250
    code, text = session.greet("mail.example.com", "HELO")
    assert (code, text_of(text)) == (550, "HELO protocol mismatch")
    session.close()

    server.stop()
    server = start(start_server, install, zone, CHECK_LOCAL)  # recorded, not rejected
    session = Session(server, "127.0.0.2")
    assert session.greet("mail.example.com", "HELO")[0] == 250
    assert session.greet("other.example.com", "EHLO")[0] == 250
    session.close()
    line = last_summary(server)
    assert "host_mismatch(mail.example.com / other.example.com)" in fields(line)["fail"]
    assert "proto_mismatch(esmtp)" in fields(line)["fail"]


def test_verdict_sticks(start_server, install, zone):
    server = start(start_server, install, zone, "[reject]\ndynamic=true\n" + CHECK_LOCAL)
    session = Session(server, "127.0.0.3")
    code, text = session.greet("c-127-0-0-3.example.com", "HELO")
    assert (code, text_of(text)) == (550, "HELO is dynamic")
    # Neither another verb nor a good name washes it.
    code, text = session.greet("mail.example.com", "EHLO")
    assert (code, text_of(text)) == (550, "HELO is dynamic")
    code, text = session.greet("c-127-0-0-3.example.com", "HELO")
    assert (code, text_of(text)) == (550, "HELO is dynamic")
    assert session.command("MAIL", "FROM:<a@example.org>")[0] == 503
    session.close()
    # A new connection starts afresh.
    assert greet(server, "127.0.0.3", "mail.example.com")[0] == 250


def test_skips(start_server, install, zone):
    # Private clients are not checked by default, relaying ones neither.
    server = start(start_server, install, zone, ALL_REJECT)
    code, line = results_after(server, "127.0.0.3", "nodot")
    assert code == 250 and "valid_hostname(private)" in fields(line)["skip"]
    server.stop()
    server = start(start_server, install, zone, ALL_REJECT + CHECK_LOCAL,
                   plugins=("relayer", "helo.checks"),
                   extra={"relayer.ini": "[connect]\nrelay=true\n"})
    code, line = results_after(server, "127.0.0.3", "nodot")
    assert code == 250 and "valid_hostname(relay)" in fields(line)["skip"]
    server.stop()
    server = start(start_server, install, zone,
                   ALL_REJECT + "[skip]\nprivate_ip=false\nrelaying=false\n",
                   plugins=("relayer", "helo.checks"),
                   extra={"relayer.ini": "[connect]\nrelay=true\n"})
    assert greet(server, "127.0.0.3", "nodot")[0] == 550


def test_tlds_and_old_names(start_server, install, zone):
    ini = "[reject]\nvalid_hostname=true\n[skip]\nprivate_ip=false\ntlds[]=lan\ntlds[]=.corp\n"
    server = start(start_server, install, zone, ini)
    code, line = results_after(server, "127.0.0.2", "printer.lan")
    assert code == 250 and "valid_hostname(lan)" in fields(line)["skip"]
    assert greet(server, "127.0.0.2", "dc.office.corp")[0] == 250
    assert greet(server, "127.0.0.2", "host.local")[0] == 550
    server.stop()
    # Haraka's older names: check_no_dot=false turns valid_hostname off, [reject] mismatch is
    # host_mismatch.
    ini = "check_no_dot=false\n[reject]\nvalid_hostname=true\nmismatch=true\n" + CHECK_LOCAL
    server = start(start_server, install, zone, ini)
    session = Session(server, "127.0.0.2")
    assert session.greet("nodot")[0] == 250
    assert session.greet("other")[0] == 550
    session.close()


def test_whitelisted_clients(start_server, install, zone):
    marker = {"marker.ini": "[connect_init]\nconnection_note=rdns_access:white\n"}
    server = start(start_server, install, zone, ALL_REJECT + CHECK_LOCAL,
                   plugins=("marker", "helo.checks"), extra=marker)
    code, line = results_after(server, "127.0.0.3", "nodot")
    assert code == 250 and "valid_hostname(whitelist)" in fields(line)["skip"]
    server.stop()
    server = start(start_server, install, zone,
                   ALL_REJECT + "[skip]\nprivate_ip=false\nwhitelist=false\n",
                   plugins=("marker", "helo.checks"), extra=marker)
    assert greet(server, "127.0.0.3", "nodot")[0] == 550


def test_address_bound_and_suffix_list(start_server, install, zone):
    server = start(start_server, install, zone, CHECK_LOCAL)
    code, line = results_after(server, "127.0.0.3", "dual.example.com")
    assert sorted(fields(line)["ips"]) == ["192.0.2.8", "2001:db8::8"]
    server.stop()
    server = start(start_server, install, zone, "max_addresses=1\n" + CHECK_LOCAL)
    code, line = results_after(server, "127.0.0.3", "dual.example.com")
    assert len(fields(line)["ips"]) == 1
    server.stop()
    # Without a public suffix list no name is a valid host name; the log says why.
    server = start(start_server, install, zone,
                   "public_suffix_list=/nonexistent/psl.dat\n" + CHECK_LOCAL)
    code, line = results_after(server, "127.0.0.2", "mail.example.com")
    assert code == 250 and "valid_hostname" in fields(line)["fail"]
    assert "/nonexistent/psl.dat" in server.log()


def test_old_check_names(start_server, install, zone):
    ini = ("check_raw_ip=false\ncheck_dynamic=false\n[reject]\nbare_ip=true\ndynamic=true\n" +
           CHECK_LOCAL)
    server = start(start_server, install, zone, ini)
    code, line = results_after(server, "127.0.0.3", "c-127-0-0-3.example.com")
    assert code == 250 and "dynamic" not in fields(line).get("fail", [])
    assert greet(server, "127.0.0.3", "127.0.0.3")[0] == 250


def test_verdict_held_by_delay_deny(start_server, install, zone):
    # delay_deny holds the refusal until a recipient is known; a second greeting does not lose it.
    server = start(start_server, install, zone, "[reject]\ndynamic=true\n" + CHECK_LOCAL,
                   plugins=("delay_deny", "helo.checks"))
    session = Session(server, "127.0.0.3")
    assert session.greet("c-127-0-0-3.example.com", "HELO")[0] == 250
    assert session.greet("mail.example.com", "EHLO")[0] == 250
    assert session.command("MAIL", "FROM:<a@example.org>")[0] == 250
    code, text = session.command("RCPT", "TO:<b@example.org>")
    assert (code, text_of(text)) == (550, "HELO is dynamic")
    session.close()


def test_checks_turned_off(start_server, install, zone):
    off = "[check]\n" + "".join("%s=false\n" % c for c in CHECKS)
    server = start(start_server, install, zone, off + ALL_REJECT + CHECK_LOCAL)
    for name in ("nodot", "c-127-0-0-3.example.com", "127.0.0.3", "localhost", "gmail.com",
                 "other.example.com"):
        code, line = results_after(server, "127.0.0.3", name)
        assert code == 250 and "fail" not in fields(line), name
    # A second greeting is not compared either.
    session = Session(server, "127.0.0.3")
    assert session.greet("mail.example.com", "HELO")[0] == 250
    assert session.greet("other.example.com", "EHLO")[0] == 250
    session.close()
    server.stop()
    # forward_dns needs valid_hostname's verdict.
    server = start(start_server, install, zone, off.replace("forward_dns=false", "") + CHECK_LOCAL)
    code, line = results_after(server, "127.0.0.2", "mail.example.com")
    assert code == 250 and "forward_dns(valid_hostname disabled)" in fields(line)["err"]
