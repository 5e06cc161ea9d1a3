#!/usr/bin/python3
"""A milter filter that breaks the protocol on purpose, for test_milter_filters.py: no
libmilter filter can be made to send what a broken or hostile one would.

    garbage_milter.py PORT MODE

Listens on 127.0.0.1:PORT, prints "ready", and on each connection reads the MTA's packets
(4-byte big-endian length, command byte, data) and answers them as a version 6 filter that
wants every step, until MODE says otherwise:
    optneg     the answer to the option negotiation is a line of text, not a packet
    mail       the answer to MAIL is a reply code no filter may send ('Z')
    oversized  the answer to MAIL announces a 2 GB packet, then sends a little of it
    truncated  the answer to MAIL is half a packet, then the filter closes the connection
"""
import socket
import socketserver
import struct
import sys

PORT, MODE = int(sys.argv[1]), sys.argv[2]
# Commands answered with a reply; macros (D), abort (A) and the quits (Q, K) get none.
ANSWERED = set(b"CHMRTLNBE")
ALL_ACTIONS = 0x1FF


def packet(command, data=b""):
    return struct.pack(">I", len(data) + 1) + command + data


class Handler(socketserver.BaseRequestHandler):
    def read_exact(self, count):
        data = b""
        while len(data) < count:
            chunk = self.request.recv(count - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def handle(self):
        try:
            while True:
                (length,) = struct.unpack(">I", self.read_exact(4))
                body = self.read_exact(length)
                if not self.answer(body[:1], body[1:]):
                    return
        except (EOFError, OSError):
            return

    def answer(self, command, data):
        send = self.request.sendall
        if command == b"O":
            if MODE == "optneg":
                send(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                return True
            send(packet(b"O", struct.pack(">III", 6, ALL_ACTIONS, 0)))
        elif command == b"M" and MODE == "mail":
            send(packet(b"Z", b"what is this"))
        elif command == b"M" and MODE == "oversized":
            send(struct.pack(">I", 0x7FFFFFF0) + b"c" + b"x" * 65536)
        elif command == b"M" and MODE == "truncated":
            send(struct.pack(">I", 20) + b"y12")
            self.request.shutdown(socket.SHUT_WR)
            return False
        elif command[0] in ANSWERED:
            send(packet(b"c"))
        elif command in (b"Q",):
            return False
        return True


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    with Server(("127.0.0.1", PORT), Handler) as server:
        print("ready", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
