"""A private Exim (Debian's exim4-daemon-light) for the benchmarks: its own configuration,
spool and log directory in a directory of ours, a daemon (`exim -C CONF -bdf`) on a free
loopback port, run as our child in its own session and stopped with it.

Debian's MTA packages conflict with each other (installing exim4-daemon-light would remove
postfix, which the benchmarks need), so Exim is not installed: install() fetches the .debs with
`apt-get download` into the user's cache directory ($XDG_CACHE_HOME or ~/.cache, upesi/peers)
and unpacks them there with `dpkg -x`; the binary runs from there. /etc/exim4 and /var/spool are
never read or written. The binary looks up its compiled-in user Debian-exim before it reads any
configuration, so install() creates that system user when it is missing (as the package's
postinst does: adduser --system --group Debian-exim); it also installs libidn12 (a library,
no conflict) when the binary misses it. Needs root.

Mail is queued and kept: `queue_only`, and the daemon runs without -q (no queue runner), so
nothing is delivered until release() starts queue runs. Exim writes and fsyncs the spool files
(-D, then -H) before it answers 250 (no disable_fsync). queued() counts the -H files in
spool/input. Exim logs to DIR/log/mainlog (and rejectlog, paniclog) at its default
log_selector; log_bytes() adds them up.
"""
import os
import pathlib
import shutil
import subprocess
import tempfile

from bench_common import Peer, free_port, peers_cache_dir, pinned, unpack_debs

PACKAGES = ("exim4-daemon-light", "exim4-base", "exim4-config")
USER = "Debian-exim"


def cache_dir():
    return peers_cache_dir()


def binary():
    return cache_dir() / "exim" / "usr" / "sbin" / "exim4"


def install():
    """The unpacked Exim binary (fetched and unpacked on first use); raises RuntimeError when
    it cannot be had."""
    exe = binary()
    if not exe.exists():
        unpack_debs(PACKAGES, "exim")
    if "not found" in subprocess.run(["ldd", str(exe)], capture_output=True, text=True).stdout:
        subprocess.run(["apt-get", "install", "-y", "-q", "libidn12"], check=True,
                       capture_output=True, timeout=300)
    if subprocess.run(["id", USER], capture_output=True).returncode != 0:
        subprocess.run(["adduser", "--system", "--group", "--quiet", "--home", "/nonexistent",
                        "--no-create-home", "--disabled-login", "--force-badname", USER],
                       check=True, capture_output=True, timeout=60)
    return exe


