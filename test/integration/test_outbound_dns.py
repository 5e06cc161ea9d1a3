"""Outbound MX resolution through c-ares against dnsmasq on a loopback port: MX records in
priority order, implicit MX, null MX (RFC 7505), a domain that does not exist. The receiving
MXes listen on 127.0.0.2/127.0.0.3 port 25 (MX records carry no port), so these tests need
root; every address is on the loopback network."""
import os
import pathlib
import smtplib
import subprocess

import pytest

import dns_zone
from dns_zone import host, mx
from test_outbound import received

PEERS = pathlib.Path(__file__).resolve().parent / "peers"

pytestmark = pytest.mark.skipif(os.getuid() != 0 or not dns_zone.AVAILABLE,
                                reason="needs root (MX hosts listen on port 25) and dnsmasq")

ZONE = [
    # example.test: two MXes; the preferred one is down, the other answers.
    mx("example.test", "mx-down.example.test", 10),
    mx("example.test", "mx-up.example.test", 20),
    host("mx-down.example.test", "127.0.0.4"),
    host("mx-up.example.test", "127.0.0.2"),
    # implicit.test: no MX, an A record: the domain itself is the MX.
    host("implicit.test", "127.0.0.3"),
    # client.test (bounces go there): its MX is the same sink.
    mx("client.test", "mx-up.example.test", 10),
    # nullmx.test: "." at priority 0.
    mx("nullmx.test", ".", 0),
]


@pytest.fixture
def dns():
    with dns_zone.serve(ZONE) as port:
        yield port


def sink(address, out):
    out.mkdir(exist_ok=True)
    proc = subprocess.Popen(["/usr/bin/python3", str(PEERS / "sink_mx.py"), "25", str(out),
                             address], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


@pytest.fixture
def sinks(tmp_path):
    procs = {a: sink(a, tmp_path / a) for a in ("127.0.0.2", "127.0.0.3")}
    yield {a: tmp_path / a for a in procs}
    for p in procs.values():
        p.stdin.close()
        p.terminate()
        p.wait(timeout=10)


def server(start_server, dns_port):
    return start_server(plugins=["relay"], files={
        "relay_acl_allow": "127.0.0.1/32\n",
        "dns.ini": dns_zone.resolver_ini(dns_port),
        "outbound.ini": "[main]\nlocal_mx_ok=true\nconnect_timeout=2\ntemp_fail_intervals=1s\n"
                        "scan_interval=1\n",
    })


def send(srv, rcpts, sender="alice@client.test"):
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as s:
        return s.sendmail(sender, rcpts, "Subject: dns\r\n\r\nvia MX\r\n")


def test_mx_records_in_priority_order_with_fallback(start_server, dns, sinks):
    srv = server(start_server, dns)
    assert send(srv, ["bob@example.test"]) == {}
    [msg] = received(sinks["127.0.0.2"])
    assert msg["rcpts"] == ["bob@example.test"]
    # The preferred MX (127.0.0.4) was tried first and refused the connection.
    assert srv.wait_log("mx-down.example.test [127.0.0.4]")


def test_implicit_mx(start_server, dns, sinks):
    srv = server(start_server, dns)
    assert send(srv, ["carol@implicit.test"]) == {}
    [msg] = received(sinks["127.0.0.3"])
    assert msg["rcpts"] == ["carol@implicit.test"]


def test_null_mx_bounces(start_server, dns, sinks):
    srv = server(start_server, dns)
    assert send(srv, ["dave@nullmx.test"]) == {}
    [bounce] = received(sinks["127.0.0.2"])  # the DSN goes to client.test's MX
    assert bounce["mail_from"] in ("", "<>") and bounce["rcpts"] == ["alice@client.test"]
    assert "null MX" in bounce["data"] and "Status: 5.1.10" in bounce["data"]


def test_nonexistent_domain_bounces(start_server, dns, sinks):
    srv = server(start_server, dns)
    assert send(srv, ["erin@nowhere.test"]) == {}
    [bounce] = received(sinks["127.0.0.2"])
    assert "No Such Domain" in bounce["data"]
