"""SMTP AUTH through the real binary with auth/flat_file: the three mechanisms with smtplib and
swaks, TLS first, failures slowed and limited, the submission port, and no password in logs."""
import base64
import hmac
import json
import smtplib
import subprocess
import time

import pytest

from conftest import free_port, run_upesi
from pki import Pki

USERS = "[users]\nalice@example.com=s3cret-Pa55\nbob=hunter2\n"


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path / "pki")


def auth_files(pki, users=USERS, extra=None):
    key, cert = pki.issue("mx.test.example", ["mx.test.example"])
    files = {"tls_key.pem": key.read_text(), "tls_cert.pem": cert.read_text(),
             "host_list": "example.com\n", "auth_flat_file.ini": users,
             "outbound.ini": "[main]\ndisabled=true\n",
             "log.ini": "[main]\nlevel=protocol\n"}
    files.update(extra or {})
    return files


PLUGINS = ["tls", "auth/flat_file", "rcpt_to.in_host_list", "queue/maildir"]


def smtp_tls(server, pki, port=None):
    s = smtplib.SMTP("127.0.0.1", port or server.port, timeout=15)
    s.ehlo("client.test")
    import ssl
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.check_hostname = False
    s.starttls(context=ctx)
    s.ehlo("client.test")
    return s


