#!/usr/bin/python3
"""A tiny authoritative DNS server over UDP on 127.0.0.1:PORT for the fault tests, its behaviour
read from DIR/mode at every query:
  ok        MX of any NAME -> 10 mx.NAME; A of mx.NAME -> ADDRESS; anything else: no data
  servfail  every answer is SERVFAIL
  drop      no answer at all (the client times out)
Every query is appended to DIR/queries as "TYPE NAME MODE".

usage: dns_responder.py PORT DIR ADDRESS
"""
import os
import socket
import struct
import sys

TYPE_A, TYPE_MX = 1, 15
TYPE_NAMES = {1: "A", 15: "MX", 28: "AAAA"}


def parse_question(packet):
    """(id, flags, name, qtype, end of the question) or None."""
    if len(packet) < 12:
        return None
    ident, flags, qdcount = struct.unpack(">HHH", packet[:6])
    if qdcount != 1:
        return None
    labels, pos = [], 12
    while True:
        if pos >= len(packet):
            return None
        length = packet[pos]
        pos += 1
        if length == 0:
            break
        if length > 63 or pos + length > len(packet):
            return None
        labels.append(packet[pos:pos + length].decode("ascii", "replace"))
        pos += length
    if pos + 4 > len(packet):
        return None
    qtype, _qclass = struct.unpack(">HH", packet[pos:pos + 4])
    return ident, flags, ".".join(labels).lower(), qtype, pos + 4


def encode_name(name):
    out = b""
    for label in name.split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\x00"


def answer(packet, mode, address):
    parsed = parse_question(packet)
    if parsed is None:
        return None
    ident, flags, name, qtype, end = parsed
    question = packet[12:end]
    rcode = 2 if mode == "servfail" else 0
    records = []
    if mode == "ok":
        if qtype == TYPE_MX and not name.startswith("mx."):
            rdata = struct.pack(">H", 10) + encode_name("mx." + name)
            records.append(struct.pack(">HHHIH", 0xC00C, TYPE_MX, 1, 60, len(rdata)) + rdata)
        elif qtype == TYPE_A and name.startswith("mx."):
            rdata = socket.inet_aton(address)
            records.append(struct.pack(">HHHIH", 0xC00C, TYPE_A, 1, 60, len(rdata)) + rdata)
    reply_flags = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080 | rcode  # QR, opcode+RD, AA, RA
    header = struct.pack(">HHHHHH", ident, reply_flags, 1, len(records), 0, 0)
    return header + question + b"".join(records), "%s %s" % (TYPE_NAMES.get(qtype, qtype), name)


def main():
    port, out, address = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    print("ready", flush=True)
    while True:
        packet, peer = sock.recvfrom(4096)
        try:
            with open(os.path.join(out, "mode")) as f:
                mode = f.read().strip() or "ok"
        except OSError:
            mode = "ok"
        result = answer(packet, mode, address)
        if result is None:
            continue
        reply, what = result
        with open(os.path.join(out, "queries"), "a") as f:
            f.write("%s %s\n" % (what, mode))
        if mode != "drop":
            sock.sendto(reply, peer)


if __name__ == "__main__":
    main()
