#!/usr/bin/env python3
"""Realistic outbound: Upesi and Postfix deliver a preloaded queue to 100 domains whose MXs sit
behind network delays, some with STARTTLS, some deferring first (issue 21).

    flock /tmp/upesi-build.lock timeout 1800 /usr/bin/python3 test/bench/outbound_wan.py
        [--upesi BUILD/master/upesi] [--messages 3000] [--rounds 5] [--nodes 1[,2]]
        [--delay auto|netem|nfqueue] [--workdir DIR] [--json PATH]

Needs root (namespaces, Postfix), the Debian packages postfix (smtp-source, the Postfix peer),
dnsmasq-base, openssl, iproute2 and, where the kernel has no netem, iptables.

The network. The script makes 5 network namespaces (upesi-wan-PID-0..4), each joined to the
root namespace by a veth pair on 10.250.I.0/24 (10.250.I.1 on our side, I = 1..5; another
10.X/16 if 10.250 is in use here), with 20 MX addresses 10.250.I.10..29 on its end. A
namespace's whole egress is delayed, so the round trip from the root namespace to every MX of
namespace I is 20, 50, 80, 110 or 150 ms (the delay is one-way, on the MX side: a SYN-ACK, a
reply, a TLS flight each arrive that late; RTT, not one-way, is what the names say):
  netem    `tc qdisc add dev VETH root netem delay MS limit 100000` in the namespace, where the
           kernel has netem;
  nfqueue  else (this machine's kernel is built without sch_netem): `iptables -A OUTPUT -j
           NFQUEUE` in the namespace and wan_delay.py there, which gives every packet its
           ACCEPT verdict MS ms after it was queued; the same delay, done from user space.
`--delay auto` (the default) tries netem first. The RTT of each namespace is measured (TCP
connect, best of 3) and printed. Every namespace, veth, address, rule and process is removed on
exit, also after an error, Ctrl-C or SIGTERM.

The domains. d1.example .. d100.example; dK has the MX address number (K-1)//5 of namespace
(K-1)%5, so each delay serves 20 domains, and of every namespace's 20 domains 8 are plain,
8 offer STARTTLS (a self-signed RSA-2048 certificate made for the run), 2 defer first and
2 offer STARTTLS and defer first: 40 plain, 40 STARTTLS, 10 + 10 deferring in all. Deferring
first: the first RCPT of each recipient gets 451 4.7.1 (greylisting); its retry is accepted.
One wan_mx.py process per namespace serves its 20 addresses on port 25 (asyncio; counts
messages, distinct recipients, duplicates, connections, TLS handshakes and deferrals, and
notes the time of the last message; it throws the messages away).

Routing. Upesi resolves MX and A records as in service: dnsmasq on a free loopback port serves
dK.example MX 10 mx.dK.example and its A record (TTL 3600); Upesi's dns.ini names it
(servers=); its outbound.ini local_mx_ok=true (the MXs are on private addresses). Postfix
cannot ask a resolver on another port: it gets transport_maps (texthash) with
`dK.example smtp:[ADDRESS]`, no MX lookup at all. Upesi keeps DNS answers for their TTL
(warmed by the warm-up drain), so its lookups cost it little; Postfix's cost nothing.

Equal settings. Upesi as shipped apart from: relay (relay_acl_allow 127.0.0.1/32), dns.ini,
outbound.ini local_mx_ok=true and temp_fail_intervals=1s*10, log level notice, smtp.ini nodes
from --nodes (shipped: 1). Per worker Upesi runs at most concurrency_max=100 deliveries, 20 to
one domain (destination_concurrency_max), so nodes=N means 100N in all and 20N per domain.
Postfix is set to the same: default_process_limit=100N, default_ and
smtp_destination_concurrency_limit=20N, initial_destination_concurrency=20N (no slow start,
as Upesi has none). Both try STARTTLS wherever it is offered and verify nothing (Upesi:
enable_tls=true, shipped; Postfix: smtp_tls_security_level=may, with tlsmgr and a TLS session
cache, smtp_tls_session_cache_database, as Debian configures it). Retries as early as each
allows: Upesi retries a deferred message 1 s after the 451; Postfix minimal_backoff_time = 1s,
maximal_backoff_time = 1s and queue_run_delay = 1s (its queue manager scans the deferred
queue once a second, so a retry comes 1 to 2 s after the 451). Postfix keeps its defaults
otherwise (connection cache on demand, 2 s), Upesi too (10 pooled connections per
destination, pool_linger 2 s), except that Postfix's qmgr wakes up every second (master.cf
wakeup 1, Debian: 300): with 1 s retries, a retry sometimes comes while the attempt before
still holds the queue file; qmgr logs "skipped, still being delivered" and moves the file to
incoming/, which it reads again only when it wakes up, so that with 300 the message waits
five minutes (seen here: a drain that never ended). The script counts these per round.

Method, per server and round (servers interleaved round by round, so drift hits all alike;
a warm-up drain of --warmup messages first):
  1. deliveries held (Upesi: outbound.ini disabled=true; Postfix: defer_transports=smtp with
     its default backoff, so held mail waits in deferred/), the MXs reset (counters zeroed,
     connections still open from an earlier drain closed with 421, as an idle timeout would:
     every drain starts without a connection; Postfix's TLS session cache stays warm);
  2. preload --messages messages of --size bytes with smtp-source, spread evenly over the 100
     domains (one recipient each, unique: smtp-source -N and a per-drain tag), and wait until
     the queue holds exactly that many; the MXs must have received nothing;
  3. release (Upesi: disabled=false, applied once its worker logs "deliveries resumed", then
     SIGHUP; Postfix: defer_transports= and the short retry settings, a reload that starts a
     new queue manager, then postqueue -f) and wait until the MXs have every message and the
     queue is empty; 0.5 s later the MXs must count exactly --messages messages and as many
     distinct recipients (no loss, no duplicate, none at a wrong MX), one deferral per message
     to a deferring domain and no failed TLS handshake, else the run stops with an error.
Figures: msgs/s = messages / (last message at an MX - the release applied); the server's CPU
per message (user+system of its process tree from the release to the end, reaped children
included: Upesi's master and worker(s); Postfix's master, qmgr, smtp, tlsmgr, scache, defer
and the rest); the MXs' counts of connections, TLS handshakes and deferrals; the seconds from
the release to the first message. Each figure is the median of the rounds with min-max, and
the msgs/s ratio Upesi/Postfix is taken round by round (paired) before its median. The target
line compares the first --nodes value's pair (shipped: nodes=1).

Where the time goes, a second table, all seen from the MXs (wan_mx.py): seconds from the
release to the last message and to the last message at a domain that does not defer (the rest
is the retry tail); deliveries in flight on average (connection-seconds at work: each
connection's setup from accept to its first MAIL, each transaction from MAIL to its last reply,
both plus the RTT; a pooled connection's idle time left out; divided by the drain time) against
the limit; those connection-seconds per message; connections per message; reply flights per
message (replies a sender waited for: about one round trip each, TLS handshakes not counted).
At equal concurrency, msgs/s = deliveries in flight / connection-seconds per message: a server
that fills its limit is faster only by spending fewer round trips per message (fewer new
connections, fewer commands waited for) or by a shorter retry tail.

CPUs: with 2 or more, the servers run on the last CPU (taskset; Postfix's master and its
children pinned once it runs), and this script, smtp-source, dnsmasq, the MXs and the delay
processes on the others; the MXs' and delayers' CPU during the drains is printed, to show they
are not what limits the rate, and how late the delay processes released packets (mean and
worst). The work directory (queues) must not be on tmpfs; --logs DIR keeps every log.
"""
import argparse
import json
import os
import pathlib
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import (ROOT, exit_on_sigterm, machine_line, servers_run,  # noqa: E402
                          tree_cpu_s, tree_pids, wait_until, write_json)
