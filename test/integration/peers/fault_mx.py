#!/usr/bin/python3
"""A receiving MX that misbehaves on demand, for the outbound fault tests. It serves SMTP on
ADDRESS:PORT and writes each message it accepts to DIR/<n>.json ({"mail_from", "rcpts",
"data"}), as sink_mx.py does. While DIR/fault exists, its first word picks the fault:
  no-banner     accept the connection and never say anything
  banner-421    answer 421 instead of the 220 banner, and close
  drop-in-data  after the 354, read 16 KiB of the message (or all of a smaller one, but not
                answer its dot), then close
  rcpt-452      answer 452 to RCPT for recipients whose local part starts with "full"
A second word "once" removes the file when the fault has struck. Faults are appended to
DIR/events, one line each. DIR/connections holds "<opened> <most open at once>".
HOLD_MS (default 0) delays the reply to the final dot, so that deliveries overlap.

usage: fault_mx.py ADDRESS PORT DIR [HOLD_MS]
"""
import json
import os
import socket
import sys
import threading
import time


class Mx:
    def __init__(self, out, hold_ms):
        self.out = out
        self.hold = hold_ms / 1000.0
        self.lock = threading.Lock()
        self.opened = self.open_now = self.most = self.messages = 0

    def fault(self, name):
        """True if the fault `name` is on now (and consumes it if it strikes once)."""
        path = os.path.join(self.out, "fault")
        try:
            with open(path) as f:
                words = f.read().split()
        except FileNotFoundError:
            return False
        if not words or words[0] != name:
            return False
        if "once" in words[1:]:
            try:
                os.unlink(path)
            except FileNotFoundError:
                return False  # another connection took it
        return True

    def event(self, text):
        with self.lock, open(os.path.join(self.out, "events"), "a") as f:
            f.write(text + "\n")

    def count(self, delta):
        with self.lock:
            self.open_now += delta
            if delta > 0:
                self.opened += 1
                self.most = max(self.most, self.open_now)
            self.write("connections", "%d %d" % (self.opened, self.most))

    def write(self, name, text):
        path = os.path.join(self.out, name)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)

    def keep(self, mail_from, rcpts, data):
        with self.lock:
            self.messages += 1
            name = "%d-%d.json" % (time.time_ns(), self.messages)
        self.write(name, json.dumps({"mail_from": mail_from, "rcpts": rcpts,
                                     "data": data.decode("utf-8", "replace")}))

    def serve(self, conn):
        self.count(+1)
        try:
            with conn:
                self.session(conn, conn.makefile("rb"))
        except OSError:
            pass
        finally:
            self.count(-1)

    def session(self, conn, f):
        if self.fault("no-banner"):
            self.event("no-banner")
            while conn.recv(4096):  # until the client gives up
                pass
            return
        if self.fault("banner-421"):
            self.event("banner-421")
            conn.sendall(b"421 4.3.2 fault.test busy, try later\r\n")
            return
        conn.sendall(b"220 fault.test ESMTP\r\n")
        mail_from, rcpts = None, []
        while True:
            line = f.readline(4096)
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                conn.sendall(b"250-fault.test\r\n250 8BITMIME\r\n")
            elif verb == b"MAIL":
                mail_from, rcpts = address(line), []
                conn.sendall(b"250 2.1.0 ok\r\n")
            elif verb == b"RCPT":
                rcpt = address(line)
                if rcpt.split("@")[0].startswith("full") and self.fault("rcpt-452"):
                    self.event("rcpt-452 " + rcpt)
                    conn.sendall(b"452 4.2.2 mailbox full\r\n")
                else:
                    rcpts.append(rcpt)
                    conn.sendall(b"250 2.1.5 ok\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                data = self.body(f)
                if data is None:
                    return
                self.keep(mail_from, rcpts, data)
                time.sleep(self.hold)
                conn.sendall(b"250 2.0.0 accepted\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 2.0.0 bye\r\n")
                return
            else:
                conn.sendall(b"250 2.0.0 ok\r\n")

    def body(self, f):
        """The message, unstuffed; None if the connection ended (or was dropped) first."""
        drop = self.fault("drop-in-data")
        lines, size = [], 0
        while True:
            line = f.readline(65536)
            if not line:
                return None
            if line == b".\r\n" and not drop:
                return b"".join(lines)
            size += len(line)
            lines.append(line[1:] if line.startswith(b".") else line)
            if drop and (size >= 16384 or line == b".\r\n"):
                self.event("drop-in-data after %d bytes" % size)
                return None


def address(line):
    text = line.decode("utf-8", "replace")
    return text[text.find("<") + 1:text.find(">")]


def main():
    host, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    mx = Mx(out, int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(128)
    print("ready", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=mx.serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
