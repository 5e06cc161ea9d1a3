"""A small libmilter filter (python3-milter) for test_milter.py.

    smoke_milter.py PORT EVENTS_FILE

Listens on 127.0.0.1:PORT and appends one JSON line per callback to EVENTS_FILE, with the
macros it asked the MTA for. What it answers depends on the addresses:
    a sender with "reject-mail"        550 5.7.1 at MAIL
    a recipient with "reject-rcpt"     550 5.1.1 at RCPT (a multi-line reply)
    a recipient with "tempfail-rcpt"   TEMPFAIL at RCPT
    every message                      X-Smoke-Milter added at the end of the message
"""
import json
import sys

import Milter

PORT = int(sys.argv[1])
EVENTS = sys.argv[2]


def record(event, **fields):
    fields["event"] = event
    with open(EVENTS, "a") as f:
        f.write(json.dumps(fields) + "\n")


def decode(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class SmokeFilter(Milter.Base):
    def __init__(self):
        self.body_bytes = 0

    def macros(self, *names):
        return {name: self.getsymval(name) for name in names}

    def connect(self, hostname, family, hostaddr):
        record("connect", hostname=hostname, family=family, hostaddr=list(hostaddr),
               macros=self.macros("j", "{daemon_name}", "_", "{client_addr}", "{client_port}",
                                  "{if_addr}", "v"))
        return Milter.CONTINUE

    def hello(self, heloname):
        record("helo", name=heloname)
        return Milter.CONTINUE

    def envfrom(self, mailfrom, *params):
        record("mail", sender=mailfrom, params=list(params),
               macros=self.macros("i", "{mail_addr}", "{mail_host}"))
        if "reject-mail" in mailfrom:
            self.setreply("550", "5.7.1", "sender refused by smoke milter")
            return Milter.REJECT
        return Milter.CONTINUE

    def envrcpt(self, to, *params):
        record("rcpt", recipient=to, params=list(params),
               macros=self.macros("{rcpt_addr}", "{rcpt_host}"))
        if "reject-rcpt" in to:
            self.setreply("550", "5.1.1", "no such mailbox", "ask someone else")
            return Milter.REJECT
        if "tempfail-rcpt" in to:
            return Milter.TEMPFAIL
        return Milter.CONTINUE

    def data(self):
        record("data")
        return Milter.CONTINUE

    def header(self, name, value):
        record("header", name=name, value=decode(value))
        return Milter.CONTINUE

    def eoh(self):
        record("eoh")
        return Milter.CONTINUE

    def body(self, chunk):
        self.body_bytes += len(chunk)
        return Milter.CONTINUE

    def eom(self):
        record("eom", body_bytes=self.body_bytes, macros=self.macros("i"))
        self.addheader("X-Smoke-Milter", "seen")
        return Milter.ACCEPT

    def abort(self):
        record("abort")
        return Milter.CONTINUE

    def close(self):
        record("close")
        return Milter.CONTINUE


if __name__ == "__main__":
    Milter.factory = SmokeFilter
    Milter.set_flags(Milter.ADDHDRS)
    Milter.runmilter("smoke", "inet:%d@127.0.0.1" % PORT, 30)
