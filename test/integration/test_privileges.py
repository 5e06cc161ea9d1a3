"""Started as root: only config and plugins that root alone can change are trusted, privileges are
dropped with nodes=0 too, the pid file is checked before it is signalled, the log file is no
symlink, and a shared object cannot replace a built-in plugin."""
import os
import pathlib
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
from conftest import SCRIPTED_PLUGIN, free_port, run_upesi

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="needs root")


def check(install):
    return run_upesi("-c", str(install), "--check")


def test_a_fresh_install_checks_out_even_with_a_lax_umask(tmp_path):
    inst = tmp_path / "inst"
    r = subprocess.run([os.environ["UPESI_BIN"], "-i", str(inst)], capture_output=True,
                       text=True, preexec_fn=lambda: os.umask(0o002))
    assert r.returncode == 0, r.stderr
    r = check(inst)
    assert r.returncode == 0, r.stderr


def test_a_group_writable_config_file_is_refused(install):
    smtp = install / "config" / "smtp.ini"
    smtp.chmod(0o664)
    r = check(install)
    assert r.returncode == 1
    assert "%s: file writable by its group (mode 0664)" % smtp in r.stderr
    r = run_upesi("-c", str(install))  # the server refuses to start as well
    assert r.returncode == 1 and str(smtp) in r.stderr


def test_a_world_writable_plugin_directory_is_refused(install):
    (install / "plugins").chmod(0o777)
    r = check(install)
    assert r.returncode == 1
    assert "%s: directory writable by others" % (install / "plugins") in r.stderr
    r = run_upesi("-c", str(install), "-l")  # -l loads the shared objects too
    assert r.returncode == 1 and str(install / "plugins") in r.stderr


def test_a_plugin_owned_by_another_user_is_refused(install):
    so = install / "plugins" / "accept.so"
    shutil.copy(SCRIPTED_PLUGIN, so)
    os.chown(so, pwd.getpwnam("nobody").pw_uid, 0)
    (install / "config" / "plugins").write_text("accept\n")
    r = check(install)
    assert r.returncode == 1
    assert "%s: file owned by nobody, not root" % so in r.stderr


def test_an_install_directory_owned_by_another_user_is_refused(install):
    os.chown(install, pwd.getpwnam("nobody").pw_uid, 0)
    r = check(install)
    assert r.returncode == 1
    assert "%s: directory owned by nobody" % install in r.stderr


def test_a_shared_object_named_like_a_built_in_is_refused(install):
    so = install / "plugins" / "relay.so"
    shutil.copy(SCRIPTED_PLUGIN, so)
    (install / "config" / "plugins").write_text("relay\n")
    r = check(install)
    assert r.returncode == 1
    assert "%s has the name of the built-in plugin \"relay\"" % so in r.stderr
    r = run_upesi("-h", "relay", "-c", str(install))
    assert r.returncode == 1 and "built-in plugin \"relay\"" in r.stderr


@pytest.fixture
def sleeper():
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("action", ["--reload", "--stop", "--flush"])
def test_a_pid_file_naming_another_program_is_not_signalled(install, sleeper, action):
    (install / "upesi.pid").write_text("%d\n" % sleeper.pid)
    r = run_upesi("-c", str(install), action)
    assert r.returncode == 1
    assert "pid %d is not upesi" % sleeper.pid in r.stderr
    time.sleep(0.2)
    assert sleeper.poll() is None  # still running: no signal reached it


def test_a_stale_pid_file_naming_another_program_is_replaced(start_server, install, sleeper,
                                                              upesi_bin):
    (install / "upesi.pid").write_text("%d\n" % sleeper.pid)
    server = start_server()
    assert (install / "upesi.pid").read_text().strip() == str(server.proc.pid)
    r = subprocess.run([upesi_bin, "-c", str(install), "--stop"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert server.proc.wait(timeout=30) == 0
    assert sleeper.poll() is None


def test_a_symlinked_log_file_is_refused(start_server, install, tmp_path):
    target = tmp_path / "elsewhere"
    (install / "upesi.log").symlink_to(target)
    server = start_server(files={"log.ini": "[main]\nfile=%s\n" % (install / "upesi.log")},
                          expect_ready=False)
    assert server.proc.wait(timeout=30) == 1
    assert "cannot open log file %s: it is a symbolic link" % (install / "upesi.log") in server.log()
    assert not target.exists()


def uid_of(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("Uid:"):
            return [int(x) for x in line.split()[1:]]
    return None


@pytest.fixture
def root_owned_install(upesi_bin):
    """An install as a package lays it out: root's config and plugins, the service user's queue,
    spool and maildir, under a directory others may traverse (nobody must reach its queue)."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="upesi-priv-"))
    os.chmod(base, 0o755)
    inst = base / "inst"
    assert subprocess.run([upesi_bin, "-i", str(inst)], capture_output=True).returncode == 0
    nobody = pwd.getpwnam("nobody")
    for sub in ("queue", "spool", "maildir"):
        (inst / sub).mkdir(exist_ok=True)
        os.chown(inst / sub, nobody.pw_uid, nobody.pw_gid)
    yield inst
    shutil.rmtree(base, ignore_errors=True)


def test_single_process_drops_privileges_after_binding(root_owned_install, upesi_bin):
    """nodes=0 honours user= as the master does: port bound as root, then serving as nobody; the
    pid file is written before the drop, into a runtime directory only root can write."""
    inst = root_owned_install
    port = free_port()
    pid_file = inst.parent / "run" / "upesi.pid"
    (inst / "config" / "smtp.ini").write_text(
        "[main]\nlisten=127.0.0.1:%d\nnodes=0\nuser=nobody\npid_file=%s\n" % (port, pid_file))
    log_path = inst.parent / "log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([upesi_bin, "-c", str(inst)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "Upesi ready" not in log_path.read_text():
            time.sleep(0.05)
        assert "Upesi ready" in log_path.read_text(), log_path.read_text()
        nobody = pwd.getpwnam("nobody").pw_uid
        assert uid_of(proc.pid) == [nobody] * 4
        assert pid_file.read_text().strip() == str(proc.pid)
        assert pid_file.stat().st_uid == 0 and pid_file.parent.stat().st_uid == 0
        import smtplib
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            assert s.sendmail("s@client.example", ["you@example.com"], "Subject: x\r\n\r\nx\r\n") == {}
        r = run_upesi("-c", str(inst), "--stop")
        assert r.returncode == 0, r.stderr
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