from outbound import UpesiOutbound  # noqa: E402
from postfix_peer import PostfixPeer  # noqa: E402

SENDER = "sender@example.com"
DELAYS_MS = (20, 50, 80, 110, 150)  # round trip to the MXs of each namespace
PER_NAMESPACE = 20
DOMAINS = len(DELAYS_MS) * PER_NAMESPACE
# Kind of the MX by its number in the namespace (0..19), repeating every 10.
KINDS = ("plain",) * 4 + ("tls",) * 4 + ("defer", "tls+defer")
# Upesi's shipped outbound limits, per worker (etc/outbound.ini).
CONCURRENCY_MAX = 100
DESTINATION_CONCURRENCY_MAX = 20
DNS_TTL = 3600


def run(argv, check=True, timeout=60):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s: rc=%d %s" % (" ".join(argv), r.returncode,
                                              (r.stderr or r.stdout).strip()))
    return r


def log_lines(path, pattern):
    """The lines of the log at path matching pattern (none while it cannot be read)."""
    try:
        text = pathlib.Path(path).read_text(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if re.search(pattern, line)]


def spread(values, fmt="%.0f"):
    """'median (min-max)'."""
    return (fmt + " (" + fmt + "-" + fmt + ")") % (statistics.median(values), min(values),
                                                 max(values))


# ----------------------------------------------------------------------------------- network

class Domain:
    def __init__(self, k, net):
        self.name = "d%d.example" % k
        self.namespace = (k - 1) % len(DELAYS_MS)
        number = (k - 1) // len(DELAYS_MS)
        self.address = "%s.%d.%d" % (net, self.namespace + 1, 10 + number)
        self.kind = KINDS[number % len(KINDS)]
        self.defers = "defer" in self.kind


def free_net():
    """The first of 10.250 .. 10.254 with no address or route here (so that nothing of this
    machine's is shadowed)."""
    used = run(["ip", "-4", "-o", "addr"]).stdout + run(["ip", "-4", "route"]).stdout
    for second in range(250, 255):
        if not re.search(r"\b10\.%d\." % second, used):
            return "10.%d" % second
    raise RuntimeError("10.250.0.0/16 .. 10.254.0.0/16 are all in use on this machine")


