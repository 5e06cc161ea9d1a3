"""Upesi nodes sharing one redis-server of the test's own (fixtures `redis` and `nodes`), and
a client that sends one message from a loopback address of its choice."""
import smtplib

import pytest

from conftest import free_port, launch_server, run_upesi
from redis_peer import RedisPeer

ACCEPT = "[rcpt]\ncode=OK\n[queue]\ncode=OK\n"


@pytest.fixture
def redis(tmp_path):
    peer = RedisPeer(tmp_path / "redis")
    yield peer
    peer.stop()


@pytest.fixture
def nodes(tmp_path, redis, upesi_bin):
    """nodes(plugins, files, names=("a", "b"), http=False, so=()) -> [Server]: each an install
    of its own with `plugins` before a plugin accepting every recipient and message, redis.ini
    naming the test's server (500 ms timeouts), with http=True an HTTP listener (server.http),
    and `so` copies of the scripted test plugin (see start_server)."""
    started = []

    def start(plugins, files, names=("a", "b"), http=False, so=()):
        out = []
        for name in names:
            install = tmp_path / name
            r = run_upesi("-i", str(install))
            assert r.returncode == 0, r.stderr
            all_files = dict(files)
            all_files["accept.ini"] = ACCEPT
            all_files["redis.ini"] = ("[server]\nhost=127.0.0.1\nport=%d\n[opts]\n"
                                      "command_timeout_ms=500\nconnect_timeout_ms=500\n"
                                      % redis.port)
            http_port = free_port()
            if http:
                all_files["http.ini"] = "[main]\nlisten=127.0.0.1:%d\n" % http_port
            server = launch_server(install, tmp_path / (name + ".log"),
                                   plugins=list(plugins) + ["accept"], so=["accept", *so],
                                   files=all_files)
            server.http = http_port if http else None
            started.append(server)
            out.append(server)
        return out

    yield start
    for server in started:
        server.stop()


def send(port, rcpt="user@example.com", source="127.0.0.2", sender="sender@client.example"):
    """(code of RCPT, code of the final reply or None) for one message."""
    with smtplib.SMTP("127.0.0.1", port, timeout=20, source_address=(source, 0)) as s:
        s.ehlo("client.example")
        s.mail(sender)
        code, _ = s.rcpt(rcpt)
        if code != 250:
            return code, None
        code, _ = s.data(b"Subject: shared state\r\n\r\nhi\r\n")
        return 250, code
