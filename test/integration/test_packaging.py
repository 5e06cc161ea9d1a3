"""The systemd unit is valid for this systemd, and points at the options the server has."""
import os
import pathlib
import re
import shutil
import subprocess

UNIT_TEMPLATE = pathlib.Path(__file__).resolve().parents[2] / "packaging" / "upesi.service.in"


def unit_text(sbindir="/usr/sbin"):
    """The unit as the Debian package's build configures it (meson.build's unit_paths)."""
    return (UNIT_TEMPLATE.read_text().replace("@sbindir@", sbindir)
            .replace("@installdir@", "/etc/upesi").replace("@spooldir@", "/var/spool/upesi")
            .replace("@statedir@", "/var/lib/upesi"))


def test_unit_verifies(tmp_path, upesi_bin):
    assert shutil.which("systemd-analyze"), "systemd-analyze not installed (package systemd)"
    text = unit_text(str(pathlib.Path(upesi_bin).parent))
    unit = tmp_path / "upesi.service"
    unit.write_text(text)
    # Its Documentation= is the package's man page, which verify looks up with man(1).
    man8 = tmp_path / "man" / "man8"
    man8.mkdir(parents=True)
    shutil.copy(UNIT_TEMPLATE.parent / "man" / "upesi.8", man8)
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, MANPATH=str(tmp_path / "man")))
    problems = [line for line in (r.stdout + r.stderr).splitlines()
                if "upesi.service" in line]
    assert problems == [], problems


def test_unit_is_notify_with_usr2_reload():
    text = unit_text()
    assert re.search(r"^Type=notify$", text, re.M)
    assert re.search(r"^ExecReload=/bin/kill -USR2 \$MAINPID$", text, re.M)
    assert re.search(r"^KillMode=mixed$", text, re.M)
    assert re.search(r"^NoNewPrivileges=yes$", text, re.M)
    assert "CAP_NET_BIND_SERVICE" in text


def test_unit_has_a_runtime_directory_for_the_pid_file():
    text = unit_text()
    assert re.search(r"^RuntimeDirectory=upesi$", text, re.M)
    assert "pid_file=/run/upesi/upesi.pid" in text


def test_unit_paths_are_all_filled_in():
    text = unit_text()
    assert "@" not in text.replace("@system-service", "")
    assert re.search(r"^ExecStart=/usr/sbin/upesi -c /etc/upesi$", text, re.M)
    assert re.search(r"^ReadWritePaths=/var/spool/upesi /var/lib/upesi$", text, re.M)


def test_unit_is_hardened(tmp_path, upesi_bin):
    """systemd's own measure of what the service could do if taken over: at most 3.0 of 10
    ("OK"; an unhardened service scores 9.6)."""
    unit = tmp_path / "upesi.service"
    unit.write_text(unit_text(str(pathlib.Path(upesi_bin).parent)))
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)],
                       capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for upesi.service: (\d+\.\d+)", r.stdout)
    assert found, r.stdout[-2000:] + r.stderr
    assert float(found.group(1)) <= 3.0, r.stdout
