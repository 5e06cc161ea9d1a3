"""The PROXY protocol behind Debian's haproxy: two Upesi nodes trust the balancer
(connection.ini [haproxy] hosts[]), which sends one of them PROXY v1 and the other v2; swaks
bound to 127.0.0.2 is the client the nodes see (the connect hook's address, Received, notes.proxy,
the per-IP limit). haproxy's health checks leave no warning; a PROXY header from an untrusted
peer, a malformed one and one that never comes get 421."""
import json
import shutil
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import free_port, launch_server, run_upesi
from pki import Pki

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def node(tmp_path, name, extra_smtp=None, plugins=(), files_extra=None):
    """An Upesi node trusting 127.0.0.1 (the balancer); it records every connect (address and
    notes) and keeps every message it accepts."""
    install = tmp_path / name
    r = run_upesi("-i", str(install))
    assert r.returncode == 0, r.stderr
    record, saved = tmp_path / (name + ".record"), tmp_path / (name + "-mail")
    saved.mkdir()
    files = {
        "connection.ini": "[haproxy]\nhosts[]=127.0.0.1\n",
        "rec.ini": "[main]\nrecord=%s\n[connect]\ncode=CONT\n" % record,
        "accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\nsave=%s\n" % saved,
    }
    files.update(files_extra or {})
    smtp = {"proxy_timeout": 2}
    smtp.update(extra_smtp or {})
    server = launch_server(install, tmp_path / (name + ".log"),
                           plugins=list(plugins) + ["rec", "accept"],
                           so=["rec", "accept"], files=files, smtp=smtp)
    server.record, server.saved = record, saved
    return server


def connects(server):
    """The connect hook's facts, one per connection it saw."""
    if not server.record.exists():
        return []
    return [json.loads(line.split(" ", 3)[3]) for line in server.record.read_text().splitlines()
            if line.split(" ")[1] == "connect"]


class Haproxy:
    def __init__(self, tmp_path, backends, frontend_lines=()):
        """backends: {frontend port: [server line, ...]}; frontend_lines go in every frontend."""
        conf = ["global", "  maxconn 100", "defaults", "  mode tcp", "  timeout connect 5s",
                "  timeout client 30s", "  timeout server 30s"]
        for i, (port, servers) in enumerate(backends.items()):
            conf += ["frontend f%d" % i, "  bind 127.0.0.1:%d" % port,
                     "  default_backend b%d" % i] + list(frontend_lines) + [
                     "backend b%d" % i, "  balance roundrobin",
                     "  option smtpchk EHLO haproxy.test"]
            conf += ["  server %s" % line for line in servers]
        path = tmp_path / "haproxy.cfg"
        path.write_text("\n".join(conf) + "\n")
        r = subprocess.run([HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        self.log = open(tmp_path / "haproxy.log", "w")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", str(path)], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        for port in backends:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "haproxy does not listen"
                    time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def cluster(tmp_path, upesi_bin):
    started = []

    def start(backends_of, **node_keys):
        a, b = node(tmp_path, "a", node_keys), node(tmp_path, "b", node_keys)
        started.extend([a, b])
        balancer = Haproxy(tmp_path, backends_of(a, b))
        started.append(balancer)
        return a, b

    yield start
    for thing in reversed(started):
        thing.stop()


def swaks(port, subject, source="127.0.0.2", extra=()):
    return subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % port, "--local-interface", source,
         "--from", "sender@client.example", "--to", "user@example.com", "--helo",
         "client.example", "--header", "Subject: %s" % subject, "--timeout", "20"]
        + list(extra), capture_output=True, text=True, timeout=60)


