"""The clamd plugin against Debian's clamd, started here with a config written here: TCP on a
loopback port, a database directory holding one custom signature (.ndb) that matches a test
string (no signature database can be downloaded). A message carrying the string is refused with
the signature's name, a clean one passes, a large one streams in chunks, the size limit of clamd
lets the message through as Haraka does, and a stopped clamd gives [reject] error's outcome."""
import os
import shutil
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import free_port
from saved_messages import stored

CLAMD = shutil.which("clamd") or "/usr/sbin/clamd"
pytestmark = pytest.mark.skipif(not os.access(CLAMD, os.X_OK), reason="needs clamd")

MARKER = "UPESI-CLAMD-TEST-SIGNATURE-7f3a"
SIGNATURE = "Upesi.Test.Signature"
FOUND = SIGNATURE + ".UNOFFICIAL"  # clamd's name for a signature from an unsigned database
SUBJECTS = iter(range(1, 1000000))


class Clamd:
    """clamd in the foreground on 127.0.0.1:port with only our signature."""

    def __init__(self, tmp_path, stream_max="25M"):
        self.dir = tmp_path / ("clamd-%d" % next(SUBJECTS))
        db = self.dir / "db"
        db.mkdir(parents=True)
        (db / "upesi.ndb").write_text("%s:0:*:%s\n" % (SIGNATURE, MARKER.encode().hex()))
        self.port = free_port()
        conf = self.dir / "clamd.conf"
        self.socket = self.dir / "clamd.sock"  # clamd listens here too
        conf.write_text("Foreground yes\nTCPSocket %d\nTCPAddr 127.0.0.1\nLocalSocket %s\n"
                        "DatabaseDirectory %s\nLogFile %s\nPidFile %s\nStreamMaxLength %s\n"
                        % (self.port, self.socket, db, self.dir / "clamd.log",
                           self.dir / "clamd.pid", stream_max))
        self.out = self.dir / "clamd.out"
        started = time.monotonic()
        with open(self.out, "w") as out:
            self.proc = subprocess.Popen([CLAMD, "-c", str(conf)], stdout=out,
                                         stderr=subprocess.STDOUT)
        self.wait_ready()
        self.startup = time.monotonic() - started

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "clamd exited:\n" + self.out.read_text()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                    s.sendall(b"zPING\0")
                    if s.recv(100) == b"PONG\0":
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("clamd not ready:\n" + self.out.read_text())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def clamd(tmp_path_factory):
    daemon = Clamd(tmp_path_factory.mktemp("clamd"))
    print("clamd ready after %.2f s" % daemon.startup)
    yield daemon
    daemon.stop()


def serve(start_server, install, clamd_socket, ini=""):
    saved = install / "saved"
    saved.mkdir(exist_ok=True)
    files = {
        "clamd.ini": "[main]\nclamd_socket=%s\nconnect_timeout=2\n%s" % (clamd_socket, ini),
        "accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\nsave=%s\n" % saved,
    }
    return start_server(plugins=["clamd", "accept"], so=["accept"], files=files), saved


def message(body):
    subject = "scan %d" % next(SUBJECTS)
    return subject, ("From: alice@example.com\r\nTo: bob@example.net\r\nSubject: %s\r\n\r\n%s\r\n"
                     % (subject, body))


def send(server, text):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=60) as client:
        client.ehlo("client.example")
        client.mail("alice@example.com")
        client.rcpt("bob@example.net")
        code, reply = client.data(text.encode())
        return code, reply.decode()


def test_a_message_carrying_the_signature_is_refused_with_its_name(start_server, install, clamd):
    server, _ = serve(start_server, install, "127.0.0.1:%d" % clamd.port)
    code, reply = send(server, message("look: %s, inside" % MARKER)[1])
    assert code == 550, reply
    assert "Message is infected with %s" % FOUND in reply


def test_clamd_on_its_unix_socket(start_server, install, clamd):
    server, saved = serve(start_server, install, str(clamd.socket))
    code, reply = send(server, message("look: %s, inside" % MARKER)[1])
    assert code == 550, reply
    assert "Message is infected with %s" % FOUND in reply
    subject, text = message("nothing to see here")
    assert send(server, text)[0] == 250
    stored(saved, subject)


def test_a_clean_message_passes(start_server, install, clamd):
    server, saved = serve(start_server, install, "127.0.0.1:%d" % clamd.port)
    subject, text = message("nothing to see here")
    assert send(server, text)[0] == 250
    assert stored(saved, subject)["X-Haraka-Virus"] is None


def test_the_signature_deep_in_a_large_message_is_found(start_server, install, clamd):
    line = "x" * 998 + "\r\n"
    body = line * 3000 + MARKER  # 3 MB: many chunks of the stream before the match
    server, _ = serve(start_server, install, "127.0.0.1:%d" % clamd.port)
    code, reply = send(server, message(body)[1])
    assert code == 550, reply


