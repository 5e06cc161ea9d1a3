"""Fault injection through the real binary: a worker or the master killed with -9 under load, a
graceful stop or reload with a delivery in flight, a disk that is full (RLIMIT_FSIZE), fsync
failing (an LD_PRELOAD shim, test/fault) for a new message, for the rest of a partial delivery
and for a bounce, DNS that fails or never answers, clients that vanish mid-command, mid-DATA
and mid-BDAT, and thousands of slow clients.

Each case checks the guarantee: every message that got 250 is delivered exactly once once the
fault is gone (a message whose delivery a crash cut short may come twice), and no message that
got 4xx/5xx, or whose client never sent the final dot, is delivered. Every message carries a
unique Subject (and Message-Id), counted at a loopback aiosmtpd MX (peers/sink_mx.py)."""
import collections
import json
import os
import pathlib
import random
import re
import resource
import signal
import smtplib
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import Client, free_port

PEERS = pathlib.Path(__file__).resolve().parent / "peers"
FSYNC_SHIM = os.environ.get("UPESI_FSYNC_FAIL_SHIM", "")


def wait_for(predicate, timeout=20, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


# --- the receiving MX and what it got ------------------------------------------------------


class Sink:
    """A running sink_mx.py; `copies()` counts the messages it accepted by Subject."""

    def __init__(self, address, port, out, proc):
        self.address, self.port, self.out, self.proc = address, port, out, proc

    def messages(self):
        return [json.loads(p.read_text()) for p in sorted(self.out.glob("*.json"))]

    def copies(self):
        """(Counter of Subject -> copies, number of bounces)."""
        counts, bounces = collections.Counter(), 0
        for m in self.messages():
            if m["mail_from"] in ("", "<>"):
                bounces += 1
                continue
            found = re.search(r"^Subject: (\S+)", m["data"], re.M)
            counts[found.group(1) if found else "?"] += 1
        return counts, bounces

    def stop(self):
        if self.proc.poll() is None:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.terminate()
            self.proc.wait(timeout=10)


def start_sink(out, address="127.0.0.1", port=None):
    out.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    proc = subprocess.Popen(["/usr/bin/python3", str(PEERS / "sink_mx.py"), str(port), str(out),
                             address], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        proc.wait()
        return None
    return Sink(address, port, out, proc)


@pytest.fixture
def sink(tmp_path):
    s = start_sink(tmp_path / "sink")
    assert s is not None
    yield s
    s.stop()


def relay_server(start_server, sink, nodes=0, outbound="", smtp=None, **kwargs):
    """Relays everything from 127.0.0.1 to the sink through the scripted `route` plugin."""
    files = {
        "relay_acl_allow": "127.0.0.1/32\n",
        "route.ini": "[get_mx]\ncode=OK\nmsg=%s:%d\n" % (sink.address, sink.port),
        "outbound.ini": "[main]\ntemp_fail_intervals=1s*10\nscan_interval=1\n" + outbound,
    }
    files.update(kwargs.pop("files", {}))
    settings = {"nodes": nodes}
    settings.update(smtp or {})
    return start_server(plugins=["relay", "route"], so=["route"], files=files, smtp=settings,
                        **kwargs)


def queue_entries(install):
    q = install / "queue"
    return sorted(p.name for p in q.iterdir()) if q.exists() else []


# --- clients and the ledger of what each message was told --------------------------------


def message(tag, size=2000):
    lines = ["From: <alice@client.example>", "To: <bob@example.net>", "Subject: %s" % tag,
             "Message-Id: <%s@faults.test>" % tag, ""]
    body = "".join("%s line %05d %s\r\n" % (tag, i, "x" * 40) for i in range(size // 60 + 1))
    return ("\r\n".join(lines) + "\r\n" + body).encode()


class Ledger:
    """tag -> outcome: an int reply code to the final dot (or to the command that refused the
    message), "refused" (no connection), "died-before-dot" (the session ended before the client
    sent the final dot: the message cannot exist), "died-after-dot" (no reply to the final
    dot: the message may or may not have been queued)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.outcomes = {}

    def record(self, tag, outcome):
        with self.lock:
            self.outcomes[tag] = outcome

    def count(self):
        with self.lock:
            return len(self.outcomes)

    def accepted(self):
        with self.lock:
            return sorted(t for t, o in self.outcomes.items() if o == 250)

    def figures(self):
        with self.lock:
            return collections.Counter("250" if o == 250 else
                                       ("%dxx" % (o // 100) if isinstance(o, int) else o)
                                       for o in self.outcomes.values())


def send_raw(port, tag, size=2000, chunks=3, pause=0.0, in_data=None, address="127.0.0.1"):
    """One message over a raw socket, the body in `chunks` pieces `pause` s apart; in_data() is
    called once DATA got 354. Returns the Ledger outcome."""
    try:
        sock = socket.create_connection((address, port), timeout=20)
    except OSError:
        return "refused"
    client = Client.__new__(Client)
    client.sock, client.buf = sock, b""
    sent_dot = False
    try:
        code, _ = client.reply()
        if code != 220:
            return code if code else "died-before-dot"
        for line, want in (("EHLO client.example", 250), ("MAIL FROM:<alice@client.example>", 250),
                           ("RCPT TO:<bob@example.net>", 250), ("DATA", 354)):
            code, _ = client.cmd(line)
            if code != want:
                return code if code else "died-before-dot"
        if in_data:
            in_data()
        data = message(tag, size)
        step = len(data) // chunks + 1
        for k in range(0, len(data), step):
            sock.sendall(data[k:k + step])
            if pause:
                time.sleep(pause)
        sock.sendall(b".\r\n")
        sent_dot = True
        code, _ = client.reply()
        if code is None:
            return "died-after-dot"
        try:
            client.cmd("QUIT")
        except OSError:
            pass
        return code
    except (OSError, AssertionError):
        return "died-after-dot" if sent_dot else "died-before-dot"
    finally:
        sock.close()


def send_smtplib(port, tag, size=2000, timeout=20):
    """One message with smtplib: 250, the refusing code, or a died-* outcome."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as s:
            s.sendmail("alice@client.example", ["bob@example.net"], message(tag, size))
        return 250
    except smtplib.SMTPResponseException as e:
        return e.smtp_code
    except smtplib.SMTPRecipientsRefused as e:
        return list(e.recipients.values())[0][0]
    except (smtplib.SMTPServerDisconnected, OSError):
        return "died-after-dot"  # cannot tell where it died: the weaker claim


def check_guarantee(ledger, sink, duplicates_allowed=0):
    """Asserts the guarantee on the sink's copies; returns the figures."""
    counts, bounces = sink.copies()
    outcomes = dict(ledger.outcomes)
    assert bounces == 0, "unexpected bounces"
    unknown = set(counts) - set(outcomes)
    assert not unknown, "delivered but never sent: %s" % sorted(unknown)
    missing = [t for t, o in outcomes.items() if o == 250 and counts[t] == 0]
    assert not missing, "250 but not delivered: %s" % missing
    duplicated = {t: counts[t] for t, o in outcomes.items() if o == 250 and counts[t] > 1}
    assert all(n == 2 for n in duplicated.values()), duplicated
    assert len(duplicated) <= duplicates_allowed, "delivered twice: %s" % duplicated
    refused = [t for t, o in outcomes.items()
               if (isinstance(o, int) and o != 250 or o in ("refused", "died-before-dot"))
               and counts[t] > 0]
    assert not refused, "delivered without a 250: %s" % [(t, outcomes[t]) for t in refused]
    maybe = [t for t, o in outcomes.items() if o == "died-after-dot"]
    assert all(counts[t] <= 1 for t in maybe), {t: counts[t] for t in maybe}
    figures = dict(ledger.figures())
    figures.update(sent=len(outcomes), delivered=sum(counts.values()),
                   duplicates=len(duplicated),
                   unanswered_delivered=sum(1 for t in maybe if counts[t]))
    print("figures:", figures)
    return figures


def wait_delivered(ledger, sink, install, timeout=40):
    """Every 250'd message is at the sink and the queue is empty (so nothing more will come)."""
    accepted = ledger.accepted()

    def done():
        counts, _ = sink.copies()
        return all(counts[t] for t in accepted) and not queue_entries(install)

    assert wait_for(done, timeout=timeout, interval=0.2), (
        "not delivered: %s; queue: %s" % ([t for t in accepted if not sink.copies()[0][t]],
                                          queue_entries(install)))


def load(port, ledger, prefix, stop, quota=None, threads=6, pause=0.003):
    """Threads sending messages until `stop` is set or `quota` messages were sent."""
    counter = iter(range(10 ** 9))
    counter_lock = threading.Lock()

    def run():
        while not stop.is_set():
            with counter_lock:
                n = next(counter)
            if quota is not None and n >= quota:
                return
            tag = "%s-%04d" % (prefix, n)
            outcome = send_raw(port, tag, size=random.randint(500, 6000), pause=pause)
            ledger.record(tag, outcome)
            if outcome == "refused":
                stop.wait(0.05)  # nobody listens (the server is down): do not spin

    workers = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    return workers


def socket_owner(sock, server_port, pids):
    """The pid among `pids` holding the server side of the loopback connection `sock`."""
    local_port = sock.getsockname()[1]
    wanted_local = "0100007F:%04X" % server_port
    wanted_remote = "0100007F:%04X" % local_port
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == wanted_local and fields[2] == wanted_remote:
                inode = fields[9]
    assert inode, "no server socket for local port %d" % local_port
    for pid in pids:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue  # that worker is gone
        for fd in fds:
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue  # closed since the listing: a worker under load opens and closes many
            if target == "socket:[%s]" % inode:
                return pid
    raise AssertionError("no worker holds socket inode %s" % inode)


def open_in_data(port, tag):
    """A session in the middle of DATA: half the message sent, no final dot."""
    c = Client(port, timeout=10)
    assert c.reply()[0] == 220
    for line, want in (("EHLO victim.example", 250), ("MAIL FROM:<alice@client.example>", 250),
                       ("RCPT TO:<bob@example.net>", 250), ("DATA", 354)):
        assert c.cmd(line)[0] == want
    data = message(tag)
    c.send(data[:len(data) // 2])
    return c


def session_ended(client, timeout=5):
    """True if the server side of `client` is gone (EOF or reset) within `timeout`."""
    try:
        return client.closed(timeout)
    except OSError:
        return True


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


# --- 1. kill -9 of a worker in the middle of DATA ------------------------------------------

# Deliveries in flight per worker: what a kill can cut short after the MX took the message and
# before the queue file is gone, i.e. the most copies a kill may duplicate.
IN_FLIGHT = "concurrency_max=2\n"


def test_worker_killed_mid_data_under_load(start_server, sink, install):
    server = relay_server(start_server, sink, nodes=2, outbound=IN_FLIGHT)
    server.wait_workers(2)
    ledger = Ledger()
    stop = threading.Event()
    threads = load(server.port, ledger, "kill-worker", stop, quota=200)
    killed = []
    try:
        for round_ in range(2):
            assert wait_for(lambda: ledger.count() >= 60 * (round_ + 1), timeout=60)
            workers = server.wait_workers(2, exclude=killed)
            tag = "kill-worker-victim-%d" % round_
            victim = open_in_data(server.port, tag)
            pid = socket_owner(victim.sock, server.port, workers)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            assert session_ended(victim), "the victim's session outlived its worker"
            ledger.record(tag, "died-before-dot")
            victim.close()
            server.wait_workers(2, exclude=killed)
    finally:
        for t in threads:
            t.join(timeout=90)
    assert not any(t.is_alive() for t in threads)
    assert server.wait_log("restarting worker")
    wait_delivered(ledger, sink, install)
    figures = check_guarantee(ledger, sink, duplicates_allowed=2 * len(killed))
    assert figures["250"] >= 150
    assert server.proc.poll() is None


# --- 2. kill -9 of the master under load ---------------------------------------------------


@pytest.mark.parametrize("victims", ["master", "all"])
def test_master_killed_under_load_then_restarted(start_server, sink, install, victims):
    """victims=master: the workers are told (PR_SET_PDEATHSIG) and stop gracefully;
    victims=all: they are killed with -9 too, an instant after their master."""
    server = relay_server(start_server, sink, nodes=2, outbound=IN_FLIGHT,
                          smtp={"force_shutdown_timeout": 3})
    workers = server.wait_workers(2)
    ledger = Ledger()
    stop = threading.Event()
    threads = load(server.port, ledger, "kill-master", stop, quota=400)
    try:
        assert wait_for(lambda: ledger.count() >= 80, timeout=60)
        server.proc.send_signal(signal.SIGKILL)
        if victims == "all":
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
        server.proc.wait(timeout=10)
        # PR_SET_PDEATHSIG: the workers are told to stop, finish their sessions and exit.
        assert wait_for(lambda: not any(alive(p) for p in workers), timeout=15), \
            "workers outlived their master"
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    restarted = relay_server(start_server, sink, nodes=2, outbound=IN_FLIGHT)
    restarted.wait_workers(2)
    wait_delivered(ledger, sink, install)
    figures = check_guarantee(ledger, sink, duplicates_allowed=4)
    assert figures["250"] >= 60
    assert not [n for n in queue_entries(install) if n.startswith("__tmp__")]
    # The restarted server takes mail as before.
    after = Ledger()
    for n in range(5):
        tag = "kill-master-after-%d" % n
        after.record(tag, send_smtplib(restarted.port, tag))
    assert after.accepted() == sorted(after.outcomes)
    ledger.outcomes.update(after.outcomes)
    wait_delivered(ledger, sink, install)
    check_guarantee(ledger, sink, duplicates_allowed=4)


# --- 2b. a graceful stop or reload while a delivery waits for the MX's reply -----------------


@pytest.fixture
def slow_mx(tmp_path):
    """A loopback MX (peers/fault_mx.py) that keeps each message at its final dot and answers
    250 only 1.5 s later: a delivery stays in flight after the message has left."""
    out = tmp_path / "slow-mx"
    out.mkdir()
    port = free_port()
    proc = subprocess.Popen(["/usr/bin/python3", str(PEERS / "fault_mx.py"), "127.0.0.1",
                             str(port), str(out), "1500"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    mx = Sink("127.0.0.1", port, out, proc)
    yield mx
    mx.stop()


@pytest.mark.parametrize("how", ["stop-single", "stop-workers", "reload"])
def test_a_graceful_stop_lets_deliveries_in_flight_finish(start_server, slow_mx, install, how):
    server = relay_server(start_server, slow_mx, nodes=0 if how == "stop-single" else 1,
                          smtp={"force_shutdown_timeout": 10})
    ledger = Ledger()
    ledger.record("in-flight", send_smtplib(server.port, "in-flight"))
    assert ledger.outcomes["in-flight"] == 250
    assert wait_for(lambda: slow_mx.messages(), timeout=10)  # sent; the MX's 250 is 1.5 s away
    if how == "reload":
        server.proc.send_signal(signal.SIGUSR2)
        assert server.wait_log("(generation 1) stopped", timeout=20)
    else:
        assert server.stop() == 0
        # What the MX took is off the queue: the next start has nothing to send again.
        assert queue_entries(install) == []
        server = relay_server(start_server, slow_mx, nodes=0 if how == "stop-single" else 1)
    ledger.record("after", send_smtplib(server.port, "after"))
    wait_delivered(ledger, slow_mx, install)
    check_guarantee(ledger, slow_mx)


# --- 3. the disk is full: RLIMIT_FSIZE -----------------------------------------------------

FSIZE_LIMIT = 1 << 20  # 1 MiB per file; the server's own log stays far below


def limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))


@pytest.mark.parametrize("nodes", [0, 1])
def test_disk_full_refuses_what_does_not_fit_and_keeps_serving(start_server, sink, install,
                                                                nodes):
    # Messages under spool_after stay in memory, so a big one fails in the queue writer; one
    # over spool_after fails while spooling. Neither may kill the server (SIGXFSZ).
    server = relay_server(start_server, sink, nodes=nodes, smtp={"spool_after": 4 << 20},
                          preexec=limit_file_size)
    ledger = Ledger()
    plan = ["small"] * 4 + ["big"] * 3 + ["small"] * 4 + ["huge"] * 2 + ["small"] * 4
    sizes = {"small": 20_000, "big": 1_500_000, "huge": 5_000_000}
    for n, kind in enumerate(plan):
        tag = "fsize-%s-%02d" % (kind, n)
        outcome = send_smtplib(server.port, tag, size=sizes[kind], timeout=30)
        ledger.record(tag, outcome)
        assert server.proc.poll() is None, "the server died: %s" % server.log()[-2000:]
        if kind == "small":
            assert outcome == 250, (tag, outcome)
        else:
            assert isinstance(outcome, int) and 400 <= outcome < 500, (tag, outcome)
    assert not [n for n in queue_entries(install) if n.startswith("__tmp__")]
    wait_delivered(ledger, sink, install)
    figures = check_guarantee(ledger, sink)
    assert figures["250"] == 12 and figures["4xx"] == 5
    assert "File too large" in server.log()
    spool = install / "spool"
    assert not (spool.exists() and list(spool.iterdir())), list(spool.iterdir())


# --- 4. fsync fails ------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["file", "dir"])
def test_fsync_failure_is_a_451_and_leaves_nothing(start_server, sink, install, tmp_path, what):
    trigger = tmp_path / "fail-fsync"
    server = relay_server(start_server, sink, env={
        "LD_PRELOAD": FSYNC_SHIM, "UPESI_FAIL_FSYNC_FILE": str(trigger),
        "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"})
    ledger = Ledger()

    def send_batch(name):
        for n in range(3):
            tag = "fsync-%s-%s-%d" % (what, name, n)
            ledger.record(tag, send_smtplib(server.port, tag))

    send_batch("before")
    wait_delivered(ledger, sink, install)
    trigger.write_text(what)
    send_batch("during")
    assert queue_entries(install) == []  # neither the temporary nor the final file is left
    trigger.unlink()
    send_batch("after")
    wait_delivered(ledger, sink, install)
    figures = check_guarantee(ledger, sink)
    assert figures["250"] == 6, ledger.outcomes
    assert all(ledger.outcomes["fsync-%s-during-%d" % (what, n)] == 451 for n in range(3))
    assert "Input/output error" in server.log()
    assert server.proc.poll() is None


def test_a_file_whose_directory_sync_fails_slowly_is_never_delivered(start_server, sink, install,
                                                                       tmp_path):
    # The file has its final name while the directory is synced: a slow failing sync gives the
    # queue scan (every second) time to find it. The client is told 451, so it must not leave.
    trigger = tmp_path / "fail-fsync"
    server = relay_server(start_server, sink, env={
        "LD_PRELOAD": FSYNC_SHIM, "UPESI_FAIL_FSYNC_FILE": str(trigger),
        "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"})
    ledger = Ledger()
    ledger.record("fsync-slow-before", send_smtplib(server.port, "fsync-slow-before"))
    wait_delivered(ledger, sink, install)
    trigger.write_text("dir 2500")
    ledger.record("fsync-slow-failed", send_smtplib(server.port, "fsync-slow-failed"))
    assert ledger.outcomes["fsync-slow-failed"] == 451
    trigger.unlink()
    ledger.record("fsync-slow-after", send_smtplib(server.port, "fsync-slow-after"))
    wait_delivered(ledger, sink, install)
    check_guarantee(ledger, sink)
    assert server.proc.poll() is None


def test_a_partial_delivery_whose_split_cannot_be_written_sends_no_copy_twice(
        start_server, sink, install, tmp_path):
    trigger = tmp_path / "fail-fsync"
    server = relay_server(start_server, sink, outbound="disabled=true\n", env={
        "LD_PRELOAD": FSYNC_SHIM, "UPESI_FAIL_FSYNC_FILE": str(trigger),
        "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"})
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        # bob takes it; temp-carol answers 451 (sink_mx.py), so she is split off to a new file
        s.sendmail("alice@client.example", ["bob@example.net", "temp-carol@example.net"],
                   message("split"))
    trigger.write_text("file")  # the split file cannot be made durable
    (install / "config" / "outbound.ini").write_text(
        "[main]\ntemp_fail_intervals=1s*20\nscan_interval=1\n")
    assert server.wait_log("outbound: splitting deferred recipients", timeout=15)
    time.sleep(3)  # retries and scans (1 s each) while the disk still fails
    trigger.unlink()
    assert wait_for(lambda: server.log().count("deferred 1 recipient(s)") >
                    server.log().count("splitting deferred recipients") + 1, timeout=15)
    copies = sum(1 for m in sink.messages() if "bob@example.net" in m["rcpts"])
    assert copies == 1, "bob got %d copies" % copies



def queued_recipients(install):
    """{queue file name: [recipient addresses]} from the queue files' headers."""
    found = {}
    for name in queue_entries(install):
        if name.startswith("__tmp__"):
            continue
        data = (install / "queue" / name).read_bytes()
        length = struct.unpack(">I", data[:4])[0]
        todo = json.loads(data[4:4 + length])
        found[name] = [r["original"].strip("<>") for r in todo["rcpt_to"]]
    return found


@pytest.mark.parametrize("rcpts,intervals", [
    (["perm-dave@example.net"], "1s*20"),
    (["bob@example.net", "perm-dave@example.net"], "1s*20"),
    (["temp-erin@example.net"], "1s*1"),  # out of retries: the bounce after the last attempt
], ids=["5xx", "5xx-with-a-delivered-one", "out-of-retries"])
def test_a_bounce_that_cannot_be_queued_keeps_the_original_until_it_can(
        start_server, sink, install, tmp_path, rcpts, intervals):
    trigger = tmp_path / "fail-fsync"
    server = relay_server(start_server, sink, outbound="disabled=true\n", env={
        "LD_PRELOAD": FSYNC_SHIM, "UPESI_FAIL_FSYNC_FILE": str(trigger),
        "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"})
    bounced = rcpts[-1]  # perm-dave answers 550 at RCPT, temp-erin 451 (sink_mx.py)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.sendmail("alice@client.example", rcpts, message("bounce"))
    trigger.write_text("file")  # the bounce cannot be made durable
    (install / "config" / "outbound.ini").write_text(
        "[main]\ntemp_fail_intervals=%s\nscan_interval=1\n" % intervals)
    assert server.wait_log("outbound: queueing the bounce failed", timeout=15)
    time.sleep(3)  # attempts and scans (1 s each) while the disk still fails
    # The message stays queued for the bounced recipient (with bob too while its split is
    # unwritten: the original is held, not tried again).
    queued = queued_recipients(install)
    assert len(queued) == 1 and bounced in list(queued.values())[0], queued
    assert sink.copies()[1] == 0
    trigger.unlink()
    server.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: sink.copies()[1] >= 1 and not queue_entries(install), timeout=15), \
        (sink.copies(), queue_entries(install))
    time.sleep(2)  # nothing more comes
    counts, bounces = sink.copies()
    assert bounces == 1 and queue_entries(install) == []
    [dsn] = [m for m in sink.messages() if m["mail_from"] in ("", "<>")]
    assert dsn["rcpts"] == ["alice@client.example"] and bounced in dsn["data"]
    copies = sum(1 for m in sink.messages() if "bob@example.net" in m["rcpts"])
    assert copies == ("bob@example.net" in rcpts), "bob got %d copies" % copies

# --- 5. DNS: SERVFAIL and no answer for the MX lookup --------------------------------------


@pytest.fixture
def dns_responder(tmp_path):
    """(port, control dir, sink) with a sink on 127.0.0.N:25 and the responder pointing at it.
    Port 25 (MX records carry no port) needs root; N is random so that other tests' MXes on
    127.0.0.2/3 are not in the way."""
    if os.getuid() != 0:
        pytest.skip("needs root: the MX listens on port 25")
    sink_ = None
    for _ in range(20):
        address = "127.0.0.%d" % random.randint(20, 250)
        sink_ = start_sink(tmp_path / ("mx-" + address), address, 25)
        if sink_ is not None:
            break
    assert sink_ is not None, "no loopback address free on port 25"
    control = tmp_path / "dns"
    control.mkdir()
    proc = None
    for _ in range(5):
        port = free_port()
        proc = subprocess.Popen(["/usr/bin/python3", str(PEERS / "dns_responder.py"), str(port),
                                 str(control), sink_.address], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        if proc.stdout.readline().strip() == "ready":
            break
        proc.wait()
        proc = None
    assert proc is not None
    yield port, control, sink_
    proc.kill()
    proc.wait()
    sink_.stop()


@pytest.mark.parametrize("fault", ["servfail", "drop"])
def test_dns_failure_defers_then_a_flush_delivers_once(start_server, install, dns_responder,
                                                        fault):
    port, control, sink_ = dns_responder
    (control / "mode").write_text(fault)
    server = start_server(plugins=["relay"], files={
        "relay_acl_allow": "127.0.0.1/32\n",
        "dns.ini": "[main]\nservers=127.0.0.1:%d\ntimeout_ms=300\ntries=1\n" % port,
        "outbound.ini": "[main]\nlocal_mx_ok=true\nconnect_timeout=2\ntemp_fail_intervals=1h\n"
                        "scan_interval=1\n",
    })
    ledger = Ledger()
    domain = "d%d.faults.test" % random.randint(0, 10 ** 6)
    for n in range(3):
        tag = "dns-%s-%d" % (fault, n)
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
            s.sendmail("alice@client.test", ["bob@" + domain], message(tag))
        ledger.record(tag, 250)
    assert wait_for(lambda: server.log().count("outbound: deferred 1 recipient(s) for 3600 s")
                    >= 3, timeout=15), server.log()[-3000:]
    queries = (control / "queries").read_text()
    assert "MX %s %s" % (domain, fault) in queries
    assert len(queue_entries(install)) == 3 and sink_.messages() == []
    assert "bounce" not in server.log().lower()
    # DNS answers again: a flush delivers each message once.
    (control / "mode").write_text("ok")
    server.proc.send_signal(signal.SIGHUP)
    wait_delivered(ledger, sink_, install, timeout=20)
    check_guarantee(ledger, sink_)


# --- 6. clients that vanish ----------------------------------------------------------------


def vanish(port, mode, tag, reset):
    """A client that leaves in the middle of something, with FIN or (reset) RST."""
    c = Client(port, timeout=10)
    try:
        if mode != "greeting":
            assert c.reply()[0] == 220
            assert c.cmd("EHLO vanish.example")[0] == 250
        if mode == "command":
            c.send("MAIL FROM:<alice@client.exa")
        elif mode in ("rcpt", "data", "data-dot", "bdat", "bdat-last"):
            assert c.cmd("MAIL FROM:<alice@client.example>")[0] == 250
            assert c.cmd("RCPT TO:<bob@example.net>")[0] == 250
            data = message(tag)
            if mode == "data":
                assert c.cmd("DATA")[0] == 354
                c.send(data[:len(data) * 2 // 3])
            elif mode == "data-dot":
                assert c.cmd("DATA")[0] == 354
                c.send(data + b".")  # the final dot without its CRLF
            elif mode == "bdat":
                c.send(b"BDAT %d\r\n" % (len(data) + 100) + data)
            elif mode == "bdat-last":
                c.send(b"BDAT %d LAST\r\n" % (len(data) + 1) + data)
        if reset:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        c.close()


def test_vanishing_clients_leave_no_message_and_no_fd(start_server, sink, install):
    server = relay_server(start_server, sink)
    ledger = Ledger()
    tag = "vanish-normal-first"
    ledger.record(tag, send_smtplib(server.port, tag))
    wait_delivered(ledger, sink, install)
    pid = server.proc.pid
    baseline = fd_count(pid)
    modes = ["greeting", "command", "rcpt", "data", "data-dot", "bdat", "bdat-last"]
    for n in range(280):
        mode = modes[n % len(modes)]
        tag = "vanish-%s-%03d" % (mode, n)
        vanish(server.port, mode, tag, reset=(n // len(modes)) % 2 == 1)
        ledger.record(tag, "died-before-dot")
        if n % 40 == 39:
            tag = "vanish-normal-%03d" % n
            ledger.record(tag, send_smtplib(server.port, tag))
            assert ledger.outcomes[tag] == 250
    assert server.proc.poll() is None
    wait_delivered(ledger, sink, install)
    figures = check_guarantee(ledger, sink)
    assert figures["250"] == 8
    # Every session of a vanished client is closed: the fds come back (an idle pooled
    # connection to the MX may come or go).
    assert wait_for(lambda: fd_count(pid) <= baseline + 2, timeout=15), \
        "fds: %d before, %d after" % (baseline, fd_count(pid))


# --- 7. thousands of slow clients ----------------------------------------------------------

SLOW_CLIENTS = 5000


def raise_fd_limit():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def test_slow_clients_do_not_stop_normal_mail(start_server, sink, install):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Each side holds one fd per connection, plus its own (the server: listener, loop, MX).
    count = min(SLOW_CLIENTS, hard - 500)
    if count < 1000:
        pytest.skip("the fd limit (%d) is too low for a slowloris test" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    slow = []
    try:
        server = relay_server(start_server, sink, preexec=raise_fd_limit,
                              smtp={"max_connections": count + 100,
                                    "max_connections_per_ip": count + 100})
        pid = server.proc.pid
        ledger = Ledger()
        tag = "slow-first"
        ledger.record(tag, send_smtplib(server.port, tag))
        wait_delivered(ledger, sink, install)
        baseline = fd_count(pid)
        started = time.monotonic()
        for n in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(("127.0.0.1", server.port))
            s.setblocking(False)
            slow.append(s)
        # (the slack: an idle pooled connection to the MX may close meanwhile)
        assert wait_for(lambda: fd_count(pid) >= baseline + count - 2, timeout=30), \
            "the server holds %d fds for %d slow clients" % (fd_count(pid) - baseline, count)
        connected_s = time.monotonic() - started
        # Half of them type "EHLO " one byte a second, the other half say nothing at all.
        stop = threading.Event()

        def trickle():
            text, k = b"EHLO slow.example", 0
            while not stop.wait(1.0):
                for s in slow[::2]:
                    try:
                        s.send(text[k % len(text):k % len(text) + 1])
                    except OSError:
                        pass
                k += 1

        typist = threading.Thread(target=trickle, daemon=True)
        typist.start()
        try:
            times = []
            for n in range(5):
                tag = "slow-normal-%d" % n
                began = time.monotonic()
                ledger.record(tag, send_smtplib(server.port, tag, timeout=10))
                times.append(time.monotonic() - began)
                assert ledger.outcomes[tag] == 250
                assert times[-1] < 5, times
            wait_delivered(ledger, sink, install, timeout=20)
            assert fd_count(pid) >= baseline + count - 2  # the slow ones are all still there
        finally:
            stop.set()
            typist.join(timeout=10)
        print("slow clients: %d connected in %.1f s; normal messages took %s s" %
              (count, connected_s, ["%.2f" % t for t in times]))
        for s in slow:
            s.close()
        slow = []
        assert wait_for(lambda: fd_count(pid) <= baseline + 2, timeout=20), \
            "fds: %d before, %d after" % (baseline, fd_count(pid))
        tag = "slow-last"
        ledger.record(tag, send_smtplib(server.port, tag))
        wait_delivered(ledger, sink, install)
        check_guarantee(ledger, sink)
        assert server.proc.poll() is None
    finally:
        for s in slow:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
