"""Outbound TLS and AUTH through the whole engine: opportunistic STARTTLS, the fallback to
plain after a broken handshake (or, with fallback_to_plain=false, a deferral), force_tls_hosts
with certificate verification, tls.ini [outbound.policy] levels per destination domain,
enable_tls=false, and AUTH to a smart host named by get_mx (without it when the host offers
none, unless the MX says auth_required)."""
import json
import smtplib
import time

import pytest

from conftest import run_upesi
from pki import Pki
from test_outbound import received, sink_starter


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path / "pki")


@pytest.fixture
def mx(tmp_path, pki):
    """mx(**env) starts an aiosmtpd MX (sink_mx.py) and returns (port, received dir)."""
    issued = []
    for start in sink_starter(tmp_path):
        def start_mx(tls=True, names=("mx.test.example", "127.0.0.1"), **env):
            if tls:
                key, cert = pki.issue("mx-%d" % len(issued), list(names))
                issued.append(cert)
                env = dict(SINK_TLS_CERT=str(cert), SINK_TLS_KEY=str(key), **env)
            return start(**env)

        yield start_mx


def relay(start_server, route, files=None, outbound=""):
    all_files = {
        "relay_acl_allow": "127.0.0.1/32\n",
        "route.ini": "[get_mx]\ncode=OK\nmsg=%s\n" % route,
        "outbound.ini": "[main]\ntemp_fail_intervals=1s*3\nscan_interval=1\n" + outbound,
    }
    all_files.update(files or {})
    return start_server(plugins=["relay", "route"], so=["route"], files=all_files)


def send(server, rcpt="bob@example.net"):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.sendmail("alice@client.example", [rcpt], "Subject: out\r\n\r\nhello\r\n")


