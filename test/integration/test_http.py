"""The HTTP server (http.ini): bound by the master and served by every worker, its access rules
(allow=, the bearer token), its limits and answers to bad input, HTTPS with tls.ini's
certificates, and the routes and websocket of an out-of-tree plugin (init_http, init_wss),
driven by curl and python3-websockets."""
import asyncio
import http.client
import json
import shutil
import socket
import subprocess
import time

import pytest

from conftest import free_port
from pki import Pki
from test_external_plugin import build_plugin, staged, SOURCE  # noqa: F401 (fixture)


def curl(*args, timeout=20):
    r = subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True,
                       text=True, timeout=timeout)
    return r


def status_of(port, path, *extra, scheme="http"):
    r = curl("-o", "/dev/null", "-w", "%{http_code}", *extra,
             "%s://127.0.0.1:%d%s" % (scheme, port, path))
    return int(r.stdout or 0)


def raw(port, data, timeout=10):
    """Sends bytes, returns everything the server says until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
    return out


def http_ini(port, **keys):
    lines = ["[main]", "listen=127.0.0.1:%d" % port]
    lines += ["%s=%s" % kv for kv in keys.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def web(start_server):
    """start(nodes=0, plugins=(), **http_keys) -> (server, http port)."""
    def start(nodes=0, plugins=(), files=None, **keys):
        port = free_port()
        all_files = {"http.ini": http_ini(port, **keys)}
        all_files.update(files or {})
        server = start_server(plugins=plugins, files=all_files, smtp={"nodes": nodes})
        return server, port
    return start


def test_no_listen_means_no_http_server(start_server):
    server = start_server()
    assert "HTTP listening" not in server.log()


def test_health_and_unknown_paths(web):
    server, port = web()
    assert "HTTP listening on 127.0.0.1:%d" % port in server.log()
    r = curl("-i", "http://127.0.0.1:%d/healthz" % port)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("HTTP/1.1 200 OK")
    assert r.stdout.endswith("ok\n")
    r = curl("http://127.0.0.1:%d/readyz" % port)
    assert r.stdout == "ready\n"
    assert status_of(port, "/nothing/here") == 404
    # The path exists, the method does not: 405 with Allow.
    r = curl("-i", "-X", "DELETE", "http://127.0.0.1:%d/healthz" % port)
    assert r.stdout.startswith("HTTP/1.1 405")
    assert "Allow: GET" in r.stdout


def test_keep_alive_serves_several_requests_on_one_connection(web):
    server, port = web()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(5):
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        assert response.status == 200 and response.read() == b"ok\n"
    sock = conn.sock
    conn.request("GET", "/readyz")
    assert conn.getresponse().read() == b"ready\n"
    assert conn.sock is sock  # still the same connection
    conn.close()


def test_pipelined_requests_are_answered_in_order(web):
    server, port = web()
    out = raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                    b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
                    b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    text = out.decode()
    first, second, third = (text.index("ok\n"), text.index("ready\n"), text.index("404"))
    assert first < second < third


def test_bearer_token_guards_everything_but_healthz(web):
    server, port = web(token="s3cret-token")
    assert status_of(port, "/healthz") == 200
    assert status_of(port, "/readyz") == 401
    r = curl("-i", "http://127.0.0.1:%d/readyz" % port)
    assert "WWW-Authenticate: Bearer" in r.stdout
    assert status_of(port, "/readyz", "-H", "Authorization: Bearer wrong-token") == 401
    assert status_of(port, "/readyz", "-H", "Authorization: Bearer s3cret-token") == 200
    assert status_of(port, "/readyz", "-H", "Authorization: bearer s3cret-token") == 200
    assert status_of(port, "/readyz", "-H", "Authorization: Basic czNjcmV0LXRva2Vu") == 401


def test_clients_outside_allow_are_closed_unanswered(web):
    # Loopback is not in the list: the connection is closed before anything is read.
    server, port = web(allow="192.0.2.0/24")
    assert raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") == b""
    assert server.wait_log("HTTP: refused 127.0.0.1")


def test_bad_requests_get_their_status_and_the_server_goes_on(web):
    server, port = web(max_target=256, max_header_bytes=1024, max_body=1000,
                       request_timeout=1)
    assert raw(port, b"NOT HTTP AT ALL\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    long_target = b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert raw(port, long_target).startswith(b"HTTP/1.1 414 ")
    big_headers = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 2000 + b"\r\n\r\n"
    assert raw(port, big_headers).startswith(b"HTTP/1.1 431 ")
    big_body = b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
    assert raw(port, big_body).startswith(b"HTTP/1.1 413 ")
    # Half a request, then silence: 408 once request_timeout has passed.
    started = time.monotonic()
    assert raw(port, b"GET /healthz HTTP/1.1\r\nHo").startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 5
    assert status_of(port, "/healthz") == 200


def test_bad_http_ini_is_a_check_error_naming_file_and_line(install, upesi_bin):
    (install / "config" / "http.ini").write_text("[main]\nlisten=127.0.0.1:8080\n"
                                                  "allow=127.0.0.1, not-a-network\n")
    r = subprocess.run([upesi_bin, "-c", str(install), "--check"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1
    assert "http.ini:3" in r.stderr and "not-a-network" in r.stderr


def test_https_with_the_tls_certificates(web, install, tmp_path):
    pki = Pki(tmp_path / "pki")
    key, cert = pki.issue("mx.test.example", ["mx.test.example"])
    files = {"tls_key.pem": key.read_text(), "tls_cert.pem": cert.read_text()}
    server, port = web(files=files, tls="true")
    r = curl("--cacert", str(pki.ca_cert), "--resolve", "mx.test.example:%d:127.0.0.1" % port,
             "https://mx.test.example:%d/healthz" % port)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok\n"
    # Plain HTTP on the TLS port is not answered as HTTP.
    assert not raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 200")


def test_every_worker_serves_http(web):
    server, port = web(nodes=2)
    server.wait_workers(2)
    assert server.wait_log("Upesi ready")
    for _ in range(20):
        assert status_of(port, "/healthz") == 200


@pytest.fixture(scope="module")
def web_probe_so(staged, tmp_path_factory):  # noqa: F811 (staged is a fixture)
    """web_probe.cpp built once for the module: a compile takes seconds, and many more beside
    the sanitizer build's tests."""
    target = tmp_path_factory.mktemp("web_probe") / "web_probe.so"
    build_plugin(staged, SOURCE / "web_probe.cpp", target)
    return target


