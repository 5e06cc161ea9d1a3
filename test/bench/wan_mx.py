#!/usr/bin/python3
"""The receiving MXs of outbound_wan.py: one process serving many addresses on port 25, each
address the MX of one domain, plain or with STARTTLS, accepting at once or deferring first.

    ip netns exec NS wan_mx.py CERT KEY RTT_MS ADDRESS,DOMAIN,KIND [...]

RTT_MS is the round trip to this namespace (for busy_seconds below).

KIND is `plain`, `tls` (STARTTLS offered, with CERT/KEY), `defer` (a recipient's first RCPT
gets 451 4.7.1, as greylisting does; the retry is accepted) or `tls+defer`. Recipients are
unique per message in the benchmark, so the first attempt of every message to a deferring
domain is deferred, exactly once.

Written for speed rather than generality (the MXs must not be what limits the senders):
asyncio with a hand-made SMTP reader, TLS through memory BIOs. EHLO offers what Postfix's
smtpd offers by default (PIPELINING, SIZE, ENHANCEDSTATUSCODES, 8BITMIME, DSN, SMTPUTF8,
CHUNKING, and STARTTLS where the kind says so; parameters of MAIL and RCPT are taken and
ignored); the replies to pipelined commands go out in one write, as smtpd sends them.
Messages (DATA or BDAT) are counted and thrown away.

Control, one line each on stdin, one answer line on stdout:
  stats   {"messages", "recipients" (distinct), "duplicates" (a recipient delivered again),
           "misrouted" (a recipient whose domain this address does not serve), "connections"
           (opened), "tls" (handshakes done), "tls_failed", "deferrals", "transactions" (MAIL
           commands), "errors" (5xx replies to bad commands), "open" (connections now),
           "flights" (writes of replies, the banner, 221s, 421s and TLS handshakes left out:
           each is a reply a sender waited for, about one round trip), "first"/"last"
           (time.monotonic() of the first and last message accepted, or null),
           "last_first_try" (of the last message to an address that does not defer),
           "busy_seconds" (the time senders' connections were at work: per connection its
           setup, from accept to its first MAIL, and per transaction, from MAIL to its last
           reply (250 after the message, or the RSET after a refusal), each plus RTT_MS, as
           the sender sees a reply that much later and its SYN went out that much earlier;
           the idle time of a pooled connection between transactions is left out)}
  reset   zeroes every counter and forgets recipients; connections still open get
          "421 4.4.2 idle timeout" and are closed (as an MX's idle timeout would), so that a
          sender starts cold; answers "ok"
  sessions  the open connections: [{"mx", "peer", "age_s", "idle_s" (since the last reply),
          "last_verb", "tls", "handshaking", "in_data", "chunk_left", "buffered",
          "closing"}] (to see where a stuck session stands)
End of stdin (or SIGTERM) stops it.
"""
import asyncio
import json
import signal
import ssl
import sys
import time

MAX_LINE = 4096
MAX_MESSAGE = 52428800
EHLO_KEYWORDS = ["PIPELINING", "SIZE %d" % MAX_MESSAGE, "ENHANCEDSTATUSCODES", "8BITMIME",
                 "DSN", "SMTPUTF8", "CHUNKING"]


class Counters:
    def __init__(self):
        self.generation = 0
        self.reset()

    def reset(self):
        self.messages = self.duplicates = self.misrouted = 0
        self.connections = self.tls = self.tls_failed = self.deferrals = 0
        self.transactions = self.errors = self.flights = 0
        self.first = self.last = self.last_first_try = None
        self.busy_seconds = 0.0  # of the connections closed since the reset
        self.delivered = set()
        self.greylisted = set()
        self.generation += 1  # sessions of an earlier generation no longer count


class Listener:
    def __init__(self, address, domain, kind):
        parts = set(kind.split("+"))
        if not parts <= {"plain", "tls", "defer"}:
            raise SystemExit("unknown kind %r" % kind)
        self.address, self.domain = address, domain.lower()
        self.tls, self.defer = "tls" in parts, "defer" in parts


def address_of(arg):
    """The address inside <...> of a MAIL/RCPT argument ("TO:<a@b> X=Y" -> "a@b")."""
    start, end = arg.find("<"), arg.find(">")
    if start < 0 or end < start:
        return None
    return arg[start + 1:end]


