"""ESMTP DSN (RFC 3461), REQUIRETLS (RFC 8689) and MT-PRIORITY (RFC 6710): what the server
offers and accepts, what the queue file keeps, what goes on to the next hop (an aiosmtpd MX,
with or without those extensions), and the notices that come back to the sender."""
import json
import smtplib
import ssl
import struct
import subprocess
import time

import pytest

from pki import Pki
from test_outbound import queue_empties, queue_files, received, sink_starter

BODY = "Subject: out\r\n\r\nsecret-body-line\r\n"


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path / "pki")


@pytest.fixture
def mx(tmp_path):
    """mx(extensions="", cert=None) starts sink_mx.py; returns (port, received dir)."""
    for start in sink_starter(tmp_path):
        def start_mx(extensions="", cert=None):
            env = {"SINK_EXTENSIONS": extensions}
            if cert:
                env.update(SINK_TLS_CERT=str(cert[1]), SINK_TLS_KEY=str(cert[0]))
            return start(**env)

        yield start_mx


def relay(start_server, mx_port, files=None, smtp=None, plugins=(), outbound=""):
    """Relays for 127.0.0.1, every domain (bounces and notices too) routed to the MX."""
    all_files = {
        "relay_acl_allow": "127.0.0.1/32\n",
        "route.ini": "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n" % mx_port,
        "outbound.ini": "[main]\ntemp_fail_intervals=1s*3\nscan_interval=1\n" + outbound,
    }
    all_files.update(files or {})
    return start_server(plugins=[*plugins, "relay", "route"], so=["route"], files=all_files,
                        smtp=smtp)


def tls_files(pki):
    key, cert = pki.issue("mx.test.example", ["mx.test.example"])
    return {"tls_key.pem": key.read_text(), "tls_cert.pem": cert.read_text()}


def client_context(pki):
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.check_hostname = False
    return context


def ehlo_lines(connect, server):
    c = connect(server)
    code, lines = c.cmd("EHLO client.example")
    assert code == 250
    return c, lines[1:]


def split(msgs):
    notices = [m for m in msgs if m["mail_from"] in ("", "<>")]
    return [m for m in msgs if m not in notices], notices


# ---------------------------------------------------------------------------- inbound


def test_dsn_is_offered_requiretls_and_mt_priority_are_not_by_default(start_server, mx,
                                                                      connect):
    port, _ = mx()
    server = relay(start_server, port)
    c, caps = ehlo_lines(connect, server)
    assert "DSN" in caps
    assert "REQUIRETLS" not in caps  # only inside TLS
    assert not [line for line in caps if line.startswith("MT-PRIORITY")]
    assert c.cmd("MAIL FROM:<a@client.example> MT-PRIORITY=3")[0] == 555
    code, lines = c.cmd("MAIL FROM:<a@client.example> REQUIRETLS")
    assert code == 530 and lines[0].startswith("5.7.10 ")


@pytest.mark.parametrize("params, text", [
    ("RET=ALL", "RET must be FULL or HDRS"),
    ("RET=", "Invalid"),
    ("RET=HDRS RET=FULL", "Duplicate parameter RET"),
    ("ENVID=a+0Db", "ENVID xtext"),
    ("ENVID=a+4", "ENVID xtext"),
    ("ENVID=" + "x" * 101, "ENVID longer than 100 characters"),
    ("ENVID=a ENVID=b", "Duplicate parameter ENVID"),
])
def test_bad_mail_dsn_parameters_get_501(start_server, mx, connect, params, text):
    port, _ = mx()
    server = relay(start_server, port)
    c, _ = ehlo_lines(connect, server)
    code, lines = c.cmd("MAIL FROM:<a@client.example> " + params)
    assert code == 501 and text in lines[0], lines
    # The session goes on: a good MAIL is taken.
    assert c.cmd("MAIL FROM:<a@client.example> RET=hdrs ENVID=QQ+2B314159")[0] == 250


