#!/usr/bin/python3
"""A libmilter filter (python3-milter) that answers as a JSON script says, for
test_milter_filters.py.

    scripted_milter.py SOCKET SCRIPT EVENTS

SOCKET is libmilter's: inet:PORT@127.0.0.1 or unix:/path. Prints "ready" once listening.
SCRIPT is read again at each CONNECT, so a test rewrites it before its SMTP connection. It maps
a stage (connect, helo, envfrom, envrcpt, data, header, eoh, body, eom) to a rule or a list of
rules; the first rule whose "match" is in the stage's text applies (no "match": always), none:
continue. The text is the client's address (connect), the HELO name, the sender, the recipient,
"Name: value" (header), the chunk (body), the Subject (eom). A rule:
    {"reply": "continue|accept|discard|reject|tempfail|skip|replycode",
     "code": "550", "xcode": "5.7.0", "text": ["line", ...],     (replycode)
     "delay": 2.5, "progress_every": 0.5,                         (sleep first; progress: eom)
     "actions": [...]}                                            (eom)
The actions, in order: {"addheader": [name, value]}, {"insheader": [index, name, value]},
{"chgheader": [name, index, value]} (value "": delete), {"replacebody": text},
{"replacebody_lines": count} (count lines of generated_line(n)), {"addrcpt": [rcpt, params]},
{"delrcpt": rcpt}, {"chgfrom": [sender, params]}, {"quarantine": reason}.
EVENTS gets one JSON line per callback: {"stage", "conn", "text", "args", "macros"}; eom adds
"body_bytes", "body_chunks" and "body_sha256" of what the body chunks brought.
"""
import hashlib
import json
import sys
import threading
import time

import Milter
import milter

SOCKET, SCRIPT, EVENTS = sys.argv[1:4]
write_lock = threading.Lock()
REPLIES = {"continue": Milter.CONTINUE, "accept": Milter.ACCEPT, "discard": Milter.DISCARD,
           "reject": Milter.REJECT, "tempfail": Milter.TEMPFAIL, "skip": Milter.SKIP}
# The macros recorded at each stage (those the MTA sends by default for it).
MACROS = {
    "connect": ("j", "_", "v", "{daemon_name}", "{client_addr}", "{client_port}",
                "{client_name}", "{if_addr}"),
    "envfrom": ("i", "{mail_addr}", "{mail_host}"),
    "envrcpt": ("i", "{rcpt_addr}", "{rcpt_host}"),
    "eom": ("i",),
}


def generated_line(number):
    """Line `number` of a generated body (CRLF included); the test makes the same ones."""
    return b"generated body line %08d: the quick brown fox jumps over the lazy dog\r\n" % number


