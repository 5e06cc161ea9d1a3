#!/usr/bin/python3
"""A receiving LMTP server for the queue/lmtp tests: aiosmtpd's LMTP on 127.0.0.1:PORT that
writes every message to DIR/<n>.json ({"mail_from", "rcpts", "data"}, rcpts: the recipients
that got a 250 after the dot). Behaviour per recipient local part:
  temp*   -> 451 at RCPT           perm*   -> 550 at RCPT
  full*   -> 452 after the dot      gone*   -> 550 after the dot   (one reply per recipient)

usage: lmtp_sink.py PORT DIR
"""
import json
import os
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP


def final_reply(address):
    local = address.split("@")[0]
    if local.startswith("full"):
        return "452 4.2.2 mailbox full"
    if local.startswith("gone"):
        return "550 5.1.1 mailbox gone"
    return "250 2.0.0 <%s> delivered" % address


class Handler:
    def __init__(self, out):
        self.out = out
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local.startswith("temp"):
            return "451 4.3.0 try again later"
        if local.startswith("perm"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        replies = [final_reply(r) for r in envelope.rcpt_tos]
        delivered = [r for r, reply in zip(envelope.rcpt_tos, replies) if reply.startswith("250")]
        if delivered:
            self.count += 1
            path = os.path.join(self.out, "%d-%d.json" % (time.time_ns(), self.count))
            with open(path + ".tmp", "w") as f:
                json.dump({"mail_from": envelope.mail_from, "rcpts": delivered,
                           "data": envelope.original_content.decode("utf-8", "replace")}, f)
            os.rename(path + ".tmp", path)
        return "\r\n".join(replies)  # LMTP: one reply per accepted recipient


class LmtpController(Controller):
    def factory(self):
        return LMTP(self.handler, **self.SMTP_kwargs)


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    controller = LmtpController(Handler(out), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()  # runs until the test closes our stdin or kills us
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
