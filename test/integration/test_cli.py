"""The command line: install skeleton, --check, plugin listing, argument errors."""
import pathlib
import re
import subprocess

from conftest import run_upesi


def test_install_creates_a_working_skeleton(install):
    for rel in ["config/smtp.ini", "config/log.ini", "config/plugins", "config/me",
                "config/host_list", "plugins", "queue", "maildrop", "mta-sts", "tls-rpt"]:
        assert (install / rel).exists(), rel
    assert "example.com" in (install / "config/host_list").read_text()
    assert (install / "config/me").read_text().strip() != ""
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout


def test_install_twice_keeps_edits(install):
    (install / "config/host_list").write_text("mine.example\n")
    r = run_upesi("-i", str(install))
    assert r.returncode == 0
    assert "nothing created" in r.stdout
    assert (install / "config/host_list").read_text() == "mine.example\n"


def test_check_names_file_and_line_of_a_broken_ini(install):
    smtp = install / "config/smtp.ini"
    smtp.write_text("[main]\nlisten=127.0.0.1:2525\n\nthis line is junk\n")
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode == 1
    assert f"{smtp}:4:" in r.stderr
    assert "junk" in r.stderr


def test_check_reports_a_bad_value_with_its_line(install):
    smtp = install / "config/smtp.ini"
    smtp.write_text("[main]\nnodes=0\nlisten=127.0.0.1:70000\n")
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode == 1
    assert f"{smtp}:3: listen" in r.stderr


def test_check_reads_outbound_ini_as_a_worker_does(install):
    # A value a worker refuses at start must fail the check first, not stop the server.
    outbound = install / "config/outbound.ini"
    outbound.write_text("[main]\nconcurrency_max=abc\n")
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "outbound.ini:2:" in r.stderr and "concurrency_max" in r.stderr
    outbound.write_text("[main]\ntemp_fail_intervals=1m, fortnight\n")
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode == 1 and "temp_fail_intervals" in r.stderr, r.stderr


def test_check_covers_log_ini_and_any_structured_file(install):
    (install / "config/log.ini").write_text("[main]\nlevel=chatty\n")
    (install / "config/extra.json").write_text('{"a": 1,\n "b": }\n')
    (install / "config/other.yaml").write_text("a: [1, 2\n")
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode == 1
    assert "log.ini:2: [main] level" in r.stderr
    assert "extra.json:2:" in r.stderr
    assert "other.yaml:" in r.stderr


def test_check_unknown_plugin_names_the_plugins_line(install):
    (install / "config/plugins").write_text("# comment\n\nno.such.plugin\n")
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode == 1
    assert f"{install}/config/plugins:3: unknown plugin \"no.such.plugin\"" in r.stderr


def test_check_binary_garbage_in_a_list_file(install):
    (install / "config/host_list").write_bytes(b"ok.example\n\x00\xff\xfe\n")
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode == 1
    assert "host_list:2: NUL byte" in r.stderr


def test_bad_arguments_exit_2_with_one_line(install):
    for args in (["--bogus"], ["-c"], ["-o"], ["--check"], ["-l", "-o", "-c", str(install)],
                 []):
        r = run_upesi(*args)
        assert r.returncode == 2, args
        assert len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
        assert r.stderr.startswith("upesi: ")


def test_version_and_help():
    r = run_upesi("--version")
    assert r.returncode == 0 and r.stdout.startswith("upesi ")
    # The commit the binary was built from, for figures and bug reports to name: "unknown"
    # when git could not say (no git, or a tree it refuses to read), else one of this tree's.
    found = re.search(r"\(commit ([^,]+),", r.stdout)
    assert found, r.stdout
    commit = found.group(1).removesuffix("-dirty")
    source = pathlib.Path(__file__).resolve().parents[2]
    if commit != "unknown":
        known = subprocess.run(["git", "-C", str(source), "cat-file", "-e", commit + "^{commit}"],
                               capture_output=True)
        assert known.returncode == 0, r.stdout
    r = run_upesi("--help")
    assert r.returncode == 0 and "upesi -c DIR" in r.stdout


def test_unknown_plugin_help_is_an_error():
    r = run_upesi("-h", "nope")
    assert r.returncode == 1
    assert "unknown plugin" in r.stderr


def test_single_process_pid_file_signals(start_server, install, upesi_bin):
    import signal
    import subprocess
    server = start_server(plugins=[])
    assert (install / "upesi.pid").read_text().strip() == str(server.proc.pid)
    server.proc.send_signal(signal.SIGUSR2)  # not fatal with nodes=0: explained in the log
    assert server.wait_log("SIGUSR2: a graceful reload needs nodes >= 1")
    r = subprocess.run([upesi_bin, "-c", str(install), "--flush"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert server.wait_log("SIGHUP: outbound queue flush")
    r = subprocess.run([upesi_bin, "-c", str(install), "--stop"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0
    assert server.proc.wait(timeout=30) == 0
    assert not (install / "upesi.pid").exists()


def test_replaced_haraka_plugin_names_load_their_successor_once(install):
    # Haraka's plugins.deprecated: an old name loads the plugin that does its work now, with a
    # notice; two old names for one plugin (or an old name and the new) load it once.
    (install / "config/plugins").write_text(
        "dnsbl\ndnswl\nconnect.fcrdns\nrelay_acl\nrcpt_to.in_host_list\nrelay\n")
    r = run_upesi("-c", str(install), "-o")
    assert r.returncode == 0, r.stderr
    hooks = r.stdout
    assert "dns-list" in hooks and "fcrdns" in hooks and "relay" in hooks
    assert "dnsbl" not in hooks and "connect.fcrdns" not in hooks
    # dnsbl and dnswl are one plugin: its connect hook is registered once.
    connect = hooks.split("\nconnect\n", 1)[1].split("\nhelo\n", 1)[0]
    assert connect.count("dns-list") == 1, hooks
    log = r.stderr + r.stdout
    assert "dnsbl has been replaced by 'dns-list'. Please update" in log
    assert "relay_acl has been replaced by 'relay'" in log
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode == 0, r.stderr