class WanNet:
    """The namespaces, veths, addresses and delays; remove() undoes whatever exists."""

    def __init__(self, net, mode, workdir_for_logs=None):
        self.net, self.mode = net, mode
        tag = os.getpid()
        self.namespaces = ["upesi-wan-%d-%d" % (tag, i) for i in range(len(DELAYS_MS))]
        self.root_ifs = ["uw%dr%d" % (tag, i) for i in range(len(DELAYS_MS))]
        self.ns_ifs = ["uw%dn%d" % (tag, i) for i in range(len(DELAYS_MS))]
        self.made = []  # namespaces made so far
        self.delayers = []

    def gateway(self, i):
        return "%s.%d.1" % (self.net, i + 1)

    def create(self, domains):
        for i, ns in enumerate(self.namespaces):
            self.made.append(i)  # first: remove() ignores what was not made
            run(["ip", "netns", "add", ns])
            run(["ip", "link", "add", self.root_ifs[i], "type", "veth", "peer", "name",
                 self.ns_ifs[i], "netns", ns])
            run(["ip", "addr", "add", self.gateway(i) + "/24", "dev", self.root_ifs[i]])
            run(["ip", "link", "set", self.root_ifs[i], "up"])
            batch = "".join("addr add %s/24 dev %s\n" % (d.address, self.ns_ifs[i])
                            for d in domains if d.namespace == i)
            batch += "link set %s up\n" % self.ns_ifs[i]
            r = subprocess.run(["ip", "-n", ns, "-batch", "-"], input=batch, text=True,
                               capture_output=True, timeout=60)
            if r.returncode != 0:
                raise RuntimeError("ip -n %s -batch: %s" % (ns, r.stderr.strip()))

    def add_delays(self, peers, logdir):
        """Delays every namespace's egress by its DELAYS_MS; returns the mode used."""
        if self.mode in ("auto", "netem"):
            r = self._netem(0)
            if r.returncode == 0:
                for i in range(1, len(self.namespaces)):
                    if self._netem(i).returncode != 0:
                        raise RuntimeError("tc netem in %s failed" % self.namespaces[i])
                return "netem"
            if self.mode == "netem":
                raise RuntimeError("tc netem: %s" % r.stderr.strip())
        if not shutil.which("iptables"):
            raise RuntimeError("this kernel has no netem and iptables is missing "
                               "(apt-get install iptables)")
        for i, ns in enumerate(self.namespaces):
            delayer = Delayer(ns, DELAYS_MS[i], logdir)
            peers.append(delayer)
            self.delayers.append(delayer)
            run(["ip", "netns", "exec", ns, "iptables", "-A", "OUTPUT", "-j", "NFQUEUE",
                 "--queue-num", "0"])
        return "nfqueue"

    def _netem(self, i):
        return run(["ip", "netns", "exec", self.namespaces[i], "tc", "qdisc", "add", "dev",
                    self.ns_ifs[i], "root", "netem", "delay", "%dms" % DELAYS_MS[i],
                    "limit", "100000"], check=False)

    def remove(self):
        for i in reversed(self.made):
            ns = self.namespaces[i]
            # Anything of ours still in there (the MX and the delayer are stopped before).
            pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run(["ip", "netns", "del", ns], check=False)
            if os.path.exists("/sys/class/net/" + self.root_ifs[i]):
                run(["ip", "link", "del", self.root_ifs[i]], check=False)
        self.made = []


def measure_rtt_ms(address, tries=3):
    """Best TCP connect time to address:25 (one round trip: SYN, SYN-ACK)."""
    best = None
    for _ in range(tries):
        t0 = time.monotonic()
        with socket.create_connection((address, 25), timeout=5):
            elapsed = (time.monotonic() - t0) * 1000
        best = elapsed if best is None else min(best, elapsed)
    return best


class NsProcess:
    """A helper started in a namespace (ip netns exec), with a line protocol on its stdin and
    stdout, in its own session; stop() closes its stdin, then SIGTERM, then SIGKILL."""

    def __init__(self, name, ns, argv, logdir):
        self.name = name
        self.log_path = os.path.join(logdir, name + ".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     start_new_session=True)
        self.pid = self.proc.pid  # ip netns exec execs the command: the same process
        line = self.read_line(30)
        if line != "ready":
            self.stop()
            raise RuntimeError("%s did not start: %r\n%s" % (name, line, self.log_tail()))

    def read_line(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError("%s: no answer within %d s" % (self.name, timeout))
        return self.proc.stdout.readline().strip()

    def ask(self, command, timeout=10):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read_line(timeout)

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, chars=2000):
        try:
            return pathlib.Path(self.log_path).read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self):
        """Returns what the process printed on its way out."""
        said = ""
        if self.proc.poll() is None:
            try:  # closes its stdin: the helper's cue to stop
                said, _ = self.proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()
        return said or ""


