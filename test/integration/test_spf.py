"""The spf plugin through the real binary, against dnsmasq serving SPF records on a loopback
port: clients connect from addresses across 127.0.0.0/8, so one zone gives pass, fail,
softfail, neutral, none, permerror and temperror; results are read from the Received-SPF
headers of the stored messages and compared with python3-spf (pyspf) asking the same zone."""
import smtplib

import pytest

import dns_zone
from dns_zone import host, mx, ptr, txt
from saved_messages import stored

pytestmark = [pytest.mark.skipif(not dns_zone.AVAILABLE, reason="needs dnsmasq"),
              # pyspf asks dnspython through a call dnspython deprecates
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

ZONE = [
    txt("pass.test", "v=spf1 ip4:127.0.0.0/8 -all"),
    txt("fail.test", "v=spf1 ip4:192.0.2.0/24 -all exp=why.fail.test"),
    txt("why.fail.test", "%{i} may not send for %{d}"),
    txt("soft.test", "v=spf1 ~all"),
    txt("neutral.test", "v=spf1 ?all"),
    txt("broken.test", "v=spf1 ip4:127.0.0.1/33 -all"),
    txt("helo.test", "v=spf1 ip4:127.0.0.9 -all"),
    txt("a.test", "v=spf1 a mx -all"),
    host("a.test", "127.0.0.20"),
    mx("a.test", "mx.a.test", 10),
    host("mx.a.test", "127.0.0.21"),
    txt("inc.test", "v=spf1 include:pass.test -all"),
    txt("redir.test", "v=spf1 redirect=soft.test"),
    txt("ptr.test", "v=spf1 ptr -all"),
    ptr("127.0.0.30", "client.ptr.test"),
    host("client.ptr.test", "127.0.0.30"),
]

SUBJECTS = iter(range(1, 1000000))


@pytest.fixture
def zone():
    with dns_zone.serve(ZONE) as port:
        yield port


def start(start_server, install, dns_port, spf_ini=""):
    saved = install / "saved"
    saved.mkdir(exist_ok=True)
    files = {
        "dns.ini": dns_zone.resolver_ini(dns_port),
        "spf.ini": "[skip]\nprivate_ip=false\n" + spf_ini,
        "accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\nsave=%s\n" % saved,
    }
    server = start_server(plugins=["spf", "accept"], so=["accept"], files=files)
    return server, saved


def send(server, source, helo, sender):
    """Sends one message from `source`; returns the MAIL reply and the subject used."""
    subject = "case %d" % next(SUBJECTS)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30,
                      source_address=(source, 0)) as client:
        client.ehlo(helo)
        code, text = client.mail(sender)
        if code != 250:
            return code, text.decode(), subject
        assert client.rcpt("user@example.com")[0] == 250
        body = "Subject: %s\r\nFrom: <%s>\r\n\r\nbody\r\n" % (subject, sender or "x@x.test")
        assert client.data(body.encode())[0] == 250
    return code, text.decode(), subject


def received_spf(message):
    """{identity: (result, the whole unfolded header)} for each Received-SPF header."""
    found = {}
    for value in message.get_all("Received-SPF") or []:
        value = " ".join(value.split())
        identity = value.split("identity=", 1)[1].split(";")[0].strip()
        found[identity] = (value.split()[0], value)
    return found


def test_results_of_each_kind_are_recorded_in_received_spf(start_server, install, zone):
    server, saved = start(start_server, install, zone)
    cases = [
        ("127.0.0.5", "u@pass.test", "pass"),
        ("127.0.0.5", "u@fail.test", "fail"),
        ("127.0.0.5", "u@soft.test", "softfail"),
        ("127.0.0.5", "u@neutral.test", "neutral"),
        ("127.0.0.5", "u@nothing.test", "none"),
        ("127.0.0.5", "u@broken.test", "permerror"),
        ("127.0.0.20", "u@a.test", "pass"),
        ("127.0.0.21", "u@a.test", "pass"),
        ("127.0.0.22", "u@a.test", "fail"),
        ("127.0.0.7", "u@inc.test", "pass"),
        ("127.0.0.7", "u@redir.test", "softfail"),
        ("127.0.0.30", "u@ptr.test", "pass"),
        ("127.0.0.31", "u@ptr.test", "fail"),
    ]
    for source, sender, expected in cases:
        code, _, subject = send(server, source, "client.example.org", sender)
        assert code == 250
        result, header = received_spf(stored(saved, subject))["mailfrom"]
        assert result == expected, (source, sender, header)
        assert "client-ip=%s;" % source in header
        assert 'envelope-from="%s"' % sender in header or "envelope-from=%s;" % sender in header
        assert "receiver=mx.test.example;" in header


