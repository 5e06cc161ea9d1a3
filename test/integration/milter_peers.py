"""The milter filters test_milter_filters.py runs against: each started here on a loopback port
it picked (or a unix socket in the test's directory) with a config written here, polled until it
accepts connections, and stopped by the test.

- ScriptedMilter: peers/scripted_milter.py (python3-milter, so libmilter speaks for it), which
  answers as a JSON script says and records what it was sent;
- GarbageMilter: peers/garbage_milter.py, which breaks the protocol on purpose;
- opendkim() in sign mode;
- opendmarc(), in a network and mount namespace of its own, where /etc/resolv.conf names a
  dnsmasq on that namespace's 127.0.0.1:53: opendmarc (and libspf2 inside it) resolves only
  through the system resolver, which takes no port. Its socket is a unix socket, which the
  namespace does not hide.
"""
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

from conftest import free_port

PEERS = pathlib.Path(__file__).resolve().parent / "peers"
PYTHON = "/usr/bin/python3"
OPENDKIM = "/usr/sbin/opendkim"
OPENDMARC = "/usr/sbin/opendmarc"
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
PUBLIC_SUFFIX_LIST = "/usr/share/publicsuffix/public_suffix_list.dat"


def can_unshare():
    """True if this process may make network and mount namespaces (root, or a container that
    lets it)."""
    if not shutil.which("unshare"):
        return False
    r = subprocess.run(["unshare", "--mount", "--net", "true"], capture_output=True, timeout=10)
    return r.returncode == 0


class Filter:
    """A filter process. `socket` is its address as milter.ini writes it; `argv` starts it.
    The process leads a session of its own, so that stopping it stops what it started."""

    def __init__(self, argv, socket, address, workdir, says_ready=False):
        self.argv = argv
        self.socket = socket
        self.address = address  # (host, port) or a unix socket's path
        self.workdir = workdir
        self.says_ready = says_ready
        self.proc = None
        self.log_path = workdir / ("%s.log" % pathlib.Path(argv[0]).name)

    def start(self, timeout=15):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE if self.says_ready else log,
                                     stderr=log, stdin=subprocess.DEVNULL, cwd=self.workdir,
                                     start_new_session=True)
        log.close()
        if self.says_ready:
            line = self.proc.stdout.readline().strip()
            assert line == b"ready", "filter did not start: %r\n%s" % (line, self.log())
        self.wait_connectable(timeout)
        return self

    def wait_connectable(self, timeout):
        family = socket.AF_UNIX if isinstance(self.address, str) else socket.AF_INET
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, "filter exited:\n" + self.log()
            try:
                with socket.socket(family, socket.SOCK_STREAM) as probe:
                    probe.settimeout(1)
                    probe.connect(self.address)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("filter not listening on %s:\n%s"
                                         % (self.socket, self.log()))
                time.sleep(0.05)

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        os.killpg(self.proc.pid, sig)

    def pause(self):
        self.signal(signal.SIGSTOP)

    def resume(self):
        self.signal(signal.SIGCONT)

    def kill(self):
        """SIGKILL, as a crash: the sockets it had open are closed by the kernel."""
        self.signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if not self.running():
            return
        self.signal(signal.SIGCONT)  # a paused filter would not act on SIGTERM
        self.signal(signal.SIGTERM)
        # libmilter notices the stop only at its next 5 s poll once it has served a session;
        # what the filters record is on disk already, so the grace is short.
        try:
            self.proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


def inet_socket(port):
    """(the socket as milter.ini writes it, as libmilter's setconn writes it)."""
    return "inet:127.0.0.1:%d" % port, "inet:%d@127.0.0.1" % port