class Delayer(NsProcess):
    def __init__(self, ns, delay_ms, logdir):
        super().__init__("delay-%dms" % delay_ms, ns,
                         [sys.executable, str(HERE / "wan_delay.py"), str(delay_ms), "0"], logdir)
        self.said = ""

    def stop(self):
        if self.alive():
            self.said = super().stop().strip()
        else:
            super().stop()


class Mx(NsProcess):
    def __init__(self, ns, i, domains, cert, key, logdir):
        specs = ["%s,%s,%s" % (d.address, d.name, d.kind) for d in domains if d.namespace == i]
        super().__init__("mx-%dms" % DELAYS_MS[i], ns,
                         [sys.executable, str(HERE / "wan_mx.py"), cert, key, str(DELAYS_MS[i])]
                         + specs, logdir)

    def stats(self):
        return json.loads(self.ask("stats"))

    def sessions(self):
        return json.loads(self.ask("sessions"))

    def reset(self):
        if self.ask("reset") != "ok":
            raise RuntimeError("%s: reset refused" % self.name)


class Mxs:
    """The MX processes as one: summed counters, earliest first and latest last message;
    cpu_s() counts the delay processes too (`helpers`)."""

    def __init__(self, mxs, helpers=()):
        self.mxs = mxs
        self.helpers = list(helpers)

    def stats(self):
        total = {}
        for mx in self.mxs:
            s = mx.stats()
            for key, value in s.items():
                if key == "first":
                    if value is not None:
                        total[key] = min(total.get(key) or value, value)
                elif key in ("last", "last_first_try"):
                    if value is not None:
                        total[key] = max(total.get(key) or value, value)
                else:
                    total[key] = total.get(key, 0) + value
        for key in ("first", "last", "last_first_try"):
            total.setdefault(key, None)
        return total

    def messages(self):
        return sum(mx.stats()["messages"] for mx in self.mxs)

    def reset(self):
        for mx in self.mxs:
            mx.reset()

    def stuck(self, idle_s=5):
        """The open sessions whose last reply is older than idle_s, longest idle first."""
        found = [s for mx in self.mxs for s in mx.sessions() if s["idle_s"] >= idle_s]
        return sorted(found, key=lambda s: -s["idle_s"])

    def cpu_s(self):
        return sum(tree_cpu_s(p.pid) for p in self.mxs + self.helpers)


