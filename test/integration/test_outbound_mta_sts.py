"""MTA-STS for outbound delivery (RFC 8461): dnsmasq serves the MX, TXT (_mta-sts) and address
records, a python HTTPS server on 127.0.0.51:443 the policies (its certificate and the MXes' from
a test CA the server is told to trust with tls.ini [outbound] ca), aiosmtpd MXes listen on
port 25 of loopback addresses (MX records carry no port, so these tests need root):

  enforce.test    mode enforce, the MX named and its certificate valid -> delivered over TLS
  badcert.test    mode enforce, the MX's certificate names another host -> deferred
  mismatch.test   mode enforce, the MX is not in the policy             -> deferred
  strip.test      mode enforce, a man in the middle removes STARTTLS    -> deferred
  testing.test    mode testing, the certificate names another host      -> delivered
  redirect.test   the policy URL answers 301                            -> no policy: delivered
  nopolicy.test   no _mta-sts record, STARTTLS stripped                 -> delivered in clear

and the TLS reports (RFC 8460) enforce.test, badcert.test and testing.test ask for in their
_smtp._tls record (testing mode: delivered, but reported as it would have failed):
sent to an aiosmtpd sink, it validates against a JSON schema written from RFC 8460 4.4.
"""
import base64
import email
import gzip
import json
import os
import signal
import time

import jsonschema

import pytest

import dns_zone
from dns_zone import host, mx, txt
from pki import Pki
from port25_mx import arrived, queued, send, start_mx, start_peer, stop_all

pytestmark = pytest.mark.skipif(os.getuid() != 0 or not dns_zone.AVAILABLE,
                                reason="needs root (MX hosts on port 25, the policy server on "
                                "443) and dnsmasq")

HTTPS, GOOD, BADCERT, STRIP = ("127.0.0.%d" % n for n in range(51, 55))

ENFORCE = "version: STSv1\r\nmode: enforce\r\nmx: %s\r\nmax_age: 86400\r\n"
TESTING = "version: STSv1\nmode: testing\nmx: %s\nmax_age: 86400\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(dns port, {sink: dir}, policy dir, CA path)."""
    base = tmp_path_factory.mktemp("sts")
    pki = Pki(base / "pki")
    domains = ("enforce", "badcert", "mismatch", "strip", "testing", "redirect", "nopolicy")
    web_key, web_cert = pki.issue("mta-sts-web", ["mta-sts.%s.test" % d for d in domains])
    good_key, good_cert = pki.issue("mx-good", ["mx.good.test"])
    bad_key, bad_cert = pki.issue("mx-bad", ["somewhere.else.test"])
    policies = base / "policies"
    policies.mkdir()
    (policies / "enforce.test.txt").write_text(ENFORCE % "mx.good.test")
    (policies / "badcert.test.txt").write_text(ENFORCE % "*.badcert.test")
    (policies / "mismatch.test.txt").write_text(ENFORCE % "mx.mismatch.test")
    (policies / "strip.test.txt").write_text(ENFORCE % "mx.strip.test")
    (policies / "testing.test.txt").write_text(TESTING % "mx.testing.test")
    (policies / "redirect.test.redirect").write_text("https://mta-sts.enforce.test/"
                                                     ".well-known/mta-sts.txt")
    dirs = {"good": base / "good", "bad": base / "bad"}
    procs = [
        start_peer("mta_sts_https.py", HTTPS, 443, web_cert, web_key, policies),
        start_mx(GOOD, dirs["good"], good_cert, good_key),
        start_mx(BADCERT, dirs["bad"], bad_cert, bad_key),
        start_peer("strip_starttls.py", STRIP, 25, GOOD, 25),
    ]
    records = [
        mx("enforce.test", "mx.good.test", 10),
        mx("badcert.test", "mx.badcert.test", 10),
        mx("mismatch.test", "mx.good.test", 10),
        mx("strip.test", "mx.strip.test", 10),
        mx("testing.test", "mx.testing.test", 10),
        mx("redirect.test", "mx.badcert.test", 10),
        mx("nopolicy.test", "mx.strip.test", 10),
        host("mx.good.test", GOOD), host("mx.badcert.test", BADCERT),
        host("mx.strip.test", STRIP), host("mx.testing.test", BADCERT),
    ]
    records.append(mx("reports.test", "mx.good.test", 10))
    for d in ("enforce", "badcert", "testing"):
        records.append(txt("_smtp._tls.%s.test" % d,
                           "v=TLSRPTv1; rua=mailto:tlsrpt@reports.test"))
    for d in domains:
        if d != "nopolicy":
            records.append(txt("_mta-sts.%s.test" % d, "v=STSv1; id=20261206T1;"))
        records.append(host("mta-sts.%s.test" % d, HTTPS))
    try:
        with dns_zone.serve(records) as port:
            yield port, dirs, policies, pki.ca_cert
    finally:
        stop_all(procs)


