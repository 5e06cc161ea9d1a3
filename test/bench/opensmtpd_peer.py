"""A private OpenSMTPD (Debian's opensmtpd) for the benchmarks: its own smtpd.conf, spool,
control socket and log in a directory of ours, on a free loopback port, run as our child in its
own session and its own mount namespace, and stopped with it.

Like Exim (see exim_peer.py), OpenSMTPD is not installed: Debian's MTA packages conflict with
postfix, which the benchmarks need. install() fetches opensmtpd with `apt-get download` into the
user's cache directory ($XDG_CACHE_HOME or ~/.cache, upesi/peers) and unpacks it there with
`dpkg -x`; the binaries run from there. It installs the libraries the binary misses (LIBRARIES:
no conflict), creates the system users opensmtpd and opensmtpq when missing (as the package's
postinst does) and makes the unpacked smtpctl setgid opensmtpq (the package's statoverride: it
refuses to run otherwise). Needs root.

What the binary has compiled in, and how a private instance gets around it:
  /var/spool/smtpd            the spool (not configurable)
  /var/run/smtpd.sock         the control socket smtpctl talks to; /var/run/smtpd.pid is
                              written even in the foreground (/var/run is /run here)
  /var/lib/opensmtpd/empty    the chroot of the unprivileged processes
  /etc/smtpd.conf             the configuration: -f names ours instead
  /etc/mailname               the server name when present (read only; our listener and relay
                              name themselves bench.localdomain)
  /usr/libexec/opensmtpd      MDAs, table backends and filters: not used (relay only)
smtpd runs inside `unshare --mount --propagation private`, where DIR/root/spool, DIR/root/run
and DIR/root/lib are bind-mounted over /var/spool, /run and /var/lib; these host directories are
so neither written nor seen by it (their other contents are hidden inside the namespace only).
The mounts die with the namespace, that is with the last of its processes. smtpctl reaches the
control socket with `nsenter --mount` into smtpd's namespace (it has no option for another
socket).

Its own resolv.conf is bound over the host's in the namespace too: "lookup file" and a loopback
name server. Its resolver (libasr) otherwise asks DNS before /etc/hosts ("lookup bind file"),
and smtpd forward-confirms every client's reverse name: each connection sent queries for
"localhost" to the host's name server, off loopback, and waited on them (one round crawled at
a few messages a second, another stalled).

smtpd listens with a backlog of 5, compiled in (SMTPD_BACKLOG), where Postfix's and (as the
benchmarks run it) Exim's is 100. Ten sessions that reconnect at once overflow it: the kernel
drops the extra SYNs, and each of those clients waits the 1 s SYN retransmission timeout, so
that a round measured that timer (tens of messages a second) instead of the server. After each
start the listening socket is taken from smtpd's smtp process (pidfd_getfd, which needs root)
and listen() is called on it again with a backlog of 100, which Linux applies to the socket in
place.

smtpd starts with its mta paused (-P mta): mail is queued and kept, nothing is delivered until
release() (`smtpctl resume mta`). The queue is not fsynced before the 250 (the message and its
envelopes are written and renamed into queue/ without fsync; only envelope updates are synced),
unlike Postfix and Exim. queued() counts the messages under spool/smtpd/queue/. smtpd logs to
stderr (-d, without -v: its shipped level, one line per connection, message, envelope and
delivery), into DIR/smtpd.log.
"""
import ctypes
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys

from bench_common import Peer, free_port, peers_cache_dir, tree_pids, unpack_debs

PACKAGE = "opensmtpd"
USERS = ("opensmtpd", "opensmtpq")
# The package's library dependencies a postfix machine may lack.
LIBRARIES = ("libevent-2.1-7", "libdb5.3", "libpam0g")
# Host directories covered inside the namespace (where the compiled-in paths lie).
COVERED = {"run": "/run", "spool": "/var/spool", "lib": "/var/lib"}
# The listen backlog smtpd gets instead of its 5: Postfix's (and Exim's, as benchmarked).
BACKLOG = 100
SYS_PIDFD_GETFD = 438  # x86_64 and the other architectures of the common syscall table


def cache_dir():
    return peers_cache_dir()


def binary():
    return cache_dir() / "opensmtpd" / "usr" / "sbin" / "smtpd"


def smtpctl():
    return cache_dir() / "opensmtpd" / "usr" / "sbin" / "smtpctl"