class Session(asyncio.Protocol):
    def __init__(self, mx, listener):
        self.mx, self.listener = mx, listener
        self.counters = mx.counters
        self.generation = mx.counters.generation
        self.transport = None
        self.buf = b""
        self.in_data = False
        self.scanned = 0  # bytes of the DATA message already searched for its end
        self.chunk_left = 0  # bytes of the current BDAT chunk still to come
        self.chunk_last = False
        self.in_tls = False  # the handshake is done
        self.tls = None  # the ssl.SSLObject once STARTTLS is answered
        self.tls_in = self.tls_out = None  # its memory BIOs
        self.greeted = False
        self.sender = None
        self.rcpts = []
        self.closing = False
        self.opened = self.active = time.monotonic()  # accepted; last reply written
        self.set_up = False  # its setup (accept to first MAIL) is counted
        self.txn_start = None  # when the MAIL of the transaction under way came
        self.last_verb = ""

    def current(self):
        """Whether this session counts (it was not opened before the last reset)."""
        return self.generation == self.counters.generation

    def connection_made(self, transport):
        if self.transport is None:  # not again when TLS starts
            self.counters.connections += 1
            self.mx.sessions.add(self)
            transport.write(b"220 mx.%s ESMTP\r\n" % self.listener.domain.encode())
        self.transport = transport

    def connection_lost(self, exc):
        self.mx.sessions.discard(self)
        if not self.set_up:
            self.busy(self.opened, self.active)  # a connection that sent no MAIL
        self.end_transaction(self.active)

    def busy(self, start, end):
        if self.current():
            self.counters.busy_seconds += end - start + self.mx.rtt

    def end_transaction(self, at):
        if self.txn_start is not None:
            self.busy(self.txn_start, at)
            self.txn_start = None

    def write(self, data):
        if self.tls is not None:
            self.tls.write(data)
            data = self.tls_out.read()
        self.transport.write(data)

    def send(self, out, work=True):
        """Writes the replies; `work` is false for the 221 to QUIT, which a sender may send
        long after its last message (closing an idle pooled connection)."""
        self.write(b"".join(out))
        out.clear()
        if work:
            self.active = time.monotonic()
            self.counters.flights += 1

    def data_received(self, data):
        if self.closing:
            return
        if self.tls is not None:
            data = self.tls_received(data)
            if data is None:
                return
        self.buf += data
        out = []
        while not self.closing and self.buf:
            if self.chunk_left:
                if not self.read_chunk(out):
                    break
                continue
            if self.in_data:
                if not self.read_message(out):
                    break
                continue
            end = self.buf.find(b"\r\n")
            if end < 0:
                if len(self.buf) > MAX_LINE:
                    out.append(b"500 5.5.0 line too long\r\n")
                    self.close_after(out)
                break
            line = self.buf[:end].decode("utf-8", "replace")
            self.buf = self.buf[end + 2:]
            if self.command(line, out) == "starttls":
                break
        if out and not self.closing:
            self.send(out)

    def read_message(self, out):
        """Looks for the end of DATA; True when found (and handled)."""
        if self.scanned == 0 and self.buf.startswith(b".\r\n"):
            rest = 3
        else:
            end = self.buf.find(b"\r\n.\r\n", max(0, self.scanned - 4))
            if end < 0:
                self.scanned = len(self.buf)
                if self.scanned > MAX_MESSAGE:
                    out.append(b"552 5.3.4 message too big\r\n")
                    self.close_after(out)
                return False
            rest = end + 5
        self.buf = self.buf[rest:]
        self.in_data = False
        self.scanned = 0
        self.accept(out)
        return True

    def read_chunk(self, out):
        """Takes the bytes of a BDAT chunk; True when it is complete (and answered)."""
        take = min(len(self.buf), self.chunk_left)
        self.buf = self.buf[take:]
        self.chunk_left -= take
        if self.chunk_left:
            return False
        self.end_chunk(out)
        return True

    def end_chunk(self, out):
        if not self.rcpts:
            out.append(b"554 5.5.1 Error: no valid recipients\r\n")
            self.sender, self.rcpts = None, []
        elif self.chunk_last:
            self.accept(out)
        else:
            out.append(b"250 2.0.0 Ok: chunk\r\n")

    def accept(self, out):
        c = self.counters
        for rcpt in self.rcpts:
            if rcpt in c.delivered:
                c.duplicates += 1
            else:
                c.delivered.add(rcpt)
        c.messages += 1
        c.last = time.monotonic()
        if c.first is None:
            c.first = c.last
        if not self.listener.defer:
            c.last_first_try = c.last
        self.end_transaction(c.last)
        self.sender, self.rcpts = None, []
        out.append(b"250 2.0.0 Ok: queued\r\n")

    def close_after(self, out, work=True):
        self.send(out, work)
        self.closing = True
        self.transport.close()

    def command(self, line, out):
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        self.last_verb = verb[:12]
        c = self.counters
        if verb in ("EHLO", "HELO"):
            self.greeted = True
            self.sender, self.rcpts = None, []
            if verb == "HELO":
                out.append(b"250 mx.%s\r\n" % self.listener.domain.encode())
                return None
            lines = ["mx." + self.listener.domain] + EHLO_KEYWORDS
            if self.listener.tls and not self.in_tls:
                lines.append("STARTTLS")
            out.append("".join("250%s%s\r\n" % ("-" if i < len(lines) - 1 else " ", text)
                               for i, text in enumerate(lines)).encode())
        elif verb == "MAIL":
            now = time.monotonic()
            if not self.set_up:
                self.set_up = True
                self.busy(self.opened, now)
            self.end_transaction(self.active)  # one ended without RSET
            self.txn_start = now
            c.transactions += 1
            if not self.greeted or self.sender is not None:
                out.append(b"503 5.5.1 Error: nested MAIL command\r\n")
                c.errors += 1
            else:
                self.sender = address_of(arg) or ""
                out.append(b"250 2.1.0 Ok\r\n")
        elif verb == "RCPT":
            rcpt = address_of(arg)
            if self.sender is None or not rcpt:
                out.append(b"503 5.5.1 Error: need MAIL command\r\n")
                c.errors += 1
                return None
            rcpt = rcpt.lower()
            if rcpt.rpartition("@")[2] != self.listener.domain:
                c.misrouted += 1
            if self.listener.defer and rcpt not in c.greylisted:
                c.greylisted.add(rcpt)
                c.deferrals += 1
                out.append(b"451 4.7.1 Greylisted, try again later\r\n")
            else:
                self.rcpts.append(rcpt)
                out.append(b"250 2.1.5 Ok\r\n")
        elif verb == "DATA":
            if not self.rcpts:
                out.append(b"554 5.5.1 Error: no valid recipients\r\n")
            else:
                self.in_data = True
                out.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == "BDAT":
            words = arg.split()
            if not words or not words[0].isdigit() or len(words) > 2 or \
                    (len(words) == 2 and words[1].upper() != "LAST"):
                out.append(b"501 5.5.4 Syntax: BDAT count [LAST]\r\n")
                c.errors += 1
                self.close_after(out)  # the chunk's bytes cannot be told from commands
                return None
            self.chunk_left = int(words[0])
            self.chunk_last = len(words) == 2
            if self.chunk_left == 0:
                self.end_chunk(out)
        elif verb == "RSET":
            self.end_transaction(time.monotonic())
            self.sender, self.rcpts = None, []
            out.append(b"250 2.0.0 Ok\r\n")
        elif verb == "NOOP":
            out.append(b"250 2.0.0 Ok\r\n")
        elif verb == "QUIT":
            if out:  # pipelined before the QUIT: work
                self.send(out)
            out.append(b"221 2.0.0 Bye\r\n")
            self.close_after(out, work=False)
        elif verb == "STARTTLS" and self.listener.tls and not self.in_tls:
            out.append(b"220 2.0.0 Ready to start TLS\r\n")
            self.send(out)
            self.buf = b""  # RFC 3207: nothing may follow STARTTLS before the handshake
            self.tls_in, self.tls_out = ssl.MemoryBIO(), ssl.MemoryBIO()
            self.tls = self.mx.tls_context.wrap_bio(self.tls_in, self.tls_out,
                                                    server_side=True)
            return "starttls"
        else:
            out.append(b"502 5.5.2 Error: command not recognized\r\n")
            c.errors += 1
        return None

    def tls_received(self, data):
        """TLS in memory BIOs (not asyncio's start_tls, so that the bytes a client sends with
        its last handshake flight, EHLO, are surely read): feeds data to the handshake or
        decrypts it; returns the plain bytes, or None when there are none (yet)."""
        self.tls_in.write(data)
        try:
            if not self.in_tls:
                try:
                    self.tls.do_handshake()
                except ssl.SSLWantReadError:
                    self.flush_tls()
                    return None
                self.in_tls = True
                self.greeted = False
                self.sender, self.rcpts = None, []
                if self.current():
                    self.counters.tls += 1
            plain = []
            while True:
                try:
                    chunk = self.tls.read(65536)
                except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                    break
                if not chunk:
                    break
                plain.append(chunk)
            self.flush_tls()  # the session tickets after the handshake, for one
            return b"".join(plain)
        except (ssl.SSLError, OSError):
            if not self.in_tls and self.current():
                self.counters.tls_failed += 1
            self.closing = True
            self.transport.abort()
            return None

    def flush_tls(self):
        pending = self.tls_out.read()
        if pending:
            self.transport.write(pending)

    def idle_close(self):
        if not self.closing and self.transport is not None:
            self.closing = True
            try:
                self.write(b"421 4.4.2 idle timeout\r\n")
                self.transport.close()
            except (OSError, RuntimeError, ssl.SSLError):
                self.transport.abort()