def server(start_server, world, tls_extra=""):
    port, _, _, ca = world
    return start_server(plugins=["relay"], files={
        "relay_acl_allow": "127.0.0.1/32\n",
        "dns.ini": dns_zone.resolver_ini(port),
        "tls.ini": "[outbound]\nca=%s\n%s" % (ca, tls_extra),
        "outbound.ini": "[main]\nlocal_mx_ok=true\nconnect_timeout=2\n"
                        "temp_fail_intervals=1h\nscan_interval=1\n",
    })


def test_enforce_delivers_over_verified_tls_and_keeps_the_policy_in_a_file(start_server, world):
    _, dirs, policies, _ = world
    srv = server(start_server, world)
    send(srv, "bob@enforce.test")
    [msg] = arrived(dirs["good"], "bob@enforce.test")
    assert msg["tls"]
    assert srv.wait_log("(tls policy mta-sts, TLSv1.3)"), srv.log()[-3000:]
    cached = srv.install / "mta-sts" / "enforce.test.json"
    deadline = time.monotonic() + 5
    while not cached.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    entry = json.loads(cached.read_text())
    assert entry["id"] == "20261206T1"
    assert "mode: enforce" in entry["policy"]
    # Fetched from the right host and path.
    assert "mta-sts.enforce.test /.well-known/mta-sts.txt" in (
        policies / "requests.log").read_text()


def test_enforce_defers_a_certificate_not_valid_for_the_mx(start_server, world):
    _, dirs, _, _ = world
    srv = server(start_server, world)
    send(srv, "bob@badcert.test")
    assert srv.wait_log("not verified for \"mx.badcert.test\""), srv.log()[-3000:]
    assert srv.wait_log("deferred 1 recipient(s)"), srv.log()[-3000:]
    assert queued(srv, "bob@badcert.test")
    assert not arrived(dirs["bad"], "bob@badcert.test", timeout=1)
    assert "trying again without TLS" not in srv.log()


def test_enforce_defers_when_no_mx_is_in_the_policy(start_server, world):
    _, dirs, _, _ = world
    srv = server(start_server, world)
    send(srv, "bob@mismatch.test")
    assert srv.wait_log("MTA-STS: no MX of mismatch.test matches its policy"), srv.log()[-3000:]
    assert queued(srv, "bob@mismatch.test")
    assert not arrived(dirs["good"], "bob@mismatch.test", timeout=1)


def test_enforce_defers_when_starttls_is_stripped(start_server, world):
    _, dirs, _, _ = world
    srv = server(start_server, world)
    send(srv, "bob@strip.test")
    assert srv.wait_log("does not offer STARTTLS"), srv.log()[-3000:]
    assert srv.wait_log("deferred 1 recipient(s)"), srv.log()[-3000:]
    assert not arrived(dirs["good"], "bob@strip.test", timeout=1)


def test_without_a_policy_stripped_starttls_is_what_opportunistic_tls_allows(start_server,
                                                                             world):
    _, dirs, _, _ = world
    srv = server(start_server, world)
    send(srv, "carol@nopolicy.test")
    [msg] = arrived(dirs["good"], "carol@nopolicy.test")
    assert not msg["tls"]


def test_testing_mode_only_reports(start_server, world):
    _, dirs, _, _ = world
    srv = server(start_server, world)
    send(srv, "bob@testing.test")
    [msg] = arrived(dirs["bad"], "bob@testing.test")
    assert msg["tls"]
    assert srv.wait_log("(tls policy may, TLSv1.3)"), srv.log()[-3000:]


def test_a_redirect_is_not_followed(start_server, world):
    _, dirs, _, _ = world
    srv = server(start_server, world)
    send(srv, "bob@redirect.test")
    [msg] = arrived(dirs["bad"], "bob@redirect.test")  # no policy: opportunistic TLS
    assert msg["tls"]


def test_mta_sts_off(start_server, world):
    _, dirs, _, _ = world
    srv = server(start_server, world, "mta_sts=false\n")
    send(srv, "dave@badcert.test")
    [msg] = arrived(dirs["bad"], "dave@badcert.test")
    assert msg["tls"]
    assert not (srv.install / "mta-sts" / "badcert.test.json").exists()


