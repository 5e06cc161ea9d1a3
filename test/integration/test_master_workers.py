"""The master and its workers: init hooks, a worker killed mid-session, graceful reload under
load, a broken reload, graceful stop under load, crash loops, systemd notifications."""
import os
import pathlib
import signal
import socket
import subprocess
import time

import pytest
from conftest import free_port

ACCEPT = "[rcpt]\ncode=OK\n[queue]\ncode=OK\n"


def recorded(path):
    """[(plugin, hook, pid)] from the scripted plugin's record file."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        plugin, hook, pid = line.split(" ", 3)[:3]  # some hooks add their facts
        out.append((plugin, hook, int(pid)))
    return out


@pytest.fixture
def record(tmp_path):
    return tmp_path / "calls"


def multi(start_server, record, nodes=2, extra="", **kwargs):
    files = {"accept.ini": "[main]\nrecord=%s\n[init_master]\ncode=CONT\n[init_child]\ncode=CONT\n"
                           "%s%s" % (record, ACCEPT, extra)}
    return start_server(plugins=["accept"], so=["accept"], files=files,
                        smtp=dict({"nodes": nodes, "force_shutdown_timeout": 5},
                                  **kwargs.pop("smtp", {})),
                        **kwargs)


def send_one(server, rcpt="r@example.com"):
    import smtplib
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        assert s.sendmail("s@client.example", [rcpt], "Subject: t\r\n\r\nx\r\n") == {}


def smtp_source(port, messages, sessions):
    return subprocess.Popen(["smtp-source", "-A", "-M", "load.client", "-m", str(messages),
                             "-s", str(sessions), "-l", "1000", "-t", "r@example.com",
                             "-f", "s@client.example", "-4", "inet:127.0.0.1:%d" % port],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_init_master_once_in_master_init_child_once_per_worker(start_server, record):
    server = multi(start_server, record, nodes=3)
    workers = server.wait_workers(3)
    calls = recorded(record)
    assert [c for c in calls if c[1] == "init_master"] == [("accept", "init_master",
                                                            server.proc.pid)]
    child_pids = sorted(c[2] for c in calls if c[1] == "init_child")
    assert child_pids == workers
    send_one(server)


def test_worker_killed_mid_session_is_replaced(start_server, record, connect):
    server = multi(start_server, record, nodes=2)
    first = server.wait_workers(2)
    c = connect(server)
    assert c.cmd("EHLO x.example")[0] == 250
    assert c.cmd("MAIL FROM:<a@b.example>")[0] == 250
    for pid in first:
        os.kill(pid, signal.SIGKILL)
    assert c.closed()  # the session's worker is gone
    replaced = server.wait_workers(2, exclude=first)
    assert not set(replaced) & set(first)
    assert server.wait_log("Upesi ready") and server.wait_log("restarting worker")
    for _ in range(5):
        send_one(server)


def test_reload_under_load_fails_no_transaction(start_server, record):
    server = multi(start_server, record, nodes=2)
    old = server.wait_workers(2)
    # Enough messages to outlast the reload several times over, even beside the sanitizers.
    load = smtp_source(server.port, 8000, 10)
    time.sleep(0.5)
    assert load.poll() is None, "the load ended before the reload"
    server.proc.send_signal(signal.SIGUSR2)
    out, _ = load.communicate(timeout=120)
    assert load.returncode == 0, out
    assert "warning" not in out and "fatal" not in out, out
    assert server.wait_log("reload done: generation 2 serves")
    new = server.wait_workers(2, exclude=old)
    assert not set(new) & set(old)
    time.sleep(0.5)
    shut = {c[2] for c in recorded(record) if c[1] == "shutdown"}
    assert set(old) <= shut, "old workers did not call shutdown: %s vs %s" % (old, shut)
    send_one(server)


def test_broken_config_on_reload_keeps_the_old_generation(start_server, record, install):
    server = multi(start_server, record, nodes=2)
    old = server.wait_workers(2)
    smtp_ini = install / "config" / "smtp.ini"
    good = smtp_ini.read_text()
    smtp_ini.write_text(good + "this is not ini\n")
    server.proc.send_signal(signal.SIGUSR2)
    assert server.wait_log("reload failed, generation 1 keeps serving")
    assert "smtp.ini:%d:" % (good.count("\n") + 1) in server.log()
    time.sleep(0.3)
    assert server.workers() == old
    send_one(server)
    smtp_ini.write_text(good)
    server.proc.send_signal(signal.SIGUSR2)
    assert server.wait_log("reload done: generation 2 serves")
    send_one(server)


def pool_threads_after_a_message(server, worker):
    """Threads of `worker` beside its loop's, once a message written to the queue has surely
    used its pool (libuv starts every pool thread at the first piece of work)."""
    send_one(server)
    assert len(os.listdir(server.install / "queue")) >= 1
    return len(os.listdir("/proc/%d/task" % worker)) - 1


def test_thread_pool_size_sizes_each_workers_pool(start_server, install):
    # Two sizes, told apart by their difference: a sanitizer may add threads of its own.
    files = {"relay_acl_allow": "127.0.0.1/32\n", "outbound.ini": "[main]\ndisabled=true\n"}
    server = start_server(plugins=["relay"], files=files,
                          smtp={"nodes": 1, "thread_pool_size": 3})
    first = server.wait_workers(1)
    small = pool_threads_after_a_message(server, first[0])
    assert small >= 3
    smtp_ini = install / "config" / "smtp.ini"
    smtp_ini.write_text(smtp_ini.read_text().replace("thread_pool_size=3", "thread_pool_size=9"))
    server.proc.send_signal(signal.SIGUSR2)
    assert server.wait_log("reload done: generation 2 serves")
    second = server.wait_workers(1, exclude=first)
    assert pool_threads_after_a_message(server, second[0]) - small == 6


def test_stop_under_load_is_bounded(start_server, record):
    server = multi(start_server, record, nodes=2)
    server.wait_workers(2)
    load = smtp_source(server.port, 100000, 20)
    time.sleep(0.5)
    start = time.monotonic()
    assert server.stop(signal.SIGTERM, timeout=30) == 0
    assert time.monotonic() - start < 15
    load.kill()
    load.communicate()


def test_crash_loop_gives_up(start_server, record):
    server = multi(start_server, record, nodes=1, extra="[init_child]\ncode=DENY\nmsg=nope\n",
                   expect_ready=False)
    assert server.proc.wait(timeout=60) == 1
    assert "giving up (crash loop)" in server.log()
    assert "init_child failed: nope" in server.log()


def test_systemd_notifications(start_server, record, tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(15)
    server = multi(start_server, record, nodes=1, env={"NOTIFY_SOCKET": path})

    def receive(want):
        while True:
            msg = sock.recv(4096).decode()
            if want in msg:
                return msg

    ready = receive("READY=1")
    assert "MAINPID=%d" % server.proc.pid in ready
    server.proc.send_signal(signal.SIGUSR2)
    reloading = receive("RELOADING=1")
    assert "MONOTONIC_USEC=" in reloading
    assert "READY=1" in receive("READY=1")
    server.proc.send_signal(signal.SIGTERM)
    assert "STOPPING=1" in receive("STOPPING=1")
    sock.close()


def test_control_commands(start_server, record, upesi_bin, install):
    server = multi(start_server, record, nodes=1)
    old = server.wait_workers(1)
    r = subprocess.run([upesi_bin, "-c", str(install), "--flush"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert server.wait_log("SIGHUP: every worker flushes")
    assert server.wait_log("flushing the outbound queue")
    r = subprocess.run([upesi_bin, "-c", str(install), "--reload"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert server.wait_log("reload done")
    server.wait_workers(1, exclude=old)
    r = subprocess.run([upesi_bin, "-c", str(install), "--stop"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert server.proc.wait(timeout=30) == 0
    assert not (install / "upesi.pid").exists()
    r = subprocess.run([upesi_bin, "-c", str(install), "--reload"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1 and "no pid file" in r.stderr


def test_privileges_dropped_after_binding(upesi_bin, tmp_path_factory):
    """As root with smtp.ini user=nobody: the listener is bound, then master and workers run as
    nobody (config and plugins belong to root, which alone is trusted to change what root loads;
    the queue, spool and maildir belong to nobody)."""
    import pwd
    import shutil
    import tempfile

    if os.getuid() != 0:
        pytest.skip("needs root")
    nobody = pwd.getpwnam("nobody")
    base = pathlib.Path(tempfile.mkdtemp(prefix="upesi-priv-"))
    proc = None
    try:
        os.chmod(base, 0o755)
        inst = base / "inst"
        assert subprocess.run([upesi_bin, "-i", str(inst)], capture_output=True).returncode == 0
        port = free_port()
        (inst / "config" / "smtp.ini").write_text(
            "[main]\nlisten=127.0.0.1:%d\nnodes=1\nuser=nobody\n" % port)
        for sub in ("queue", "spool", "maildir"):
            (inst / sub).mkdir(exist_ok=True)
            os.chown(inst / sub, nobody.pw_uid, nobody.pw_gid)
        log = open(base / "log", "w")
        proc = subprocess.Popen([upesi_bin, "-c", str(inst)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "Upesi ready" not in (base / "log").read_text():
            time.sleep(0.05)
        assert "Upesi ready" in (base / "log").read_text(), (base / "log").read_text()

        def uid(pid):
            for line in open("/proc/%d/status" % pid):
                if line.startswith("Uid:"):
                    return int(line.split()[1])

        children = open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)).read().split()
        assert uid(proc.pid) == nobody.pw_uid
        assert children and all(uid(int(c)) == nobody.pw_uid for c in children)
        import smtplib
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            assert s.sendmail("s@client.example", ["you@example.com"], "Subject: x\r\n\r\nx\r\n") == {}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        delivered = list((inst / "maildir" / "example.com" / "you" / "new").iterdir())
        assert len(delivered) == 1 and delivered[0].stat().st_uid == nobody.pw_uid
    finally:
        if proc is not None and proc.poll() is None:  # a failed check leaves no server behind
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)


def test_reload_picks_up_a_rebuilt_shared_object(start_server, install, connect):
    """The workers of a new generation are new processes: a plugin's .so replaced on disk is
    what they load."""
    import shutil
    plugin = install / "plugins" / "greeter.so"
    shutil.copy(os.environ["UPESI_HELLO_PLUGIN"], plugin)  # refuses HELO stranger
    server = start_server(plugins=["greeter"], smtp={"nodes": 1},
                          files={"greeter.ini": "[helo]\ncode=DENY\nmsg=rebuilt says no\n"})
    old = server.wait_workers(1)
    c = connect(server)
    code, lines = c.cmd("HELO stranger")
    assert code == 550 and "does not talk to strangers" in lines[0]
    c.close()
    # "Rebuild" it: a different shared object under the same name (a new file, as a linker
    # writes it), then reload.
    tmp = install / "plugins" / "greeter.so.new"
    shutil.copy(os.environ["UPESI_SCRIPTED_PLUGIN"], tmp)
    os.rename(tmp, plugin)
    server.proc.send_signal(signal.SIGUSR2)
    assert server.wait_log("reload done")
    server.wait_workers(1, exclude=old)
    c2 = connect(server)
    code, lines = c2.cmd("HELO stranger")
    assert code == 550 and "rebuilt says no" in lines[0]
