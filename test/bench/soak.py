#!/usr/bin/env python3
"""Soak benchmark: Upesi (nodes=2) under steady mixed inbound + outbound load for a long time,
with periodic graceful reloads and queue flushes; watches memory, descriptors and the queue,
and checks that every accepted message was delivered exactly once (or bounced).

    test/bench/soak.py [--duration 3600] [--rate 100] [--reload-every 60] [--flush-every 30]
                       [--sample-every 10] [--upesi BUILD/master/upesi] [--scripted PATH]

Not part of the test suite. Everything listens on 127.0.0.1 (free ports); nothing else is
contacted. Peers, all started here and stopped again (also on Ctrl-C, SIGTERM or an error):
  ok.example        smtp-sink -d: every message dumped to a file, which the script reads
                    (the X-Rcpt-Args lines, and for bounces the DSN's Final-Recipient lines)
                    and deletes; bounces come here, since the sender is soak@ok.example
  flaky.example     a small SMTP server in this script: answers 450 to the first RCPT of each
                    address (so each is delivered on a retry), and for 10 s of every 60 s
                    answers 421 at connect (an outage)
  tempfail.example  smtp-sink -r RCPT: every RCPT 450 (deferred until the retries run out,
                    then bounced)
  reject.example    smtp-sink -f RCPT: every RCPT 550 (bounced at once)
Upesi: plugins tls (self-signed certificate made with openssl), auth/flat_file, relay
(relay_acl_allow 127.0.0.1/32), and four copies of the scripted test plugin answering get_mx
per domain (match=); outbound.ini temp_fail_intervals 5s,10s,20s,40s,60s.

Load, paced at --rate messages/s in all (shares of the rate, in messages):
  smtp-source: 1 KB one recipient, one connection per message (45 %); 1 KB three recipients,
  several messages per connection (15 %); 100 KB (8 %); 1 KB two recipients at flaky (8 %);
  1 KB at tempfail (3 %); 1 KB two recipients at reject (3 %).
  Python clients (sessions, as shares of the rate): PIPELINING (two messages per connection,
  recipients at ok, flaky and reject; 5 %); STARTTLS, three of four with AUTH PLAIN, LOGIN or
  CRAM-MD5 (5 %); bad clients (3 %, no message): dropped mid-DATA, unknown commands until
  closed, an over-long command line, an over-long DATA line, a bare LF in DATA, silent
  connect-and-close.
Every recipient address is unique, so the sinks' records show losses and duplicates.

Every --reload-every s a SIGUSR2 to the master, every --flush-every s a SIGHUP. Every
--sample-every s: RSS and PSS (/proc/PID/smaps_rollup) and open fds of the master and each
worker (the process tree, summed, and per process), queue files, accepted and delivered. After
--duration the load stops and the queue drains (at most --drain-timeout s); then a table of the
samples, the growth of RSS/PSS/fds (first 10 % against last 10 % of the samples after
--warmup, and a least-squares slope, per hour; samples where old workers were still
finishing after a reload are left out), the totals, and the exactly-once check.
"""
import argparse
import asyncio
import concurrent.futures
import itertools
import os
import pathlib
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import (ROOT, Peer, ensure_built, exit_on_sigterm, free_port,  # noqa: E402
                          machine_line, proc_usage, queue_files, show_logs, tree_pids,
                          wait_port, wait_until)
from inbound import add_tls  # noqa: E402
from tls import self_signed  # noqa: E402

SENDER = "soak@ok.example"
AUTH_USER, AUTH_PASSWORD = "soak", "soak-password"
DELIVER, BOUNCE = "deliver", "bounce"
KIND = {"ok.example": DELIVER, "flaky.example": DELIVER, "tempfail.example": BOUNCE,
        "reject.example": BOUNCE}
RETRIES = "5s,10s,20s,40s,60s"
# smtp-source streams: name, share of --rate (messages), size, recipients per message, domain,
# extra options, parallel sessions.
SOURCES = [
    ("1k", 0.45, 1000, 1, "ok.example", [], 4),
    ("1k-3rcpt-reuse", 0.15, 1000, 3, "ok.example", ["-d"], 2),
    ("100k", 0.08, 100000, 1, "ok.example", [], 2),
    ("flaky-2rcpt", 0.08, 1000, 2, "flaky.example", [], 2),
    ("tempfail", 0.03, 1000, 1, "tempfail.example", [], 1),
    ("reject-2rcpt", 0.03, 1000, 2, "reject.example", [], 1),
]
# Python sessions: name, share of --rate (sessions).
PY_SESSIONS = [("pipelined", 0.05), ("starttls", 0.05), ("bad", 0.03)]
BAD_KINDS = ["drop-mid-data", "unknown-commands", "long-command", "long-data-line",
             "bare-lf", "silent"]