def install():
    """The unpacked smtpd binary (fetched and unpacked on first use); raises RuntimeError when
    it cannot be had."""
    exe = binary()
    if not exe.exists():
        unpack_debs([PACKAGE], "opensmtpd")
    if "not found" in subprocess.run(["ldd", str(exe)], capture_output=True, text=True).stdout:
        subprocess.run(["apt-get", "install", "-y", "-q", *LIBRARIES], check=True,
                       capture_output=True, timeout=300)
    for user in USERS:  # as the package's postinst
        if subprocess.run(["id", user], capture_output=True).returncode == 0:
            continue
        if subprocess.run(["getent", "group", user], capture_output=True).returncode != 0:
            subprocess.run(["addgroup", "--system", "--quiet", user], check=True,
                           capture_output=True, timeout=60)
        subprocess.run(["adduser", "--system", "--quiet", "--home", "/var/lib/opensmtpd/empty",
                        "--no-create-home", "--disabled-password", "--ingroup", user, user],
                       check=True, capture_output=True, timeout=60)
    ctl = smtpctl()
    if ctl.stat().st_mode & 0o2000 == 0:
        shutil.chown(ctl, "root", "opensmtpq")
        os.chmod(ctl, 0o2755)
    return exe


def version():
    """OpenSMTPD's version and the Debian package's ("6.8.0p2 (deb 6.8.0p2-4+b4)"), or None
    when it is not unpacked."""
    exe = binary()
    if not exe.exists():
        return None
    try:  # -h prints the version (on stderr, exit status 1) and reads nothing
        r = subprocess.run([str(exe), "-h"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"version: OpenSMTPD (\S+)", r.stdout + r.stderr)
    if not m:
        return None
    debs = sorted((cache_dir() / "debs").glob("%s_*.deb" % PACKAGE))
    return m.group(1) + (" (deb %s)" % debs[-1].name.split("_")[1] if debs else "")


# Bind mounts first, /run first of all (util-linux's mount keeps its state there); -n: no
# mtab/utab written.
NAMESPACE_SETUP = """set -e
mount -n --bind "$1/run" /run
mount -n --bind "$1/spool" /var/spool
mount -n --bind "$1/lib" /var/lib
[ -z "$2" ] || mount -n --bind "$1/resolv.conf" "$2"
shift 2
exec "$@"
"""

# What smtpd's resolver reads instead of the host's: /etc/hosts only, and should a query be
# sent all the same, to loopback, where no name server listens (refused at once).
RESOLV_CONF = "nameserver 127.0.0.1\nlookup file\n"


def raise_backlog(root, port, backlog):
    """Calls listen(backlog) on the socket listening on 127.0.0.1:port in the process tree of
    root (a copy of its descriptor taken with pidfd_getfd); the number of sockets changed."""
    libc = ctypes.CDLL(None, use_errno=True)
    changed = 0
    for pid in tree_pids(root):
        try:
            pidfd = os.pidfd_open(pid)
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        try:
            for fd in map(int, fds):
                try:
                    if not os.readlink("/proc/%d/fd/%d" % (pid, fd)).startswith("socket:"):
                        continue
                except OSError:
                    continue
                copy = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
                if copy < 0:
                    raise OSError(ctypes.get_errno(), "pidfd_getfd(%d, %d)" % (pid, fd))
                sock = socket.socket(fileno=copy)
                try:
                    if sock.family == socket.AF_INET and \
                            sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) and \
                            sock.getsockname() == ("127.0.0.1", port):
                        sock.listen(backlog)
                        changed += 1
                finally:
                    sock.close()  # our copy only
        finally:
            os.close(pidfd)
    return changed


def resolv_conf_target(root):
    """Where the private resolv.conf goes: the host's /etc/resolv.conf (followed if a link) to
    bind over; "" when there is none, or when it lies in a covered directory (then it is written
    into root's copy of that directory, which the namespace shows in its place)."""
    real = pathlib.Path(os.path.realpath("/etc/resolv.conf"))
    for sub, host in COVERED.items():
        if real.is_relative_to(host):
            inside = pathlib.Path(root) / sub / real.relative_to(host)
            inside.parent.mkdir(parents=True, exist_ok=True)
            inside.write_text(RESOLV_CONF)
            return ""
    if not real.exists():
        return ""  # none on the host: libasr's default name server is loopback's
    return str(real)