def test_authentication_results_written_by_the_core_and_forged_ones_removed(
        start_server, install, zone):
    import authres
    server, saved = start(start_server, install, zone)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30,
                      source_address=("127.0.0.5", 0)) as client:
        client.ehlo("client.example.org")
        body = ("Authentication-Results: mx.test.example; spf=pass smtp.mailfrom=forged.test\r\n"
                "Authentication-Results: upstream.example; spf=fail smtp.mailfrom=u@soft.test\r\n"
                "Subject: forged\r\n\r\nbody\r\n")
        assert client.sendmail("u@soft.test", ["user@example.com"], body) == {}
    message = stored(saved, "forged")
    fields = message.get_all("Authentication-Results")
    assert len(fields) == 2
    ours = authres.AuthenticationResultsHeader.parse_value(" ".join(fields[0].split()))
    assert ours.authserv_id == "mx.test.example"
    [spf] = ours.results
    assert spf.method == "spf" and spf.result == "softfail"
    assert [(p.type, p.name, p.value) for p in spf.properties] == [
        ("smtp", "mailfrom", "u@soft.test")]
    assert fields[1].startswith("upstream.example;")
    assert "forged.test" not in message.as_string()


def test_a_fail_is_refused_when_asked_with_the_domains_explanation(start_server, install, zone):
    server, saved = start(start_server, install, zone, "[deny]\nmfrom_fail=true\n")
    code, text, _ = send(server, "127.0.0.5", "client.example.org", "u@fail.test")
    assert code == 550
    assert "127.0.0.5 may not send for fail.test" in text
    # softfail is not fail: accepted, and marked.
    code, _, subject = send(server, "127.0.0.5", "client.example.org", "u@soft.test")
    assert code == 250
    assert received_spf(stored(saved, subject))["mailfrom"][0] == "softfail"


def test_a_dns_failure_is_a_temperror_deferred_only_when_asked(start_server, install, tmp_path):
    dead_port = dns_zone.free_port()  # nothing listens there: every lookup times out
    server, saved = start(start_server, install, dead_port, "[defer]\nmfrom_temperror=true\n")
    code, text, _ = send(server, "127.0.0.5", "client.example.org", "u@pass.test")
    assert code == 450, text
    assert "SPF Temporary Error" in text


def test_a_bounce_is_judged_by_the_helo_identity(start_server, install, zone):
    server, saved = start(start_server, install, zone, "[deny]\nhelo_fail=true\n")
    code, text, _ = send(server, "127.0.0.8", "helo.test", "")
    assert code == 550
    assert "sender <> via helo.test" in text
    code, _, subject = send(server, "127.0.0.9", "helo.test", "")
    assert code == 250
    headers = received_spf(stored(saved, subject))
    assert headers["helo"][0] == "pass"
    assert "mailfrom" not in headers
    # With a sender, the HELO result is recorded but the MAIL FROM result decides.
    code, _, subject = send(server, "127.0.0.8", "helo.test", "u@pass.test")
    assert code == 250
    headers = received_spf(stored(saved, subject))
    assert headers["helo"][0] == "fail" and headers["mailfrom"][0] == "pass"


def test_private_clients_are_skipped_by_default(start_server, install, zone):
    saved = install / "saved"
    saved.mkdir()
    files = {
        "dns.ini": dns_zone.resolver_ini(zone),
        "spf.ini": "[deny]\nmfrom_fail=true\n",
        "accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\nsave=%s\n" % saved,
    }
    server = start_server(plugins=["spf", "accept"], so=["accept"], files=files)
    code, _, subject = send(server, "127.0.0.5", "client.example.org", "u@fail.test")
    assert code == 250
    assert received_spf(stored(saved, subject)) == {}