@pytest.mark.parametrize("params, text", [
    ("NOTIFY=NEVER,SUCCESS", "NOTIFY=NEVER cannot be combined"),
    ("NOTIFY=SUCCESS,SUCCESS", "NOTIFY names SUCCESS twice"),
    ("NOTIFY=SOMETIMES", "NOTIFY must be"),
    ("NOTIFY=SUCCESS NOTIFY=FAILURE", "Duplicate parameter NOTIFY"),
    ("ORCPT=bob@example.net", "ORCPT must be addr-type;address"),
    ("ORCPT=rfc822;bob+0A@example.net", "ORCPT xtext"),
    ("ORCPT=rfc822;" + "b" * 494, "ORCPT longer than 500 characters"),
])
def test_bad_rcpt_dsn_parameters_get_501(start_server, mx, connect, params, text):
    port, _ = mx()
    server = relay(start_server, port, smtp={"max_line_length": 2048})  # room for ORCPT
    c, _ = ehlo_lines(connect, server)
    assert c.cmd("MAIL FROM:<a@client.example>")[0] == 250
    code, lines = c.cmd("RCPT TO:<bob@example.net> " + params)
    assert code == 501 and text in lines[0], lines
    code, _ = c.cmd("RCPT TO:<bob@example.net> NOTIFY=success,delay ORCPT=rfc822;bob+2Bx@example.net")
    assert code == 250
    assert c.cmd("RCPT TO:<carol@example.net> RET=HDRS")[0] == 555  # a MAIL parameter


def test_requiretls_is_offered_and_taken_inside_tls(start_server, mx, pki):
    port, _ = mx()
    server = relay(start_server, port, files=tls_files(pki), plugins=["tls"])
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.ehlo("client.example")
        assert not s.has_extn("requiretls")
        s.starttls(context=client_context(pki))
        s.ehlo("client.example")
        assert s.has_extn("requiretls")
        assert s.docmd("MAIL FROM:<a@client.example> REQUIRETLS")[0] == 250
        assert s.docmd("RSET")[0] == 250
        code, text = s.docmd("MAIL FROM:<a@client.example> REQUIRETLS=yes")
        assert code == 501, text


def test_mt_priority_when_configured(start_server, mx, connect):
    port, _ = mx()
    server = relay(start_server, port, smtp={"mt_priority": "MIXER"})
    c, caps = ehlo_lines(connect, server)
    assert "MT-PRIORITY MIXER" in caps
    for bad in ("10", "-10", "x", "", "+"):
        code, lines = c.cmd("MAIL FROM:<a@client.example> MT-PRIORITY=" + bad)
        assert code == 501, (bad, lines)
    assert c.cmd("MAIL FROM:<a@client.example> MT-PRIORITY=-3")[0] == 250