# RFC 8460 4.4's report, as a JSON schema: the fields it names, with their types; unknown fields
# are allowed, as the RFC says receivers must accept them.
TLSRPT_SCHEMA = {
    "type": "object",
    "required": ["organization-name", "date-range", "contact-info", "report-id", "policies"],
    "properties": {
        "organization-name": {"type": "string", "minLength": 1},
        "date-range": {
            "type": "object", "required": ["start-datetime", "end-datetime"],
            "properties": {
                "start-datetime": {"type": "string",
                                   "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"},
                "end-datetime": {"type": "string",
                                 "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"}}},
        "contact-info": {"type": "string", "minLength": 1},
        "report-id": {"type": "string", "minLength": 1},
        "policies": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["policy", "summary"],
            "properties": {
                "policy": {
                    "type": "object", "required": ["policy-type", "policy-domain"],
                    "properties": {
                        "policy-type": {"enum": ["tlsa", "sts", "no-policy-found"]},
                        "policy-string": {"type": "array", "items": {"type": "string"}},
                        "policy-domain": {"type": "string", "minLength": 1},
                        "mx-host": {"type": "array", "items": {"type": "string"}}}},
                "summary": {
                    "type": "object",
                    "required": ["total-successful-session-count",
                                 "total-failure-session-count"],
                    "properties": {
                        "total-successful-session-count": {"type": "integer", "minimum": 0},
                        "total-failure-session-count": {"type": "integer", "minimum": 0}}},
                "failure-details": {"type": "array", "items": {
                    "type": "object", "required": ["result-type", "failed-session-count"],
                    "properties": {
                        "result-type": {"enum": [
                            "starttls-not-supported", "certificate-host-mismatch",
                            "certificate-expired", "certificate-not-trusted",
                            "validation-failure", "tlsa-invalid", "dnssec-invalid",
                            "dane-required", "sts-policy-fetch-error", "sts-policy-invalid",
                            "sts-webpki-invalid"]},
                        "sending-mta-ip": {"type": "string"},
                        "receiving-mx-hostname": {"type": "string"},
                        "receiving-mx-helo": {"type": "string"},
                        "receiving-ip": {"type": "string"},
                        "failed-session-count": {"type": "integer", "minimum": 1},
                        "additional-information": {"type": "string"},
                        "failure-reason-code": {"type": "string"}}}}}}},
    },
}


def report_of(msg):
    """(headers, report JSON) of a TLS report mail as the sink received it."""
    parsed = email.message_from_string(msg["data"])
    [part] = [p for p in parsed.walk() if p.get_content_type() == "application/tlsrpt+gzip"]
    assert part.get_filename().endswith(".json.gz")
    return parsed, json.loads(gzip.decompress(base64.b64decode(part.get_payload())))


def test_a_daily_tls_report_goes_to_each_domain_that_asks(start_server, world):
    _, dirs, _, _ = world
    srv = server(start_server, world)
    send(srv, "rpt@enforce.test")
    assert arrived(dirs["good"], "rpt@enforce.test")
    send(srv, "rpt@badcert.test")
    assert srv.wait_log("deferred 1 recipient(s)"), srv.log()[-3000:]
    send(srv, "rpt@testing.test")
    assert arrived(dirs["bad"], "rpt@testing.test")
    # A flush writes the day's counts; the test then makes the day one gone by, and the next
    # flush sends its reports.
    srv.proc.send_signal(signal.SIGHUP)
    reports = srv.install / "tls-rpt"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(list(reports.glob("*/*.json"))) < 3:
        time.sleep(0.05)
    [today] = [d for d in reports.iterdir() if d.is_dir()]
    today.rename(reports / "2026-12-01")
    srv.proc.send_signal(signal.SIGHUP)
    mails = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(mails) < 3:
        mails = arrived(dirs["good"], "tlsrpt@reports.test", timeout=1)
    assert len(mails) == 3, srv.log()[-3000:]
    by_domain = {}
    for m in mails:
        headers, report = report_of(m)
        jsonschema.validate(report, TLSRPT_SCHEMA)
        assert report["date-range"]["start-datetime"] == "2026-12-01T00:00:00Z"
        by_domain[headers["TLS-Report-Domain"]] = report
    good = by_domain["enforce.test"]["policies"][0]
    assert good["policy"]["policy-type"] == "sts"
    assert "mode: enforce" in good["policy"]["policy-string"]
    assert good["summary"]["total-successful-session-count"] == 1
    assert good["summary"]["total-failure-session-count"] == 0
    bad = by_domain["badcert.test"]["policies"][0]
    assert bad["summary"]["total-failure-session-count"] >= 1
    detail = bad["failure-details"][0]
    assert detail["result-type"] == "certificate-host-mismatch"
    assert detail["receiving-mx-hostname"] == "mx.badcert.test"
    testing = by_domain["testing.test"]["policies"][0]
    assert "mode: testing" in testing["policy"]["policy-string"]
    assert testing["summary"]["total-successful-session-count"] == 0
    assert testing["failure-details"][0]["result-type"] == "certificate-host-mismatch"
    assert not (reports / "2026-12-01").exists()
