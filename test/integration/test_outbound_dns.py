"""Outbound MX resolution through c-ares against dnsmasq on a loopback port: MX records in
priority order, implicit MX, null MX (RFC 7505), a domain that does not exist. The receiving
MXes listen on 127.0.0.2/127.0.0.3 port 25 (MX records carry no port), so these tests need
root; every address is on the loopback network."""
import os
import pathlib
import shutil
import smtplib
import subprocess
import time

import pytest

from test_outbound import received

PEERS = pathlib.Path(__file__).resolve().parent / "peers"
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"

pytestmark = pytest.mark.skipif(os.getuid() != 0 or not os.path.exists(DNSMASQ),
                                reason="needs root (MX hosts listen on port 25) and dnsmasq")


def dns_free_port():
    """A loopback port free for both UDP and TCP (dnsmasq listens on both)."""
    import socket
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise AssertionError("no free port for dnsmasq")


def start_dnsmasq(port):
    return subprocess.Popen([
        DNSMASQ, "--no-daemon", "--keep-in-foreground", "--port=%d" % port,
        "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
        "--no-poll", "--log-facility=-", "--local=/test/", "--pid-file=",
        # example.test: two MXes; the preferred one is down, the other answers.
        "--mx-host=example.test,mx-down.example.test,10",
        "--mx-host=example.test,mx-up.example.test,20",
        "--host-record=mx-down.example.test,127.0.0.4",
        "--host-record=mx-up.example.test,127.0.0.2",
        # implicit.test: no MX, an A record: the domain itself is the MX.
        "--host-record=implicit.test,127.0.0.3",
        # client.test (bounces go there): its MX is the same sink.
        "--mx-host=client.test,mx-up.example.test,10",
        # nullmx.test: "." at priority 0.
        "--mx-host=nullmx.test,.,0",
    ], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.fixture
def dns(tmp_path):
    # A port can be taken between our check and dnsmasq's bind: try a few.
    for _ in range(5):
        port = dns_free_port()
        proc = start_dnsmasq(port)
        time.sleep(0.3)
        if proc.poll() is None:
            break
        error = proc.stderr.read()
        assert b"Address already in use" in error, error
    assert proc.poll() is None
    yield port
    proc.terminate()
    proc.wait(timeout=10)


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
        "dns.ini": "[main]\nservers=127.0.0.1:%d\ntimeout_ms=1000\ntries=1\n" % dns_port,
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
