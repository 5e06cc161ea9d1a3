"""Inbound TLS through the real binary: STARTTLS with swaks, smtplib and openssl s_client,
SMTPS, SNI, client certificates, the plaintext-injection rule and certificate reloads."""
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import Client, free_port, run_upesi
from pki import Pki

PLUGINS = ["tls", "rcpt_to.in_host_list", "queue/maildir"]


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path / "pki")


def tls_files(pki, extra=None):
    key, cert = pki.issue("mx.test.example", ["mx.test.example"])
    files = {"tls_key.pem": key.read_text(), "tls_cert.pem": cert.read_text(),
             "host_list": "example.com\n", "local_mailboxes": "u@example.com\n"}
    files.update(extra or {})
    return files


def client_context(pki, check_hostname=True):
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.check_hostname = check_hostname
    return ctx


def delivered(install):
    return [p.read_bytes() for p in (install / "maildir").rglob("new/*") if p.is_file()]


def wait_delivered(install, count, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = delivered(install)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    return delivered(install)


def peer_common_name(sock):
    subject = dict(x[0] for x in sock.getpeercert()["subject"])
    return subject["commonName"]


def test_starttls_with_smtplib_verifies_and_delivers(start_server, pki, install):
    server = start_server(plugins=PLUGINS, files=tls_files(pki))
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.ehlo("client.test")
        assert s.has_extn("starttls")
        code, _ = s.starttls(context=client_context(pki, check_hostname=False))
        assert code == 220
        assert peer_common_name(s.sock) == "mx.test.example"
        s.ehlo("client.test")
        assert not s.has_extn("starttls"), "STARTTLS must not be offered inside TLS"
        s.sendmail("a@client.test", ["u@example.com"], b"Subject: t\r\n\r\nover tls\r\n")
    [message] = wait_delivered(install, 1)
    assert b"with ESMTPS id" in message
    assert b"\ttls TLS_" in message
    assert server.wait_log("tls=Y")
    assert server.wait_log("secured: version=TLSv1.")


def test_swaks_starttls_and_a_hostname_check(start_server, pki, install):
    server = start_server(plugins=PLUGINS, files=tls_files(pki))
    r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % server.port, "--tls",
                        "--tls-verify", "--tls-ca-path", str(pki.ca_cert),
                        "--tls-verify-host", "mx.test.example",
                        "--to", "u@example.com", "--from", "a@client.test"],
                       capture_output=True, text=True, timeout=30)
    if "Unknown option" in r.stdout + r.stderr:
        # Older swaks: no verification options; the exchange itself is still checked.
        r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % server.port, "--tls",
                            "--to", "u@example.com", "--from", "a@client.test"],
                           capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "TLS started" in r.stdout
    assert "250 2.0.0 Message Queued" in r.stdout.replace("<~  ", "")
    assert "221 2.0.0" in r.stdout
    assert len(wait_delivered(install, 1)) == 1


def test_openssl_s_client_starttls(start_server, pki):
    server = start_server(plugins=PLUGINS, files=tls_files(pki))
    r = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                        "127.0.0.1:%d" % server.port, "-CAfile", str(pki.ca_cert),
                        "-verify_hostname", "mx.test.example", "-verify_return_error", "-crlf",
                        "-quiet"],
                       input="EHLO client.test\nQUIT\n", capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert "250-mx.test.example Hello" in r.stdout
    assert "221 2.0.0" in r.stdout
    assert "Verify return code: 0" in r.stderr or "verify return:1" in r.stderr


def test_commands_pipelined_after_starttls_are_discarded(start_server, pki, connect):
    server = start_server(plugins=PLUGINS, files=tls_files(pki))
    c = connect(server)
    assert c.cmd("EHLO client.test")[0] == 250
    # CVE-2011-0411: NOOP arrives in clear with STARTTLS and must never be answered in TLS.
    c.send("STARTTLS\r\nNOOP\r\nMAIL FROM:<x@y.z>\r\n")
    code, lines = c.reply()
    assert code == 220, lines
    assert c.buf == b"", "nothing may follow the 220 in clear"
    c.sock = client_context(pki, check_hostname=False).wrap_socket(c.sock)
    code, lines = c.cmd("EHLO client.test")
    assert code == 250, (code, lines)
    assert lines[0].startswith("mx.test.example Hello")
    assert "STARTTLS" not in lines
    code, _ = c.cmd("NOOP")
    assert code == 250
    assert server.wait_log("discarding")