def version():
    """Exim's version and the Debian package's ("4.96 (deb 4.96-15+deb12u11)"), or None when
    it is not unpacked."""
    exe = binary()
    if not exe.exists():
        return None
    # A configuration of its own: with none, Exim would create its compiled-in spool
    # directory (/var/spool/exim4).
    with tempfile.TemporaryDirectory(prefix="exim-version-") as tmp:
        conf = pathlib.Path(tmp) / "exim.conf"
        conf.write_text("spool_directory = %s\nlog_file_path = %s/%%slog\n" % (tmp, tmp))
        try:
            out = subprocess.run([str(exe), "-C", str(conf), "-bV"], capture_output=True,
                                 text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            return None
    for line in out.splitlines():
        if line.startswith("Exim version"):
            debs = sorted((cache_dir() / "debs").glob("exim4-daemon-light_*.deb"))
            deb = " (deb %s)" % debs[-1].name.split("_")[1] if debs else ""
            return line.split()[2] + deb
    return None


CONFIG = """\
exim_path = {exe}
exim_user = {user}
exim_group = {user}
keep_environment =
spool_directory = {spool}
log_file_path = {log}/%slog
daemon_smtp_ports = {port}
local_interfaces = 127.0.0.1
primary_hostname = bench.localdomain
qualify_domain = bench.localdomain
domainlist relay_to_domains = {domains}
hostlist relay_from_hosts = 127.0.0.1
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
smtp_accept_max = 100
smtp_connect_backlog = 100
queue_only
split_spool_directory = {split}
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_rcpt:
  accept hosts = +relay_from_hosts
         domains = +relay_to_domains
  deny

begin routers
{routers}
begin transports
remote_smtp:
  driver = smtp
  port = {sink_port}
  allow_localhost
  hosts_avoid_tls = *

begin retry
*   *   F,1h,1m
"""

# Every domain to the sink, the single next hop (drain); 127.0.0.1 is this host, hence
# self = send.
ROUTE_TO_SINK = """\
sink:
  driver = manualroute
  domains = *
  route_list = * 127.0.0.1
  transport = remote_smtp
  self = send
"""


class EximPeer(Peer):
    """domains: the relay domains (an Exim domain list); sink_port: the next hop of every
    message (None: no router, nothing would be deliverable; inbound never delivers). With a
    sink_port the spool is split (split_spool_directory: 62 subdirectories, which parallel
    queue runners take in random order, so that they seldom meet on one message; the
    specification's advice for several runners)."""

    def __init__(self, workdir, name, domains="example.com", sink_port=None):
        exe = install()
        self.exe = exe
        self.dir = pathlib.Path(workdir) / name
        self.spool = self.dir / "spool"
        self.logdir = self.dir / "log"
        self.conf = self.dir / "exim.conf"
        for d in (self.spool, self.logdir):
            d.mkdir(parents=True)
            shutil.chown(d, USER, USER)
        # The exim user must reach its spool (mkdtemp makes the work directory 0700).
        for d in (pathlib.Path(workdir), self.dir):
            os.chmod(d, os.stat(d).st_mode | 0o005)
        port = free_port()
        self.conf.write_text(CONFIG.format(
            exe=exe, user=USER, spool=self.spool, log=self.logdir, port=port, domains=domains,
            routers=ROUTE_TO_SINK if sink_port else "", sink_port=sink_port or 25,
            split="true" if sink_port else "false"))
        self.queue_dir = self.spool / "input"
        self.runners = []
        super().__init__(name, [str(exe), "-C", str(self.conf), "-bdf"], port,
                         log_path=str(self.dir / "daemon.out"))

    def queued(self):
        """Messages in its queue (their -H files; in input/ and, split, its subdirectories)."""
        return sum(sum(1 for f in files if f.endswith("-H"))
                   for _, _, files in os.walk(self.queue_dir))

    def empty(self):
        """Removes every spool file (while the daemon is stopped)."""
        for sub in ("input", "msglog"):
            shutil.rmtree(self.spool / sub, ignore_errors=True)

    def reset(self):
        """Restarts the daemon with an empty queue."""
        self.restart(self.empty)

    def release(self, runners):
        """Starts `runners` queue runs at once (exim -qff, on the server CPU), each delivering
        one message at a time: at most that many deliveries in parallel. Returns at once;
        wait_runners() waits for them (they end when the queue is empty)."""
        argv = pinned([str(self.exe), "-C", str(self.conf), "-qff"])
        self.runners = [subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL) for _ in range(runners)]

    def wait_runners(self, timeout=120):
        for p in self.runners:
            p.wait(timeout=timeout)
        self.runners = []

    def log_bytes(self):
        """The size of its log files (and the daemon's output) now."""
        n = super().log_bytes()
        for f in ("mainlog", "rejectlog", "paniclog"):
            try:
                n += os.path.getsize(self.logdir / f)
            except OSError:
                pass
        return n

    def log_tail(self, chars=2000):
        try:
            text = (self.logdir / "mainlog").read_text(errors="replace")[-chars:]
        except OSError:
            text = "(no mainlog)"
        try:
            text += "\n--- paniclog ---\n" + (self.logdir / "paniclog").read_text(
                errors="replace")[-chars:]
        except OSError:
            pass
        return super().log_tail(chars) + text

    def stop(self):
        for p in self.runners:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.runners = []
        super().stop()
