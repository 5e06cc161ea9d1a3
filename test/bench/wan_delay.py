#!/usr/bin/python3
"""Holds every packet its network namespace sends for a fixed time: `tc qdisc ... netem delay`
for kernels built without netem (outbound_wan.py uses it when `tc` refuses netem).

    ip netns exec NS wan_delay.py MS [QUEUE]
    ip netns exec NS iptables -A OUTPUT -j NFQUEUE --queue-num QUEUE      (after "ready")

The rule hands each packet leaving the namespace (SYN-ACKs and pure ACKs included) to this
process through nfnetlink_queue (NETLINK_NETFILTER, metadata only: no packet bytes are
copied); it gives the verdict ACCEPT MS milliseconds after the packet was queued, so the
packet then goes out on the veth as netem would have sent it. One delay for the whole
namespace keeps the queue in order, so a single batch verdict ("every packet up to id N")
releases all that are due. Prints "ready" once bound; runs until stdin closes or SIGTERM, then
prints "packets N late_ms mean X max Y" (how late the releases were against their due time:
the price of scheduling on a busy CPU, kept small by running SCHED_FIFO) on stdout.

Without this process a packet matching the rule is dropped (no --queue-bypass): a dead delayer
stops the traffic instead of silently removing the delay.
"""
import asyncio
import collections
import os
import signal
import socket
import struct
import sys

NETLINK_NETFILTER = 12
SO_RCVBUFFORCE = 33
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_CONFIG, NFQNL_MSG_VERDICT_BATCH = 0, 2, 3
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_ACCEPT = 1
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
QUEUE_MAXLEN = 200000


def attribute(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def message(kind, queue, attributes):
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + b"".join(attributes)
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, NLM_F_REQUEST,
                       0, 0) + body


class Delayer:
    def __init__(self, loop, delay_s, queue):
        self.loop, self.delay, self.queue = loop, delay_s, queue
        self.pending = collections.deque()  # (due, packet id), in queue order
        self.timer = None
        self.packets = 0
        self.max_late = self.sum_late = 0.0
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
        self.sock.bind((0, 0))
        self.sock.send(message(NFQNL_MSG_CONFIG, queue, [
            attribute(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, 0))]))
        self.sock.send(message(NFQNL_MSG_CONFIG, queue, [
            attribute(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META)),
            attribute(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", QUEUE_MAXLEN))]))
        self.sock.setblocking(False)
        loop.add_reader(self.sock.fileno(), self.readable)

    def readable(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                break
            now = self.loop.time()
            offset = 0
            while offset + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, offset)
                if length < 16:
                    break
                if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    self.packet(data, offset + 20, offset + length, now)
                elif kind == NLMSG_ERROR:
                    error = struct.unpack_from("=i", data, offset + 16)[0]
                    if error:
                        raise OSError(-error, "nfnetlink_queue refused a request")
                offset += (length + 3) & ~3
        if self.pending and self.timer is None:
            self.timer = self.loop.call_at(self.pending[0][0], self.release)

    def packet(self, data, at, end, now):
        while at + 4 <= end:
            length, kind = struct.unpack_from("=HH", data, at)
            if length < 4:
                return
            if kind & 0x7fff == NFQA_PACKET_HDR:
                self.pending.append((now + self.delay, struct.unpack_from("!I", data, at + 4)[0]))
                self.packets += 1
                return
            at += (length + 3) & ~3

    def release(self):
        self.timer = None
        now = self.loop.time()
        last = None
        # The loop wakes up to a millisecond early or late (its clock resolution); what is due
        # within 0.2 ms goes now rather than after another wake-up.
        while self.pending and self.pending[0][0] <= now + 0.0002:
            due, last = self.pending.popleft()
            self.max_late = max(self.max_late, now - due)
            self.sum_late += now - due
        if last is not None:
            self.sock.send(message(NFQNL_MSG_VERDICT_BATCH, self.queue, [
                attribute(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, last))]))
        if self.pending:
            self.timer = self.loop.call_at(self.pending[0][0], self.release)


def main():
    delay_ms = float(sys.argv[1])
    queue = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    try:
        # Released late is delayed more than said: run ahead of the MXs on a shared CPU. It
        # sleeps between releases, so it takes little.
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except OSError:
        pass
    loop = asyncio.new_event_loop()
    delayer = Delayer(loop, delay_ms / 1000.0, queue)
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.buffer.read1(4096) or loop.stop())
    print("ready", flush=True)
    loop.run_forever()
    print("packets %d late_ms mean %.2f max %.1f" % (
        delayer.packets, delayer.sum_late * 1000 / max(delayer.packets, 1),
        delayer.max_late * 1000), flush=True)


if __name__ == "__main__":
    main()