def test_state_is_reset_by_starttls(start_server, pki, connect):
    server = start_server(plugins=PLUGINS, files=tls_files(pki))
    c = connect(server)
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("STARTTLS")[0] == 220
    c.sock = client_context(pki, check_hostname=False).wrap_socket(c.sock)
    code, lines = c.cmd("MAIL FROM:<a@client.test>")
    assert code == 503, "RFC 3207 4.2: the client must say EHLO again (%s)" % lines
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("STARTTLS")[0] in (500, 503), "a second STARTTLS is refused"


def test_starttls_refused_with_arguments_and_in_a_transaction(start_server, pki, connect):
    server = start_server(plugins=PLUGINS, files=tls_files(pki))
    c = connect(server)
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("STARTTLS now")[0] == 501
    assert c.cmd("MAIL FROM:<a@client.test>")[0] == 250
    assert c.cmd("STARTTLS")[0] == 503
    assert c.cmd("QUIT")[0] == 221


def test_no_starttls_without_the_plugin_or_for_listed_hosts(start_server, pki, connect):
    server = start_server(plugins=PLUGINS, files=tls_files(
        pki, {"tls.ini": "[no_tls_hosts]\n127.0.0.0/8\n"}))
    c = connect(server)
    code, lines = c.cmd("EHLO client.test")
    assert code == 250 and "STARTTLS" not in lines
    assert c.cmd("STARTTLS")[0] == 500


def test_clienthello_on_a_plain_port_gets_501(start_server, pki, connect):
    server = start_server(plugins=PLUGINS, files=tls_files(pki))
    c = connect(server)
    c.send(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 32)
    code, lines = c.reply()
    assert code == 501 and "SSL attempted over a non-SSL socket" in lines[0]
    assert c.closed()


def test_smtps_port_speaks_tls_from_the_first_byte(start_server, pki, install):
    smtps = free_port()
    plain = free_port()
    server = start_server(plugins=PLUGINS, files=tls_files(pki),
                          smtp={"listen": "127.0.0.1:%d,127.0.0.1:%d" % (plain, smtps),
                                "smtps_port": smtps})
    server.port = plain
    with smtplib.SMTP_SSL("127.0.0.1", smtps, timeout=10,
                          context=client_context(pki, check_hostname=False)) as s:
        code, _ = s.ehlo("client.test")
        assert code == 250
        assert not s.has_extn("starttls")
        s.sendmail("a@client.test", ["u@example.com"], b"Subject: t\r\n\r\nsmtps\r\n")
    [message] = wait_delivered(install, 1)
    assert b"with ESMTPS" in message
    r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % smtps, "--tlsc",
                        "--to", "u@example.com", "--from", "a@client.test"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(wait_delivered(install, 2)) == 2
    # A plain client on the SMTPS port gets no banner in clear.
    with socket.create_connection(("127.0.0.1", smtps), timeout=5) as raw:
        raw.sendall(b"EHLO plain\r\n")
        raw.settimeout(5)
        try:
            data = raw.recv(100)
        except ConnectionResetError:
            data = b""
        assert not data.startswith(b"220"), data