class DnsZone:
    """dnsmasq on a free loopback port answering the domains' MX and A records (nothing else
    under example., nothing forwarded)."""

    def __init__(self, domains, workdir):
        self.name = "dnsmasq"
        conf = workdir / "zone.conf"
        conf.write_text("".join("mx-host=%s,mx.%s,10\nhost-record=mx.%s,%s\n" % (
            d.name, d.name, d.name, d.address) for d in domains))
        self.log_path = str(workdir / "dnsmasq.log")
        self.log = open(self.log_path, "w")
        for _ in range(5):
            self.port = self._free_udp_tcp_port()
            self.proc = subprocess.Popen(
                ["dnsmasq", "--keep-in-foreground", "--port=%d" % self.port,
                 "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                 "--no-poll", "--pid-file=", "--log-facility=-", "--local=/example/",
                 "--local-ttl=%d" % DNS_TTL, "--conf-file=%s" % conf],
                stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
            time.sleep(0.3)
            if self.proc.poll() is None:
                break
        else:
            raise RuntimeError("dnsmasq did not start:\n" + self.log_tail())
        self.pid = self.proc.pid

    @staticmethod
    def _free_udp_tcp_port():
        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", 0))
                port = u.getsockname()[1]
                with socket.socket() as t:
                    try:
                        t.bind(("127.0.0.1", port))
                    except OSError:
                        continue
                    return port
        raise RuntimeError("no free port for dnsmasq")

    def check(self, domain):
        """The MX and A answers for one domain, as a resolver sees them."""
        import dns.resolver
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port, resolver.lifetime = ["127.0.0.1"], self.port, 5
        mx = resolver.resolve(domain.name, "MX")[0].exchange.to_text().rstrip(".")
        a = resolver.resolve(mx, "A")[0].to_text()
        if (mx, a) != ("mx." + domain.name, domain.address):
            raise RuntimeError("dnsmasq answers %s MX %s A %s" % (domain.name, mx, a))

    def log_tail(self, chars=2000):
        try:
            return pathlib.Path(self.log_path).read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


# ----------------------------------------------------------------------------------- servers

def pin_tree(pid, cpus):
    """Pins pid and its descendants (their children inherit it)."""
    if not cpus:
        return
    mask = {int(c) for c in cpus.split(",")}
    for p in tree_pids(pid):
        try:
            os.sched_setaffinity(p, mask)
        except ProcessLookupError:
            pass


class UpesiWan(UpesiOutbound):
    """outbound.py's Upesi, finding the MXs through the zone's resolver (dns.ini), allowed to
    deliver to private addresses, retrying 1 s after a 451, logging at notice, on the server
    CPUs."""

    def __init__(self, binary, workdir, nodes, dns_port, cpus):
        super().__init__(
            binary, None, workdir, None, nodes, DOMAINS,
            name="upesi" if nodes == 1 else "upesi-n%d" % nodes,
            outbound_ini="local_mx_ok=true\ntemp_fail_intervals=1s*10\n",
            config={"log.ini": "[main]\nlevel=notice\n",
                    "dns.ini": "[main]\nservers=127.0.0.1:%d\ntimeout_ms=1000\ntries=2\n"
                    % dns_port},
            argv_prefix=["taskset", "-c", cpus] if cpus else [])
        self.limits = (CONCURRENCY_MAX * self.workers, DESTINATION_CONCURRENCY_MAX * self.workers)

    def warnings(self):
        """WARN and ERROR lines in its log so far."""
        return log_lines(self.peer.log_path, r"\[(WARN|ERROR|CRIT|ALERT|EMERG)\]")


class PostfixWan:
    # Postfix's defaults while held (the queue manager leaves held mail alone for 300 s); the
    # shortest retry settings once released.
    HELD = {"defer_transports": "smtp", "minimal_backoff_time": "300s",
            "maximal_backoff_time": "4000s", "queue_run_delay": "300s"}
    RELEASED = {"defer_transports": "", "minimal_backoff_time": "1s",
                "maximal_backoff_time": "1s", "queue_run_delay": "1s"}

    def __init__(self, workdir, domains, workers, cpus, log=True):
        self.name = "postfix" if workers == 1 else "postfix-x%d" % workers
        self.limits = (CONCURRENCY_MAX * workers, DESTINATION_CONCURRENCY_MAX * workers)
        transport = workdir / (self.name + ".transport")
        transport.write_text("".join("%s smtp:[%s]\n" % (d.name, d.address) for d in domains))
        total, per_destination = self.limits
        settings = {
            "relayhost": "", "relay_domains": "", "default_transport": "smtp",
            "relay_transport": "smtp", "transport_maps": "texthash:%s" % transport,
            "default_process_limit": str(total),
            "default_destination_concurrency_limit": str(per_destination),
            "smtp_destination_concurrency_limit": str(per_destination),
            "initial_destination_concurrency": str(per_destination),
            "smtp_tls_security_level": "may", "smtp_tls_loglevel": "0",
            "smtp_tls_session_cache_database":
                "btree:%s" % (workdir / self.name / "data" / "smtp_scache"),
        }
        settings.update(self.HELD)
        self.pf = PostfixPeer(workdir, self.name, settings, log=log)
        self.port, self.pid = self.pf.port, self.pf.pid
        # tlsmgr keeps the TLS session cache (and the PRNG), as in Debian's master.cf. qmgr
        # wakes up every second instead of every 300 s: a retry that comes while the attempt
        # before still holds the file ("skipped, still being delivered") goes to incoming/,
        # which qmgr reads again only when it wakes up (or new mail comes).
        master_cf = self.pf.etc / "master.cf"
        text = master_cf.read_text()
        qmgr = re.compile(r"^(qmgr\s+unix\s+\S+\s+\S+\s+\S+\s+)300(\s)", re.M)
        if not qmgr.search(text):
            raise RuntimeError("%s: no qmgr line with wakeup 300 in master.cf" % self.name)
        text = qmgr.sub(r"\g<1>1\2", text)
        master_cf.write_text(text + "tlsmgr    unix  -       -       n       1000?   1       "
                             "tlsmgr\n")
        self.pf.set(**self.HELD)  # the reload reads master.cf again
        pin_tree(self.pid, cpus)
        self.held = True

    def hold(self):
        if not self.held:
            self.pf.set(**self.HELD)
            self.held = True

    def release(self):
        self.log_pos = self._log_size()
        self.pf.set(**self.RELEASED)
        self.pf.flush()
        self.held = False

    def _log_size(self):
        try:
            return self.pf.maillog.stat().st_size
        except OSError:
            return 0

    def set_aside(self):
        """Retries qmgr found still being delivered since the release (see __init__)."""
        try:
            with open(self.pf.maillog, "rb") as f:
                f.seek(self.log_pos)
                return f.read().count(b"skipped, still being delivered")
        except OSError:
            return 0

    def queued(self):
        return self.pf.queued()

    def preloaded(self, n):
        deferred = sum(len(files) for _, _, files in os.walk(self.pf.queue / "deferred"))
        return deferred == n and self.pf.queued() == n

    def warnings(self):
        return log_lines(self.pf.maillog, r"(warning|error|fatal|panic):")

    def log_tail(self):
        return self.pf.log_tail()

    def stop(self):
        self.pf.stop()


# ------------------------------------------------------------------------------------- drain

def preload(port, domains, n, tag, size, sessions, parallel=4):
    """n messages spread over the domains (one recipient each, NNN<tag>@domain, unique), by
    smtp-source, `parallel` domains at a time."""
    jobs = []
    for i, d in enumerate(domains):
        part = n // len(domains) + (1 if i < n % len(domains) else 0)
        if part:
            jobs.append(["smtp-source", "-A", "-N", "-M", "bench.client", "-m", str(part),
                         "-s", str(min(sessions, part)), "-l", str(size),
                         "-t", "%s@%s" % (tag, d.name), "-f", SENDER, "-4",
                         "inet:127.0.0.1:%d" % port])
    running = []
    while jobs or running:
        while jobs and len(running) < parallel:
            running.append(subprocess.Popen(jobs.pop(0), stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True))
        proc = running.pop(0)
        out, err = proc.communicate(timeout=600)
        if proc.returncode != 0 or "warning" in out + err or "fatal" in err:
            for other in running:
                other.kill()
            raise RuntimeError("smtp-source failed (rc=%d): %s" % (proc.returncode,
                                                                    (out + err)[-300:]))


def drain(server, mxs, domains, n, tag, args):
    server.hold()
    mxs.reset()
    preload(server.port, domains, n, tag, args.size, args.sessions)
    wait_until(lambda: server.preloaded(n), 120,
               lambda: "%s: %d messages in its queue (has %d)" % (server.name, n, server.queued()))
    time.sleep(0.5)
    early = mxs.messages()
    if early:
        raise RuntimeError("%s delivered %d messages while held" % (server.name, early))
    mx_cpu0 = mxs.cpu_s()
    cpu0 = tree_cpu_s(server.pid)
    server.release()
    t0 = time.monotonic()
    try:
        wait_until(lambda: mxs.messages() >= n and server.queued() == 0, args.timeout,
                   lambda: "%s: the queue to drain (MXs have %d of %d, queue %d)" % (
                       server.name, mxs.messages(), n, server.queued()), interval=0.05)
    except TimeoutError:
        print("%s: sessions idle at the MXs: %s" % (server.name, mxs.stuck()[:20]),
              file=sys.stderr)
        raise
    t_end = time.monotonic()
    cpu = tree_cpu_s(server.pid) - cpu0
    mx_cpu = mxs.cpu_s() - mx_cpu0
    time.sleep(0.5)  # a late duplicate or a message to the wrong MX invalidates the run
    s = mxs.stats()
    deferring = sum(n // len(domains) + (1 if i < n % len(domains) else 0)
                    for i, d in enumerate(domains) if d.defers)
    problems = []
    if s["messages"] != n or s["recipients"] != n:
        problems.append("the MXs got %d messages for %d distinct recipients, %d sent"
                        % (s["messages"], s["recipients"], n))
    if s["duplicates"] or s["misrouted"]:
        problems.append("%d duplicates, %d at a wrong MX" % (s["duplicates"], s["misrouted"]))
    if s["deferrals"] != deferring:
        problems.append("%d deferrals, %d expected" % (s["deferrals"], deferring))
    if s["tls_failed"]:
        problems.append("%d failed TLS handshakes" % s["tls_failed"])
    if server.queued():
        problems.append("%d still queued" % server.queued())
    if problems:
        raise RuntimeError("%s: invalid run: %s" % (server.name, "; ".join(problems)))
    last = s["last"]
    return {"rate": n / (last - t0), "cpu_ms": cpu * 1000 / n, "start_s": s["first"] - t0,
            "drain_s": last - t0, "connections": s["connections"], "tls": s["tls"],
            "deferrals": s["deferrals"], "transactions": s["transactions"],
            "busy_connections": s["busy_seconds"] / (last - t0),
            "busy_ms_per_msg": s["busy_seconds"] * 1000 / n,
            "flights_per_msg": s["flights"] / n,
            "first_tries_s": (s["last_first_try"] or last) - t0,
            "set_aside": server.set_aside() if hasattr(server, "set_aside") else 0,
            "mx_cpu_share": mx_cpu / (t_end - t0)}


# -------------------------------------------------------------------------------------- main

def versions(binary, workdir):
    bench = run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], check=False)
    upesi = run([binary, "--version"], check=False).stdout.strip()
    postfix = run(["postconf", "-h", "mail_version"], check=False).stdout.strip()
    fs = run(["stat", "-f", "-c", "%T", str(workdir)]).stdout.strip()
    return {"upesi": upesi.replace("upesi ", "", 1),  # with the commit it was built from
            "bench": bench.stdout.strip() or "?", "postfix": postfix,
            "haraka": "not run (this item compares with Postfix)",
            "kernel": os.uname().release, "filesystem": fs}


