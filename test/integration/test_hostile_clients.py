"""Clients that attack the server's resources rather than its grammar: replies never read,
commands and messages dribbled a byte at a time, AUTH guesses spread over connections, and a
worker that dies while serving. Each is bounded by a smtp.ini key, set low here."""
import base64
import os
import signal
import smtplib
import socket
import time

import pytest

ACCEPT = {"accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\n"}


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def raw_client(port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def read_reply(s):
    """One whole reply (all its lines) from a blocking socket."""
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return data
        data += chunk
        lines = data.split(b"\r\n")
        if len(lines) > 1 and any(len(l) >= 4 and l[3:4] == b" " for l in lines[:-1]):
            return data


def closed_by_server(s, timeout):
    """True when the server closes the connection within `timeout` seconds (what was sent
    before the close is read and dropped)."""
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not s.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return False


TCP_ESTABLISHED = 1


def tcp_state(s):
    """The kernel's TCP state of a socket (struct tcp_info's first byte), read without
    touching its receive queue."""
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def smtplib_works(port):
    # Generous: under the sanitizers the worker is several times slower while it answers the
    # attackers' commands until their sockets' kernel buffers are full.
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        return s.sendmail("a@client.example", ["b@example.com"], "Subject: x\r\n\r\nx\r\n") == {}


# --- replies never read -------------------------------------------------------------------


def test_clients_that_never_read_their_replies_do_not_grow_the_worker(start_server):
    server = start_server(plugins=["accept"], so=["accept"], files=ACCEPT,
                          smtp={"max_output_buffer": 65536, "write_timeout": 4,
                                "inactivity_timeout": 60})
    before = rss_kib(server.proc.pid)
    clients = []
    for _ in range(30):
        s = raw_client(server.port, rcvbuf=4096)
        s.setblocking(False)
        clients.append(s)
    # Each pipelines HELP (72 bytes of reply for 6 sent) and reads nothing: 1 MB each, as far
    # as the server takes it within the time given.
    burst = b"HELP\r\n" * 10000
    pending = {s: 1_000_000 for s in clients}
    deadline = time.monotonic() + 4
    while pending and time.monotonic() < deadline:
        for s in list(pending):
            try:
                sent = s.send(burst[:min(len(burst), pending[s])])
                pending[s] -= sent
                if pending[s] <= 0:
                    del pending[s]
            except BlockingIOError:
                pass
            except OSError:
                del pending[s]
        time.sleep(0.01)
    grown = rss_kib(server.proc.pid) - before
    # Others are served meanwhile.
    assert smtplib_works(server.port)
    assert grown < 64 * 1024, "the worker grew by %d KiB" % grown
    # After write_timeout the stuck clients are dropped, whatever they had sent. They read
    # nothing meanwhile: a client that reads is served on.
    deadline = time.monotonic() + 60
    while server.log().count("dropped: replies unread") < len(clients):
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.1)
    for s in clients:
        assert tcp_state(s) != TCP_ESTABLISHED
        s.close()


# --- slowloris ------------------------------------------------------------------------------


def dribble(s, data, interval, until):
    """Sends `data` a byte every `interval` seconds; False once the server closed or answered."""
    for byte in data:
        if time.monotonic() > until:
            return True
        try:
            s.send(bytes([byte]))
        except OSError:
            return False
        s.settimeout(interval)
        try:
            if s.recv(4096, socket.MSG_PEEK):
                return False
        except socket.timeout:
            pass
        except OSError:
            return False
    return True


def test_a_command_line_dribbled_a_byte_at_a_time_meets_its_deadline(start_server):
    server = start_server(plugins=["accept"], so=["accept"], files=ACCEPT,
                          smtp={"command_timeout": 2, "inactivity_timeout": 30})
    s = raw_client(server.port)
    assert read_reply(s).startswith(b"220")
    start = time.monotonic()
    # Every byte would reset an idle timer; 40 bytes at 0.25 s take 10 s.
    assert not dribble(s, b"EHLO " + b"a" * 35, 0.25, start + 10)
    s.settimeout(5)
    reply = s.recv(4096)
    assert reply.startswith(b"421 4.4.2") and b"command line not completed" in reply, reply
    assert time.monotonic() - start < 6
    assert closed_by_server(s, 5)


def open_data(s):
    assert read_reply(s).startswith(b"220")
    for command in [b"EHLO client.example", b"MAIL FROM:<s@client.example>",
                    b"RCPT TO:<r@example.com>", b"DATA"]:
        s.sendall(command + b"\r\n")
        assert read_reply(s)[:1] in (b"2", b"3")


def test_a_message_dribbled_below_the_minimum_rate_is_cut_off(start_server):
    server = start_server(plugins=["accept"], so=["accept"], files=ACCEPT,
                          smtp={"min_data_rate": 100, "min_data_rate_window": 2,
                                "data_timeout": 30})
    s = raw_client(server.port)
    open_data(s)
    start = time.monotonic()
    assert not dribble(s, b"Subject: slow\r\n\r\n" + b"x" * 100, 0.2, start + 10)
    s.settimeout(5)
    reply = s.recv(4096)
    assert reply.startswith(b"421 4.4.2") and b"min_data_rate" in reply, reply
    assert time.monotonic() - start < 7
    assert closed_by_server(s, 5)


