"""DANE for outbound delivery (RFC 7672) against a validating unbound serving a DNSSEC-signed
zone (signed by the test with ldns-signzone) and an unsigned one, with aiosmtpd MXes on port 25
of loopback addresses (MX records carry no port, so these tests need root):

  good.signed.test      TLSA 3 1 1 of the MX's key                -> delivered over TLS
  cert.signed.test      TLSA 3 0 1 of the MX's whole certificate  -> delivered over TLS
  ta.signed.test        TLSA 2 0 1 of the CA, the chain presented  -> delivered over TLS
  wrong.signed.test     TLSA 3 1 1 of another key                 -> deferred
  strip.signed.test     a man in the middle removes STARTTLS      -> deferred
  bogus.signed.test     TLSA records whose signature fails        -> deferred
  unusable.signed.test  only a PKIX-EE record (RFC 7672: unusable) -> delivered, TLS unverified
  wrong.plain.test      unsigned zone, TLSA of another key        -> delivered (opportunistic)
  strip.plain.test      the same man in the middle                -> delivered in clear

Never plain text where DANE applies; and the AD bit counts only from a resolver dns.ini calls
validating."""
import os

import pytest

import dnssec_zone
from conftest import run_upesi
from pki import Pki
from port25_mx import arrived, queued, send, start_mx, start_peer, stop_all

pytestmark = pytest.mark.skipif(os.getuid() != 0 or not dnssec_zone.AVAILABLE,
                                reason="needs root (MX hosts listen on port 25) and " +
                                dnssec_zone.MISSING)

