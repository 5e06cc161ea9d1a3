"""The spamassassin plugin against Debian's spamd, started here on a loopback port with local
rules only (-L), its own pidfile and home: GTUBE is refused past reject_threshold, a clean
message gets spamd's X-Spam-* fields (old ones renamed), the subject is munged, relaying
clients meet relay_reject_threshold, and a stopped spamd gives [defer] error's outcome."""
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import free_port
from saved_messages import stored

SPAMD = shutil.which("spamd") or "/usr/sbin/spamd"
pytestmark = pytest.mark.skipif(not os.access(SPAMD, os.X_OK), reason="needs spamd")

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
SUBJECTS = iter(range(1, 1000000))


class Spamd:
    """spamd on 127.0.0.1:port, one child, logging to a file; ready once it has scored a
    message (it accepts connections before its rules are compiled)."""

    def __init__(self, tmp_path):
        self.dir = tmp_path / ("spamd-%d" % next(SUBJECTS))
        self.dir.mkdir(parents=True)
        # spamd's children run as nobody, who cannot enter pytest's private tmp directories.
        self.home = tempfile.mkdtemp(prefix="upesi-spamd-home-")
        os.chmod(self.home, 0o777)
        self.port = free_port()
        self.log_path = self.dir / "spamd.log"
        started = time.monotonic()
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [SPAMD, "--listen=127.0.0.1:%d" % self.port, "--allowed-ips=127.0.0.1", "-L",
                 "--pidfile=%s" % (self.dir / "spamd.pid"), "-H", self.home,
                 "--max-children=2", "--min-children=1", "--syslog=stderr", "-u", "nobody"],
                stdout=log, stderr=subprocess.STDOUT)
        self.wait_ready()
        self.startup = time.monotonic() - started

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "spamd exited:\n" + self.log_path.read_text()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
                    s.sendall(b"PING SPAMC/1.5\r\n\r\n")
                    if s.recv(100).startswith(b"SPAMD/1.5 0 PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("spamd not ready:\n" + self.log_path.read_text())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture(scope="module")
def spamd(tmp_path_factory):
    daemon = Spamd(tmp_path_factory.mktemp("spamd"))
    print("spamd ready after %.2f s" % daemon.startup)
    yield daemon
    daemon.stop()


def serve(start_server, install, spamd_port, ini="", relay=False):
    saved = install / "saved"
    saved.mkdir(exist_ok=True)
    files = {
        "spamassassin.ini": "spamd_socket=127.0.0.1:%d\n%s" % (spamd_port, ini),
        "accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\nsave=%s\n" % saved,
        "log.ini": "[main]\nlevel=info\n",
    }
    plugins = ["spamassassin", "accept"]
    if relay:
        plugins.insert(0, "relay")
        files["relay_acl_allow"] = "127.0.0.0/8\n"
    return start_server(plugins=plugins, so=["accept"], files=files), saved


def message(body, headers=""):
    subject = "scan %d" % next(SUBJECTS)
    text = ("From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: %s\r\n"
            "Date: Sat, 05 Dec 2026 10:00:00 +0000\r\nMessage-ID: <%s@example.com>\r\n%s\r\n"
            "%s\r\n" % (subject, subject.replace(" ", "."), headers, body))
    return subject, text


def send(server, text):
    """(code, text) of the reply to the message."""
    with smtplib.SMTP("127.0.0.1", server.port, timeout=60) as client:
        client.ehlo("client.example")
        client.mail("alice@example.com")
        client.rcpt("bob@example.net")
        code, reply = client.data(text.encode())
        return code, reply.decode()


def test_gtube_is_refused_past_reject_threshold(start_server, install, spamd):
    server, _ = serve(start_server, install, spamd.port, "reject_threshold=10\n")
    _, text = message("Buy now! " + GTUBE)
    code, reply = send(server, text)
    assert code == 550, reply
    assert "spam score exceeded threshold" in reply
    assert server.wait_log("GTUBE")


def test_a_clean_message_gets_spamds_headers_and_old_ones_are_renamed(start_server, install,
                                                                         spamd):
    server, saved = serve(start_server, install, spamd.port, "reject_threshold=10\n")
    subject, text = message("Hello Bob,\r\n\r\nthe minutes of Tuesday's meeting follow.\r\n",
                            headers="X-Spam-Status: Yes, forged by the sender\r\n")
    code, reply = send(server, text)
    assert code == 250, reply
    got = stored(saved, subject)
    status = got["X-Spam-Status"]
    assert status.startswith("No, score=")
    assert "required=5.0" in status
    assert got["X-Spam-Checker-Version"].startswith("SpamAssassin")
    assert got["X-Old-Spam-Status"] == "Yes, forged by the sender"
    assert got["Precedence"] is None
    assert got.get_all("X-Spam-Status") == [status]


def test_spam_below_the_reject_threshold_is_marked_and_its_subject_munged(start_server, install,
                                                                          spamd):
    server, saved = serve(start_server, install, spamd.port,
                          "munge_subject_threshold=5\nmodern_status_syntax=0\n")
    subject, text = message(GTUBE)
    code, reply = send(server, text)
    assert code == 250, reply
    got = stored(saved, "*** SPAM *** " + subject)
    assert got["X-Spam-Flag"] == "YES"
    assert got["Precedence"] == "junk"
    assert got["X-Spam-Status"].startswith("Yes, hits=")


def test_relaying_clients_meet_relay_reject_threshold(start_server, install, spamd):
    # GTUBE scores 1000 and more: a relay threshold above the inbound one shows which applies.
    server, _ = serve(start_server, install, spamd.port,
                      "reject_threshold=100000\nrelay_reject_threshold=10\n", relay=True)
    code, reply = send(server, message(GTUBE)[1])
    assert code == 550, reply
    assert "spam score exceeded relay threshold" in reply


def test_a_large_message_streams_to_spamd_and_max_size_skips_larger(start_server, install,
                                                                    spamd):
    line = "All work and no play makes Jack a dull boy, said the long message. " * 2 + "\r\n"
    # ~400 kB: several chunks. GTUBE comes first: SpamAssassin 4 runs body rules on the first
    # 50 kB of a part only (body_part_scan_size).
    body = GTUBE + "\r\n" + line * (400000 // len(line))
    server, _ = serve(start_server, install, spamd.port, "reject_threshold=10\n")
    code, reply = send(server, message(body)[1])
    assert code == 550, reply
    server.stop()  # one server per install at a time
    server, saved = serve(start_server, install, spamd.port,
                          "reject_threshold=10\nmax_size=100000\n")
    subject, text = message(body)
    code, reply = send(server, text)
    assert code == 250, reply
    assert stored(saved, subject)["X-Spam-Status"] is None


def test_spamd_stopped_gives_the_configured_outcome(start_server, install, tmp_path):
    daemon = Spamd(tmp_path)
    try:
        deferring, _ = serve(start_server, install, daemon.port,
                             "reject_threshold=10\n[defer]\nerror=true\n")
        assert send(deferring, message(GTUBE)[1])[0] == 550  # spamd is up: scanned
    finally:
        daemon.stop()
    code, reply = send(deferring, message(GTUBE)[1])
    assert code == 450, reply
    assert "spamd scan error" in reply
    assert deferring.wait_log("deferring the message")
    deferring.stop()  # one server per install at a time

    accepting, saved = serve(start_server, install, daemon.port, "reject_threshold=10\n")
    subject, text = message(GTUBE)
    code, reply = send(accepting, text)
    assert code == 250, reply
    assert stored(saved, subject)["X-Spam-Status"] is None
    assert accepting.wait_log("accepting it unscanned")


def test_a_silent_spamd_times_out_into_the_scan_timeout_outcome(start_server, install):
    # A listener that never answers stands for a stuck spamd.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        server, _ = serve(start_server, install, port,
                          "results_timeout=1\n[defer]\nscan_timeout=true\n")
        started = time.monotonic()
        code, reply = send(server, message("hello")[1])
        assert code == 450, reply
        assert "spamd scan timeout" in reply
        assert time.monotonic() - started < 10