class Ledger:
    """What the clients were told (250 for which recipients) and what the sinks received.
    Every recipient address is unique: smtp-source's are "<seq>s<batch>@domain" (seq 1..n,
    counted per batch in two byte arrays, so that an hour of load stays small), the Python
    clients' others (counted per address)."""

    SOURCE_RCPT = re.compile(r"^(\d+)s(\d+)$")

    def __init__(self):
        self.lock = threading.Lock()
        self.batches = {}         # batch -> [rcpts, domain, state, delivered, bounced]
        self.pending = set()      # batches accepted but not yet all delivered or bounced
        self.expected = {}        # Python clients: "local@domain" -> DELIVER or BOUNCE
        self.uncertain = set()    # Python clients: addresses whose transaction ended unclear
        self.delivered = Counter()  # Python clients' addresses, and any unknown one
        self.bounced = Counter()
        self.delivered_rcpts = 0
        self.bounced_rcpts = 0
        self.bounce_messages = 0
        self.sink_messages = 0
        self.accepted_msgs = 0
        self.accepted_rcpts = 0
        self.sessions = Counter()
        self.errors = Counter()
        self.error_samples = []
        self.bad_unexpected = Counter()

    def batch_started(self, batch, rcpts, domain):
        with self.lock:
            self.batches[batch] = [rcpts, domain, "running", bytearray(rcpts + 1),
                                   bytearray(rcpts + 1)]

    def batch_done(self, batch, ok, messages):
        with self.lock:
            entry = self.batches[batch]
            entry[2] = "ok" if ok else "unsure"
            if ok:
                self.accepted_msgs += messages
                self.accepted_rcpts += entry[0]
                self.pending.add(batch)

    def accept(self, addresses, messages=1):
        with self.lock:
            for a in addresses:
                self.expected[a] = KIND[a.rsplit("@", 1)[1]]
            self.accepted_msgs += messages
            self.accepted_rcpts += len(addresses)

    def unsure(self, addresses):
        with self.lock:
            self.uncertain.update(addresses)

    def count(self, counter, key):
        with self.lock:
            getattr(self, counter)[key] += 1

    def error(self, what, detail):
        with self.lock:
            self.errors[what] += 1
            if len(self.error_samples) < 12:
                self.error_samples.append("%s: %s" % (what, str(detail)[:300]))

    def _record(self, address, bounce):
        local, _, domain = address.partition("@")
        m = self.SOURCE_RCPT.match(local)
        entry = self.batches.get(int(m.group(2))) if m else None
        if entry is not None and entry[1] == domain and 1 <= int(m.group(1)) <= entry[0]:
            counts = entry[4 if bounce else 3]
            seq = int(m.group(1))
            counts[seq] = min(counts[seq] + 1, 255)
        else:
            (self.bounced if bounce else self.delivered)[address] += 1

    def received(self, rcpts=(), bounced=()):
        """A message at a sink: delivered to rcpts, or a bounce for the bounced addresses."""
        with self.lock:
            if bounced or not rcpts:
                self.bounce_messages += 1
            else:
                self.sink_messages += 1
            for a in rcpts:
                self._record(a, False)
            for a in bounced:
                self._record(a, True)
            self.delivered_rcpts += len(rcpts)
            self.bounced_rcpts += len(bounced)

    def counts(self):
        with self.lock:
            return self.accepted_msgs, self.sink_messages, self.delivered_rcpts, \
                self.bounced_rcpts

    def unresolved(self):
        """Accepted recipients that have neither arrived nor bounced yet."""
        with self.lock:
            left = 0
            for batch in list(self.pending):
                rcpts, _, _, d, b = self.batches[batch]
                missing = sum(1 for i in range(1, rcpts + 1) if not d[i] and not b[i])
                if missing:
                    left += missing
                else:
                    self.pending.discard(batch)
            return left + sum(1 for a in self.expected
                              if not self.delivered[a] and not self.bounced[a])

    def check(self):
        """The exactly-once verdict: counts, and a few examples of each problem (problems are
        the names in capitals)."""
        r = Counter()
        examples = {}

        def judge(address, kind, d, b):
            if kind == DELIVER and d == 1 and b == 0:
                r["delivered once"] += 1
                return
            if kind == DELIVER and d == 0 and b == 1:
                r["bounced once (deliverable domain)"] += 1
                return
            if kind == BOUNCE and d == 0 and b == 1:
                r["bounced once"] += 1
                return
            if d + b == 0:
                what = "LOST" if kind == DELIVER else "NO BOUNCE"
            elif kind == BOUNCE and d:
                what = "DELIVERED TO A REFUSING DOMAIN"
            else:
                what = "DUPLICATE"
            r[what] += 1
            examples.setdefault(what, []).append("%s (delivered %d, bounced %d)" % (
                address, d, b))

        def unsure(address, d, b):
            if d + b:
                r["arrived or bounced, client unsure"] += 1
            if d + b > 1:
                r["DUPLICATE (client unsure)"] += 1
                examples.setdefault("DUPLICATE (client unsure)", []).append(address)

        with self.lock:
            for batch, (rcpts, domain, state, d, b) in self.batches.items():
                for i in range(1, rcpts + 1):
                    address = "%ds%d@%s" % (i, batch, domain)
                    if state == "ok":
                        judge(address, KIND[domain], d[i], b[i])
                    else:
                        unsure(address, d[i], b[i])
            for a, kind in self.expected.items():
                judge(a, kind, self.delivered[a], self.bounced[a])
            for a in set(self.delivered) | set(self.bounced):
                if a in self.expected:
                    continue
                if a in self.uncertain:
                    unsure(a, self.delivered[a], self.bounced[a])
                else:
                    what = "DELIVERED FROM A BAD CLIENT" if a.startswith("bad") else \
                        "UNEXPECTED"
                    r[what] += 1
                    examples.setdefault(what, []).append(a)
            return r, {k: v[:5] for k, v in examples.items()}