def test_excluded_names_are_accepted_with_a_header(start_server, install, clamd):
    (install / "config" / "clamd.excludes").write_text("# test signatures\nupesi.test.*\n")
    server, saved = serve(start_server, install, "127.0.0.1:%d" % clamd.port)
    subject, text = message(MARKER)
    assert send(server, text)[0] == 250
    assert stored(saved, subject)["X-Haraka-Virus"] == FOUND


def test_a_dead_host_is_skipped_for_the_next_in_the_list(start_server, install, clamd):
    dead = "127.0.0.1:%d" % free_port()
    server, _ = serve(start_server, install, "%s, 127.0.0.1:%d" % (dead, clamd.port))
    code, reply = send(server, message(MARKER)[1])
    assert code == 550, reply
    assert server.wait_log(dead)


def test_clamds_size_limit_lets_the_message_through(start_server, install, tmp_path):
    daemon = Clamd(tmp_path, stream_max="1M")
    try:
        server, saved = serve(start_server, install, "127.0.0.1:%d" % daemon.port)
        subject, text = message("y" * 998 + "\r\n" + ("z" * 998 + "\r\n") * 2000 + MARKER)
        code, reply = send(server, text)
        assert code == 250, reply
        assert server.wait_log("INSTREAM size limit exceeded")
    finally:
        daemon.stop()


def test_clamd_stopped_gives_the_configured_outcome(start_server, install, tmp_path):
    daemon = Clamd(tmp_path)
    where = "127.0.0.1:%d" % daemon.port
    deferring, _ = serve(start_server, install, where)
    try:
        assert send(deferring, message(MARKER)[1])[0] == 550
    finally:
        daemon.stop()
    code, reply = send(deferring, message(MARKER)[1])
    assert code == 450, reply  # DENYSOFT after DATA, as in Haraka
    assert "Error connecting to virus scanner" in reply
    assert deferring.wait_log("deferring the message")
    deferring.stop()  # one server per install at a time

    accepting, saved = serve(start_server, install, where, "[reject]\nerror=false\n")
    subject, text = message(MARKER)
    assert send(accepting, text)[0] == 250
    stored(saved, subject)
    assert accepting.wait_log("accepting it unscanned")


def test_a_silent_clamd_times_out(start_server, install):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        server, _ = serve(start_server, install, "127.0.0.1:%d" % silent.getsockname()[1],
                          "timeout=1\n")
        started = time.monotonic()
        code, reply = send(server, message("hello")[1])
        assert code == 450, reply  # DENYSOFT after DATA, as in Haraka
        assert "Virus scanner timed out" in reply
        assert time.monotonic() - started < 10


CLAMAV_MILTER = shutil.which("clamav-milter") or "/usr/sbin/clamav-milter"


@pytest.fixture
def clamav_milter(tmp_path, clamd):
    """clamav-milter in front of the module's clamd, listening on a unix socket (Postfix's
    usual setup), refusing infected mail with a reply of its own and marking clean mail."""
    if not os.access(CLAMAV_MILTER, os.X_OK):
        pytest.skip("needs clamav-milter")
    sock = tmp_path / "clamav-milter.sock"
    conf = tmp_path / "clamav-milter.conf"
    conf.write_text("MilterSocket unix:%s\nForeground yes\nPidFile %s\nClamdSocket tcp:127.0.0.1:%d\n"
                    "OnClean Accept\nOnInfected Reject\nOnFail Defer\nAddHeader Replace\n"
                    "LogFile %s\nRejectMsg \"Refused: %%v found\"\n"
                    % (sock, tmp_path / "clamav-milter.pid", clamd.port,
                       tmp_path / "clamav-milter.log"))
    out = open(tmp_path / "clamav-milter.out", "w")
    proc = subprocess.Popen([CLAMAV_MILTER, "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert proc.poll() is None, (tmp_path / "clamav-milter.out").read_text()
            assert time.monotonic() < deadline, "clamav-milter did not listen"
            time.sleep(0.05)
        yield sock
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        out.close()


def test_clamav_milter_through_the_milter_plugin(start_server, install, clamav_milter):
    """The same clamd behind clamav-milter, asked through the milter plugin over a unix socket:
    the signature is refused with clamav-milter's text, a clean message gets its header."""
    saved = install / "saved"
    saved.mkdir(exist_ok=True)
    files = {
        "milter.ini": "[main]\nmilters=clamav\n[clamav]\nsocket=unix:%s\n" % clamav_milter,
        "accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\nsave=%s\n" % saved,
    }
    server = start_server(plugins=["milter", "accept"], so=["accept"], files=files)
    code, reply = send(server, message("look: %s, inside" % MARKER)[1])
    assert code == 550, reply
    assert "Refused: %s found" % FOUND in reply, reply
    subject, text = message("nothing to see here")
    assert send(server, text)[0] == 250
    assert "clamav-milter" in (stored(saved, subject)["X-Virus-Scanned"] or "")
