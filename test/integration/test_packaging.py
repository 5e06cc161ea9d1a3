"""The systemd unit is valid for this systemd, and points at the options the server has."""
import pathlib
import re
import shutil
import subprocess

UNIT = pathlib.Path(__file__).resolve().parent.parent.parent / "packaging" / "upesi.service"


def test_unit_verifies(tmp_path, upesi_bin):
    assert shutil.which("systemd-analyze"), "systemd-analyze not installed (package systemd)"
    text = UNIT.read_text().replace("/usr/local/bin/upesi", upesi_bin)
    unit = tmp_path / "upesi.service"
    unit.write_text(text)
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                       timeout=60)
    problems = [line for line in (r.stdout + r.stderr).splitlines()
                if "upesi.service" in line]
    assert problems == [], problems


def test_unit_is_notify_with_usr2_reload():
    text = UNIT.read_text()
    assert re.search(r"^Type=notify$", text, re.M)
    assert re.search(r"^ExecReload=/bin/kill -USR2 \$MAINPID$", text, re.M)
    assert re.search(r"^KillMode=mixed$", text, re.M)
    assert re.search(r"^NoNewPrivileges=yes$", text, re.M)
    assert "CAP_NET_BIND_SERVICE" in text


def test_unit_has_a_runtime_directory_for_the_pid_file():
    text = UNIT.read_text()
    assert re.search(r"^RuntimeDirectory=upesi$", text, re.M)
    assert "pid_file=/run/upesi/upesi.pid" in text