def reply_to(port, data=b"", source="127.0.0.1", timeout=10):
    """What a peer at `source` that sends `data` is first answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=(source, 0)) as s:
        if data:
            s.sendall(data)
        return s.recv(4096).decode(errors="replace")


def test_the_nodes_see_the_client_behind_haproxy(cluster):
    front = free_port()
    a, b = cluster(lambda a, b: {front: [
        "a 127.0.0.1:%d send-proxy check check-send-proxy inter 300" % a.port,
        "b 127.0.0.1:%d send-proxy-v2-ssl check check-send-proxy inter 300" % b.port]})
    for i in range(4):  # round robin: two each
        r = swaks(front, "through the balancer %d" % i)
        assert r.returncode == 0, r.stdout + r.stderr
    for server, version in ((a, 1), (b, 2)):
        seen = [c for c in connects(server) if c["remote_ip"] == "127.0.0.2"]
        assert len(seen) == 2, connects(server)
        for c in seen:
            assert c["local_ip"] == "127.0.0.1" and c["local_port"] == front
            proxy = c["notes"]["proxy"]
            assert proxy["version"] == version and proxy["src_ip"] == "127.0.0.2"
            assert proxy["proxy_ip"] == "127.0.0.1" and proxy["dst_port"] == front
            if version == 2:
                # send-proxy-v2-ssl: the SSL TLV says the client did not use TLS to haproxy.
                assert proxy["tlvs"]["ssl"]["over_tls"] is False, proxy
        messages = list(server.saved.iterdir())
        assert len(messages) == 2
        for m in messages:
            received = m.read_text().split("\n\n", 1)[0]
            assert "127.0.0.2" in received.split("Received:", 1)[1].split("\n", 2)[0] + \
                received.split("Received:", 1)[1].split("\n", 2)[1], received
        assert "relays client 127.0.0.2:" in server.log()


def test_health_checks_leave_no_warning(cluster, tmp_path):
    front = free_port()
    # smtpchk with the header (LOCAL), and a plain TCP check that sends none.
    a, b = cluster(lambda a, b: {front: [
        "a 127.0.0.1:%d send-proxy-v2 check check-send-proxy inter 200" % a.port,
        "b 127.0.0.1:%d send-proxy-v2 check inter 200 port %d" % (b.port, b.port)]})
    time.sleep(2)  # about ten checks each
    for server in (a, b):
        log = server.log()
        bad = [line for line in log.splitlines()
               if any(level in line for level in ("[WARN", "[ERROR", "[CRIT", "[ALERT"))]
        assert not bad, log
    locals_ = [c for c in connects(a) if c["notes"].get("proxy", {}).get("local")]
    assert locals_ and all(c["remote_ip"] == "127.0.0.1" for c in locals_), connects(a)
    assert connects(b) == [], "a check that sends no header never reaches the hooks"


def test_the_per_ip_limit_counts_the_client_not_the_balancer(cluster):
    front = free_port()
    a, _ = cluster(lambda a, b: {front: ["a 127.0.0.1:%d send-proxy-v2" % a.port]},
                   max_connections_per_ip=2)
    held = []
    try:
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", front), timeout=10,
                                         source_address=("127.0.0.2", 0))
            held.append(s)
            assert s.recv(4096).startswith(b"220 ")
        third = reply_to(front, source="127.0.0.2")
        assert third.startswith("421 4.7.0") and "Too many connections from your address" \
            in third, third
        assert reply_to(front, source="127.0.0.3").startswith("220 "), "another client is welcome"
    finally:
        for s in held:
            s.close()


def test_refused_proxy_headers(tmp_path, upesi_bin):
    server = node(tmp_path, "a")
    try:
        # Not trusted: 127.0.0.2 is not among the hosts.
        r = swaks(server.port, "untrusted", extra=["--proxy-version", "1", "--proxy-family",
                                                   "TCP4", "--proxy-source",
                                                   "192.0.2.7", "--proxy-source-port", "4000",
                                                   "--proxy-dest", "127.0.0.1",
                                                   "--proxy-dest-port", "25"])
        assert r.returncode != 0
        assert "421 4.7.0" in r.stdout and "PROXY not allowed from 127.0.0.2" in r.stdout, \
            r.stdout
        with socket.create_connection(("127.0.0.1", server.port), timeout=10,
                                      source_address=("127.0.0.2", 0)) as s:
            s.sendall(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + bytes(12))
            v2 = b""
            while chunk := s.recv(4096):
                v2 += chunk
        assert v2.startswith(b"220 ") and b"\r\n421 4.7.0" in v2 and b"PROXY not allowed" in v2 \
            and b"221" not in v2, v2
        # Trusted, but what it sends is no PROXY header.
        bad = reply_to(server.port, b"EHLO client.example\r\n")
        assert bad.startswith("421 4.7.0") and "Invalid PROXY format" in bad, bad
        # Trusted, and nothing comes within proxy_timeout (2 s).
        t0 = time.monotonic()
        silent = reply_to(server.port)
        assert silent.startswith("421 4.4.2") and "PROXY timeout" in silent, silent
        assert 1.5 < time.monotonic() - t0 < 10
        # The untrusted peer's sessions ran as any client's; the trusted peer's refused headers
        # reached no hook.
        assert [c["remote_ip"] for c in connects(server)] == ["127.0.0.2", "127.0.0.2"]
        log = server.log()
        assert "not a trusted proxy" in log and "invalid PROXY header from 127.0.0.1" in log
    finally:
        server.stop()


def test_a_header_split_across_packets_and_mail_sent_with_it(tmp_path, upesi_bin):
    server = node(tmp_path, "a")
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            for piece in (b"PROXY TCP4 198.51.100.9 ", b"127.0.0.1 5123 25\r", b"\nEHLO x.example\r\n"):
                s.sendall(piece)
                time.sleep(0.2)
            data = b""
            while data.count(b"\r\n250 ") < 1:
                chunk = s.recv(4096)
                assert chunk, data
                data += chunk
        assert data.startswith(b"220 "), data
        assert b"Hello x.example [198.51.100.9]" in data or b"198.51.100.9" in data, data
        [c] = connects(server)
        assert c["remote_ip"] == "198.51.100.9" and c["remote_port"] == 5123
        assert c["local_port"] == 25
    finally:
        server.stop()


def tls_banner_after_header(port, ctx):
    """Sends a v1 header and the TLS ClientHello together, finishes the handshake, returns the
    greeting read inside TLS."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        sock.sendall(b"PROXY TCP4 198.51.100.9 127.0.0.1 5123 465\r\n" + outgoing.read())

        def pump(step):
            while True:
                try:
                    return step()
                except ssl.SSLWantReadError:
                    if pending := outgoing.read():
                        sock.sendall(pending)
                    data = sock.recv(65536)
                    assert data, "closed during the handshake"
                    incoming.write(data)

        pump(tls.do_handshake)
        if pending := outgoing.read():
            sock.sendall(pending)
        return pump(lambda: tls.read(4096)).decode()