def test_a_bad_mt_priority_policy_stops_the_start(install, upesi_bin):
    (install / "config" / "smtp.ini").write_text("[main]\nmt_priority=FASTEST\n")
    r = subprocess.run([upesi_bin, "-c", str(install), "--check"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0
    assert "mt_priority must be MIXER, STANAG4406, NSEP" in r.stdout + r.stderr


def test_the_queue_file_keeps_the_parameters(start_server, mx, install):
    port, _ = mx()
    server = relay(start_server, port, smtp={"mt_priority": "NSEP"}, outbound="disabled=true\n")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.sendmail("alice@client.example", ["bob@example.net", "carol@example.net"], BODY,
                   mail_options=["RET=HDRS", "ENVID=QQ+2B314159", "MT-PRIORITY=4"],
                   rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Bob+2Bx@example.net"])
    [f] = queue_files(install)
    raw = f.read_bytes()
    (length,) = struct.unpack(">I", raw[:4])
    todo = json.loads(raw[4:4 + length])
    assert todo["dsn_ret"] == "HDRS"
    assert todo["dsn_envid"] == "QQ+314159"
    assert todo["mt_priority"] == 4
    assert "requiretls" not in todo
    for rcpt in todo["rcpt_to"]:
        assert rcpt["dsn_notify"] == "SUCCESS,FAILURE"
        assert rcpt["dsn_orcpt"] == "rfc822;Bob+x@example.net"
    assert list(todo)[:7] == ["queue_time", "domain", "rcpt_to", "mail_from", "notes", "uuid",
                              "force_tls"]  # Haraka's keys first, as Haraka writes them


# ---------------------------------------------------------------------------- outbound


def test_success_notice_when_the_next_hop_has_no_dsn(start_server, mx):
    port, out = mx()
    server = relay(start_server, port)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.sendmail("alice@client.example", ["bob@example.net"], BODY,
                   mail_options=["RET=HDRS", "ENVID=QQ314159"],
                   rcpt_options=["NOTIFY=SUCCESS", "ORCPT=rfc822;bob+2Bx@example.net"])
    mails, notices = split(received(out, want=2))
    assert len(mails) == 1 and mails[0]["rcpts"] == ["bob@example.net"]
    assert "RET=" not in mails[0]["mail_args"] and mails[0]["rcpt_args"] == [""]
    assert len(notices) == 1 and notices[0]["rcpts"] == ["alice@client.example"]
    dsn = notices[0]["data"]
    assert "Content-Type: multipart/report; report-type=delivery-status;" in dsn
    assert "Original-Envelope-Id: QQ314159\r\n" in dsn
    assert "Original-Recipient: rfc822;bob+x@example.net\r\n" in dsn
    assert "Final-Recipient: rfc822; bob@example.net\r\nAction: relayed\r\nStatus: 2.0.0" in dsn
    assert "Subject: out" in dsn and "secret-body-line" not in dsn


def test_no_success_notice_unless_asked(start_server, mx, install):
    port, out = mx()
    server = relay(start_server, port)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.sendmail("alice@client.example", ["bob@example.net"], BODY,
                   rcpt_options=["NOTIFY=FAILURE"])
    assert len(received(out, want=1)) == 1
    assert queue_empties(install)
    time.sleep(1)
    assert len(received(out, want=2, timeout=0.2)) == 1


def test_a_dsn_next_hop_gets_the_parameters_and_no_notice_is_sent(start_server, mx, install):
    port, out = mx(extensions="DSN,MT-PRIORITY")
    server = relay(start_server, port, smtp={"mt_priority": "MIXER"})
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.sendmail("alice@client.example", ["bob@example.net"], BODY,
                   mail_options=["RET=HDRS", "ENVID=QQ+2B314159", "MT-PRIORITY=2"],
                   rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob+2Bx@example.net"])
    [msg] = received(out)
    args = msg["mail_args"].split()
    assert "RET=HDRS" in args and "ENVID=QQ+2B314159" in args and "MT-PRIORITY=2" in args
    assert msg["rcpt_args"][0].split() == ["NOTIFY=SUCCESS,FAILURE",
                                           "ORCPT=rfc822;bob+2Bx@example.net"]
    assert queue_empties(install)
    time.sleep(1)
    assert len(received(out, want=2, timeout=0.2)) == 1  # the next hop reports, not us


def test_notify_never_gets_no_bounce(start_server, mx, install):
    port, out = mx()
    server = relay(start_server, port)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.sendmail("alice@client.example", ["perm-user@example.net"], BODY,
                   rcpt_options=["NOTIFY=NEVER"])
    assert server.wait_log("no bounce sent", timeout=15)
    assert queue_empties(install)
    time.sleep(1)
    assert received(out, want=1, timeout=0.2) == []


def test_notify_failure_with_ret_hdrs_bounces_the_headers_alone(start_server, mx):
    port, out = mx()
    server = relay(start_server, port)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.sendmail("alice@client.example", ["perm-user@example.net"], BODY,
                   mail_options=["RET=HDRS", "ENVID=E1"],
                   rcpt_options=["NOTIFY=FAILURE", "ORCPT=rfc822;perm-user@example.net"])
    [bounce] = received(out)
    assert bounce["mail_from"] in ("", "<>") and bounce["rcpts"] == ["alice@client.example"]
    dsn = bounce["data"]
    assert "Original-Envelope-Id: E1\r\n" in dsn
    assert ("Original-Recipient: rfc822;perm-user@example.net\r\nFinal-Recipient: rfc822; "
            "perm-user@example.net\r\nAction: failed\r\nStatus: 5.1.1") in dsn
    assert "Content-Type: text/rfc822-headers" in dsn and "Subject: out" in dsn
    assert "secret-body-line" not in dsn


def test_ret_full_bounces_the_whole_message(start_server, mx):
    port, out = mx()
    server = relay(start_server, port)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.sendmail("alice@client.example", ["perm-user@example.net"], BODY,
                   mail_options=["RET=FULL"])
    [bounce] = received(out)
    assert "Content-Type: message/rfc822" in bounce["data"]
    assert "secret-body-line" in bounce["data"]


def send_requiretls(server, pki, body=BODY):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.starttls(context=client_context(pki))
        s.sendmail("alice@client.example", ["bob@example.net"], body,
                   mail_options=["REQUIRETLS"])


def test_requiretls_to_a_next_hop_without_tls_bounces_with_5_7_30(start_server, mx, pki):
    port, out = mx()
    server = relay(start_server, port, files=tls_files(pki), plugins=["tls"])
    send_requiretls(server, pki, "Subject: secret-subject-line\r\nX-Note: secret-header-line\r\n"
                    "Message-ID: <id-kept@client.example>\r\n\r\nsecret-body-line\r\n")
    msgs = received(out)
    mails, bounces = split(msgs)
    assert mails == [], "a REQUIRETLS message never goes in clear"
    [bounce] = bounces
    assert "Status: 5.7.30" in bounce["data"]
    assert "REQUIRETLS support required" in bounce["data"]
    # RFC 8689 5: the bounce (sent without REQUIRETLS) is redacted: no content, no Subject, no
    # header field but what identifies the message.
    for secret in ("secret-body-line", "secret-subject-line", "secret-header-line"):
        assert secret not in bounce["data"]
    assert "<id-kept@client.example>" in bounce["data"]


def test_requiretls_to_a_verified_next_hop_that_offers_it(start_server, mx, pki):
    port, out = mx(extensions="REQUIRETLS",
                   cert=pki.issue("next-hop", ["mx.next.example", "127.0.0.1"]))
    files = tls_files(pki)
    files.update({"tls.ini": "[outbound]\nca=outbound_ca.pem\n",
                  "outbound_ca.pem": pki.ca_cert.read_text()})
    server = relay(start_server, port, files=files, plugins=["tls"])
    send_requiretls(server, pki)
    [msg] = received(out)
    assert msg["tls"] is True
    assert "REQUIRETLS" in msg["mail_args"].split()


def test_requiretls_to_a_tls_next_hop_without_requiretls_bounces(start_server, mx, pki):
    port, out = mx(cert=pki.issue("next-hop", ["mx.next.example", "127.0.0.1"]))
    files = tls_files(pki)
    files.update({"tls.ini": "[outbound]\nca=outbound_ca.pem\n",
                  "outbound_ca.pem": pki.ca_cert.read_text()})
    server = relay(start_server, port, files=files, plugins=["tls"])
    send_requiretls(server, pki)
    mails, bounces = split(received(out))
    assert mails == []
    [bounce] = bounces
    assert "Status: 5.7.30" in bounce["data"]
    assert "the server does not offer REQUIRETLS" in bounce["data"]


def test_higher_mt_priority_is_delivered_first(start_server, mx, install):
    port, out = mx(extensions="MT-PRIORITY")
    outbound = "concurrency_max=1\n"
    server = relay(start_server, port, smtp={"mt_priority": "MIXER"},
                   outbound=outbound + "disabled=true\n")
    for priority, rcpt in (("-4", "low@example.net"), ("0", "normal@example.org"),
                           ("4", "high@example.com")):
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
            s.sendmail("alice@client.example", [rcpt], BODY,
                       mail_options=["MT-PRIORITY=" + priority])
    (install / "config" / "outbound.ini").write_text(
        "[main]\ntemp_fail_intervals=1s*3\nscan_interval=1\n" + outbound + "disabled=false\n")
    msgs = received(out, want=3)
    assert [m["rcpts"][0] for m in msgs] == ["high@example.com", "normal@example.org",
                                             "low@example.net"]
    assert "MT-PRIORITY=4" in msgs[0]["mail_args"].split()