def cpu_split():
    """(server CPU, client CPUs) for taskset, or None on one CPU or without taskset."""
    n = os.cpu_count() or 1
    if n < 2 or not shutil.which("taskset"):
        return None
    return str(n - 1), ",".join(str(c) for c in range(n - 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upesi", default=str(ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=500, help="messages in the warm-up drain")
    ap.add_argument("--size", type=int, default=1000, help="smtp-source -l bytes")
    ap.add_argument("--sessions", type=int, default=5, help="preload sessions per domain")
    ap.add_argument("--nodes", default="1",
                    help="comma-separated smtp.ini nodes values to run Upesi with (e.g. 1,2); "
                    "each gets a Postfix with matching limits")
    ap.add_argument("--delay", choices=["auto", "netem", "nfqueue"], default="auto")
    ap.add_argument("--timeout", type=float, default=300, help="seconds a drain may take")
    ap.add_argument("--workdir", help="where the queues go (default: the temporary directory; "
                    "tmpfs is refused)")
    ap.add_argument("--postfix-log", choices=["on", "off"], default="on")
    ap.add_argument("--quick", action="store_true", help="1 round of 1000 messages")
    ap.add_argument("--json", help="also write the medians to this file")
    ap.add_argument("--logs", help="copy the servers' and helpers' logs into this directory "
                    "at the end (the work directory is removed)")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.messages, args.warmup = 1, 1000, 200
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces, Postfix)")
    for tool in ("smtp-source", "dnsmasq", "openssl", "ip", "postconf"):
        if not shutil.which(tool):
            sys.exit("%s not found (apt-get install postfix dnsmasq-base openssl iproute2)" % tool)
    base = pathlib.Path(args.workdir or tempfile.gettempdir()).resolve()
    fs = run(["stat", "-f", "-c", "%T", str(base)]).stdout.strip()
    if fs in ("tmpfs", "ramfs"):
        sys.exit("%s is on %s: give --workdir on a disk (a queue there is not what a server "
                 "sees)" % (base, fs))
    tempfile.tempdir = str(base)
    split = cpu_split()
    server_cpus = split[0] if split else None
    if split:
        os.sched_setaffinity(0, {int(c) for c in split[1].split(",")})
    nodes_list = [int(x) for x in args.nodes.split(",")]
    net = WanNet(free_net(), args.delay)
    domains = [Domain(k, net.net) for k in range(1, DOMAINS + 1)]

    exit_on_sigterm()
    try:
        # servers_run stops every server, past a failed stop, before the namespaces go.
        with servers_run("upesi-bench-wan-") as (workdir, peers):
            os.chmod(workdir, 0o755)
            try:
                run_bench(args, net, domains, nodes_list, server_cpus, workdir, peers)
            finally:
                if args.logs:
                    keep_logs(workdir, args.logs)
    finally:
        net.remove()


def run_bench(args, net, domains, nodes_list, server_cpus, workdir, peers):
    """Sets up the network, the MXs, the resolver and the servers, runs the drains and prints
    the report."""
    net.create(domains)
    delay_mode = net.add_delays(peers, str(workdir))
    key, cert = workdir / "mx.key", workdir / "mx.crt"
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=mx.wan.example", "-keyout", str(key), "-out", str(cert)])
    mx_list = []
    for i, ns in enumerate(net.namespaces):
        mx_list.append(Mx(ns, i, domains, str(cert), str(key), str(workdir)))
        peers.append(mx_list[-1])
    mxs = Mxs(mx_list, net.delayers)
    rtts = [measure_rtt_ms(next(d.address for d in domains if d.namespace == i))
            for i in range(len(DELAYS_MS))]
    zone = DnsZone(domains, workdir)
    peers.append(zone)
    zone.check(domains[0])
    zone.check(domains[-1])

    pairs = []  # (upesi, postfix) with equal limits
    for nodes in nodes_list:
        upesi = UpesiWan(args.upesi, workdir, nodes, zone.port, server_cpus)
        peers.append(upesi)
        postfix = PostfixWan(workdir, domains, max(nodes, 1), server_cpus,
                             args.postfix_log == "on")
        peers.append(postfix)
        pairs.append((upesi, postfix))
    servers = [s for pair in pairs for s in pair]
    info = versions(args.upesi, workdir)
    print("delay: %s; RTT by TCP connect (ms): %s" % (
        delay_mode, ", ".join("%.1f" % r for r in rtts)), flush=True)

    drains = [0]

    def one(server, n):
        drains[0] += 1
        return drain(server, mxs, domains, n, "w%d" % drains[0], args)

    for server in servers:
        r = one(server, args.warmup)
        print("warm-up %s: %.0f msgs/s" % (server.name, r["rate"]), flush=True)
    results = {s.name: [] for s in servers}
    for rnd in range(args.rounds):
        for server in servers:  # interleaved, so drift hits every server alike
            r = one(server, args.messages)
            results[server.name].append(r)
            print("round %d %s: %.0f msgs/s, %.3f cpu ms/msg, %d connections, "
                  "MXs %.0f%% of a CPU" % (rnd + 1, server.name, r["rate"], r["cpu_ms"],
                                           r["connections"], 100 * r["mx_cpu_share"]),
                  flush=True)
    delayer_said = []
    for d in net.delayers:
        d.stop()
        delayer_said.append("%s: %s" % (d.name, d.said))

    report(args, info, delay_mode, rtts, pairs, servers, results, delayer_said)


def keep_logs(workdir, dest):
    """Copies the logs (and Postfix's maillogs) of the work directory into dest."""
    dest = pathlib.Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for path in list(workdir.glob("*.log")) + list(workdir.glob("*/maillog")):
        name = path.name if path.parent == workdir else path.parent.name + ".maillog"
        shutil.copy(path, dest / name)


def report(args, info, delay_mode, rtts, pairs, servers, results, delayer_said):
    n_tls = sum(1 for k in range(DOMAINS) if "tls" in KINDS[(k // len(DELAYS_MS)) % len(KINDS)])
    n_defer = sum(1 for k in range(DOMAINS)
                  if "defer" in KINDS[(k // len(DELAYS_MS)) % len(KINDS)])
    print()
    print("outbound over a WAN: %d messages x %d bytes to %d domains (%d with STARTTLS, %d "
          "deferring first), RTT %s ms, median (min-max) of %d rounds" % (
              args.messages, args.size, DOMAINS, n_tls, n_defer,
              "/".join(str(d) for d in DELAYS_MS), args.rounds))
    print(machine_line())
    print("versions: upesi %s; bench %s; postfix %s; haraka %s; kernel %s; filesystem %s" % (
        info["upesi"], info["bench"], info["postfix"], info["haraka"], info["kernel"],
        info["filesystem"]))
    split = cpu_split()
    print("delay: %s (RTT by TCP connect: %s ms); pinning: %s" % (
        delay_mode, ", ".join("%.1f" % r for r in rtts),
        "servers on CPU %s, client, MXs and delays on CPU %s" % split if split else "none"))
    print()
    print("| server | deliveries in flight (all / per domain) | server CPU ms/msg | msgs/s | "
          "release to 1st delivery s | connections to MXs | TLS sessions | deferrals |")
    print("|---|---|---|---|---|---|---|---|")
    med = {}
    for server in servers:
        runs = results[server.name]
        med[server.name] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        med[server.name]["limits"] = list(server.limits)

        def col(key, fmt="%.0f"):
            return spread([r[key] for r in runs], fmt)
        print("| %s | %d / %d | %s | %s | %s | %s | %s | %s |" % (
            server.name, server.limits[0], server.limits[1], col("cpu_ms", "%.3f"),
            col("rate"), col("start_s", "%.2f"), col("connections"), col("tls"),
            col("deferrals")))
    print()
    print("Where the time goes (seen from the MXs): connections at work = connection-seconds "
          "at work (setup, accept to first MAIL, and each transaction, MAIL to its last reply, "
          "each plus the RTT; idle time in a pool left out) / drain time, i.e. deliveries in "
          "flight on average; ms per msg = those connection-seconds per message; reply flights "
          "= replies a sender waited for, per message (TLS handshakes not counted); s to the "
          "last first-try delivery = release to the last message at a domain that does not "
          "defer.")
    print()
    print("| server | drain s | s to the last first-try delivery | connections at work "
          "(mean) | connection ms per msg | connections per msg | reply flights per msg | "
          "MX + delay CPU % |")
    print("|---|---|---|---|---|---|---|---|")
    for server in servers:
        runs = results[server.name]

        def col(key, fmt="%.0f"):
            return spread([r[key] for r in runs], fmt)
        print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            server.name, col("drain_s", "%.2f"), col("first_tries_s", "%.2f"),
            col("busy_connections"), col("busy_ms_per_msg"),
            spread([r["connections"] / args.messages for r in runs], "%.2f"),
            col("flights_per_msg", "%.1f"),
            spread([100 * r["mx_cpu_share"] for r in runs])))
    print()
    ratios = {}
    shipped = None
    for upesi, postfix in pairs:
        u, p = results[upesi.name], results[postfix.name]
        rate = [a["rate"] / b["rate"] for a, b in zip(u, p)]
        cpu = [a["cpu_ms"] / b["cpu_ms"] for a, b in zip(u, p)]
        ratios["%s/%s" % (upesi.name, postfix.name)] = {
            "rate": statistics.median(rate), "rate_min": min(rate), "rate_max": max(rate),
            "cpu_ms": statistics.median(cpu), "cpu_ms_min": min(cpu), "cpu_ms_max": max(cpu)}
        print("%s/%s (paired rounds): msgs/s %sx, server CPU ms/msg %sx" % (
            upesi.name, postfix.name, spread(rate, "%.2f"), spread(cpu, "%.2f")))
        if shipped is None:
            shipped = (upesi, postfix, statistics.median(rate))
    for server in servers:
        aside = [r["set_aside"] for r in results[server.name]]
        if any(aside):
            print("%s: retries found still being delivered (qmgr: \"skipped, still being "
                  "delivered\", then incoming/ until its next wake-up), per round: %s" % (
                      server.name, " ".join(str(a) for a in aside)))
    for line in delayer_said:
        print("delay process %s" % line)
    for server in servers:
        warnings = server.warnings()
        if warnings:
            print("%s: %d warning lines in its log, the last: %s" % (
                server.name, len(warnings), warnings[-1][-200:]))
    upesi, postfix, ratio = shipped
    print()
    print("target: msgs/s vs Postfix >= 2x at equal concurrency (%s, %d / %d): %.2fx, %s" % (
        upesi.name, upesi.limits[0], upesi.limits[1], ratio, "met" if ratio >= 2 else "NOT met"))
    write_json(args.json, dict(med, ratios=ratios, versions=info, delay=delay_mode, rtt_ms=rtts,
                               messages=args.messages, rounds=args.rounds))


if __name__ == "__main__":
    main()
