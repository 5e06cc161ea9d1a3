"""STARTTLS, SMTPS and AUTH in the outbound SMTP client, driven through test/tools/smtp_send
against aiosmtpd (STARTTLS, implicit TLS, AUTH PLAIN/LOGIN and a CRAM-MD5 of our own) and raw
socket peers that break TLS on purpose, with certificates from a throwaway CA."""
import base64
import hmac
import os
import ssl
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, AuthResult, LoginPassword, auth_mechanism

from conftest import free_port
from pki import Pki
from smtp_client_support import SMTP_SEND, Recorder, smtp_send
from smtp_client_support import raw_peer  # noqa: F401 (a fixture)

USER, PASSWORD = "tim", "tanstaaf-secret"

# Some peers here require AUTH in clear on purpose (it is not what is under test).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture(scope="module", autouse=True)
def smtp_send_built():
    if not SMTP_SEND or not os.access(SMTP_SEND, os.X_OK):
        pytest.fail("UPESI_SMTP_SEND must name the built smtp_send driver")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def server_tls(pki):
    """The peers' TLS context: a certificate for mx.test signed by the test CA."""
    key, cert = pki.issue("mx", ["mx.test"])
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


@pytest.fixture
def peer():
    controllers = []

    def start(handler, **kwargs):
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return port

    yield start
    for c in controllers:
        c.stop()


@pytest.fixture
def msg(tmp_path):
    path = tmp_path / "msg.eml"
    path.write_bytes(b"Subject: secured\n\nhello\n")
    return path


def send(port, msg, *extra, timeout="20"):
    return smtp_send(port, ["rcpt@example.test"], msg, "--timeout", timeout, *extra)


def security(sent):
    """The last "security k=v ..." line smtp_send printed."""
    lines = [l for l in sent.stderr.splitlines() if l.startswith("security ")]
    assert lines, sent
    return dict(kv.split("=", 1) for kv in lines[-1].split()[1:])


def tls_args(pki, mode="opportunistic", name="mx.test", *extra):
    return ["--tls", mode, "--ca", str(pki.ca_cert), "--tls-name", name, *extra]


# ------------------------------------------------------------------------------------ STARTTLS

def test_opportunistic_starttls_delivers_inside_tls(peer, server_tls, pki, msg):
    # require_starttls: aiosmtpd refuses MAIL in clear, and forgets the first EHLO after TLS.
    handler = Recorder()
    port = peer(handler, tls_context=server_tls, require_starttls=True)
    sent = send(port, msg, *tls_args(pki))
    assert sent.rc == 0, sent
    s = security(sent)
    assert s["tls"].startswith("TLSv1."), sent
    assert s["cipher"] != "-" and s["verified"] == "true" and s["tls_failed"] == "false"
    assert s["auth"] == "none"
    assert "secured=true authenticated=false" in sent.stderr
    assert handler.security == [(s["tls"], None)]


def test_opportunistic_starttls_without_the_ca_is_unverified_but_delivers(peer, server_tls, msg):
    handler = Recorder()
    port = peer(handler, tls_context=server_tls, require_starttls=True)
    sent = send(port, msg, "--tls", "opportunistic", "--tls-name", "mx.test")
    assert sent.rc == 0, sent
    assert security(sent)["verified"] == "false"
    assert handler.security[0][0] is not None


def test_starttls_not_offered_opportunistic_goes_plain(peer, pki, msg):
    handler = Recorder()
    port = peer(handler)
    sent = send(port, msg, *tls_args(pki))
    assert sent.rc == 0, sent
    assert security(sent)["tls"] == "none"
    assert "secured=false" in sent.stderr
    assert handler.security == [(None, None)]


def test_starttls_required_but_not_offered_is_temporary(peer, pki, msg):
    handler = Recorder()
    port = peer(handler)
    sent = send(port, msg, *tls_args(pki, "required"))
    assert sent.rc == 1, sent
    r = sent.rcpts[0]
    assert r[1:4] == ("temporary", 0, "4.7.4"), sent
    assert "does not offer STARTTLS" in r[4]
    assert handler.envelopes == []


def test_starttls_refused(raw_peer, pki, msg):
    ehlo = ("PIPELINING", "STARTTLS")
    # Opportunistic: RFC 3207 §4, the session goes on in clear.
    p = raw_peer(ehlo=ehlo, replies={"STARTTLS": "454 4.7.0 TLS not available right now"})
    sent = send(p.port, msg, *tls_args(pki))
    assert sent.rc == 0, sent
    assert security(sent)["tls"] == "none"
    assert [c.split(" ")[0] for c in p.commands[:3]] == ["EHLO", "STARTTLS", "MAIL"]
    # Required: a temporary failure with the server's words.
    p = raw_peer(ehlo=ehlo, replies={"STARTTLS": "454 4.7.0 TLS not available right now"})
    sent = send(p.port, msg, *tls_args(pki, "required"))
    assert sent.rc == 1, sent
    assert sent.rcpts[0][1:4] == ("temporary", 454, "4.7.4"), sent
    assert "TLS not available right now" in sent.rcpts[0][4]
    assert "MAIL" not in " ".join(p.commands)


