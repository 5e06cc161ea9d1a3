"""The Debian package as an operator meets it: `packaging/dev deb` builds upesi and upesi-dev
from this tree and lintian finds nothing at its default level; `apt-get install ./upesi_*.deb`
into a fresh Debian 12 root (debootstrap's, made once by `packaging/dev test`, in a network
namespace of its own, so port 25 is private); the server started as its systemd unit says (this
machine runs no systemd: the unit's ExecStartPre and ExecStart, as its User, with its
capability, runtime directory and umask, under setpriv); mail by swaks and by the sendmail
entry point as cron calls it; a reload (the unit's SIGUSR2) under load; an upgrade to a higher
version that keeps an edited conffile; remove (queue kept) and purge (all gone, users kept).
The tests run in order and share one root."""
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

SOURCE = pathlib.Path(__file__).resolve().parents[2]
CACHE = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache") / "upesi"
ROOT_TAR = CACHE / "debian12-root.tar"
PATH = "PATH=/usr/sbin:/usr/bin:/sbin:/bin"


def need(condition, why):
    if not condition:
        pytest.skip("the Debian package's test cannot run here: " + why)


@pytest.fixture(scope="module")
def work():
    need(os.geteuid() == 0, "it needs root (debootstrap's root, chroot, network namespaces)")
    need(ROOT_TAR.is_file(), "no Debian 12 root in %s (packaging/dev test makes it)" % ROOT_TAR)
    for tool in ("dpkg-buildpackage", "lintian", "ip", "setpriv", "swaks", "dpkg-deb"):
        need(shutil.which(tool), "%s not found (packaging/dev test installs it)" % tool)
    d = pathlib.Path(tempfile.mkdtemp(prefix="upesi-deb-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def built(work):
    """`packaging/dev deb` (build, then lintian); with UPESI_PACKAGE_DIR, the packages it built
    there before, linted again."""
    if os.environ.get("UPESI_PACKAGE_DIR"):
        out = pathlib.Path(os.environ["UPESI_PACKAGE_DIR"])
        r = subprocess.run(["lintian", "--fail-on", "error,warning",
                            *map(str, out.glob("upesi_*.changes"))],
                           capture_output=True, text=True, timeout=600)
    else:
        out = work / "deb"
        r = subprocess.run([str(SOURCE / "packaging" / "dev"), "deb", str(out)], cwd=SOURCE,
                           capture_output=True, text=True, timeout=1500)
    debs = {p.name.split("_")[0]: p for p in out.glob("*.deb")}
    return r, debs


class Box:
    """The Debian 12 root, with /proc and /dev, in network namespace `ns` (loopback up)."""

    def __init__(self, work):
        self.root = work / "root"
        self.root.mkdir()
        subprocess.run(["tar", "-C", str(self.root), "-xf", str(ROOT_TAR)], check=True)
        self.root.chmod(0o755)  # a root directory others may enter, whatever the tar said
        self.ns = "upesi-pkg-%d" % os.getpid()
        self.mounts = []
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        subprocess.run(["ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up"],
                       check=True)
        # /dev with its pts (dpkg wants a terminal for its scripts), as a slave so that nothing
        # done to it reaches this machine's.
        subprocess.run(["mount", "-t", "proc", "proc", str(self.root / "proc")], check=True)
        self.mounts.append(self.root / "proc")
        subprocess.run(["mount", "--rbind", "/dev", str(self.root / "dev")], check=True)
        self.mounts.append(self.root / "dev")
        subprocess.run(["mount", "--make-rslave", str(self.root / "dev")], check=True)
        self.server = None
        self.log_path = work / "server.log"

    def run(self, *cmd, input=None, check=True, timeout=300):
        """A command inside the root, with a clean environment."""
        r = subprocess.run(["ip", "netns", "exec", self.ns, "chroot", str(self.root), "env",
                            "-i", PATH, "LANG=C", "DEBIAN_FRONTEND=noninteractive", *cmd],
                           input=input, capture_output=True, timeout=timeout)
        if check:
            assert r.returncode == 0, (cmd, r.stdout.decode(errors="replace")[-3000:],
                                       r.stderr.decode(errors="replace")[-3000:])
        return r

    def host(self, *cmd, **kwargs):
        """One of this machine's programs, in the root's network namespace."""
        return subprocess.run(["ip", "netns", "exec", self.ns, *cmd], capture_output=True,
                              **kwargs)

    def path(self, inside):
        return self.root / inside.lstrip("/")

    def uid(self, user):
        for line in self.path("/etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == user:
                return int(fields[2]), int(fields[3])
        return None

    def unit(self):
        """The installed unit's [Service] settings (the last of each key)."""
        settings = {}
        for line in self.path("/lib/systemd/system/upesi.service").read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, _, value = line.partition("=")
                settings[key.strip()] = value.strip()
        return settings

    def start(self):
        """Runs the unit's ExecStartPre, then its ExecStart in the background, as its User and
        Group, with its runtime directory, umask, capabilities and no new privileges."""
        unit = self.unit()
        user, group = unit["User"], unit["Group"]
        uid, gid = self.uid(user)
        runtime = self.path("/run/" + unit["RuntimeDirectory"])
        runtime.mkdir(parents=True, exist_ok=True)
        os.chown(runtime, uid, gid)
        runtime.chmod(int(unit["RuntimeDirectoryMode"], 8))
        caps = unit["AmbientCapabilities"].lower().replace("cap_", "+")
        as_service = ["setpriv", "--reuid", user, "--regid", group, "--init-groups",
                      "--inh-caps", caps, "--ambient-caps", caps,
                      "--bounding-set", "-all," + caps, "--no-new-privs", "--"]
        umask = "umask %s; exec " % unit["UMask"]
        pre = self.run("/bin/sh", "-c", umask + " ".join(as_service + [unit["ExecStartPre"]]),
                       check=False)
        assert pre.returncode == 0, pre.stderr.decode(errors="replace")
        since = len(self.log())
        log = open(self.log_path, "a")
        self.server = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "chroot", str(self.root), "env", "-i", PATH,
             "/bin/sh", "-c", umask + " ".join(as_service + [unit["ExecStart"]])],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        assert self.wait_log("Upesi ready", since=since), self.log()

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, text, since=0, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.log()[since:]:
                return True
            if self.server is not None and self.server.poll() is not None:
                return text in self.log()[since:]
            time.sleep(0.1)
        return False

    def mark(self):
        return len(self.log())

    def stop(self):
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            self.server.wait(timeout=60)
        self.server = None

    def close(self):
        self.stop()
        for path in reversed(self.mounts):
            subprocess.run(["umount", "-R", "-l", str(path)])
        subprocess.run(["ip", "netns", "del", self.ns])
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def box(work, built):
    r, debs = built
    assert r.returncode == 0 and {"upesi", "upesi-dev"} <= set(debs), r.stdout[-3000:] + r.stderr
    b = Box(work)
    for deb in debs.values():
        shutil.copy(deb, b.path("/tmp"))
    yield b
    b.close()


def maildir(box, domain, user):
    new = box.path("/var/spool/upesi/maildir/%s/%s/new" % (domain, user))
    return sorted(new.iterdir()) if new.is_dir() else []


def wait_maildir(box, domain, user, count=1, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline and len(maildir(box, domain, user)) < count:
        time.sleep(0.1)
    return maildir(box, domain, user)


def swaks(box, to, subject):
    r = box.host("swaks", "--server", "127.0.0.1:25", "--from", "ops@client.example", "--to", to,
                 "--header", "Subject: " + subject, "--body", "hello from swaks", timeout=60)
    assert r.returncode == 0, r.stdout.decode(errors="replace")[-2000:]


def test_package_builds_and_lintian_finds_nothing(built):
    r, debs = built
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert {"upesi", "upesi-dev"} <= set(debs)
    tags = [line for line in (r.stdout + r.stderr).splitlines() if re.match(r"^[EW]: ", line)]
    assert tags == []
    fields = subprocess.run(["dpkg-deb", "-f", str(debs["upesi"]), "Provides", "Conflicts",
                             "Depends"], capture_output=True, text=True, check=True).stdout
    assert "Provides: mail-transport-agent" in fields
    assert "Conflicts: mail-transport-agent" in fields
    assert "libuv1" in fields


def test_installs_into_a_fresh_debian_12_root_with_apt(box):
    def deb(name):
        return "/tmp/" + next(p.name for p in box.path("/tmp").glob(name + "_*.deb"))

    # As an operator does; the root holds every dependency, so apt needs no network.
    r = box.run("apt-get", "install", "-y", deb("upesi"))
    assert b"Setting up upesi " in r.stdout
    # upesi-dev's Recommends (a compiler, pkg-config) are not in the root: left out here.
    box.run("apt-get", "install", "-y", "--no-install-recommends",
            deb("upesi-dev"))
    assert box.path("/etc/debian_version").read_text().startswith("12.")
    # The layout: binary, shipped defaults, config, spool, state, unit (enabled), SDK, man pages.
    assert box.path("/usr/sbin/upesi").is_file()
    assert os.readlink(box.path("/usr/sbin/sendmail")) == "upesi-sendmail"
    assert box.path("/usr/share/upesi/etc/smtp.ini").is_file()
    assert box.path("/etc/upesi/config/smtp.ini").is_file()
    assert box.path("/lib/systemd/system/upesi.service").is_file()
    assert box.path("/etc/systemd/system/multi-user.target.wants/upesi.service").is_symlink()
    assert box.path("/usr/include/upesi/plugin.hpp").is_file()
    assert list(box.path("/usr/lib").glob("*/pkgconfig/upesi.pc"))
    assert box.path("/usr/share/man/man8/upesi.8.gz").is_file()
    assert box.path("/usr/share/man/man5/upesi.ini.5.gz").is_file()
    docs = box.path("/usr/share/doc/upesi/plugins/queue/maildir")
    assert list(docs.glob("README.md*")), "the plugin docs are not installed"
    conffiles = box.run("dpkg-query", "-W", "-f=${Conffiles}", "upesi").stdout.decode()
    assert "/etc/upesi/config/smtp.ini" in conffiles
    # The user, the group sendmail writes the maildrop as, and who owns what.
    assert box.uid("upesi") is not None
    drop = box.path("/usr/sbin/upesi-sendmail").stat()
    assert drop.st_mode & 0o2000, "sendmail is not set-group-id"
    assert box.run("getent", "group", "upesidrop").stdout.decode().split(":")[2] == \
        str(drop.st_gid)
    maildrop = box.path("/var/spool/upesi/maildrop").stat()
    assert oct(maildrop.st_mode & 0o7777) == "0o1730"
    assert maildrop.st_uid == box.uid("upesi")[0] and maildrop.st_gid == drop.st_gid
    assert box.path("/var/spool/upesi/queue").stat().st_uid == box.uid("upesi")[0]
    assert box.path("/var/lib/upesi").stat().st_uid == box.uid("upesi")[0]
    me = box.path("/etc/upesi/config/me").read_text().strip()
    assert me and me in box.path("/etc/upesi/config/host_list").read_text()
    r = box.run("/usr/sbin/upesi", "-c", "/etc/upesi", "--check")
    assert r.returncode == 0


def test_the_service_runs_unprivileged_on_port_25_and_delivers(box):
    box.start()
    status = box.path("/proc/%d/status" % box.server.pid).read_text()
    uid = box.uid("upesi")[0]
    assert re.search(r"^Uid:\s+%d\s+%d\s+%d\s+%d$" % (uid, uid, uid, uid), status, re.M)
    assert re.search(r"^CapEff:\s+0000000000000400$", status, re.M)  # CAP_NET_BIND_SERVICE
    swaks(box, "someone@localhost", "by swaks")
    files = wait_maildir(box, "localhost", "someone")
    assert len(files) == 1 and "hello from swaks" in files[0].read_text()
    # What cron runs, as an ordinary user: sendmail -FCronDaemon -i -B8BITMIME -oem root
    box.run("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                "/usr/sbin/sendmail", "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root",
                input=b"Subject: Cron <nobody@host> date\n\nThu Dec  3 00:00:01 UTC 2026\n")
    me = box.path("/etc/upesi/config/me").read_text().strip()
    files = wait_maildir(box, me, "root")
    assert len(files) == 1, box.log()[-3000:]
    text = files[0].read_text()
    assert "From: CronDaemon <nobody@%s>" % me in text
    assert "(Upesi sendmail, from userid %d)" % box.uid("nobody")[0] in text
    assert not [p for p in box.path("/var/spool/upesi/maildrop").iterdir() if p.is_file()]


def test_reload_under_load_loses_nothing(box):
    since = box.mark()
    load = subprocess.Popen(["ip", "netns", "exec", box.ns, "/usr/sbin/smtp-source", "-c", "-s",
                             "4", "-m", "300", "-f", "load@client.example", "-t",
                             "load@localhost", "127.0.0.1:25"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(0.5)
    # The unit's ExecReload: /bin/kill -USR2 $MAINPID
    assert box.unit()["ExecReload"] == "/bin/kill -USR2 $MAINPID"
    box.server.send_signal(signal.SIGUSR2)
    out, _ = load.communicate(timeout=300)
    assert load.returncode == 0, out.decode(errors="replace")[-2000:]
    assert box.wait_log("reload done", since=since), box.log()[since:][-3000:]
    files = wait_maildir(box, "localhost", "load", count=300)
    assert len(files) == 300


def repack(box, deb, version, work):
    """The same package at a higher `version`, whose shipped smtp.ini changed too (as an
    upgrade's would), built with dpkg-deb."""
    tree = work / ("repack-" + version)
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
    control = tree / "DEBIAN" / "control"
    control.write_text(re.sub(r"^Version: .*$", "Version: " + version, control.read_text(),
                              flags=re.M))
    ini = tree / "etc" / "upesi" / "config" / "smtp.ini"
    ini.write_text(ini.read_text() + "; changed in %s\n" % version)
    md5 = subprocess.run(["md5sum", "etc/upesi/config/smtp.ini"], cwd=tree, check=True,
                         capture_output=True, text=True).stdout
    sums = tree / "DEBIAN" / "md5sums"
    sums.write_text(re.sub(r"^\S+  etc/upesi/config/smtp.ini\n", md5, sums.read_text(),
                           flags=re.M))
    out = work / ("upesi_%s_amd64.deb" % version)
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(out)], check=True,
                   capture_output=True)
    return out


def test_upgrade_keeps_an_edited_config(box, built, work):
    ini = box.path("/etc/upesi/config/smtp.ini")
    ini.write_text(ini.read_text() + "max_recipients=77\n")
    version = subprocess.run(["dpkg-deb", "-f", str(built[1]["upesi"]), "Version"],
                             capture_output=True, text=True, check=True).stdout.strip()
    newer = repack(box, built[1]["upesi"], version + "+upgrade1", work)
    shutil.copy(newer, box.path("/tmp"))
    r = box.run("apt-get", "install", "-y", "-o",
                "Dpkg::Options::=--force-confold", "/tmp/" + newer.name)
    assert box.run("dpkg-query", "-W", "-f=${Version}", "upesi").stdout.decode() == \
        version + "+upgrade1"
    assert "max_recipients=77" in ini.read_text(), r.stdout.decode()[-2000:]
    assert "changed in" in box.path("/etc/upesi/config/smtp.ini.dpkg-dist").read_text()
    # The new binary serves with the kept config, and the mail already delivered is there.
    box.stop()
    box.start()
    swaks(box, "after@localhost", "after the upgrade")
    assert len(wait_maildir(box, "localhost", "after")) == 1
    assert len(maildir(box, "localhost", "load")) == 300


def test_remove_keeps_the_queue_and_purge_takes_everything_but_the_users(box):
    # A message that waits in the queue: the root has no resolver, so its MX lookup defers.
    box.run("/usr/sbin/sendmail", "far@remote.example", input=b"Subject: deferred\n\nx\n")
    queue = box.path("/var/spool/upesi/queue")

    def deferred():  # queue files renamed for their next attempt (Haraka's names: _1_ and on)
        return [p.name for p in queue.iterdir()
                if not p.name.startswith("__tmp__") and re.search(r"_[1-9]\d*_\d+_", p.name)]

    deadline = time.time() + 30
    while time.time() < deadline and not deferred():
        time.sleep(0.1)
    assert deferred(), box.log()[-3000:]
    box.stop()
    queued = sorted(p.name for p in queue.iterdir())
    box.run("apt-get", "remove", "-y", "upesi", "upesi-dev")
    assert not box.path("/usr/sbin/upesi").exists()
    assert box.path("/etc/upesi/config/smtp.ini").is_file()
    assert sorted(p.name for p in queue.iterdir()) == queued
    assert maildir(box, "localhost", "load")
    box.run("apt-get", "purge", "-y", "upesi")
    for gone in ("/etc/upesi", "/var/spool/upesi", "/var/lib/upesi", "/usr/sbin/sendmail"):
        assert not box.path(gone).exists(), gone
    assert box.uid("upesi") is not None
    assert box.run("getent", "group", "upesidrop").returncode == 0