class ScriptedMilter(Filter):
    """peers/scripted_milter.py on a loopback port (`port`, or a free one), or on a unix socket
    when `unix`."""

    def __init__(self, workdir, unix=False, port=None):
        workdir.mkdir(parents=True, exist_ok=True)
        self.script_path = workdir / "script.json"
        self.events_path = workdir / "events.jsonl"
        self.set_script({})
        self.events_path.touch()
        if unix:
            path = str(workdir / "scripted.sock")
            ours, theirs, address = "unix:" + path, "unix:" + path, path
        else:
            port = port or free_port()
            (ours, theirs), address = inet_socket(port), ("127.0.0.1", port)
        super().__init__([PYTHON, str(PEERS / "scripted_milter.py"), theirs,
                          str(self.script_path), str(self.events_path)],
                         ours, address, workdir, says_ready=True)

    def set_script(self, script):
        """The filter's answers from its next CONNECT on (see peers/scripted_milter.py)."""
        tmp = self.script_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(script))
        tmp.rename(self.script_path)

    def clear_events(self):
        self.events_path.write_text("")

    def events(self, stage=None, until=None, timeout=10):
        """The recorded events (of `stage` only, if given); with `until`, waits until an event
        of that stage has been recorded."""
        deadline = time.monotonic() + timeout
        while True:
            found = [json.loads(line) for line in self.events_path.read_text().splitlines()
                     if line.endswith("}")]
            if until is None or any(e["stage"] == until for e in found):
                break
            if time.monotonic() > deadline:
                raise AssertionError("no %r event in %s" % (until, found))
            time.sleep(0.02)
        return [e for e in found if stage is None or e["stage"] == stage]


class GarbageMilter(Filter):
    def __init__(self, workdir, mode):
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        super().__init__([PYTHON, str(PEERS / "garbage_milter.py"), str(port), mode],
                         inet_socket(port)[0], ("127.0.0.1", port), workdir, says_ready=True)


def opendkim(workdir, domain, selector, key_path):
    """opendkim signing mail from `domain` (and its subdomains) with the key at key_path for
    clients on loopback (its default InternalHosts)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    ours, theirs = inet_socket(port)
    conf = workdir / "opendkim.conf"
    conf.write_text("\n".join([
        "Socket %s" % theirs,
        "Mode s",
        "Domain %s" % domain,
        "SubDomains yes",
        "Selector %s" % selector,
        "KeyFile %s" % key_path,
        # The key is in the test's own directory, but under /tmp, which others may write.
        "RequireSafeKeys false",
        "Canonicalization relaxed/simple",
        "Syslog no",
        "PidFile %s" % (workdir / "opendkim.pid"),
        "",
    ]))
    return Filter([OPENDKIM, "-f", "-x", str(conf)], ours, ("127.0.0.1", port), workdir)


def opendmarc(workdir, zone_records, authserv_id, reject_failures=True):
    """opendmarc with SPF checked by itself, resolving `zone_records` (dns_zone's lines) from a
    dnsmasq of its own; returns the Filter (a unix socket in workdir)."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = str(workdir / "opendmarc.sock")
    ignore_hosts = workdir / "ignore-hosts"
    # The default list holds 127.0.0.1, where our test clients connect from.
    ignore_hosts.write_text("192.0.2.1\n")
    conf = workdir / "opendmarc.conf"
    conf.write_text("\n".join([
        "Socket local:%s" % path,
        "AuthservID %s" % authserv_id,
        "IgnoreHosts %s" % ignore_hosts,
        "SPFSelfValidate true",
        "SPFIgnoreResults true",
        "RejectFailures %s" % ("true" if reject_failures else "false"),
        "FailureReports false",
        "PublicSuffixList %s" % PUBLIC_SUFFIX_LIST,
        "Syslog false",
        "UMask 0007",
        "DNSTimeout 2",
        "",
    ]))
    zone = workdir / "zone.conf"
    zone.write_text("".join(line + "\n" for line in zone_records))
    resolv = workdir / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    # In the new namespaces: loopback up, our resolv.conf over the system's, dnsmasq on :53
    # (nothing forwarded anywhere), and opendmarc once dnsmasq answers TCP.
    script = "\n".join([
        "set -e",
        "ip link set lo up",
        "mount --bind %s /etc/resolv.conf" % resolv,
        "%s --keep-in-foreground --port=53 --listen-address=127.0.0.1 --bind-interfaces "
        "--no-resolv --no-hosts --no-poll --pid-file= --log-facility=- --local=/test/ "
        "--conf-file=%s &" % (DNSMASQ, zone),
        "for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/53) 2>/dev/null && break; "
        "sleep 0.05; done",
        "exec %s -f -c %s" % (OPENDMARC, conf),
    ])
    return Filter(["unshare", "--mount", "--net", "--fork", "/bin/bash", "-c", script],
                  "unix:" + path, path, workdir)