def test_what_comes_in_clear_after_the_220_is_dropped(raw_peer, server_tls, pki, msg):
    """RFC 3207 §4.2 (CVE-2011-0411's mirror image): a reply smuggled after the 220, before the
    handshake, must not be read as the answer to anything said inside TLS."""
    p = raw_peer(ehlo=("PIPELINING", "STARTTLS"), starttls=server_tls,
                 replies={"STARTTLS": "220 2.0.0 go ahead\r\n250 2.0.0 smuggled"})
    sent = send(p.port, msg, *tls_args(pki, "required", "mx.test", "--verify"))
    assert sent.rc == 0, sent
    assert security(sent)["verified"] == "true"
    verbs = [c.split(" ")[0] for c in p.commands]
    assert verbs[:6] == ["EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT", "DATA"], p.commands


def test_starttls_handshake_failure_is_reported_as_such(raw_peer, pki, msg):
    p = raw_peer(ehlo=("PIPELINING", "STARTTLS"), starttls="garbage")
    sent = send(p.port, msg, *tls_args(pki))
    assert sent.rc == 1, sent
    r = sent.rcpts[0]
    assert r[1:4] == ("temporary", 0, "4.7.5"), sent
    assert "TLS handshake failed" in r[4]
    assert security(sent)["tls_failed"] == "true"


def test_starttls_handshake_that_never_ends_times_out(raw_peer, pki, msg):
    p = raw_peer(ehlo=("PIPELINING", "STARTTLS"), starttls="stall")
    sent = send(p.port, msg, *tls_args(pki), timeout="1")
    assert sent.rc == 1, sent
    assert sent.rcpts[0][4] == "timeout waiting for TLS handshake", sent
    assert security(sent)["tls_failed"] == "true"
    assert sent.elapsed < 10


# -------------------------------------------------------------------------------- verification

def test_verify_with_the_right_name(peer, server_tls, pki, msg):
    handler = Recorder()
    port = peer(handler, tls_context=server_tls)
    sent = send(port, msg, *tls_args(pki, "required", "mx.test", "--verify"))
    assert sent.rc == 0, sent
    assert security(sent)["verified"] == "true"
    assert len(handler.envelopes) == 1


@pytest.mark.parametrize("name,ca,why", [("other.test", True, "hostname mismatch"),
                                         ("mx.test", False, "unable to verify the first certificate")])
def test_verify_failure_is_temporary_and_sends_nothing(peer, server_tls, pki, msg, name, ca, why):
    handler = Recorder()
    port = peer(handler, tls_context=server_tls)
    args = ["--tls", "required", "--tls-name", name, "--verify"]
    if ca:
        args += ["--ca", str(pki.ca_cert)]
    sent = send(port, msg, *args)
    assert sent.rc == 1, sent
    r = sent.rcpts[0]
    assert r[1:4] == ("temporary", 0, "4.7.5"), sent
    assert "not verified for \"%s\"" % name in r[4] and why in r[4], r
    s = security(sent)
    assert s["tls"] != "none" and s["tls_failed"] == "false"  # TLS worked; trust did not
    assert handler.envelopes == []


# ------------------------------------------------------------------------------------- SMTPS

def test_implicit_tls(peer, server_tls, pki, msg):
    handler = Recorder()
    port = peer(handler, ssl_context=server_tls)
    sent = send(port, msg, *tls_args(pki, "implicit", "mx.test", "--verify"))
    assert sent.rc == 0, sent
    s = security(sent)
    assert s["tls"].startswith("TLSv1.") and s["verified"] == "true"
    assert handler.security == [(s["tls"], None)]


def test_implicit_tls_against_a_plain_server(peer, pki, msg):
    port = peer(Recorder())
    sent = send(port, msg, *tls_args(pki, "implicit"))
    assert sent.rc == 1, sent
    assert sent.rcpts[0][1:4] == ("temporary", 0, "4.7.5"), sent
    assert security(sent)["tls_failed"] == "true"


# -------------------------------------------------------------------------------------- AUTH

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


class CramMd5Recorder(Recorder):
    """aiosmtpd speaks PLAIN and LOGIN; CRAM-MD5 (RFC 2195) is ours."""

    @auth_mechanism("CRAM-MD5")
    async def auth_CRAM_MD5(self, server, args):
        challenge = "<%d.%d@mx.test>" % (os.getpid(), time.time_ns())
        response = await server.challenge_auth(challenge)
        if response is MISSING:
            return AuthResult(success=False, handled=True)
        user, _, digest = response.partition(b" ")
        expected = hmac.new(PASSWORD.encode(), challenge.encode(), "md5").hexdigest().encode()
        ok = user == USER.encode() and hmac.compare_digest(digest, expected)
        return AuthResult(success=ok, handled=False, auth_data=LoginPassword(user, b""))