# A zone for comparing every result with pyspf: records covering each mechanism, modifier,
# macro and limit of RFC 7208, asked about from several client addresses.
MATRIX_ZONE = [
    txt("m1.test", "v=spf1 ip4:127.0.1.0/24 -all"),
    txt("m2.test", "v=spf1 ip4:127.0.1.1 ip4:127.0.2.0/25 ~all"),
    txt("m3.test", "v=spf1 a -all"), host("m3.test", "127.0.1.1"),
    host("host.m3.test", "127.0.3.3"),
    txt("m4.test", "v=spf1 a/24 -all"), host("m4.test", "127.0.2.7"),
    txt("m5.test", "v=spf1 mx -all"), mx("m5.test", "mx1.m5.test", 10),
    mx("m5.test", "mx2.m5.test", 20), host("mx1.m5.test", "127.0.1.5"),
    host("mx2.m5.test", "127.0.2.5"),
    txt("m6.test", "v=spf1 mx/31 ?all"), mx("m6.test", "mx1.m5.test", 10),
    txt("m7.test", "v=spf1 a:host.m3.test mx:m5.test -all"),
    txt("m8.test", "v=spf1 include:m1.test include:m2.test -all"),
    txt("m9.test", "v=spf1 -include:m1.test +all"),
    txt("m10.test", "v=spf1 include:nope.test -all"),
    txt("m11.test", "v=spf1 redirect=m2.test"),
    txt("m12.test", "v=spf1 ip4:127.0.3.0/24 redirect=m1.test"),
    txt("m13.test", "v=spf1 exists:%{i}.ok.m13.test -all"),
    host("127.0.1.1.ok.m13.test", "127.0.0.2"),
    txt("m14.test", "v=spf1 exists:%{ir}.%{v}._spf.%{d} -all"),
    host("200.1.0.127.in-addr._spf.m14.test", "127.0.0.2"),
    txt("m15.test", "v=spf1 exists:%{l}.users.%{o} -all"),
    host("alice.users.m15.test", "127.0.0.2"),
    txt("m16.test", "v=spf1 exists:%{d1}.%{i1}.%{i1r}.d.m16.test ?all"),
    host("test.1.127.d.m16.test", "127.0.0.2"),
    txt("m17.test", "v=spf1 ptr -all"),
    ptr("127.0.1.1", "h1.m17.test"), host("h1.m17.test", "127.0.1.1"),
    ptr("127.0.2.5", "h2.other.test"), host("h2.other.test", "127.0.2.5"),
    ptr("127.0.2.200", "h3.m17.test"),
    txt("m18.test", "v=spf1 ptr:other.test -all"),
    txt("m19.test", "v=spf1 a:v1.test a:v2.test a:v3.test ip4:127.0.1.0/24 -all"),
    txt("m20.test", "v=spf1 a:v1.test a:v2.test ip4:127.0.1.0/24 -all"),
    txt("m21.test", "v=spf1 " + " ".join(["a"] * 11) + " -all"), host("m21.test", "127.0.9.9"),
    txt("m22.test", "v=spf1 include:m22b.test -all"),
    txt("m22b.test", "v=spf1 include:m22.test -all"),
    txt("m23.test", "v=spf1 -all"), txt("m23.test", "v=spf1 +all"),
    txt("m24.test", "v=spf1 ip4:127.0.1.1/40 -all"),
    txt("m25.test", "v=spf1 foo:bar -all"),
    txt("m26.test", "v=spf1 ip4:127.0.1.0/24 foo=bar -all"),
    txt("m27.test", "v=spf1 -all exp=e.m27.test"), txt("e.m27.test", "denied %{i}"),
    txt("m28.test", "google-site-verification=abcdef"),
    txt("m29.test", "v=spf1"),
    txt("m30.test", "V=SPF1 IP4:127.0.1.0/24 -ALL"),
    txt("m31.test", "v=spf1 mx -all"),
    txt("m32.test", "v=spf1 include:m24.test -all"),
    txt("m33.test", "v=spf1 ?include:m1.test ~all"),
    txt("m34.test", "v=spf1 a:m4.test/16 -all"),
    txt("m35.test", "v=spf1 exists:%{h}.helo.m35.test -all"),
    host("client.example.org.helo.m35.test", "127.0.0.2"),
    txt("m36.test", "v=spf1 redirect=nope.test"),
    txt("m37.test", "v=spf1 mx:m5.test/24 -all"),
    txt("m38.test", "v=spf1 ip4:127.0.1.1 include:m2.test redirect=m1.test"),
    txt("m39.test", "v=spf1 ~ip4:127.0.2.0/24 -a:m3.test ?mx:m5.test +all"),
    txt("m40.test", "v=spf1 include:m11.test ip4:127.0.9.9 -all"),
    txt("m41.test", "v=spf1 exists:%{l2r-}.lp.m41.test -all"),
    host("b.a.lp.m41.test", "127.0.0.2"),
] + [mx("m31.test", "mx%d.m31.test" % i, i) for i in range(11)]

MATRIX_SOURCES = ["127.0.1.1", "127.0.1.200", "127.0.2.5", "127.0.2.200", "127.0.9.9"]


def pyspf_result(port, source, sender, helo):
    import dns.resolver
    import spf
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    resolver.lifetime = 5
    dns.resolver.default_resolver = resolver
    return spf.query(i=source, s=sender, h=helo, receiver="mx.test.example").check()[0]


def test_every_result_matches_pyspf_on_the_same_zone(start_server, install):
    with dns_zone.serve(MATRIX_ZONE) as port:
        server, _ = start(start_server, install, port)
        cases = []
        for number in range(1, 42):
            local = {15: "alice", 41: "a-b"}.get(number, "user")
            for source in MATRIX_SOURCES:
                cases.append((source, "%s@m%d.test" % (local, number)))
        assert len(cases) >= 200
        mismatches = []
        seen = set()
        for source, sender in cases:
            with smtplib.SMTP("127.0.0.1", server.port, timeout=30,
                              source_address=(source, 0)) as client:
                client.ehlo("client.example.org")
                assert client.mail(sender)[0] == 250
            domain = sender.split("@")[1]
            line = 'identity=mfrom ip=%s domain="%s" mfrom=<%s> result=' % (source, domain, sender)
            assert server.wait_log(line), "no result logged for %s from %s" % (sender, source)
            ours = server.log().split(line, 1)[1].split()[0].lower()
            theirs = pyspf_result(port, source, sender, "client.example.org")
            seen.add(ours)
            if ours != theirs:
                mismatches.append((source, sender, ours, theirs))
        assert mismatches == [], "\n".join(map(str, mismatches))
        assert seen == {"pass", "fail", "softfail", "neutral", "none", "permerror"}