def queued(install):
    r = run_upesi("-c", str(install), "--qlist", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_opportunistic_starttls_is_used_when_offered(start_server, mx):
    port, out = mx()
    server = relay(start_server, "127.0.0.1:%d" % port)
    send(server)
    [msg] = received(out)
    assert msg["tls"] is True


def log_lines(server, text):
    return [line for line in server.log().splitlines() if text in line]


def test_a_broken_handshake_falls_back_to_plain(start_server, mx):
    port, out = mx(SINK_TLS_MAX="TLSv1_1")
    server = relay(start_server, "127.0.0.1:%d" % port)
    send(server)
    [msg] = received(out)
    assert msg["tls"] is False
    assert server.wait_log("trying again without TLS")
    [line] = log_lines(server, "trying again without TLS")
    assert "[WARN]" in line, line
    # The host is remembered: the next message goes in clear at once, with a WARN line again.
    send(server, "carol@example.net")
    assert len(received(out, want=2)) == 2
    assert server.log().count("trying again without TLS") == 1
    assert server.wait_log("its TLS handshake failed recently")
    [line] = log_lines(server, "its TLS handshake failed recently")
    assert "[WARN]" in line, line


def test_fallback_to_plain_false_defers_instead_of_sending_in_clear(start_server, mx, install):
    port, out = mx(SINK_TLS_MAX="TLSv1_1")
    server = relay(start_server, "127.0.0.1:%d" % port, outbound="temp_fail_intervals=1s,1h\n",
                   files={"tls.ini": "[outbound]\nfallback_to_plain=false\n"})
    send(server)
    assert server.wait_log("not sending in clear", timeout=15), server.log()[-3000:]
    assert "[WARN]" in log_lines(server, "not sending in clear")[0]
    # The retry a second later is refused in clear too (and logged again).
    deadline = time.monotonic() + 10
    while len(log_lines(server, "not sending in clear")) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(log_lines(server, "not sending in clear")) == 2
    assert list(out.glob("*.json")) == [], "nothing may be sent in clear"
    assert "without TLS" not in server.log()
    assert len(queued(install)) == 1, "the message waits in the queue for a retry"


def test_enable_tls_false_sends_in_clear(start_server, mx):
    port, out = mx()
    server = relay(start_server, "127.0.0.1:%d" % port, outbound="enable_tls=false\n")
    send(server)
    [msg] = received(out)
    assert msg["tls"] is False


def test_force_tls_host_with_a_verified_certificate(start_server, mx, pki):
    port, out = mx()
    server = relay(start_server, "127.0.0.1:%d" % port, files={
        "tls.ini": "[outbound]\nca=outbound_ca.pem\nforce_tls_hosts=127.0.0.1\n",
        "outbound_ca.pem": pki.ca_cert.read_text()})
    send(server)
    [msg] = received(out)
    assert msg["tls"] is True


def test_force_tls_host_with_an_unverifiable_certificate_is_deferred(start_server, mx, install):
    port, out = mx()
    # No CA given: the system store does not know the test CA, so verification fails.
    server = relay(start_server, "127.0.0.1:%d" % port,
                   files={"tls.ini": "[outbound]\nforce_tls_hosts=127.0.0.1\n"})
    send(server)
    assert server.wait_log("certificate", timeout=15)
    time.sleep(0.5)
    assert list(out.glob("*.json")) == [], "nothing may be sent to an unverified host"
    assert len(queued(install)) == 1, "the message waits in the queue for a retry"


def test_force_tls_host_without_starttls_is_deferred(start_server, mx, install):
    port, out = mx(tls=False)
    server = relay(start_server, "127.0.0.1:%d" % port,
                   files={"tls.ini": "[outbound]\nforce_tls_hosts=127.0.0.1\n"})
    send(server)
    assert server.wait_log("STARTTLS", timeout=15)
    time.sleep(0.5)
    assert list(out.glob("*.json")) == []
    assert len(queued(install)) == 1


def waits_unsent(server, install, out, log_text):
    """The message was refused to the next hop (log_text logged) and waits in the queue."""
    assert server.wait_log(log_text, timeout=15), server.log()[-3000:]
    time.sleep(0.5)
    assert list(out.glob("*.json")) == [], "nothing may reach this next hop"
    assert len(queued(install)) == 1, "the message waits in the queue for a retry"


POLICY = "[outbound.policy]\nexample.net = %s\n"


def test_policy_none_sends_in_clear_though_starttls_is_offered(start_server, mx):
    port, out = mx()
    server = relay(start_server, "127.0.0.1:%d" % port, files={"tls.ini": POLICY % "none"})
    send(server)
    [msg] = received(out)
    assert msg["tls"] is False


def test_policy_encrypt_takes_a_certificate_it_cannot_verify(start_server, mx):
    port, out = mx()  # the test CA, unknown to the system store
    server = relay(start_server, "127.0.0.1:%d" % port, files={"tls.ini": POLICY % "encrypt"})
    send(server)
    [msg] = received(out)
    assert msg["tls"] is True


def test_policy_encrypt_defers_a_next_hop_without_starttls(start_server, mx, install):
    port, out = mx(tls=False)
    server = relay(start_server, "127.0.0.1:%d" % port, files={"tls.ini": POLICY % "encrypt"})
    send(server)
    waits_unsent(server, install, out, "does not offer STARTTLS")


def test_policy_encrypt_holds_even_with_enable_tls_false(start_server, mx, install):
    port, out = mx()
    server = relay(start_server, "127.0.0.1:%d" % port, outbound="enable_tls=false\n",
                   files={"tls.ini": POLICY % "encrypt"})
    send(server)
    waits_unsent(server, install, out, "no TLS context")


def test_policy_encrypt_never_falls_back_to_plain_after_a_broken_handshake(start_server, mx,
                                                                          install):
    port, out = mx(SINK_TLS_MAX="TLSv1_1")
    server = relay(start_server, "127.0.0.1:%d" % port, files={"tls.ini": POLICY % "encrypt"})
    send(server)
    assert server.wait_log("TLS", timeout=15)
    time.sleep(1.5)  # a retry is due after 1 s: it must not go in clear either
    assert list(out.glob("*.json")) == []
    assert "without TLS" not in server.log()
    assert len(queued(install)) == 1


@pytest.mark.parametrize("level, names, refusal", [
    # secure: the recipient's domain or a host under it.
    ("secure", ["mx1.example.net"], None),
    ("secure", ["mx.test.example", "127.0.0.1"],
     'not verified for "example.net" or ".example.net"'),
    # verify: the MX host get_mx names (here its address).
    ("verify", ["mx.test.example", "127.0.0.1"], None),
    ("verify", ["mx.test.example"], 'not verified for "127.0.0.1"'),
])
def test_policy_secure_and_verify_check_the_names(start_server, mx, pki, install, level, names,
                                                  refusal):
    port, out = mx(names=names)
    server = relay(start_server, "127.0.0.1:%d" % port, files={
        "tls.ini": "[outbound]\nca=outbound_ca.pem\n" + POLICY % level,
        "outbound_ca.pem": pki.ca_cert.read_text()})
    send(server)
    if refusal is None:
        [msg] = received(out)
        assert msg["tls"] is True
    else:
        waits_unsent(server, install, out, refusal)


def test_a_malformed_policy_is_a_check_error_naming_its_line(install):
    (install / "config" / "tls.ini").write_text(
        "[outbound.policy]\nexample.net = secure\nexample.org = sometimes\n")
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode != 0
    assert "tls.ini:3" in r.stderr + r.stdout, r.stderr + r.stdout
    assert "none, may, dane, encrypt, verify or secure" in r.stderr + r.stdout


def test_auth_to_a_smart_host_from_get_mx(start_server, mx):
    port, out = mx(SINK_AUTH="relayuser:relay-pass")
    server = relay(start_server, "smtp://relayuser:relay-pass@127.0.0.1:%d" % port)
    send(server)
    [msg] = received(out)
    assert msg["auth"] is True and msg["tls"] is True
    assert "relay-pass" not in server.log()


def test_a_refused_smart_host_password_bounces(start_server, mx, install):
    port, out = mx(SINK_AUTH="relayuser:relay-pass")
    server = relay(start_server, "smtp://relayuser:wrong@127.0.0.1:%d" % port)
    send(server)
    assert server.wait_log("535", timeout=15), server.log()[-3000:]
    deadline = time.monotonic() + 10
    while queued(install) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert queued(install) == [], "a permanent AUTH failure is not retried"
    assert list(out.glob("*.json")) == []


def test_a_smart_host_that_offers_no_auth_gets_the_mail_without_it(start_server, mx, install):
    """Haraka's Outbound documentation, "Outbound AUTH": if the remote end does not advertise
    AUTH, delivery proceeds without AUTH and a warning is logged."""
    port, out = mx(tls=False)  # aiosmtpd offers AUTH only inside TLS
    server = relay(start_server, "smtp://relayuser:relay-pass@127.0.0.1:%d" % port)
    send(server)
    [msg] = received(out)
    assert msg["auth"] is None and msg["tls"] is False
    assert server.wait_log("AUTH configured, but the server does not offer AUTH: sending "
                           "without AUTH")
    [line] = [ln for ln in server.log().splitlines() if "AUTH configured" in ln]
    assert "[WARN] " in line
    assert "relay-pass" not in server.log()


def test_a_smart_host_that_offers_no_usable_mechanism_gets_the_mail_without_auth(start_server,
                                                                                mx):
    port, out = mx(SINK_AUTH="relayuser:relay-pass")  # PLAIN and LOGIN inside TLS
    route = ('{"exchange":"127.0.0.1","port":%d,"auth_user":"relayuser",'
             '"auth_pass":"relay-pass","auth_type":"CRAM-MD5"}' % port)
    server = relay(start_server, route)
    send(server)
    assert server.wait_log("AUTH configured, but the server does not offer AUTH CRAM-MD5: "
                           "sending without AUTH")
    # This sink insists on AUTH (530 at MAIL): what it says is what the sender learns.
    assert server.wait_log("530", timeout=15), server.log()[-3000:]
    assert list(out.glob("*.json")) == []


def test_auth_required_defers_when_the_smart_host_offers_no_auth(start_server, mx, install):
    port, out = mx(tls=False)
    route = ('{"exchange":"127.0.0.1","port":%d,"auth_user":"relayuser",'
             '"auth_pass":"relay-pass","auth_required":true}' % port)
    server = relay(start_server, route, outbound="")
    send(server)
    assert server.wait_log("AUTH is required, but cannot authenticate to 127.0.0.1", timeout=15), \
        server.log()[-3000:]
    assert server.wait_log("deferred 1 recipient(s)")
    time.sleep(0.5)
    assert list(out.glob("*.json")) == []
    assert len(queued(install)) == 1, "the message waits in the queue for a retry"
    assert "relay-pass" not in server.log()