def queued(install):
    r = run_upesi("-c", str(install), "--qlist", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_each_mechanism_authenticates_and_relays(start_server, pki, install, mechanism):
    server = start_server(plugins=PLUGINS, files=auth_files(pki),
                          smtp={"auth_failure_delay": 0})
    with smtp_tls(server, pki) as s:
        assert s.has_extn("auth")
        assert mechanism in s.esmtp_features["auth"].split()
        s.user, s.password = "alice@example.com", "s3cret-Pa55"
        authobject = {"PLAIN": s.auth_plain, "LOGIN": s.auth_login,
                      "CRAM-MD5": s.auth_cram_md5}[mechanism]
        code, text = s.auth(mechanism, authobject, initial_response_ok=(mechanism != "CRAM-MD5"))
        assert code == 235, text
        s.ehlo("client.test")
        assert not s.has_extn("auth"), "AUTH is not offered again once authenticated"
        # Relaying: mail for a domain this server does not receive goes to the outbound queue.
        s.sendmail("alice@example.com", ["someone@elsewhere.test"], b"Subject: x\r\n\r\nhi\r\n")
    assert len(queued(install)) == 1
    assert server.wait_log('AUTH %s user="alice@example.com" succeeded' % mechanism)


def test_not_offered_in_clear_unless_configured(start_server, pki, connect):
    server = start_server(plugins=PLUGINS, files=auth_files(pki))
    c = connect(server)
    code, lines = c.cmd("EHLO client.test")
    assert code == 250
    assert not any(line.startswith("AUTH") for line in lines)
    assert c.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHMzY3JldC1QYTU1")[0] == 500


def test_offered_in_clear_with_auth_requires_tls_false(start_server, pki):
    server = start_server(plugins=PLUGINS, files=auth_files(pki),
                          smtp={"auth_requires_tls": "false"})
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.ehlo("client.test")
        assert "PLAIN" in s.esmtp_features["auth"]
        assert s.login("bob", "hunter2")[0] == 235


def test_swaks_auth_over_tls(start_server, pki, install):
    server = start_server(plugins=PLUGINS, files=auth_files(pki))
    r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % server.port, "--tls",
                        "--auth", "LOGIN", "--auth-user", "bob", "--auth-password", "hunter2",
                        "--to", "x@elsewhere.test", "--from", "bob@client.test"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "235 2.7.0 Authentication successful" in r.stdout
    assert len(queued(install)) == 1


def test_bad_password_is_slowed_then_the_connection_closed(start_server, pki):
    server = start_server(plugins=PLUGINS, files=auth_files(pki),
                          smtp={"auth_failure_delay": 1, "max_auth_failures": 2})
    with smtp_tls(server, pki) as s:
        t0 = time.monotonic()
        code, _ = s.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0bob\0wrong").decode())
        first = time.monotonic() - t0
        assert code == 535
        assert first >= 0.9, "the first failure waits the base delay"
        t0 = time.monotonic()
        code, _ = s.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0bob\0also wrong").decode())
        assert code == 535
        assert time.monotonic() - t0 >= 1.9, "the second failure waits twice as long"
        code, text = s.getreply()
        assert code == 421 and b"Too many failed authentications" in text
    assert server.wait_log("2 of 2 on this connection")


def test_failures_per_address_are_limited_across_connections(start_server, pki):
    server = start_server(plugins=PLUGINS, files=auth_files(pki),
                          smtp={"auth_failure_delay": 0, "max_auth_failures_per_ip": 2})
    for _ in range(2):
        with smtp_tls(server, pki) as s:
            with pytest.raises(smtplib.SMTPAuthenticationError):
                s.login("bob", "wrong")
    with smtp_tls(server, pki) as s:
        code, text = s.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0bob\0hunter2").decode())
        assert code == 454, text
    assert server.wait_log("too many failures from 127.0.0.1")


def test_malformed_cancelled_and_oversized_exchanges(start_server, pki):
    server = start_server(plugins=PLUGINS, files=auth_files(pki),
                          smtp={"auth_failure_delay": 0})
    with smtp_tls(server, pki) as s:
        assert s.docmd("AUTH", "PLAIN not*base64")[0] == 501
        assert s.docmd("AUTH", "PLAIN =")[0] == 501           # empty: not user NUL password
        assert s.docmd("AUTH", "PLAIN " + base64.b64encode(b"bob").decode())[0] == 501
        assert s.docmd("AUTH", "LOGIN")[0] == 334
        assert s.docmd("*")[0] == 501                          # cancelled
        assert s.docmd("AUTH", "GSSAPI")[0] == 504
        assert s.docmd("AUTH", "CRAM-MD5 " + base64.b64encode(b"x").decode())[0] == 501
        assert s.docmd("AUTH", "PLAIN")[0] == 334
        code, text = s.docmd("A" * 13000)
        assert code == 500 and b"5.5.6" in text
        assert s.noop()[0] == 250, "the session goes on after a refused exchange"
        # Proxy authorization (acting as someone else) is refused.
        proxy = base64.b64encode(b"alice@example.com\0bob\0hunter2").decode()
        assert s.docmd("AUTH", "PLAIN " + proxy)[0] == 501
        good = base64.b64encode(b"\0bob\0hunter2").decode()
        assert s.docmd("AUTH", "PLAIN " + good)[0] == 235
        assert s.docmd("AUTH", "PLAIN " + good)[0] == 503      # already authenticated


def test_an_oversized_response_without_its_line_end_yet(start_server, pki):
    # The refusal comes before the line ends; the rest is dropped as it arrives.
    server = start_server(plugins=PLUGINS, files=auth_files(pki),
                          smtp={"auth_failure_delay": 0})
    with smtp_tls(server, pki) as s:
        assert s.docmd("AUTH", "PLAIN")[0] == 334
        s.send(b"A" * 13000)
        code, text = s.getreply()
        assert code == 500 and b"5.5.6" in text
        s.send(b"A" * 5000)
        s.send(b"A\r\n")
        assert s.noop()[0] == 250, "the rest of the line was dropped, and no more"


def test_cram_md5_digest_is_checked(start_server, pki):
    server = start_server(plugins=PLUGINS, files=auth_files(pki),
                          smtp={"auth_failure_delay": 0})
    with smtp_tls(server, pki) as s:
        code, challenge = s.docmd("AUTH", "CRAM-MD5")
        assert code == 334
        raw = base64.b64decode(challenge)
        assert raw.startswith(b"<") and raw.endswith(b"@mx.test.example>")
        digest = hmac.new(b"wrong", raw, "md5").hexdigest()
        assert s.docmd(base64.b64encode(b"bob " + digest.encode()).decode())[0] == 535
        code, challenge = s.docmd("AUTH", "CRAM-MD5")
        digest = hmac.new(b"hunter2", base64.b64decode(challenge), "md5").hexdigest()
        assert s.docmd(base64.b64encode(b"bob " + digest.encode()).decode())[0] == 235


def test_submission_port_requires_auth(start_server, pki, install):
    plain, submission = free_port(), free_port()
    server = start_server(plugins=PLUGINS, files=auth_files(pki),
                          smtp={"listen": "127.0.0.1:%d,127.0.0.1:%d" % (plain, submission),
                                "submission_ports": submission, "auth_failure_delay": 0})
    server.port = plain
    with smtp_tls(server, pki, port=submission) as s:
        code, text = s.docmd("MAIL", "FROM:<bob@client.test>")
        assert code == 530 and b"Authentication required" in text
        assert s.login("bob", "hunter2")[0] == 235
        assert s.docmd("MAIL", "FROM:<bob@client.test>")[0] == 250
    with smtplib.SMTP("127.0.0.1", plain, timeout=10) as s:
        s.ehlo("client.test")
        assert s.docmd("MAIL", "FROM:<x@client.test>")[0] == 250, "port 25 style: no AUTH needed"


def test_constrain_sender(start_server, pki):
    server = start_server(plugins=PLUGINS, files=auth_files(pki), smtp={"auth_failure_delay": 0})
    with smtp_tls(server, pki) as s:
        assert s.login("alice@example.com", "s3cret-Pa55")[0] == 235
        code, text = s.docmd("MAIL", "FROM:<alice@other.test>")
        assert code == 550 and b"doesn't match AUTH domain" in text
        assert s.docmd("MAIL", "FROM:<alice@example.com>")[0] == 250


def test_passwords_never_reach_the_log(start_server, pki):
    server = start_server(plugins=PLUGINS, files=auth_files(pki), smtp={"auth_failure_delay": 0})
    with smtp_tls(server, pki) as s:
        s.user, s.password = "bob", "hunter2"
        assert s.auth("PLAIN", s.auth_plain)[0] == 235
    with smtp_tls(server, pki) as s:
        s.user, s.password = "bob", "hunter2"
        assert s.auth("LOGIN", s.auth_login, initial_response_ok=False)[0] == 235
    assert server.wait_log("C: AUTH PLAIN ***")
    log = server.log()
    assert "hunter2" not in log
    assert base64.b64encode(b"\0bob\0hunter2").decode() not in log
    assert base64.b64encode(b"hunter2").decode() not in log


@pytest.fixture
def upstream(tmp_path, pki):
    """An aiosmtpd server offering STARTTLS and requiring AUTH for alice@example.org."""
    import os
    import pathlib
    key, cert = pki.issue("upstream", ["127.0.0.1"])
    port = free_port()
    out = tmp_path / "upstream"
    out.mkdir()
    peers = pathlib.Path(__file__).resolve().parent / "peers"
    env = dict(os.environ, SINK_TLS_CERT=str(cert), SINK_TLS_KEY=str(key),
               SINK_AUTH="alice@example.org:upstream-pw")
    proc = subprocess.Popen(["/usr/bin/python3", str(peers / "sink_mx.py"), str(port), str(out)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "ready"
    yield port
    proc.stdin.close()
    proc.terminate()
    proc.wait(timeout=10)


def proxy_server(start_server, pki, upstream, main=""):
    dead = free_port()
    return start_server(
        plugins=["tls", "auth/auth_proxy", "rcpt_to.in_host_list", "queue/maildir"],
        files=auth_files(pki, extra={"auth_proxy.ini": "[main]\n%s[domains]\n"
                                     "example.org=127.0.0.1:%d\ndown.example=127.0.0.1:%d\n"
                                     % (main, upstream, dead)}),
        smtp={"auth_failure_delay": 0, "max_auth_failures": 10})


def proxy_login(server, pki, user, password):
    with smtp_tls(server, pki) as s:
        assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        return s.docmd("AUTH", "PLAIN " + base64.b64encode(
            b"\0" + user.encode() + b"\0" + password.encode()).decode())[0]


def test_auth_proxy_checks_credentials_on_the_domains_server(start_server, pki, upstream):
    server = proxy_server(start_server, pki, upstream, main="ca_file=%s\n" % pki.ca_cert)

    def try_login(user, password):
        return proxy_login(server, pki, user, password)

    assert try_login("alice@example.org", "upstream-pw") == 235
    assert try_login("alice@example.org", "wrong") == 535
    assert try_login("bob@unknown.example", "whatever") == 535   # no plugin knows the domain
    assert try_login("carol@down.example", "whatever") == 454    # its server is unreachable
    assert "upstream-pw" not in server.log()


def test_auth_proxy_refuses_an_upstream_certificate_that_does_not_verify(start_server, pki,
                                                                         upstream):
    """By default the upstream's certificate must verify: signed by a CA this server does not
    know, the password is not sent and the client may try later."""
    server = proxy_server(start_server, pki, upstream)
    assert proxy_login(server, pki, "alice@example.org", "upstream-pw") == 454
    assert server.wait_log("not verified")


def test_auth_proxy_without_verification_when_configured(start_server, pki, upstream):
    server = proxy_server(start_server, pki, upstream, main="reject_unauthorized=false\n")
    assert proxy_login(server, pki, "alice@example.org", "upstream-pw") == 235