@pytest.fixture
def probe(web_probe_so, install, web):
    def start(nodes=0, **keys):
        (install / "plugins").mkdir(parents=True, exist_ok=True)
        shutil.copy(web_probe_so, install / "plugins" / "web_probe.so")
        server, port = web(nodes=nodes, plugins=["web_probe"], **keys)
        assert server.wait_log("web_probe routes added")
        return server, port
    return start


def test_plugin_routes_answer_now_later_and_streamed(probe):
    server, port = probe()
    r = curl("-A", "probe-agent/1", "http://127.0.0.1:%d/probe?name=a%%20b" % port)
    body = json.loads(r.stdout)
    assert body["remote_ip"] == "127.0.0.1"
    assert body["name"] == "a b"
    assert body["agent"] == "probe-agent/1"
    r = curl("-d", "posted body", "http://127.0.0.1:%d/probe/echo" % port)
    assert r.stdout == "posted body"
    r = curl("-i", "http://127.0.0.1:%d/probe/later" % port)
    assert r.stdout.startswith("HTTP/1.1 202") and r.stdout.endswith("answered later\n")
    r = curl("-i", "http://127.0.0.1:%d/probe/stream/3" % port)
    assert "Transfer-Encoding: chunked" in r.stdout
    assert r.stdout.endswith("piece 1\npiece 2\npiece 3\n")
    # A plugin cannot take the server's own paths.
    assert curl("http://127.0.0.1:%d/healthz" % port).stdout == "ok\n"
    assert server.wait_log("the server serves that path")