def text_of(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class ScriptedFilter(Milter.Base):
    def __init__(self):
        self.conn = Milter.uniqueID()
        self.script = {}
        self.subject = ""
        self.new_message()

    def new_message(self):
        self.body_bytes = 0
        self.body_chunks = 0
        self.body_hash = hashlib.sha256()

    def record(self, stage, text, args=(), **extra):
        macros = {}
        for name in MACROS.get(stage, ()):
            value = self.getsymval(name)
            if value is not None:
                macros[name] = value
        event = dict(stage=stage, conn=self.conn, text=text, args=list(args), macros=macros,
                     **extra)
        with write_lock, open(EVENTS, "a") as f:
            f.write(json.dumps(event) + "\n")

    def rule(self, stage, text):
        rules = self.script.get(stage, [])
        for rule in rules if isinstance(rules, list) else [rules]:
            if rule.get("match", "") in text:
                return rule
        return {}

    def answer(self, stage, text):
        rule = self.rule(stage, text)
        delay = rule.get("delay", 0)
        step = rule.get("progress_every")
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            time.sleep(min(step or delay, max(0, deadline - time.monotonic())))
            if step and time.monotonic() < deadline:
                self.progress()
        for action in rule.get("actions", []):
            self.act(action)
        reply = rule.get("reply", "continue")
        if reply == "replycode":
            lines = rule.get("text", [])
            self.setreply(rule["code"], rule.get("xcode"), *lines)
            return Milter.REJECT if rule["code"].startswith("5") else Milter.TEMPFAIL
        return REPLIES[reply]

    def act(self, action):
        [(name, value)] = action.items()
        if name == "addheader":
            self.addheader(value[0], value[1])
        elif name == "insheader":
            self.addheader(value[1], value[2], value[0])
        elif name == "chgheader":
            self.chgheader(value[0], value[1], value[2])
        elif name == "replacebody":
            self.replacebody(value.encode())
        elif name == "replacebody_lines":
            chunk = []
            for number in range(value):
                chunk.append(generated_line(number))
                if len(chunk) == 4096:
                    self.replacebody(b"".join(chunk))
                    chunk = []
            if chunk:
                self.replacebody(b"".join(chunk))
        elif name == "addrcpt":
            self.addrcpt(value[0], value[1] or None)
        elif name == "delrcpt":
            self.delrcpt(value)
        elif name == "chgfrom":
            self.chgfrom(value[0], value[1] or None)
        elif name == "quarantine":
            self.quarantine(value)
        else:
            raise ValueError("unknown action %r" % name)

    def connect(self, hostname, family, hostaddr):
        with open(SCRIPT) as f:
            self.script = json.load(f)
        address = hostaddr[0] if isinstance(hostaddr, tuple) else str(hostaddr)
        self.record("connect", address, [hostname, int(family), list(hostaddr)
                                         if isinstance(hostaddr, tuple) else hostaddr])
        return self.answer("connect", address)

    def hello(self, name):
        self.record("helo", name)
        return self.answer("helo", name)

    def envfrom(self, sender, *params):
        self.new_message()
        self.subject = ""
        self.record("envfrom", sender, params)
        return self.answer("envfrom", sender)

    def envrcpt(self, recipient, *params):
        self.record("envrcpt", recipient, params)
        return self.answer("envrcpt", recipient)

    def data(self):
        self.record("data", "")
        return self.answer("data", "")

    def header(self, name, value):
        value = text_of(value)
        if name.lower() == "subject":
            self.subject = value
        self.record("header", "%s: %s" % (name, value))
        return self.answer("header", "%s: %s" % (name, value))

    def eoh(self):
        self.record("eoh", "")
        return self.answer("eoh", "")

    def body(self, chunk):
        self.body_bytes += len(chunk)
        self.body_chunks += 1
        self.body_hash.update(chunk)
        return self.answer("body", text_of(chunk))

    def eom(self):
        self.record("eom", self.subject, body_bytes=self.body_bytes,
                    body_chunks=self.body_chunks, body_sha256=self.body_hash.hexdigest())
        return self.answer("eom", self.subject)

    def abort(self):
        self.record("abort", "")
        return Milter.CONTINUE

    def close(self):
        self.record("close", "")
        return Milter.CONTINUE


def main():
    Milter.factory = ScriptedFilter
    # Every action, SETSYMLIST aside (the MTA's own macro lists are what the test checks).
    milter.set_flags(Milter.ADDHDRS | Milter.CHGBODY | Milter.ADDRCPT | Milter.ADDRCPT_PAR
                     | Milter.DELRCPT | Milter.CHGHDRS | Milter.QUARANTINE | Milter.CHGFROM)
    # Milter.runmilter, split so that "ready" is printed once the socket listens.
    milter.set_connect_callback(Milter.connect_callback)
    milter.set_helo_callback(lambda ctx, host: ctx.getpriv().hello(host))
    milter.set_envfrom_callback(lambda ctx, *b: ctx.getpriv().envfrom_bytes(*b))
    milter.set_envrcpt_callback(lambda ctx, *b: ctx.getpriv().envrcpt_bytes(*b))
    milter.set_header_callback(lambda ctx, f, v: ctx.getpriv().header_bytes(f, v))
    milter.set_eoh_callback(lambda ctx: ctx.getpriv().eoh())
    milter.set_body_callback(lambda ctx, chunk: ctx.getpriv().body(chunk))
    milter.set_eom_callback(lambda ctx: ctx.getpriv().eom())
    milter.set_abort_callback(lambda ctx: ctx.getpriv().abort())
    milter.set_close_callback(Milter.close_callback)
    milter.setconn(SOCKET)
    milter.register("scripted", data=lambda ctx: ctx.getpriv().data(),
                    unknown=lambda ctx, cmd: ctx.getpriv().unknown(cmd),
                    negotiate=Milter.negotiate_callback)
    milter.opensocket(True)
    print("ready", flush=True)
    milter.main()


if __name__ == "__main__":
    main()