class DumpReader(threading.Thread):
    """Reads and deletes the files smtp-sink -d writes, one per message, once the sink has
    closed them (a file it still has open is a transaction in progress)."""

    def __init__(self, dump_dir, sink_pid, ledger):
        super().__init__(daemon=True)
        self.dir, self.pid, self.ledger = pathlib.Path(dump_dir), sink_pid, ledger
        self.stopping = threading.Event()
        self.failure = None

    def open_files(self):
        names = set()
        fd_dir = "/proc/%d/fd" % self.pid
        for fd in os.listdir(fd_dir):
            try:
                names.add(os.readlink(os.path.join(fd_dir, fd)))
            except OSError:
                pass
        return names

    def scan(self):
        files = [os.path.join(d, f) for d, _, fs in os.walk(self.dir) for f in fs]
        if not files:
            return 0
        busy = self.open_files()
        done = 0
        for path in files:
            if path in busy:
                continue
            with open(path, "rb") as f:
                data = f.read()
            os.unlink(path)
            self.parse(data)
            done += 1
        return done

    def parse(self, data):
        head = data[:data.find(b"\nReceived: ")].decode(errors="replace")
        mail = re.search(r"^X-Mail-Args: <([^>]*)>", head, re.M)
        rcpts = [a.lower() for a in re.findall(r"^X-Rcpt-Args: <([^>]*)>", head, re.M)]
        if mail is not None and mail.group(1) == "":
            text = data.decode(errors="replace")
            failed = [a.lower() for a in re.findall(
                r"^Final-Recipient: rfc822; *<?([^>\s]+)>?\s*\nAction: failed", text, re.M)]
            if not failed:
                self.ledger.error("bounce without a failed Final-Recipient", text[:300])
            self.ledger.received(bounced=failed)
        else:
            self.ledger.received(rcpts=rcpts)

    def run(self):
        try:
            while not self.stopping.is_set():
                if not self.scan():
                    time.sleep(0.3)
            while self.scan():
                pass
        except Exception as e:  # reported by the main loop
            self.failure = e


class FlakySink(threading.Thread):
    """flaky.example's next hop: an SMTP server (asyncio, in a thread) that answers 450 to
    the first RCPT of every address, and 421 at connect during outages."""

    def __init__(self, ledger, outage_every=60, outage_s=10):
        super().__init__(daemon=True)
        self.ledger, self.port = ledger, free_port()
        self.outage_every, self.outage_s = outage_every, outage_s
        self.seen = set()
        self.outages = True
        self.sessions = Counter()
        self.t0 = time.monotonic()
        self.ready = threading.Event()
        self.loop = None

    def in_outage(self):
        return self.outages and (time.monotonic() - self.t0) % self.outage_every < self.outage_s

    async def session(self, reader, writer):
        try:
            if self.in_outage():
                self.sessions["421 outage"] += 1
                writer.write(b"421 4.3.2 flaky: outage\r\n")
                await writer.drain()
                return
            self.sessions["served"] += 1
            writer.write(b"220 flaky ESMTP\r\n")
            rcpts = []
            while True:
                line = await asyncio.wait_for(reader.readline(), 120)
                if not line:
                    return
                cmd = line[:4].upper()
                if cmd in (b"EHLO", b"HELO"):
                    writer.write(b"250-flaky\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                elif cmd == b"MAIL":
                    rcpts = []
                    writer.write(b"250 2.1.0 ok\r\n")
                elif cmd == b"RCPT":
                    m = re.search(rb"<([^>]*)>", line)
                    addr = m.group(1).decode(errors="replace").lower() if m else ""
                    if addr in self.seen:
                        rcpts.append(addr)
                        writer.write(b"250 2.1.5 ok\r\n")
                    else:
                        self.seen.add(addr)
                        writer.write(b"450 4.2.0 flaky: try again later\r\n")
                elif cmd == b"DATA":
                    if not rcpts:
                        writer.write(b"554 5.5.1 no valid recipients\r\n")
                        continue
                    writer.write(b"354 go ahead\r\n")
                    await writer.drain()
                    await asyncio.wait_for(reader.readuntil(b"\r\n.\r\n"), 120)
                    self.ledger.received(rcpts=rcpts)
                    rcpts = []
                    writer.write(b"250 2.0.0 ok\r\n")
                elif cmd == b"RSET":
                    rcpts = []
                    writer.write(b"250 2.0.0 ok\r\n")
                elif cmd == b"NOOP":
                    writer.write(b"250 2.0.0 ok\r\n")
                elif cmd == b"QUIT":
                    writer.write(b"221 2.0.0 bye\r\n")
                    await writer.drain()
                    return
                else:
                    writer.write(b"502 5.5.2 unknown command\r\n")
                await writer.drain()
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def run(self):
        self.loop = asyncio.new_event_loop()
        server = self.loop.run_until_complete(asyncio.start_server(
            self.session, "127.0.0.1", self.port, limit=1 << 20))
        self.ready.set()
        try:
            self.loop.run_forever()
        finally:
            server.close()

    def stop(self):
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)


def start_plain_sink(name, workdir, options):
    """smtp-sink with extra options (e.g. -r RCPT) on a free port; no message is kept."""
    port = free_port()
    return Peer(name, ["smtp-sink", "-u", os.environ.get("USER", "root"), "-m", "1000",
                       *options, "127.0.0.1:%d" % port, "1024"], port,
                log_path=str(workdir / (name + ".log")))