def test_plugin_routes_are_behind_the_token(probe):
    server, port = probe(token="t0ken")
    assert status_of(port, "/probe") == 401
    assert status_of(port, "/probe", "-H", "Authorization: Bearer t0ken") == 200


def test_plugin_websocket_echoes_and_closes(probe):
    import websockets.client

    server, port = probe()
    assert server.wait_log("web_probe websocket added: yes, again: no")

    async def talk():
        uri = "ws://127.0.0.1:%d/probe/ws" % port
        async with websockets.client.connect(uri, open_timeout=10) as ws:
            greeting = await asyncio.wait_for(ws.recv(), 10)
            await ws.send("first")
            first = await asyncio.wait_for(ws.recv(), 10)
            await ws.send("é" * 1000)
            long = await asyncio.wait_for(ws.recv(), 10)
            await ws.send(b"\x00\x01binary")
            binary = await asyncio.wait_for(ws.recv(), 10)
            await ws.send("close")
            bye = await asyncio.wait_for(ws.recv(), 10)
            await asyncio.wait_for(ws.wait_closed(), 10)
            return greeting, first, long, binary, bye, ws.close_code

    greeting, first, long, binary, bye, code = asyncio.run(talk())
    assert greeting == "hello 127.0.0.1"
    assert first == "echo: first"
    assert long == "echo: " + "é" * 1000
    assert binary == b"\x00\x01binary"
    assert bye == "bye"
    assert code == 1000
    assert server.wait_log("web_probe websocket closed 1000")


def test_websocket_message_past_the_limit_is_closed_with_1009(probe):
    import websockets.client
    import websockets.exceptions

    server, port = probe(websocket_max_message=1000)

    async def talk():
        uri = "ws://127.0.0.1:%d/probe/ws" % port
        async with websockets.client.connect(uri, open_timeout=10, max_size=None) as ws:
            await asyncio.wait_for(ws.recv(), 10)
            await ws.send("x" * 5000)
            try:
                await asyncio.wait_for(ws.recv(), 10)
            except websockets.exceptions.ConnectionClosed:
                pass
            await asyncio.wait_for(ws.wait_closed(), 10)
            return ws.close_code

    assert asyncio.run(talk()) == 1009
    assert status_of(port, "/healthz") == 200


def test_websocket_handshake_on_an_unknown_path_is_refused(probe):
    server, port = probe()
    out = raw(port, b"GET /nowhere HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 404 ")


def test_plugin_routes_in_every_worker(probe):
    server, port = probe(nodes=2)
    server.wait_workers(2)
    seen = 0
    for _ in range(20):
        body = json.loads(curl("http://127.0.0.1:%d/probe" % port).stdout)
        seen += body["calls"] >= 1
    assert seen == 20


def test_websocket_client_that_does_not_read_loses_messages(probe):
    """A client that stops reading: messages past max_output are dropped, not queued."""
    import base64
    import os as _os
    import re

    server, port = probe(max_output=262144)
    key = base64.b64encode(_os.urandom(16))
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"GET /probe/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
              b"Sec-WebSocket-Key: " + key + b"\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    payload = b"flood 200"
    mask = _os.urandom(4)
    frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(
        b ^ mask[i % 4] for i, b in enumerate(payload))
    s.sendall(frame)  # then never read again
    assert server.wait_log("web_probe flood took")
    taken, asked = map(int, re.search(r"flood took (\d+) of (\d+)", server.log()).groups())
    assert asked == 200
    # What the kernel's send buffer holds (at most tcp_wmem's maximum) plus max_output: the
    # rest of the 200 x 64 KiB is dropped.
    with open("/proc/sys/net/ipv4/tcp_wmem") as f:
        kernel_max = int(f.read().split()[2])
    assert 0 < taken <= (262144 + kernel_max) // 65536 + 2 < asked
    # The worker goes on serving others meanwhile.
    assert status_of(port, "/healthz") == 200
    s.close()