def auth_args(password=PASSWORD, *extra):
    return ["--auth-user", USER, "--auth-pass", password, *extra]


def test_auth_plain_inside_starttls_and_nothing_secret_logged(peer, server_tls, pki, msg):
    handler = Recorder()
    port = peer(handler, tls_context=server_tls, authenticator=authenticator, auth_required=True)
    sent = send(port, msg, *tls_args(pki), *auth_args(), "--verbose")
    assert sent.rc == 0, sent
    s = security(sent)
    assert s["auth"] == "PLAIN" and s["tls"] != "none"
    assert "secured=true authenticated=true" in sent.stderr
    assert handler.security == [(s["tls"], USER.encode())]
    plain = base64.b64encode(("\0%s\0%s" % (USER, PASSWORD)).encode()).decode()
    assert "C: AUTH PLAIN" in sent.stderr
    assert PASSWORD not in sent.stderr and plain not in sent.stderr


def test_auth_login_when_asked_for(peer, msg):
    handler = CramMd5Recorder()
    port = peer(handler, authenticator=authenticator, auth_required=True, auth_require_tls=False)
    sent = send(port, msg, *auth_args(PASSWORD, "--auth-type", "login"), "--verbose")
    assert sent.rc == 0, sent
    assert security(sent)["auth"] == "LOGIN"
    assert handler.security == [(None, USER.encode())]
    for secret in (PASSWORD, base64.b64encode(PASSWORD.encode()).decode()):
        assert secret not in sent.stderr


def test_auth_cram_md5_is_preferred(peer, msg):
    handler = CramMd5Recorder()
    port = peer(handler, authenticator=authenticator, auth_required=True, auth_require_tls=False)
    sent = send(port, msg, *auth_args())
    assert sent.rc == 0, sent
    assert security(sent)["auth"] == "CRAM-MD5"
    assert handler.security == [(None, USER.encode())]


@pytest.mark.parametrize("forced", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_auth_bad_password_is_permanent(peer, msg, forced):
    handler = CramMd5Recorder()
    port = peer(handler, authenticator=authenticator, auth_required=True, auth_require_tls=False)
    sent = send(port, msg, *auth_args("wrong", "--auth-type", forced))
    assert sent.rc == 2, sent
    r = sent.rcpts[0]
    assert r[1:3] == ("permanent", 535), sent
    assert "AUTH %s failed" % forced in r[4] and "credentials invalid" in r[4]
    assert security(sent)["auth"] == "none"
    assert handler.envelopes == []


def test_auth_wanted_but_not_offered_sends_without_auth(peer, msg):
    # aiosmtpd offers AUTH only inside TLS by default, and there is no TLS here. As Haraka:
    # a warning, and the mail goes without AUTH.
    handler = Recorder()
    port = peer(handler)
    sent = send(port, msg, *auth_args(), "--verbose")
    assert sent.rc == 0, sent
    assert security(sent)["auth"] == "none"
    assert "AUTH configured, but the server does not offer AUTH: sending without AUTH" \
        in sent.stderr
    assert len(handler.envelopes) == 1


def test_auth_required_but_not_offered_is_temporary(peer, msg):
    handler = Recorder()
    port = peer(handler)
    sent = send(port, msg, *auth_args(PASSWORD, "--auth-required"))
    assert sent.rc == 1, sent
    r = sent.rcpts[0]
    assert r[1:3] == ("temporary", 0), sent
    assert "AUTH is required, but cannot authenticate" in r[4]
    assert "does not offer AUTH" in r[4]
    assert handler.envelopes == []


def test_auth_type_not_offered_sends_without_auth(peer, msg):
    handler = Recorder()  # PLAIN and LOGIN only
    port = peer(handler, authenticator=authenticator, auth_require_tls=False)
    sent = send(port, msg, *auth_args(PASSWORD, "--auth-type", "CRAM-MD5"))
    assert sent.rc == 0, sent
    assert security(sent)["auth"] == "none"
    assert len(handler.envelopes) == 1


def test_auth_type_not_offered_and_required_is_temporary(peer, msg):
    handler = Recorder()  # PLAIN and LOGIN only
    port = peer(handler, authenticator=authenticator, auth_require_tls=False)
    sent = send(port, msg, *auth_args(PASSWORD, "--auth-type", "CRAM-MD5", "--auth-required"))
    assert sent.rc == 1, sent
    assert "does not offer AUTH CRAM-MD5" in sent.rcpts[0][4]
    assert handler.envelopes == []