def start_upesi(binary, scripted, workdir, nodes, ports, pems):
    """Upesi with tls, auth/flat_file, relay and the per-domain get_mx routes."""
    inst = workdir / "upesi"
    subprocess.run([binary, "-i", str(inst)], check=True, capture_output=True, timeout=60)
    cfg = inst / "config"
    port = free_port()
    (cfg / "smtp.ini").write_text("[main]\nlisten=127.0.0.1:%d\nnodes=%d\n" % (port, nodes))
    routes = ["route_flaky", "route_tempfail", "route_reject", "route"]
    (inst / "plugins").mkdir(exist_ok=True)
    for route in routes:
        shutil.copy(scripted, inst / "plugins" / (route + ".so"))
    for route, domain in zip(routes, ["flaky.example", "tempfail.example", "reject.example",
                                      None]):
        (cfg / (route + ".ini")).write_text(
            "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n%s" % (
                ports[domain or "ok.example"], "match=%s\n" % domain if domain else ""))
    (cfg / "plugins").write_text("auth/flat_file\nrelay\n" + "".join(r + "\n" for r in routes))
    add_tls(cfg, pems)
    (cfg / "auth_flat_file.ini").write_text(
        "[core]\nmethods=PLAIN,LOGIN,CRAM-MD5\n\n[users]\n%s=%s\n" % (AUTH_USER, AUTH_PASSWORD))
    (cfg / "relay_acl_allow").write_text("127.0.0.1/32\n")
    (cfg / "outbound.ini").write_text("[main]\ntemp_fail_intervals=%s\n" % RETRIES)
    (cfg / "me").write_text("localhost\n")
    (cfg / "log.ini").write_text("[main]\nlevel=notice\n")
    check = subprocess.run([binary, "-c", str(inst), "--check"], capture_output=True, text=True,
                           timeout=60)
    if check.returncode != 0:
        raise RuntimeError("upesi --check: %s%s" % (check.stdout, check.stderr))
    peer = Peer("upesi", [binary, "-c", str(inst)], port, log_path=str(workdir / "upesi.log"))
    return peer, inst / "queue"


# --- clients ----------------------------------------------------------------------------------

