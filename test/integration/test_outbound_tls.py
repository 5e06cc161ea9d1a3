"""Outbound TLS and AUTH through the whole engine: opportunistic STARTTLS, the fallback to
plain after a broken handshake (or, with fallback_to_plain=false, a deferral), force_tls_hosts
with certificate verification, enable_tls=false, and AUTH to a smart host named by get_mx
(without it when the host offers none, unless the MX says auth_required)."""
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
        def start_mx(tls=True, **env):
            if tls:
                key, cert = pki.issue("mx-%d" % len(issued), ["mx.test.example", "127.0.0.1"])
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