CONFIG = """\
listen on 127.0.0.1 port {port} hostname bench.localdomain
{limits}action "relay" relay {relay_host}helo bench.localdomain
match from src 127.0.0.1 for {rcpt} action "relay"
"""


class OpenSmtpdPeer(Peer):
    """mode "queue" (inbound): relays `domains` (a list) for 127.0.0.1 and keeps every message
    in its queue (its mta stays paused). mode "drain": relays every domain to 127.0.0.1:sink_port
    (no STARTTLS tried), mta paused until release(). concurrency (drain): connections to the sink
    at most; with it the per-host, route, connector, relay and domain connection limits are set
    to it and the delays between connections (shipped: 5 s per route after a connect, 3 s after
    a disconnect, 2 s per relay) to 0, so that it opens them at once, as Postfix at its initial
    destination concurrency. None: OpenSMTPD's shipped limits (at most 5 connections to one
    host from one source)."""

    def __init__(self, workdir, name, mode="queue", domains=("example.com",), sink_port=None,
                 concurrency=None):
        if mode not in ("queue", "drain"):
            raise ValueError("mode: queue or drain, not %r" % mode)
        if mode == "drain" and not sink_port:
            raise ValueError("drain needs a sink_port")
        exe = install()
        self.dir = pathlib.Path(workdir) / name
        self.root = self.dir / "root"
        for path in (self.dir, exe):
            for host in COVERED.values():
                if pathlib.Path(path).resolve().is_relative_to(host):
                    raise RuntimeError("%s lies under %s, which smtpd's mount namespace covers"
                                       % (path, host))
        # smtpd insists on spool/smtpd being root's and 0711; it makes the rest of the spool.
        for sub, mode_bits in (("run", 0o755), ("spool", 0o755), ("spool/smtpd", 0o711),
                               ("lib", 0o755), ("lib/opensmtpd", 0o755),
                               ("lib/opensmtpd/empty", 0o755)):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
            os.chmod(self.root / sub, mode_bits)
        self.spool = self.root / "spool" / "smtpd"
        self.queue_dir = self.spool / "queue"
        self.conf = self.dir / "smtpd.conf"
        self.mode, self.concurrency = mode, concurrency
        limits = ""
        if concurrency:
            limits = ("mta limit " + " ".join("max-conn-per-%s %d" % (k, concurrency) for k in (
                "host", "route", "connector", "relay", "domain")) +
                " conn-delay-route 0 conn-delay-relay 0 reconn-delay-route 0\n")
        port = free_port()
        if mode == "drain":
            relay_host, rcpt = "host smtp+notls://127.0.0.1:%d " % sink_port, "any"
        else:
            relay_host = ""
            rcpt = "domain { %s }" % ", ".join('"%s"' % d for d in domains)
        self.conf.write_text(CONFIG.format(port=port, limits=limits, relay_host=relay_host,
                                           rcpt=rcpt))
        self.paused = True
        (self.root / "resolv.conf").write_text(RESOLV_CONF)
        argv = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                NAMESPACE_SETUP, "sh", str(self.root), resolv_conf_target(self.root), str(exe),
                "-d", "-P", "mta", "-f", str(self.conf)]
        super().__init__(name, argv, port, log_path=str(self.dir / "smtpd.log"))

    def _spawn(self, mode):
        super()._spawn(mode)
        if raise_backlog(self.pid, self.port, BACKLOG) == 0:
            self.stop()
            raise RuntimeError("%s: no socket listening on port %d found to raise its backlog"
                               % (self.name, self.port))

    def ctl(self, *args):
        """Runs `smtpctl ARGS` against this smtpd (inside its mount namespace); its output."""
        r = subprocess.run(["nsenter", "--target", str(self.pid), "--mount", str(smtpctl()),
                            *args], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("%s: smtpctl %s: %s" % (self.name, " ".join(args),
                                                       (r.stderr or r.stdout).strip()))
        return r.stdout

    def queued(self):
        """Messages in its queue (queue/XX/MSGID/message; a message is renamed in there whole
        once its envelopes are written)."""
        n = 0
        if not self.queue_dir.exists():
            return 0  # before smtpd's first start
        for bucket in os.scandir(self.queue_dir):
            try:
                for msg in os.scandir(bucket.path):
                    n += os.path.exists(os.path.join(msg.path, "message"))
            except FileNotFoundError:
                pass  # removed meanwhile
        return n

    def empty(self):
        """Removes the whole spool (while smtpd is stopped; it makes the directories anew)."""
        for entry in os.scandir(self.spool):
            shutil.rmtree(entry.path)

    def reset(self):
        """Restarts smtpd with an empty queue (and its mta paused)."""
        self.restart(self.empty)
        self.paused = True

    def hold(self):
        """Pauses the mta (deliveries) again; smtpd starts with it paused."""
        if not self.paused:
            self.ctl("pause", "mta")
            self.paused = True

    def release(self):
        """Resumes the mta: every queued message is scheduled now."""
        self.ctl("resume", "mta")
        self.paused = False


def _smoke():
    """Starts each mode, sends 3 messages, checks the queue and the sink, stops."""
    import smtplib
    import tempfile
    import time
    from bench_common import start_sink, stop_all, wait_until

    def send(port, n, rcpt):
        for i in range(n):
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.sendmail("sender@example.org", [rcpt % i],
                           "Subject: smoke %d\r\n\r\nsmoke test\r\n" % i)

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="opensmtpd-smoke-"))
    peers, namespace = [], None
    try:
        q = OpenSmtpdPeer(workdir, "queue")
        peers.append(q)
        print("opensmtpd", version())
        print("queue mode: smtpd pid %d on port %d; %s" % (
            q.pid, q.port, " ".join(q.ctl("show", "status").split())))
        send(q.port, 3, "user%d@example.com")
        wait_until(lambda: q.queued() >= 3, 10, "3 messages queued")
        time.sleep(0.5)
        print("queue mode: sent 3, queued() = %d, smtpctl show queue: %d envelopes" % (
            q.queued(), len(q.ctl("show", "queue").splitlines())))
        try:
            send(q.port, 1, "user%d@elsewhere.example")
            print("queue mode: FAIL: relayed for elsewhere.example")
        except smtplib.SMTPRecipientsRefused as e:
            print("queue mode: elsewhere.example refused: %s" % list(e.recipients.values())[0][0])
        q.reset()
        print("queue mode: after reset() queued() = %d" % q.queued())
        q.stop()
        peers.remove(q)

        sink = start_sink(counting=True, logdir=str(workdir))
        peers.append(sink)
        d = OpenSmtpdPeer(workdir, "drain", mode="drain", sink_port=sink.port, concurrency=4)
        peers.append(d)
        send(d.port, 3, "user%d@d1.example")
        wait_until(lambda: d.queued() >= 3, 10, "3 messages queued")
        time.sleep(1)
        print("drain mode: preloaded, queued() = %d, sink has %d" % (d.queued(),
                                                                     sink.messages()))
        t0 = time.monotonic()
        d.release()
        wait_until(lambda: sink.messages() >= 3 and d.queued() == 0, 30,
                   lambda: "the drain (sink %d, queue %d)" % (sink.messages(), d.queued()))
        print("drain mode: released; sink has %d, queued() = %d after %.2f s" % (
            sink.messages(), d.queued(), time.monotonic() - t0))
        d.hold()
        print("drain mode: held again: %s" % " ".join(d.ctl("show", "status").split()))
        log = pathlib.Path(d.log_path).read_text()
        print("drain mode: log: %d lines, %d deliveries result=\"Ok\", %d connections to the "
              "sink" % (len(log.splitlines()), log.count('result="Ok"'),
                        log.count(" mta connected")))
        namespace = os.readlink("/proc/%d/ns/mnt" % d.pid)
        print("drain mode: smtpd's mount namespace %s, ours %s" % (
            namespace, os.readlink("/proc/self/ns/mnt")))
    finally:
        failed = stop_all(peers)
        shutil.rmtree(workdir, ignore_errors=True)
    inside = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink("/proc/%s/ns/mnt" % pid) == namespace:
                inside.append(pid)
        except OSError:
            pass
    left = [line for line in subprocess.run(["findmnt", "-rn", "-o", "TARGET,SOURCE"],
                                            capture_output=True, text=True).stdout.splitlines()
            if str(workdir) in line]
    print("after stop: processes in its namespace %d, host mounts of the work directory %d; "
          "/var/spool/smtpd exists: %s; /run/smtpd.sock exists: %s" % (
              len(inside), len(left), os.path.exists("/var/spool/smtpd"),
              os.path.exists("/run/smtpd.sock")))
    if failed:
        raise failed


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("needs root")
    _smoke()