def test_sni_picks_the_certificate(start_server, pki):
    files = tls_files(pki, {
        "tls/a.pem": pki.bundle("a.test.example", ["a.test.example"]),
        "tls/wild.pem": pki.bundle("wild.test.example", ["*.wild.test.example"]),
    })
    server = start_server(plugins=PLUGINS, files=files)
    assert server.wait_log("2 more by SNI")

    def cert_for(name):
        ctx = client_context(pki, check_hostname=False)
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
            s.ehlo("client.test")
            code, _ = s.docmd("STARTTLS")
            assert code == 220
            s.sock = ctx.wrap_socket(s.sock, server_hostname=name)
            s.file = None
            cn = peer_common_name(s.sock)
            s.ehlo("client.test")
            return cn

    assert cert_for("a.test.example") == "a.test.example"
    assert cert_for("A.Test.Example") == "a.test.example"
    assert cert_for("mx1.wild.test.example") == "wild.test.example"
    assert cert_for("unknown.test.example") == "mx.test.example"
    assert server.wait_log('sni="a.test.example"')


def test_required_client_certificate(start_server, pki, install):
    smtps = free_port()
    ckey, ccert = pki.issue("client.test", [], client=True)
    files = tls_files(pki, {
        "tls.ini": "[main]\nrequestCert=true\nca=tls_ca.pem\nrequireAuthorized[]=%d\n" % smtps,
        "tls_ca.pem": pki.ca_cert.read_text(),
    })
    plain = free_port()
    server = start_server(plugins=PLUGINS, files=files,
                          smtp={"listen": "127.0.0.1:%d,127.0.0.1:%d" % (plain, smtps),
                                "smtps_port": smtps})
    ctx = client_context(pki, check_hostname=False)
    # Without a certificate the session is closed right after the handshake.
    with pytest.raises((smtplib.SMTPServerDisconnected, ConnectionError, ssl.SSLError)):
        with smtplib.SMTP_SSL("127.0.0.1", smtps, timeout=10, context=ctx) as s:
            s.ehlo("client.test")
    assert server.wait_log("no verified client certificate")
    ctx.load_cert_chain(str(ccert), str(ckey))
    with smtplib.SMTP_SSL("127.0.0.1", smtps, timeout=10, context=ctx) as s:
        assert s.ehlo("client.test")[0] == 250
        s.sendmail("a@client.test", ["u@example.com"], b"Subject: t\r\n\r\ncert\r\n")
    assert len(wait_delivered(install, 1)) == 1
    assert server.wait_log("verified=true peer=\"CN=client.test\"")


def test_a_changed_certificate_is_loaded_without_restart(start_server, pki, install):
    server = start_server(plugins=PLUGINS, files=tls_files(pki))
    key, cert = pki.issue("renewed.test.example", ["renewed.test.example"])
    # Key first, then certificate: the set that has a mismatched pair meanwhile is refused.
    (install / "config" / "tls_key.pem").write_text(key.read_text())
    (install / "config" / "tls_cert.pem").write_text(cert.read_text())
    assert server.wait_log("TLS certificates loaded again", timeout=15), server.log()
    deadline = time.monotonic() + 10
    while True:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
            s.starttls(context=client_context(pki, check_hostname=False))
            if peer_common_name(s.sock) == "renewed.test.example":
                break
        assert time.monotonic() < deadline, "the renewed certificate was never served"
        time.sleep(0.2)


def test_a_broken_certificate_stops_check_and_start(install, start_server, pki):
    files = tls_files(pki)
    files["tls_cert.pem"] = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
    from conftest import write_config
    write_config(install, dict(files, plugins="tls\n"))
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode != 0
    assert "tls_cert.pem" in r.stderr + r.stdout
    server = start_server(plugins=PLUGINS, files=files, expect_ready=False)
    assert server.proc.wait(timeout=15) != 0
    assert "tls_cert.pem" in server.log()


def test_missing_key_is_named(install, pki):
    from conftest import write_config
    write_config(install, {"plugins": "tls\n"})
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode != 0
    assert "tls_key.pem: no such file" in r.stderr + r.stdout


def test_a_bad_tls_ini_value_names_file_and_line(install, pki):
    from conftest import write_config
    write_config(install, dict(tls_files(pki), plugins="tls\n",
                               **{"tls.ini": "[main]\n; protocols\nminVersion=SSLv3\n"}))
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode != 0
    assert "tls.ini:3" in r.stderr + r.stdout
    assert "minVersion" in r.stderr + r.stdout