class MX:
    def __init__(self, loop, cert, key, rtt_ms, listeners):
        self.loop = loop
        self.rtt = rtt_ms / 1000.0
        self.counters = Counters()
        self.sessions = set()
        self.listeners = listeners
        self.tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls_context.load_cert_chain(cert, key)

    async def start(self):
        for listener in self.listeners:
            await self.loop.create_server(lambda listener=listener: Session(self, listener),
                                          listener.address, 25, backlog=1024,
                                          reuse_address=True)

    def describe(self, session, now):
        peer = session.transport.get_extra_info("peername") if session.transport else None
        return {"mx": session.listener.address, "peer": "%s:%s" % peer[:2] if peer else "?",
                "age_s": round(now - session.opened, 3),
                "idle_s": round(now - session.active, 3), "last_verb": session.last_verb,
                "tls": session.in_tls,
                "handshaking": session.tls is not None and not session.in_tls,
                "in_data": session.in_data, "chunk_left": session.chunk_left,
                "buffered": len(session.buf), "closing": session.closing}

    def control(self, line):
        c = self.counters
        if line == "sessions":
            now = time.monotonic()
            return json.dumps([self.describe(s, now) for s in self.sessions])
        if line == "stats":
            return json.dumps({
                "messages": c.messages, "recipients": len(c.delivered),
                "duplicates": c.duplicates, "misrouted": c.misrouted,
                "connections": c.connections, "tls": c.tls, "tls_failed": c.tls_failed,
                "deferrals": c.deferrals, "transactions": c.transactions, "errors": c.errors,
                "open": len(self.sessions), "flights": c.flights, "first": c.first,
                "last": c.last, "last_first_try": c.last_first_try,
                "busy_seconds": c.busy_seconds})
        if line == "reset":
            for session in list(self.sessions):
                session.idle_close()
            c.reset()
            return "ok"
        return "error unknown command"


class Control(asyncio.Protocol):
    def __init__(self, mx, done):
        self.mx, self.done, self.buf = mx, done, b""

    def data_received(self, data):
        self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            sys.stdout.write(self.mx.control(line.decode().strip()) + "\n")
            sys.stdout.flush()

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_result(None)


async def serve(cert, key, rtt_ms, specs):
    loop = asyncio.get_running_loop()
    listeners = [Listener(*spec.split(",")) for spec in specs]
    mx = MX(loop, cert, key, rtt_ms, listeners)
    await mx.start()
    done = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: done.done() or done.set_result(None))
    await loop.connect_read_pipe(lambda: Control(mx, done), sys.stdin)
    print("ready", flush=True)
    await done


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    asyncio.run(serve(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]))


if __name__ == "__main__":
    main()
