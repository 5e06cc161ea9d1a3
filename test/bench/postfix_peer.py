"""A private Postfix instance for the benchmarks: its own config, queue and data directories in
a directory of ours, an smtpd on a free loopback port, started with `postfix -c DIR start` and
stopped with `postfix -c DIR stop` (then SIGKILL of whatever is left). /etc/postfix is only read
(meta_directory: postfix-files, dynamicmaps.cf), never written.

Needs root (Postfix's master runs as root and drops to mail_owner=postfix) and the Debian
package (postfix, which also brings smtp-source and smtp-sink).

Postfix logs to DIR/maillog through a postlog service (this machine has no syslog), at its
default verbosity; log_tail() shows its end when something fails. Logging is on by default, as
any Postfix in service logs every message; PostfixPeer(..., log=False) turns it off (then no
syslog socket: lines are lost).

The master is started under taskset on the server CPU when the benchmark pinned CPUs
(bench_common.pin_cpus); its children inherit that. With cgroup (a bench_common.MemoryCgroup),
`postfix start` runs in that cgroup, so the master and every child it spawns are charged there.

HOLD_ALL keeps every message the smtpd accepts in the hold queue (written and fsynced by
cleanup before the 250, as any queue file), where nothing delivers it: mail kept as Upesi keeps
its own with deliveries disabled, without qmgr, trivial-rewrite's resolving for delivery or a
transport in the measured window. held(), delete_held() and release_held() work on that queue.
DISCARD_ALL has cleanup drop every message after the end of DATA instead (nothing stays queued),
for comparisons with servers that discard.
"""
import os
import pathlib
import shutil
import signal
import subprocess

from bench_common import free_port, pid_alive, pinned, processes, wait_port, wait_until

# Services the benchmarks need. pickup: postqueue -f refuses to run without it ("mail system is
# down"); retry/error: defer_transports sends held mail through `retry`; defer/bounce/trace:
# delay and bounce logs; flush: postqueue -f; anvil: smtpd's client limits; scache: smtp
# connection reuse. No chroot anywhere (the queue is not set up for one).
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
flush     unix  n       -       n       1000?   0       flush
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

BASE_MAIN_CF = {
    "compatibility_level": "3.6",
    "mail_owner": "postfix",
    "setgid_group": "postdrop",
    "myhostname": "bench.localdomain",
    "mydomain": "localdomain",
    "myorigin": "$myhostname",
    "inet_interfaces": "loopback-only",
    "inet_protocols": "ipv4",
    "mydestination": "",
    "mynetworks": "127.0.0.0/8",
    "local_recipient_maps": "",
    "alias_maps": "",
    "alias_database": "",
    "smtpd_peername_lookup": "no",  # no reverse DNS of the client
    "smtp_dns_support_level": "disabled",
    "biff": "no",
    "append_dot_mydomain": "no",
    "smtpd_banner": "$myhostname ESMTP",
}

# Where mail waits; defer/, trace/, bounce/ only hold logs about it.
QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")

# Every message from the benchmark's client into the hold queue, after the end of DATA.
HOLD_ALL = {"smtpd_end_of_data_restrictions": "check_client_access inline:{127.0.0.1=HOLD}"}
# Every message from the benchmark's client discarded, after the end of DATA.
DISCARD_ALL = {"smtpd_end_of_data_restrictions":
               "check_client_access inline:{127.0.0.1=DISCARD}"}

# Debian's master.cf line for tlsmgr (the TLS PRNG and session cache), for TLS peers.
TLSMGR = "tlsmgr    unix  -       -       n       1000?   1       tlsmgr\n"