GOOD, WRONG, STRIP, BEHIND_STRIP, TA, PLAIN = ("127.0.0.%d" % n for n in range(31, 37))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The MXes, the man in the middle and the unbound; yields (dns port, {name: sink dir},
    strip log)."""
    base = tmp_path_factory.mktemp("dane")
    pki = Pki(base / "pki")
    certs = {}
    for name in ("good", "wrong", "behind", "ta", "plain", "other"):
        certs[name] = pki.issue("mx-" + name, ["mx-%s.signed.test" % name])
    # DANE-TA needs the trust anchor in the chain the server presents.
    ta_chain = base / "pki" / "ta-chain.pem"
    ta_chain.write_text(certs["ta"][1].read_text() + pki.ca_cert.read_text())
    dirs = {n: base / n for n in ("good", "wrong", "behind", "ta", "plain")}
    procs = [start_mx(GOOD, dirs["good"], certs["good"][1], certs["good"][0]),
             start_mx(WRONG, dirs["wrong"], certs["wrong"][1], certs["wrong"][0]),
             start_mx(BEHIND_STRIP, dirs["behind"], certs["behind"][1], certs["behind"][0]),
             start_mx(TA, dirs["ta"], ta_chain, certs["ta"][0]),
             start_mx(PLAIN, dirs["plain"], certs["plain"][1], certs["plain"][0])]
    strip_log = base / "strip.log"
    procs.append(start_peer("strip_starttls.py", STRIP, 25, BEHIND_STRIP, 25,
                            env={"STRIP_LOG": str(strip_log)}))
    spki = {n: dnssec_zone.spki_sha256(c[1]) for n, c in certs.items()}
    signed = {"signed.test": [
        "good MX 10 mx-good", "mx-good A %s" % GOOD,
        "_25._tcp.mx-good TLSA 3 1 1 %s" % spki["good"],
        "cert MX 10 mx-cert", "mx-cert A %s" % GOOD,
        "_25._tcp.mx-cert TLSA 3 0 1 %s" % dnssec_zone.cert_sha256(certs["good"][1]),
        "ta MX 10 mx-ta", "mx-ta A %s" % TA,
        "_25._tcp.mx-ta TLSA 2 0 1 %s" % dnssec_zone.cert_sha256(pki.ca_cert),
        "wrong MX 10 mx-wrong", "mx-wrong A %s" % WRONG,
        "_25._tcp.mx-wrong TLSA 3 1 1 %s" % spki["other"],
        "strip MX 10 mx-strip", "mx-strip A %s" % STRIP,
        "_25._tcp.mx-strip TLSA 3 1 1 %s" % spki["behind"],
        "bogus MX 10 mx-bogus", "mx-bogus A %s" % GOOD,
        "_25._tcp.mx-bogus TLSA 3 1 1 %s" % spki["good"],
        "unusable MX 10 mx-unusable", "mx-unusable A %s" % WRONG,
        "_25._tcp.mx-unusable TLSA 1 1 1 %s" % spki["other"],
    ]}
    unsigned = {"plain.test": [
        "wrong MX 10 mx-wrong", "mx-wrong A %s" % PLAIN,
        "_25._tcp.mx-wrong TLSA 3 1 1 %s" % spki["other"],
        "strip MX 10 mx-strip", "mx-strip A %s" % STRIP,
    ]}
    try:
        with dnssec_zone.serve(base / "unbound", signed, unsigned,
                               tamper=["_25._tcp.mx-bogus TLSA"]) as port:
            yield port, dirs, strip_log
    finally:
        stop_all(procs)


def server(start_server, dns_port, validating=True, tls="", policy=""):
    files = {
        "relay_acl_allow": "127.0.0.1/32\n",
        "dns.ini": dnssec_zone.resolver_ini(dns_port, validating),
        "outbound.ini": "[main]\nlocal_mx_ok=true\nconnect_timeout=2\n"
                        "temp_fail_intervals=1h\nscan_interval=1\n",
    }
    if tls or policy:
        files["tls.ini"] = "[outbound]\n%s\n[outbound.policy]\n%s\n" % (tls, policy)
    return start_server(plugins=["relay"], files=files)


def test_a_certificate_matching_the_tlsa_records_gets_the_mail_over_tls(start_server, world):
    port, dirs, _ = world
    srv = server(start_server, port)
    send(srv, "bob@good.signed.test")
    [msg] = arrived(dirs["good"], "bob@good.signed.test")
    assert msg["tls"]
    assert srv.wait_log("(tls policy dane, TLSv1.3)"), srv.log()[-3000:]


def test_dane_ee_may_name_the_whole_certificate(start_server, world):
    port, dirs, _ = world
    srv = server(start_server, port)
    send(srv, "bob@cert.signed.test")
    [msg] = arrived(dirs["good"], "bob@cert.signed.test")
    assert msg["tls"]
    assert srv.wait_log("(tls policy dane, TLSv1.3)"), srv.log()[-3000:]


def test_dane_ta_checks_the_chain_and_the_mx_name(start_server, world):
    port, dirs, _ = world
    srv = server(start_server, port)
    send(srv, "bob@ta.signed.test")
    [msg] = arrived(dirs["ta"], "bob@ta.signed.test")
    assert msg["tls"]
    assert srv.wait_log("(tls policy dane, TLSv1.3)"), srv.log()[-3000:]


def test_a_certificate_matching_no_tlsa_record_defers_and_never_falls_back(start_server, world):
    port, dirs, _ = world
    srv = server(start_server, port)
    send(srv, "bob@wrong.signed.test")
    assert srv.wait_log("matches none of the TLSA records"), srv.log()[-3000:]
    assert srv.wait_log("deferred 1 recipient(s)"), srv.log()[-3000:]
    assert queued(srv, "bob@wrong.signed.test")
    assert not arrived(dirs["wrong"], "bob@wrong.signed.test", timeout=1)
    # No second try in clear, however many attempts.
    assert "trying again without TLS" not in srv.log()


def test_stripped_starttls_defers_a_dane_destination(start_server, world):
    port, dirs, strip_log = world
    srv = server(start_server, port)
    send(srv, "bob@strip.signed.test")
    assert srv.wait_log("does not offer STARTTLS"), srv.log()[-3000:]
    assert srv.wait_log("deferred 1 recipient(s)"), srv.log()[-3000:]
    assert queued(srv, "bob@strip.signed.test")
    assert not arrived(dirs["behind"], "bob@strip.signed.test", timeout=1)
    assert "stripped" in strip_log.read_text()


def test_stripped_starttls_on_an_unsigned_domain_is_what_opportunistic_tls_allows(
        start_server, world):
    port, dirs, _ = world
    srv = server(start_server, port)
    send(srv, "carol@strip.plain.test")
    [msg] = arrived(dirs["behind"], "carol@strip.plain.test")
    assert not msg["tls"]
    assert srv.wait_log("(tls policy may, plain)"), srv.log()[-3000:]


def test_tlsa_records_that_fail_validation_defer(start_server, world):
    port, dirs, _ = world
    srv = server(start_server, port)
    send(srv, "bob@bogus.signed.test")
    assert srv.wait_log("DANE: TLSA lookup for _25._tcp.mx-bogus.signed.test failed"), \
        srv.log()[-3000:]
    assert srv.wait_log("deferred 1 recipient(s)"), srv.log()[-3000:]
    assert not arrived(dirs["good"], "bob@bogus.signed.test", timeout=1)


def test_unusable_tlsa_records_still_demand_tls(start_server, world):
    port, dirs, _ = world
    srv = server(start_server, port)
    send(srv, "bob@unusable.signed.test")
    [msg] = arrived(dirs["wrong"], "bob@unusable.signed.test")
    assert msg["tls"]
    assert srv.wait_log("(tls policy dane-encrypt, TLSv1.3)"), srv.log()[-3000:]


def test_tlsa_records_of_an_unsigned_zone_are_ignored(start_server, world):
    port, dirs, _ = world
    srv = server(start_server, port)
    send(srv, "bob@wrong.plain.test")
    [msg] = arrived(dirs["plain"], "bob@wrong.plain.test")
    assert msg["tls"]  # opportunistic: any certificate
    assert srv.wait_log("(tls policy may, TLSv1.3)"), srv.log()[-3000:]


def test_without_a_validating_resolver_the_ad_bit_means_nothing(start_server, world):
    port, dirs, _ = world
    srv = server(start_server, port, validating=False)
    send(srv, "dave@wrong.signed.test")
    [msg] = arrived(dirs["wrong"], "dave@wrong.signed.test")
    assert msg["tls"]
    assert srv.wait_log("(tls policy may, TLSv1.3)"), srv.log()[-3000:]


def test_dane_off_and_the_dane_level_per_destination(start_server, world):
    port, dirs, _ = world
    srv = server(start_server, port, tls="dane=off", policy="wrong.signed.test = dane")
    send(srv, "erin@good.signed.test")  # no DANE: opportunistic, delivered
    [msg] = arrived(dirs["good"], "erin@good.signed.test")
    assert srv.wait_log("(tls policy may, TLSv1.3)"), srv.log()[-3000:]
    send(srv, "erin@wrong.signed.test")  # DANE by its own level: deferred
    assert srv.wait_log("matches none of the TLSA records"), srv.log()[-3000:]
    assert not arrived(dirs["wrong"], "erin@wrong.signed.test", timeout=1)


def test_a_bad_dane_setting_is_an_error_naming_the_line(start_server, world, tmp_path):
    port, _, _ = world
    srv = server(start_server, port)
    (srv.install / "config" / "tls.ini").write_text("[outbound]\n\ndane=always\n")
    r = run_upesi("-c", str(srv.install), "--check")
    assert r.returncode != 0
    assert "tls.ini:3" in r.stdout + r.stderr
    assert "opportunistic or off" in r.stdout + r.stderr
