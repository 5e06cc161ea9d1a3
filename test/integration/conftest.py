"""Shared fixtures: the binary under test, install directories, running servers, a raw client."""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

import pytest

UPESI = os.environ.get("UPESI_BIN", "")
SCRIPTED_PLUGIN = os.environ.get("UPESI_SCRIPTED_PLUGIN", "")


@pytest.fixture(scope="session")
def upesi_bin():
    if not UPESI or not os.access(UPESI, os.X_OK):
        pytest.fail("UPESI_BIN must name the built upesi binary")
    return UPESI


def run_upesi(*args, timeout=30, **kwargs):
    return subprocess.run([UPESI, *args], capture_output=True, text=True, timeout=timeout,
                          **kwargs)


def free_port():
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def install(tmp_path, upesi_bin):
    """A fresh install directory made with `upesi -i`."""
    d = tmp_path / "inst"
    r = run_upesi("-i", str(d))
    assert r.returncode == 0, r.stderr
    return pathlib.Path(d)


class Server:
    """A running `upesi -c DIR`, listening on 127.0.0.1:port."""

    def __init__(self, install, port, proc, log_path):
        self.install = install
        self.port = port
        self.proc = proc
        self.log_path = log_path

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return True
            time.sleep(0.05)
        return False

    def workers(self):
        """pids of the master's children (its workers, and a config checker while one runs)."""
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                return sorted(int(p) for p in f.read().split())
        except OSError:
            return []

    def wait_workers(self, count, exclude=(), timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = [p for p in self.workers() if p not in exclude]
            if len(pids) == count:
                return pids
            time.sleep(0.05)
        raise AssertionError("expected %d workers, have %s" % (count, self.workers()))

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not stop within %s s" % timeout)
        return self.proc.returncode


def write_config(install, files):
    for name, content in files.items():
        path = install / "config" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def launch_server(install, log_path, plugins=(), files=None, smtp=None, so=(),
                  expect_ready=True, env=None, preexec=None):
    """Writes the config and starts `upesi -c install` (see start_server); for fixtures that
    outlive one test."""
    for name in so:
        target = install / "plugins" / (name + ".so")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SCRIPTED_PLUGIN, target)
    port = free_port()
    settings = {"listen": "127.0.0.1:%d" % port, "nodes": 0}
    settings.update(smtp or {})
    ini = "[main]\n" + "".join("%s=%s\n" % kv for kv in settings.items())
    write_config(install, {"smtp.ini": ini, "plugins": "\n".join(plugins) + "\n",
                           "me": "mx.test.example\n"})
    write_config(install, files or {})
    log = open(log_path, "w")
    proc = subprocess.Popen([UPESI, "-c", str(install)], stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, **(env or {})), preexec_fn=preexec)
    log.close()
    server = Server(install, port, proc, log_path)
    if expect_ready and not server.wait_log("Upesi ready"):
        server.stop()
        raise AssertionError("server did not start:\n" + server.log())
    return server


@pytest.fixture
def start_server(install, upesi_bin):
    """start_server(plugins=[...], files={name: text}, smtp={key: value}, so=[names]) -> Server.

    `so` names get a copy of the scripted test plugin as <install>/plugins/<name>.so; `preexec`
    runs in the child before exec (e.g. to set resource limits)."""
    servers = []

    def start(*args, **kwargs):
        server = launch_server(install, install / ("server-%d.log" % len(servers)), *args,
                               **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


class Client:
    """A raw SMTP client: exact bytes out, replies parsed, with timeouts."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def reply(self):
        """(code, [lines]) or (None, []) at EOF."""
        lines = []
        while True:
            line = self._line()
            if line is None:
                return (None, lines)
            assert line.endswith(b"\r"), "reply line without CRLF: %r" % line
            text = line[:-1].decode("utf-8", "replace")
            lines.append(text[4:])
            if text[3:4] != "-":
                return (int(text[:3]), lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True if the server closes the connection within `timeout`."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


@pytest.fixture
def connect():
    clients = []

    def make(server, greet=True):
        c = Client(server.port)
        clients.append(c)
        if greet:
            code, lines = c.reply()
            assert code == 220, lines
        return c

    yield make
    for c in clients:
        c.close()
