"""A Haraka install's config read as ours: connection.ini limits and greeting, the flat loglevel
file, get_mx's bind_ehlo. Each Haraka key gives a notice naming the key to use (at start and in
--check); a bad value fails as our own files do, with file and line."""
import signal
import smtplib

import pytest

from conftest import run_upesi
from test_outbound import mx, received, send  # noqa: F401 (mx is a fixture)

ACCEPT = {"accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\n"}

CONNECTION_INI = """; Haraka 3's connection.ini
[haproxy]
hosts[] =

[max]
bytes=10000
line_length=1024

[message]
greeting[]=Welcome to example.org
greeting[]=No unsolicited mail
close=see you

[uuid]
deny_chars=6
"""


@pytest.fixture
def haraka_server(start_server):
    return start_server(plugins=["accept"], so=["accept"],
                        files=dict(ACCEPT, **{"connection.ini": CONNECTION_INI}))


def test_connection_ini_sets_the_greeting_and_the_limits(haraka_server, connect):
    c = connect(haraka_server, greet=False)
    code, lines = c.reply()
    assert code == 220
    assert len(lines) == 2
    assert lines[0].startswith("mx.test.example ESMTP Welcome to example.org (")
    assert lines[1] == "No unsolicited mail"
    code, caps = c.cmd("EHLO client.example")
    assert code == 250 and "SIZE 10000" in caps
    # [max] bytes: refused at MAIL by SIZE, and after DATA by what arrived.
    assert c.cmd("MAIL FROM:<a@client.example> SIZE=20000")[0] == 552
    # [max] line_length: a command line past our default 512 is now read.
    assert c.cmd("NOOP " + "x" * 700)[0] == 250
    assert c.cmd("QUIT") == (221, ["2.0.0 mx.test.example see you"])
    # And after DATA, by what arrived (a client that did not say SIZE).
    c = connect(haraka_server)
    assert c.cmd("EHLO client.example")[0] == 250
    assert c.cmd("MAIL FROM:<a@client.example>")[0] == 250
    assert c.cmd("RCPT TO:<b@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send("Subject: big\r\n\r\n" + ("y" * 70 + "\r\n") * 200 + ".\r\n")
    assert c.reply()[0] == 552
    with smtplib.SMTP("127.0.0.1", haraka_server.port, timeout=10) as s:
        assert s.sendmail("a@client.example", ["b@example.com"], "Subject: small\r\n\r\nhi\r\n") \
            == {}


def test_start_and_check_name_the_keys_to_use(haraka_server, install):
    path = install / "config/connection.ini"
    notices = [f"upesi: notice: {path}:6: [max] bytes is read as smtp.ini [main] max_message_size;"
               " move it there",
               f"upesi: notice: {path}:7: [max] line_length is read as smtp.ini [main] "
               "max_line_length; move it there",
               f"upesi: notice: {path}:10: [message] greeting is read as smtp.ini [main] greeting;"
               " move it there",
               f"upesi: notice: {path}:12: [message] close is read as smtp.ini [main] "
               "close_message; move it there",
               f"upesi: notice: {path}:15: [uuid] deny_chars is ignored: it has no equivalent "
               "here"]
    assert "\n".join(notices) in haraka_server.log()
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode == 0, r.stderr
    assert "\n".join(notices) in r.stderr
    assert "warning" not in r.stderr, "Haraka's keys are known keys"
    assert "haproxy" not in r.stderr, "an empty hosts[] sets nothing"

    # Ours wins over Haraka's; a key Haraka does not have in connection.ini is unknown.
    with open(install / "config/smtp.ini", "a") as f:
        f.write("max_message_size=50000\n")
    with open(path, "a") as f:
        f.write("[max]\nunrecognized_commands=3\n")
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode == 0, r.stderr
    assert (f"upesi: notice: {path}:6: [max] bytes is ignored: smtp.ini [main] max_message_size "
            "sets it") in r.stderr
    assert f"upesi: warning: {path}:17: unknown key unrecognized_commands in [max]" in r.stderr


def test_a_bad_value_in_connection_ini_names_file_and_line(install):
    path = install / "config/connection.ini"
    path.write_text("[main]\nspool_after=1024\n[max]\nbytes=lots\n")
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode == 1
    assert (f"{path}:4: [max] bytes (smtp.ini max_message_size) must be a whole number from 1024 "
            "to 1099511627776, not \"lots\"") in r.stderr
    # Starting runs the same check.
    r = run_upesi("-c", str(install))
    assert r.returncode == 1
    assert f"{path}:4: [max] bytes" in r.stderr


def test_the_flat_loglevel_file_sets_the_log_level(start_server, install):
    def send_one(server):
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
            assert s.sendmail("a@client.example", ["b@example.com"], "Subject: x\r\n\r\nx\r\n") \
                == {}

    # upesi -i writes a log.ini with a level; a Haraka install has none.
    (install / "config/log.ini").write_text("[main]\nformat=default\n")
    quiet = start_server(plugins=["accept"], so=["accept"], files=ACCEPT)
    send_one(quiet)
    assert quiet.wait_log("queued from=")
    quiet.stop()
    assert "[DEBUG]" not in quiet.log()

    server = start_server(plugins=["accept"], so=["accept"],
                          files=dict(ACCEPT, loglevel="LOGDEBUG\n"))
    assert (f"upesi: notice: {install}/config/loglevel:1: loglevel is read as log.ini [main] "
            "level; move it there") in server.log()
    send_one(server)
    assert server.wait_log("[DEBUG]"), server.log()
    assert server.wait_log("hook=rcpt plugin=accept")


def test_get_mx_bind_ehlo_names_the_ehlo(start_server, mx):
    port, out = mx
    route = '{"exchange":"127.0.0.1","port":%d,"bind_ehlo":"out.example.org"}' % port
    server = start_server(plugins=["relay", "route"], so=["route"], files={
        "relay_acl_allow": "127.0.0.1/32\n",
        "route.ini": "[get_mx]\ncode=OK\nmsg=%s\n" % route,
        "outbound.ini": "[main]\ntemp_fail_intervals=1s*3\nscan_interval=1\n",
    })
    assert send(server, ["bob@example.net"]) == {}
    [msg] = received(out)
    assert msg["helo"] == "out.example.org"


def test_a_reload_reads_connection_ini_as_a_start_does(start_server, connect, install):
    server = start_server(plugins=["accept"], so=["accept"], files=ACCEPT, smtp={"nodes": 1})
    old = server.wait_workers(1)
    path = install / "config/connection.ini"
    path.write_text("[message]\ngreeting[]=Reloaded\n[max]\nbytes=tiny\n")
    server.proc.send_signal(signal.SIGUSR2)
    assert server.wait_log("reload failed, generation 1 keeps serving")
    assert f"{path}:4: [max] bytes (smtp.ini max_message_size) must be" in server.log()
    assert server.workers() == old
    path.write_text("[message]\ngreeting[]=Reloaded\n")
    server.proc.send_signal(signal.SIGUSR2)
    assert server.wait_log("reload done: generation 2 serves")
    assert (f"{path}:2: [message] greeting is read as smtp.ini [main] greeting; move it there"
            in server.log())
    code, lines = connect(server, greet=False).reply()
    assert code == 220 and lines[0].startswith("mx.test.example ESMTP Reloaded (")