class PostfixPeer:
    def __init__(self, workdir, name, settings, log=True, services="", cgroup=None):
        """services: more master.cf lines (e.g. TLSMGR)."""
        self.name = name
        self.dir = pathlib.Path(workdir) / name
        self.etc = self.dir / "etc"
        self.queue = self.dir / "queue"
        self.maillog = self.dir / "maillog"
        self.log_path = str(self.maillog)
        self.port = free_port()
        self.pid = None
        self.etc.mkdir(parents=True)
        (self.dir / "data").mkdir()
        shutil.chown(self.dir / "data", "postfix")
        self.queue.mkdir()  # root-owned; post-install creates the tree under it
        # The postfix user must reach its queue (mkdtemp makes the work directory 0700).
        for d in (pathlib.Path(workdir), self.dir):
            os.chmod(d, os.stat(d).st_mode | 0o005)
        main = dict(BASE_MAIN_CF, queue_directory=str(self.queue),
                    data_directory=str(self.dir / "data"))
        if log:
            main.update(maillog_file=str(self.maillog), maillog_file_prefixes=str(self.dir))
        main.update(settings)
        (self.etc / "main.cf").write_text("".join("%s = %s\n" % kv for kv in main.items()))
        (self.etc / "master.cf").write_text(MASTER_CF.format(port=self.port) + services)
        try:
            self._run("postfix", "check")
            self._run("postfix", "start", pin=True, cgroup=cgroup)
            self.pid = int((self.queue / "pid" / "master.pid").read_text().split()[0])
            wait_port(self.port, pid=self.pid)
        except BaseException as e:
            self.stop()
            if not isinstance(e, Exception):
                raise
            raise RuntimeError("%s: %s\n--- maillog tail ---\n%s" % (name, e, self.log_tail())) \
                from None

    def _run(self, command, *args, timeout=60, pin=False, cgroup=None):
        """Runs a Postfix command on this instance's config; pin: on the server CPU; cgroup:
        in that MemoryCgroup."""
        argv = [command, "-c", str(self.etc), *args]
        r = subprocess.run(pinned(argv) if pin else argv, capture_output=True,
                           text=True, timeout=timeout,
                           preexec_fn=cgroup.join if cgroup else None)
        if r.returncode != 0:
            raise RuntimeError("%s -c DIR %s: rc=%d %s%s" % (command, " ".join(args),
                                                             r.returncode, r.stdout, r.stderr))
        return r.stdout

    def log_bytes(self):
        """The size of its maillog now."""
        try:
            return os.path.getsize(self.maillog)
        except OSError:
            return 0

    def log_tail(self, lines=30):
        try:
            text = self.maillog.read_text(errors="replace")
        except OSError:
            return "(no maillog)"
        return "\n".join(text.splitlines()[-lines:])

    def _procs(self):
        """(pid, ppid, pgrp, command name) of every live (not zombie) process."""
        for pid, fields, comm in processes():
            if fields[0] != "Z":
                yield pid, int(fields[1]), int(fields[2]), comm

    def children(self, comm):
        """Pids of the master's children whose command name is comm (e.g. qmgr)."""
        return [pid for pid, ppid, _, name in self._procs() if ppid == self.pid and name == comm]

    def _group(self):
        return [pid for pid, _, pgrp, _ in self._procs() if pgrp == self.pid]

    def set(self, **settings):
        """postconf -e, then the reload: SIGHUP to the master, which is what `postfix reload`
        sends after a `postsuper active` check, without its `postsuper &` queue scan (that
        scan would run beside the measurement, outside the master's process tree, and keeps
        `postfix reload` waiting about 2 s). Returns once a new qmgr runs: it reads the queue
        manager settings (such as defer_transports) when it starts."""
        old = set(self.children("qmgr"))
        self._run("postconf", "-e", *("%s=%s" % kv for kv in settings.items()))
        os.kill(self.pid, signal.SIGHUP)
        wait_until(lambda: set(self.children("qmgr")) - old, 30, "%s: a new qmgr" % self.name,
                   interval=0.005)

    def flush(self):
        """postqueue -f: deliver the deferred queue now."""
        self._run("postqueue", "-f")

    def held(self):
        """Messages in the hold queue."""
        return sum(len(files) for _, _, files in os.walk(self.queue / "hold"))

    def delete_held(self):
        """postsuper -d ALL hold: empties the hold queue (the running instance keeps going)."""
        self._run("postsuper", "-d", "ALL", "hold", pin=True)

    def release_held(self):
        """postsuper -H ALL moves every held message to the deferred queue, postqueue -f has qmgr
        deliver it now; no reload, the running qmgr takes them. Both run on the server CPU."""
        self._run("postsuper", "-H", "ALL", pin=True)
        self._run("postqueue", "-f", pin=True)

    def queued(self):
        """Messages in the queue (maildrop, incoming, active, deferred, hold)."""
        n = 0
        for q in QUEUES:
            for _, _, files in os.walk(self.queue / q):
                n += len(files)
        return n

    def stop(self):
        if self.pid is None:
            pidfile = self.queue / "pid" / "master.pid"
            if pidfile.exists():
                try:
                    self.pid = int(pidfile.read_text().split()[0])
                except ValueError:
                    pass
        if self.pid is None or not pid_alive(self.pid):
            return
        try:
            self._run("postfix", "stop", timeout=30)
            wait_until(lambda: not pid_alive(self.pid), 20, "%s master to exit" % self.name)
        except Exception:
            pass
        if pid_alive(self.pid):
            try:  # the master is a session and process group leader
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # Children still finishing their work (e.g. smtp) are in the master's process group.
        try:
            wait_until(lambda: not self._group(), 10, "%s processes to exit" % self.name)
        except TimeoutError:
            for pid in self._group():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