def test_the_whole_data_phase_has_a_deadline(start_server):
    server = start_server(plugins=["accept"], so=["accept"], files=ACCEPT,
                          smtp={"max_data_time": 3, "min_data_rate": 100,
                                "min_data_rate_window": 1})
    s = raw_client(server.port)
    open_data(s)
    start = time.monotonic()
    s.sendall(b"Subject: long\r\n\r\n")
    # Fast enough for the rate (1000 bytes/s), too long for max_data_time.
    answer = b""
    while time.monotonic() - start < 8 and not answer:
        try:
            s.sendall(b"y" * 198 + b"\r\n")
        except OSError:
            break
        s.settimeout(0.2)
        try:
            answer = s.recv(4096)
        except socket.timeout:
            pass
    assert answer.startswith(b"421 4.4.2") and b"message not received within 3 s" in answer
    assert 2.5 < time.monotonic() - start < 6


def test_a_slow_but_steady_client_gets_its_message_through(start_server):
    server = start_server(plugins=["accept"], so=["accept"], files=ACCEPT,
                          smtp={"min_data_rate": 1000, "min_data_rate_window": 1,
                                "max_data_time": 30})
    s = raw_client(server.port)
    open_data(s)
    s.sendall(b"Subject: steady\r\n\r\n")
    for _ in range(30):  # 3 s at about 5000 bytes/s, over three rate windows
        s.sendall(b"z" * 498 + b"\r\n")
        time.sleep(0.1)
    s.sendall(b".\r\n")
    assert read_reply(s).startswith(b"250")


# --- AUTH guesses -----------------------------------------------------------------------------


def b64(text):
    return base64.b64encode(text.encode()).decode()


def test_auth_guesses_waiting_at_the_prompt_are_counted_when_checked(start_server):
    # Ten connections each get to the password prompt, then all answer at once: only
    # max_auth_failures_per_ip of them may have their guess checked.
    server = start_server(plugins=["auth/flat_file", "accept"], so=["accept"],
                          files=dict(ACCEPT, **{"auth_flat_file.ini": "[users]\nalice=right\n"}),
                          smtp={"auth_requires_tls": False, "auth_failure_delay": 0,
                                "max_auth_failures_per_ip": 3, "max_auth_failures": 10})
    clients = []
    for _ in range(10):
        s = raw_client(server.port)
        assert read_reply(s).startswith(b"220")
        s.sendall(b"EHLO client.example\r\n")
        assert read_reply(s).startswith(b"250")
        s.sendall(b"AUTH LOGIN\r\n")
        assert read_reply(s).startswith(b"334")
        s.sendall(b64("alice").encode() + b"\r\n")
        assert read_reply(s).startswith(b"334")
        clients.append(s)
    for s in clients:
        s.sendall(b64("wrong").encode() + b"\r\n")
    codes = sorted(read_reply(s)[:3].decode() for s in clients)
    assert codes == ["454"] * 7 + ["535"] * 3, codes
    # The right password, too, waits for the window now.
    s = clients[0]
    s.sendall(b"AUTH PLAIN " + base64.b64encode(b"\0alice\0right") + b"\r\n")
    assert read_reply(s).startswith(b"454")
    for s in clients:
        s.close()


def test_a_good_password_is_not_counted_against_the_client(start_server):
    server = start_server(plugins=["auth/flat_file", "accept"], so=["accept"],
                          files=dict(ACCEPT, **{"auth_flat_file.ini": "[users]\nalice=right\n"}),
                          smtp={"auth_requires_tls": False, "auth_failure_delay": 0,
                                "max_auth_failures_per_ip": 2})
    for _ in range(5):
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as c:
            c.login("alice", "right")


# --- a worker that dies while serving ---------------------------------------------------------


def test_a_worker_that_keeps_dying_while_serving_is_restarted_every_time(start_server):
    server = start_server(plugins=["accept"], so=["accept"], files=ACCEPT, smtp={"nodes": 1})
    worker = server.wait_workers(1)[0]
    for _ in range(7):  # more than the start-up crash-loop limit (5 within 60 s)
        assert smtplib_works(server.port)
        # SIGKILL: a crash as the master sees it, which the sanitizers do not intercept.
        os.kill(worker, signal.SIGKILL)
        worker = server.wait_workers(1, exclude=[worker], timeout=30)[0]
        assert server.wait_log("died while serving: killed by signal %d" % signal.SIGKILL)
    assert server.proc.poll() is None, "the master gave up"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if smtplib_works(server.port):
                break
        except (OSError, smtplib.SMTPException):
            time.sleep(0.2)
    assert smtplib_works(server.port)
    assert "giving up" not in server.log()
    assert server.log().count("died while serving") == 7
