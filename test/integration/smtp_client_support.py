"""What the SMTP client tests share: the smtp_send driver and its output, a recording aiosmtpd
handler, and RawPeer, a scripted SMTP server on a raw socket."""
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import free_port

SMTP_SEND = os.environ.get("UPESI_SMTP_SEND", "")


class Sent:
    def __init__(self, proc, elapsed):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.elapsed = elapsed
        self.rcpts = []  # (address, outcome, code, enhanced, reason)
        for line in proc.stdout.splitlines():
            parts = line.split(" ", 5)
            assert parts[0] == "rcpt", line
            self.rcpts.append((parts[1], parts[2], int(parts[3]), parts[4],
                               parts[5] if len(parts) > 5 else ""))

    def outcome(self, address):
        return [r for r in self.rcpts if r[0] == address][-1]

    def __repr__(self):
        return "rc=%s\nstdout:\n%s\nstderr:\n%s" % (self.rc, self.stdout, self.stderr)


def smtp_send(port, to, message, *extra, sender="sender@example.test", timeout=60):
    args = [SMTP_SEND, "--host", "127.0.0.1", "--port", str(port), "--from", sender,
            "--message", str(message)]
    for t in to:
        args += ["--to", t]
    args += list(extra)
    started = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    return Sent(proc, time.monotonic() - started)


def wire(text):
    """What the receiving server must hand its handler: CRLF lines, the dot-stuffing undone."""
    data = text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return data if data.endswith(b"\r\n") else data + b"\r\n"


class Recorder:
    def __init__(self, reject_rcpt=None, data_replies=None):
        self.envelopes = []
        self.security = []
        self.reject_rcpt = reject_rcpt or {}
        self.data_replies = data_replies  # LMTP: address -> reply after the dot

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        for prefix, reply in self.reject_rcpt.items():
            if address.startswith(prefix):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos),
                               list(envelope.mail_options), envelope.original_content))
        # What protected the session: the TLS version (None in clear) and the AUTH login.
        ssl_object = server.transport.get_extra_info("ssl_object")
        self.security.append((ssl_object.version() if ssl_object else None,
                              getattr(session.auth_data, "login", None)))
        if self.data_replies is None:
            return "250 2.0.0 Message accepted"
        return "\r\n".join(self.data_replies.get(r, "250 2.0.0 delivered")
                           for r in envelope.rcpt_tos)


class RawPeer:
    """A one-connection-at-a-time SMTP server on 127.0.0.1 that follows a script:
    replies maps a verb (or "greeting", "final") to the reply text, or to a function of the
    command line giving it (None: say nothing, ever); `data` decides what happens after 354:
    "accept", "drop" (close after the first data bytes), "hangup" (read up to the dot, then
    close), "silent" (read up to the dot, never answer). DATA with no recipient accepted gets
    554, as RFC 2920 wants.
    `starttls` takes over the STARTTLS verb: after replies["STARTTLS"] (which may smuggle more
    lines in clear), an ssl.SSLContext wraps the connection and the session goes on inside TLS;
    "garbage" answers the handshake with text; "stall" never answers it."""

    def __init__(self, replies=None, data="accept", ehlo=("PIPELINING", "8BITMIME"),
                 starttls=None):
        self.replies = {"greeting": "220 raw.test ESMTP", "MAIL": "250 2.1.0 ok",
                        "RCPT": "250 2.1.5 ok", "DATA": "354 go ahead",
                        "RSET": "250 2.0.0 ok", "QUIT": "221 2.0.0 bye",
                        "final": "250 2.0.0 queued"}
        self.replies.update(replies or {})
        self.data = data
        self.ehlo = ehlo
        self.starttls = starttls
        self.commands = []
        self.data_bytes = 0
        self.port = free_port()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(8)
        self.stopping = False
        self.conns = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.2)  # so stop() is noticed
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(30)
            self.conns.append(conn)
            try:
                self._session(conn)
            except OSError:
                pass
            finally:
                conn.close()

    def _say(self, conn, key, cmd=""):
        text = self.replies.get(key)
        if callable(text):
            text = text(cmd)
        if text is None:
            self._hang(conn)
            return False
        conn.sendall(text.encode() + b"\r\n")
        self.last_reply = text
        return not text.startswith("421")

    def _hang(self, conn):
        while not self.stopping:
            try:
                conn.settimeout(0.2)
                if conn.recv(65536) == b"":
                    return
            except socket.timeout:
                continue

    def _session(self, conn):
        f = conn.makefile("rb")
        accepted = 0
        if not self._say(conn, "greeting"):
            return
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.decode(errors="replace").rstrip("\r\n")
            self.commands.append(cmd)
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO", "LHLO"):
                if verb == "EHLO" and self.replies.get("EHLO"):
                    if not self._say(conn, "EHLO"):
                        return
                    continue
                lines = ["raw.test hello"] + list(self.ehlo if verb != "HELO" else [])
                out = "".join("250%s%s\r\n" % ("-" if i + 1 < len(lines) else " ", l)
                              for i, l in enumerate(lines))
                conn.sendall(out.encode())
                continue
            if verb == "STARTTLS" and self.starttls is not None:
                conn.sendall(self.replies.get("STARTTLS", "220 2.0.0 go ahead").encode() + b"\r\n")
                if self.starttls == "garbage":
                    conn.sendall(b"this is not TLS\r\n")
                if self.starttls in ("garbage", "stall"):
                    self._hang(conn)
                    return
                conn = self.starttls.wrap_socket(conn, server_side=True)
                f = conn.makefile("rb")
                continue
            if verb not in self.replies:
                conn.sendall(b"502 5.5.2 unknown\r\n")
                continue
            if verb == "DATA" and accepted == 0:
                conn.sendall(b"554 5.5.1 no valid recipients\r\n")
                continue
            if not self._say(conn, verb, cmd):
                return
            if verb == "MAIL":
                accepted = 0
            if verb == "RCPT" and self.last_reply.startswith("2"):
                accepted += 1
            if verb == "QUIT":
                return
            if verb == "DATA" and self.replies["DATA"].startswith("354"):
                if self.data == "drop":
                    self.data_bytes = len(f.read1(65536))
                    conn.shutdown(socket.SHUT_RDWR)
                    return
                while True:
                    data_line = f.readline()
                    if not data_line:
                        return
                    self.data_bytes += len(data_line)
                    if data_line == b".\r\n":
                        break
                if self.data == "silent":
                    self._hang(conn)
                    return
                if self.data == "hangup":
                    return
                if not self._say(conn, "final"):
                    return

    def stop(self):
        self.stopping = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.thread.join(timeout=5)


@pytest.fixture
def raw_peer():
    peers = []

    def start(**kwargs):
        peer = RawPeer(**kwargs)
        peers.append(peer)
        return peer

    yield start
    for p in peers:
        p.stop()
