"""A redis-server of the test's own (Debian's redis-server): loopback only, on a port picked for
it, nothing saved to disk; stopped, killed or restarted by the test on the same port."""
import os
import signal
import socket
import subprocess
import time

from conftest import free_port


class RedisPeer:
    def __init__(self, workdir, port=None):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir),
             "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.cli("PING").strip() == "PONG":
                    return
            except (OSError, subprocess.CalledProcessError):
                pass
            assert self.proc.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server does not answer"
            time.sleep(0.05)

    def cli(self, *args):
        """One command through redis-cli; its raw output."""
        return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "--raw"]
                              + [str(a) for a in args], check=True, capture_output=True,
                              text=True, timeout=10).stdout

    def keys(self):
        out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "--scan"],
                             check=True, capture_output=True, text=True, timeout=10).stdout
        return [k for k in out.splitlines() if k]

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def up(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False