def body_for(ident, size=1000):
    lines = ["From: <%s>" % SENDER, "To: <soak@ok.example>", "Subject: soak %s" % ident,
             "Message-ID: <%s@soak.client>" % ident, ""]
    lines += ["%s %s" % (ident, "x" * 70)] * max(1, size // 80)
    return "\r\n".join(lines) + "\r\n"


class Wire:
    """A raw SMTP client connection: bytes out, replies (code, text) in."""

    def __init__(self, port, timeout=60):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def send(self, text):
        self.sock.sendall(text.encode() if isinstance(text, str) else text)

    def reply(self):
        lines = []
        while True:
            line = self.file.readline(4096)
            if not line:
                raise ConnectionError("closed by the server after %r" % lines)
            lines.append(line.decode(errors="replace").rstrip("\r\n"))
            if len(line) < 4 or line[3:4] != b"-":
                return int(lines[-1][:3]), "\n".join(lines)

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass


def pipelined_session(port, n, ledger):
    """EHLO, then per transaction MAIL, three RCPT and DATA in one write (RFC 2920)."""
    w = Wire(port)
    try:
        w.reply()
        w.send("EHLO pipe.client\r\n")
        code, text = w.reply()
        if "PIPELINING" not in text:
            ledger.error("pipelined: no PIPELINING in EHLO", text)
        for t in range(2):
            keys = ["p%dt%d@%s" % (n, t, d) for d in ("ok.example", "flaky.example",
                                                     "reject.example")]
            w.send("MAIL FROM:<%s>\r\n" % SENDER + "".join(
                "RCPT TO:<%s>\r\n" % k for k in keys) + "DATA\r\n")
            mail = w.reply()[0]
            rc = [w.reply()[0] for _ in keys]
            data = w.reply()[0]
            if mail != 250 or data != 354 or any(c != 250 for c in rc):
                ledger.error("pipelined: refused", (mail, rc, data))
            if data != 354:
                continue
            keys = [k for k, c in zip(keys, rc) if c == 250]
            w.send(body_for("p%dt%d" % (n, t)) + ".\r\n")
            try:
                final = w.reply()[0]
            except OSError:
                ledger.unsure(keys)
                raise
            if final == 250:
                ledger.accept(keys)
            else:
                ledger.error("pipelined: DATA answered %d" % final, "")
        w.send("QUIT\r\n")
        w.reply()
    finally:
        w.close()


def tls_session(port, n, ledger, ctx):
    """STARTTLS (and for three of four AUTH PLAIN, LOGIN or CRAM-MD5), one message to ok
    and flaky."""
    keys = ["t%d@ok.example" % n, "t%d@flaky.example" % n]
    with smtplib.SMTP("127.0.0.1", port, local_hostname="tls.client", timeout=60) as s:
        s.ehlo()
        s.starttls(context=ctx)
        s.ehlo()
        mech = [None, "PLAIN", "LOGIN", "CRAM-MD5"][n % 4]
        if mech:
            s.user, s.password = AUTH_USER, AUTH_PASSWORD
            s.auth(mech, {"PLAIN": s.auth_plain, "LOGIN": s.auth_login,
                          "CRAM-MD5": s.auth_cram_md5}[mech])
        try:
            refused = s.sendmail(SENDER, keys, body_for("t%d" % n))
        except (smtplib.SMTPServerDisconnected, OSError):
            ledger.unsure(keys)
            raise
        if refused:
            ledger.error("starttls: recipients refused", refused)
        ledger.accept([k for k in keys if k not in refused])


def bad_session(port, n, ledger):
    """One misbehaving client; what the server should answer is checked loosely (an
    unexpected answer is counted, not fatal)."""
    kind = BAD_KINDS[n % len(BAD_KINDS)]
    rcpt = "bad%d@ok.example" % n
    w = Wire(port, timeout=30)
    expect_ok = True
    try:
        w.reply()
        if kind == "silent":
            return kind
        w.send("EHLO bad.client\r\n")
        w.reply()
        if kind == "unknown-commands":
            try:
                for _ in range(30):
                    w.send("XYZZY %d\r\n" % n)
                    code = w.reply()[0]
                    if code in (421, 521):
                        break
                expect_ok = code in (421, 521)
            except (ConnectionError, OSError):
                pass
            return kind
        if kind == "long-command":
            w.send("MAIL FROM:<%s@ok.example>\r\n" % ("a" * 3000))
            expect_ok = w.reply()[0] >= 500
            return kind
        w.send("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (SENDER, rcpt))
        codes = [w.reply()[0] for _ in range(3)]
        if codes != [250, 250, 354]:
            expect_ok = False
            return kind
        body = body_for("bad%d" % n, 4000)
        if kind == "drop-mid-data":
            w.send(body[:len(body) // 2])
            return kind
        if kind == "long-data-line":
            w.send(body + "y" * 3000 + "\r\n.\r\n")
        else:  # bare-lf
            w.send(body + "a bare\nLF\r\n.\r\n")
        expect_ok = w.reply()[0] >= 400
        return kind
    except (ConnectionError, OSError):
        return kind
    finally:
        if not expect_ok:
            ledger.count("bad_unexpected", kind)
        w.close()


# --- load -------------------------------------------------------------------------------------

class Load(threading.Thread):
    """Starts smtp-source batches and Python sessions at the paced rate, one tick a second.
    A stream whose previous batch is still running skips its turn (its backlog is capped at
    five ticks), so a slow server slows the load instead of piling it up."""

    TICK = 1.0

    def __init__(self, port, rate, ledger, workdir):
        super().__init__(daemon=True)
        self.port, self.rate, self.ledger = port, rate, ledger
        self.workdir = workdir
        self.stopping = threading.Event()
        self.running = {}  # stream name -> (Popen, batch, started, messages, rcpts, domain)
        self.batches = itertools.count(1)
        self.py_numbers = itertools.count(1)
        self.credit = Counter()
        self.skipped = Counter()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=6)
        self.futures = set()
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE

    def start_batch(self, name, size, rcpts, domain, extra, sessions, messages):
        batch = next(self.batches)
        cmd = ["smtp-source", "-A", "-N", "-M", "source.client", "-m", str(messages),
               "-s", str(min(sessions, messages)), "-r", str(rcpts), "-l", str(size),
               "-t", "s%d@%s" % (batch, domain), "-f", SENDER, *extra,
               "-4", "inet:127.0.0.1:%d" % self.port]
        out = open(self.workdir / ("source-%s.out" % name), "w+")
        # Known before smtp-source starts: its first message can reach a sink before this
        # thread runs again, and an address of no known batch counts as unexpected.
        self.ledger.batch_started(batch, messages * rcpts, domain)
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.running[name] = (proc, batch, time.monotonic(), messages, out)

    def reap(self, force=False):
        for name, (proc, batch, started, messages, out) in list(
                self.running.items()):
            if proc.poll() is None:
                if not force and time.monotonic() - started < 300:
                    continue
                proc.kill()
                proc.wait()
            out.seek(0)
            text = out.read()
            out.close()
            del self.running[name]
            ok = proc.returncode == 0 and "warning" not in text and "fatal" not in text
            self.ledger.batch_done(batch, ok, messages)
            if not ok:
                self.ledger.error("smtp-source %s (rc %s)" % (name, proc.returncode),
                                  text.strip().splitlines()[-3:] if text.strip() else "")

    def py_session(self, name, n):
        try:
            if name == "pipelined":
                pipelined_session(self.port, n, self.ledger)
                kind = name
            elif name == "starttls":
                tls_session(self.port, n, self.ledger, self.ctx)
                kind = name
            else:
                kind = "bad:" + bad_session(self.port, n, self.ledger)
            self.ledger.count("sessions", kind)
        except Exception as e:
            self.ledger.error("%s session" % name, repr(e))

    def tick(self):
        self.reap()
        for name, share, size, rcpts, domain, extra, sessions in SOURCES:
            self.credit[name] = min(self.credit[name] + self.rate * share * self.TICK,
                                    5 * self.rate * share * self.TICK + 1)
            if name in self.running:
                self.skipped[name] += 1
                continue
            n = int(self.credit[name])
            if n >= 1:
                self.credit[name] -= n
                self.start_batch(name, size, rcpts, domain, extra, sessions, n)
        self.futures = {f for f in self.futures if not f.done()}
        for name, share in PY_SESSIONS:
            self.credit[name] = min(self.credit[name] + self.rate * share * self.TICK,
                                    5 * self.rate * share * self.TICK + 1)
            while self.credit[name] >= 1 and len(self.futures) < 60:
                self.credit[name] -= 1
                self.futures.add(self.pool.submit(self.py_session, name,
                                                  next(self.py_numbers)))

    def run(self):
        next_tick = time.monotonic()
        while not self.stopping.is_set():
            try:
                self.tick()
            except Exception as e:  # e.g. no more processes: counted, the load goes on
                self.ledger.error("starting load", repr(e))
            next_tick += self.TICK
            self.stopping.wait(max(0.0, next_tick - time.monotonic()))

    def finish(self, timeout=120):
        """Stops starting work and waits (bounded) for what runs; then kills the rest."""
        self.stopping.set()
        self.join(timeout=10)
        deadline = time.monotonic() + timeout
        while self.running and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.2)
        self.reap(force=True)
        concurrent.futures.wait(self.futures, timeout=max(1.0, deadline - time.monotonic()))
        self.pool.shutdown(wait=False, cancel_futures=True)


# --- sampling and report ----------------------------------------------------------------------

def sample(t, master, queue_dir, ledger, phase):
    procs = []
    for pid in tree_pids(master):
        u = proc_usage(pid)
        if u is not None:
            procs.append(dict(u, pid=pid, master=(pid == master)))
    workers = [p for p in procs if not p["master"]]
    accepted, sink_msgs, delivered, bounced = ledger.counts()
    return {"t": t, "phase": phase, "procs": procs, "workers": len(workers),
            "rss": sum(p["rss"] for p in procs), "pss": sum(p["pss"] for p in procs),
            "fds": sum(p["fds"] for p in procs),
            "master_rss": sum(p["rss"] for p in procs if p["master"]),
            "master_fds": sum(p["fds"] for p in procs if p["master"]),
            "worker_rss_max": max((p["rss"] for p in workers), default=0),
            "worker_fds_max": max((p["fds"] for p in workers), default=0),
            "queue": queue_files(queue_dir), "accepted": accepted, "delivered": delivered,
            "bounced": bounced}


def slope_per_hour(points):
    """Least-squares slope of (seconds, value) points, per hour."""
    n = len(points)
    if n < 2:
        return float("nan")
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    var = sum((p[0] - mx) ** 2 for p in points)
    if var == 0:
        return float("nan")
    return sum((p[0] - mx) * (p[1] - my) for p in points) / var * 3600


def report(samples, nodes, warmup, ledger, load, flaky, reloads, flushes, generations,
           upesi_log, drained):
    print("## samples\n")
    print("| t s | phase | procs | RSS MB | PSS MB | fds | master RSS MB | master fds | "
          "worker RSS max MB | worker fds max | queue files | accepted | delivered rcpts | "
          "bounced rcpts |")
    print("|" + "---|" * 14)
    for s in samples:
        print("| %.0f | %s | %d | %.1f | %.1f | %d | %.1f | %d | %.1f | %d | %d | %d | %d | %d |"
              % (s["t"], s["phase"], len(s["procs"]), s["rss"] / 1024, s["pss"] / 1024, s["fds"],
                 s["master_rss"] / 1024, s["master_fds"], s["worker_rss_max"] / 1024,
                 s["worker_fds_max"], s["queue"], s["accepted"], s["delivered"],
                 s["bounced"]))

    print("\n## per process (master, and each worker generation)\n")
    print("| pid | role | seen s | samples | RSS MB first..last (max) | PSS MB first..last | "
          "fds first..last (max) |")
    print("|---|---|---|---|---|---|---|")
    per = {}
    for s in samples:
        for p in s["procs"]:
            per.setdefault(p["pid"], []).append((s["t"], p))
    for pid, seen in per.items():
        first, last = seen[0][1], seen[-1][1]
        print("| %d | %s | %.0f..%.0f | %d | %.1f..%.1f (%.1f) | %.1f..%.1f | %d..%d (%d) |" % (
            pid, "master" if first["master"] else "worker", seen[0][0], seen[-1][0], len(seen),
            first["rss"] / 1024, last["rss"] / 1024, max(p["rss"] for _, p in seen) / 1024,
            first["pss"] / 1024, last["pss"] / 1024, first["fds"], last["fds"],
            max(p["fds"] for _, p in seen)))

    print("\n## verdict\n")
    steady = [s for s in samples if s["phase"] == "load" and s["t"] >= warmup
              and s["workers"] == nodes]
    print("samples used: %d (phase load, t >= %.0f s warm-up, exactly %d workers; samples "
          "taken while an old generation was still finishing are left out)" % (
              len(steady), warmup, nodes))
    if len(steady) >= 2:
        k = max(1, len(steady) // 10)
        head, tail = steady[:k], steady[-k:]
        hours = (sum(s["t"] for s in tail) / k - sum(s["t"] for s in head) / k) / 3600
        print("first window: %d samples around t=%.0f s; last window: %d samples around "
              "t=%.0f s\n" % (k, sum(s["t"] for s in head) / k, k, sum(s["t"] for s in tail) / k))
        print("| metric | first 10 % | last 10 % | growth | growth per hour | "
              "least-squares slope per hour |")
        print("|---|---|---|---|---|---|")
        for key, label, scale, unit in [("rss", "RSS total", 1024, "MB"),
                                        ("pss", "PSS total", 1024, "MB"),
                                        ("fds", "fds total", 1, ""),
                                        ("master_rss", "master RSS", 1024, "MB"),
                                        ("master_fds", "master fds", 1, ""),
                                        ("worker_rss_max", "worker RSS max", 1024, "MB"),
                                        ("worker_fds_max", "worker fds max", 1, ""),
                                        ("queue", "queue files", 1, "")]:
            a = sum(s[key] for s in head) / k / scale
            b = sum(s[key] for s in tail) / k / scale
            slope = slope_per_hour([(s["t"], s[key] / scale) for s in steady])
            print("| %s | %.1f %s | %.1f %s | %+.1f %s | %+.1f %s/h | %+.1f %s/h |" % (
                label, a, unit, b, unit, b - a, unit, (b - a) / hours if hours > 0 else
                float("nan"), unit, slope, unit))
    else:
        print("too few samples after the warm-up for a verdict (run longer or lower "
              "--warmup)")

    print("\n## totals\n")
    accepted, sink_msgs, delivered, bounced = ledger.counts()
    print("accepted: %d messages, %d recipients (250 after DATA)" % (accepted,
                                                                     ledger.accepted_rcpts))
    print("received by the sinks: %d messages, %d recipients; bounces: %d messages, %d "
          "recipients" % (sink_msgs, delivered, ledger.bounce_messages, bounced))
    unsure = sum(1 for e in ledger.batches.values() if e[2] != "ok")
    print("smtp-source batches with an error (their recipients are only checked for "
          "duplicates): %d" % unsure)
    print("sessions: %s" % ", ".join("%s %d" % kv for kv in sorted(ledger.sessions.items())))
    print("flaky.example next hop: %s" % ", ".join(
        "%s %d" % kv for kv in sorted(flaky.sessions.items())))
    print("load: smtp-source batches %d; turns skipped because the stream's last batch was "
          "still running: %s" % (next(load.batches) - 1, dict(load.skipped) or "none"))
    print("reloads (SIGUSR2): %d, worker generations seen: %d; flushes (SIGHUP): %d" % (
        reloads, generations, flushes))
    print("errors: %s" % (dict(ledger.errors) or "none"))
    for e in ledger.error_samples:
        print("  %s" % e)
    if ledger.bad_unexpected:
        print("bad clients answered otherwise than expected: %s" % dict(ledger.bad_unexpected))
    print("queue drained: %s" % drained)
    result, examples = ledger.check()
    print("\n## exactly once\n")
    for k, v in sorted(result.items()):
        print("- %s: %d%s" % (k, v, ("  e.g. " + ", ".join(examples[k])) if k in examples
                              else ""))
    problems = sum(v for k, v in result.items() if k.split()[0].isupper())
    print("\nexactly-once check: %s" % ("PASSED" if problems == 0 else
                                        "FAILED (%d problems)" % problems))
    log_summary(upesi_log)
    return problems


def log_summary(path):
    """Upesi's log lines at warn and above, grouped by their text with numbers, ids and paths
    blanked."""
    groups = Counter()
    example = {}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = re.match(r"\S*\s*\[(WARN|ERROR|CRIT|ALERT|EMERG)\]", line)
                if not m:
                    continue
                text = re.sub(r"^.*?\[%s\]( \[[^\]]*\])*" % m.group(1), "", line).strip()
                text = re.sub(r"/\S+", "PATH", text)
                text = re.sub(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f-]{27,}(\.\d+)?|\d+", "#", text)
                key = (m.group(1), text[:160])
                groups[key] += 1
                example.setdefault(key, line.rstrip()[:300])
        size = os.path.getsize(path)
    except OSError:
        return
    print("\nupesi log: %d bytes, %d lines at warn or above" % (size, sum(groups.values())))
    for (level, text), n in groups.most_common(10):
        print("  %6d %s %s" % (n, level, text))
        if level != "WARN":
            print("         e.g. %s" % example[(level, text)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--scripted",
                    help="the scripted test plugin, used for get_mx (default: the one of "
                    "--upesi's build directory if it has one, else build/test/plugins/)")
    ap.add_argument("--duration", type=float, default=3600, help="seconds of load")
    ap.add_argument("--rate", type=float, default=100, help="messages per second in all")
    ap.add_argument("--reload-every", type=float, default=60, help="seconds between SIGUSR2")
    ap.add_argument("--flush-every", type=float, default=30, help="seconds between SIGHUP")
    ap.add_argument("--sample-every", type=float, default=10)
    ap.add_argument("--warmup", type=float,
                    help="seconds left out of the verdict (default: 10 %% of --duration, at "
                    "least one --sample-every)")
    ap.add_argument("--drain-timeout", type=float, default=300,
                    help="seconds to wait for the queue to drain after the load")
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (Upesi's config, queue and log)")
    args = ap.parse_args()
    exit_on_sigterm()  # before the build: an interrupted build stops ninja too
    for tool in ("smtp-source", "smtp-sink", "openssl"):
        if not shutil.which(tool):
            sys.exit("%s not found (apt-get install postfix openssl)" % tool)
    upesi = pathlib.Path(args.upesi).resolve()
    if (upesi.parents[1] / "build.ninja").exists():
        ensure_built(upesi.parents[1], ["master/upesi"])
    if not args.scripted:
        own = upesi.parents[1] / "test" / "plugins" / "scripted.so"
        args.scripted = own if own.exists() else ROOT / "build" / "test" / "plugins" / \
            "scripted.so"
        if (pathlib.Path(args.scripted).parents[2] / "build.ninja").exists():
            ensure_built(pathlib.Path(args.scripted).parents[2], ["test/plugins/scripted.so"])
    if not os.path.exists(args.scripted):
        sys.exit("%s missing: build the tests (meson setup build -Dtests=true; ninja -C build)"
                 % args.scripted)
    warmup = args.warmup if args.warmup is not None else max(args.sample_every,
                                                             args.duration * 0.1)

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="upesi-bench-soak-"))
    ledger = Ledger()
    peers, load, reader, flaky = [], None, None, None
    try:
        pems = self_signed(workdir)
        flaky = FlakySink(ledger)
        flaky.start()
        flaky.ready.wait(10)
        wait_port(flaky.port)
        dump = workdir / "dump"
        dump.mkdir()
        ok_sink = start_plain_sink("sink-ok", workdir, ["-d", str(dump) + "/%H%M/"])
        peers.append(ok_sink)
        reader = DumpReader(dump, ok_sink.pid, ledger)
        reader.start()
        peers.append(start_plain_sink("sink-tempfail", workdir, ["-r", "RCPT"]))
        peers.append(start_plain_sink("sink-reject", workdir, ["-f", "RCPT"]))
        ports = {"ok.example": ok_sink.port, "flaky.example": flaky.port,
                 "tempfail.example": peers[1].port, "reject.example": peers[2].port}
        upesi_peer, queue_dir = start_upesi(str(upesi), args.scripted, workdir, args.nodes,
                                            ports, pems)
        peers.insert(0, upesi_peer)
        master = upesi_peer.pid
        wait_until(lambda: len(tree_pids(master)) >= args.nodes + 1, 30, "the workers")
        print("soak: upesi pid %d on port %d, %d workers, rate %.0f msgs/s, %.0f s, reload "
              "every %.0f s, flush every %.0f s; work dir %s" % (
                  master, upesi_peer.port, args.nodes, args.rate, args.duration,
                  args.reload_every, args.flush_every, workdir), file=sys.stderr, flush=True)

        load = Load(upesi_peer.port, args.rate, ledger, workdir)
        samples, reloads, flushes = [], 0, 0
        worker_pids = set()
        t0 = time.monotonic()
        next_sample, next_reload, next_flush = 0.0, args.reload_every, args.flush_every
        load.start()
        phase, drain_started, drained = "load", None, False
        while True:
            t = time.monotonic() - t0
            if upesi_peer.proc.poll() is not None:
                raise RuntimeError("upesi exited with %s" % upesi_peer.proc.returncode)
            if reader.failure is not None:
                raise RuntimeError("reading the sink's dumps: %r" % reader.failure)
            if phase == "load" and t >= args.duration:
                load.finish()
                flaky.outages = False
                phase, drain_started = "drain", t
                print("soak: load stopped at %.0f s; draining" % t, file=sys.stderr,
                      flush=True)
            if phase == "drain":
                if queue_files(queue_dir) == 0 and ledger.unresolved() == 0:
                    time.sleep(2)  # anything late (a duplicate) still counts
                    drained = True
                    samples.append(sample(time.monotonic() - t0, master, queue_dir, ledger,
                                          "end"))
                    break
                if t - drain_started > args.drain_timeout:
                    samples.append(sample(t, master, queue_dir, ledger, "end"))
                    break
                time.sleep(0.8)
            if t >= next_sample:
                s = sample(t, master, queue_dir, ledger, phase)
                worker_pids.update(p["pid"] for p in s["procs"] if not p["master"])
                samples.append(s)
                print("soak: t=%.0f procs=%d rss=%.1fMB pss=%.1fMB fds=%d queue=%d accepted=%d "
                      "delivered=%d bounced=%d" % (t, len(s["procs"]), s["rss"] / 1024,
                                                   s["pss"] / 1024, s["fds"], s["queue"],
                                                   s["accepted"], s["delivered"], s["bounced"]),
                      file=sys.stderr, flush=True)
                next_sample += args.sample_every
            if phase == "load" and t >= next_reload:
                os.kill(master, signal.SIGUSR2)
                reloads += 1
                next_reload += args.reload_every
            if t >= next_flush:
                os.kill(master, signal.SIGHUP)
                flushes += 1
                next_flush += args.flush_every
            time.sleep(0.2)
        reader.stopping.set()
        reader.join(timeout=30)
        print(machine_line())
        print("soak: %.0f s at %.0f msgs/s (nodes=%d), reload every %.0f s, flush every %.0f s"
              % (args.duration, args.rate, args.nodes, args.reload_every, args.flush_every))
        print()
        problems = report(samples, args.nodes, warmup, ledger, load, flaky, reloads, flushes,
                          len(worker_pids), upesi_peer.log_path, drained)
        if problems or not drained:
            sys.exit(1)
    except Exception:
        show_logs(peers, sys.stderr)
        raise
    finally:
        if load is not None:
            load.stopping.set()
            load.reap(force=True)
            load.pool.shutdown(wait=False, cancel_futures=True)
        for peer in peers:
            peer.stop()
        if flaky is not None:
            flaky.stop()
        if reader is not None:
            reader.stopping.set()
        if args.keep:
            print("soak: work directory kept: %s" % workdir, file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