def test_implicit_tls_behind_the_header(tmp_path, upesi_bin):
    """Port 465 through haproxy in TCP mode: the PROXY v2 header (with a unique id and a CRC)
    comes first, then the client's TLS handshake, often in the same segment."""
    pki = Pki(tmp_path / "pki")
    key, cert = pki.issue("mx.test.example", ["mx.test.example"])
    plain, smtps, front = free_port(), free_port(), free_port()
    server = node(tmp_path, "a", {"listen": "127.0.0.1:%d,127.0.0.1:%d" % (plain, smtps),
                                  "smtps_port": smtps},
                  plugins=["tls"], files_extra={"tls_key.pem": key.read_text(),
                                                "tls_cert.pem": cert.read_text()})
    server.port = plain
    balancer = None
    try:
        balancer = Haproxy(tmp_path, {front: [
            "a 127.0.0.1:%d send-proxy-v2 proxy-v2-options unique-id,crc32c" % smtps]},
            frontend_lines=["  unique-id-format %{+X}o\\ %ci:%cp_%Ts"])
        ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
        ctx.check_hostname = False
        with smtplib.SMTP_SSL("127.0.0.1", front, timeout=20, context=ctx,
                              source_address=("127.0.0.2", 0)) as s:
            assert s.ehlo("client.example")[0] == 250
            s.sendmail("sender@client.example", ["user@example.com"],
                       b"Subject: smtps behind haproxy\r\n\r\nhi\r\n")
        seen = [c for c in connects(server) if c["remote_ip"] == "127.0.0.2"]
        assert len(seen) == 1, connects(server)
        tlvs = seen[0]["notes"]["proxy"]["tlvs"]
        assert bytes.fromhex(tlvs["unique_id"]).decode().startswith("7F000002:"), tlvs
        [message] = list(server.saved.iterdir())
        text = message.read_text()
        assert "with ESMTPS" in text and "127.0.0.2" in text.split("\n\n", 1)[0]
        # The header and the ClientHello in one write, for certain.
        assert tls_banner_after_header(smtps, ctx).startswith("220 ")
        assert [c["remote_ip"] for c in connects(server)][-1] == "198.51.100.9"
    finally:
        if balancer:
            balancer.stop()
        server.stop()
