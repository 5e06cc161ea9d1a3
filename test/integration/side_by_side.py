"""The same config and SMTP transcript against Haraka 3.3.4 and against Upesi, comparing the reply
codes.

A Setup is what both servers share: the plugins (config/plugins), config files written
identically into both config directories, DNS records (one dnsmasq answers both), and whether
loopback clients count as public (Haraka gets a shim plugin first in its list; Upesi's plugins
are given `[skip] private_ip=false` in the setup's own files). A Case is a Setup, a client
address and a transcript: each item is an SMTP command line or Data(message); the result is one
reply code per item, after the banner's (None once the server has closed the connection).
A case states the codes Haraka gives (as its plugins' READMEs document them); Upesi must give
the same, except where a Difference names the Haraka bug the project deliberately fixes.

Servers are started per Setup and kept while consecutive cases share it (ServerPool), since
each start costs a Haraka and an Upesi process."""
import contextlib
import dataclasses
import os
import pathlib
import smtplib
import subprocess
import time

import dns_zone
import haraka_peer

UPESI = os.environ.get("UPESI_BIN", "")
ME = "mx.test.example"
BANNER = "<banner>"


@dataclasses.dataclass(frozen=True)
class Data:
    """DATA followed by this message (CRLF line ends are added; dots are stuffed). Its code is
    that of DATA when DATA is refused, else that of the end of the message."""
    message: str


@dataclasses.dataclass(frozen=True)
class Difference:
    """Upesi answers `upesi` where Haraka answers `haraka`, on purpose: `bug` names the Haraka
    issue (e.g. "Haraka#3040"), or where there is none the rule or README section that says
    why, and `why` says what the project does instead."""
    bug: str
    haraka: object
    upesi: object
    why: str


@dataclasses.dataclass(frozen=True)
class Setup:
    plugins: tuple
    files: tuple = ()  # (name, text) pairs, so that a Setup can key the pool
    records: tuple = ()
    public_client: bool = True
    rdns_localhost: bool = True  # False where a plugin (fcrdns) looks the PTR up itself

    @staticmethod
    def of(plugins, files=None, records=(), public_client=True, rdns_localhost=True):
        return Setup(tuple(plugins), tuple(sorted((files or {}).items())), tuple(records),
                     public_client, rdns_localhost)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    setup: Setup
    transcript: tuple
    haraka: tuple  # Haraka's codes: the banner's, then one per transcript item
    client: str = "127.0.0.2"
    differences: tuple = ()  # (index into the codes, Difference)

    def upesi_expected(self):
        codes = list(self.haraka)
        for index, difference in self.differences:
            assert codes[index] == difference.haraka, (self.name, index, difference)
            codes[index] = difference.upesi
        return tuple(codes)


def upesi_plugins():
    """The plugin names `upesi -l` lists."""
    r = subprocess.run([UPESI, "-l"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return {line.split()[0] for line in r.stdout.splitlines() if line.strip()}


def missing_in_upesi(setup, listed):
    return [name for name in setup.plugins if name not in listed]


def run_transcript(port, client, transcript, timeout=15):
    """The reply codes of one SMTP session from `client` (a loopback address): the banner's,
    then one per item; None for items after the server closed the connection."""
    smtp = smtplib.SMTP(source_address=(client, 0), timeout=timeout)
    codes = []
    try:
        code, _ = smtp.connect("127.0.0.1", port)
        codes.append(code)
        for item in transcript:
            codes.append(_send(smtp, item))
            if codes[-1] is None:
                break
    finally:
        with contextlib.suppress(Exception):
            smtp.close()
    return tuple(codes + [None] * (len(transcript) + 1 - len(codes)))


def _send(smtp, item):
    try:
        if isinstance(item, Data):
            code, _ = smtp.docmd("DATA")
            if code != 354:
                return code
            body = item.message.replace("\r\n", "\n").split("\n")
            stuffed = "".join(("." + line if line.startswith(".") else line) + "\r\n"
                              for line in body)
            smtp.send(stuffed + ".\r\n")
            code, _ = smtp.getreply()
            return code
        code, _ = smtp.docmd(item)
        return code
    except (smtplib.SMTPServerDisconnected, ConnectionError):
        return None


class UpesiServer:
    """`upesi -c DIR` on a loopback port with the setup's config, resolving through dnsmasq."""

    def __init__(self, root, dns_port, setup):
        self.root = root
        subprocess.run([UPESI, "-i", str(root)], check=True, capture_output=True, timeout=30)
        cfg = root / "config"
        self.port = haraka_peer.free_port()
        (cfg / "smtp.ini").write_text("[main]\nlisten=127.0.0.1:%d\nnodes=0\n" % self.port)
        (cfg / "plugins").write_text("".join(name + "\n" for name in setup.plugins))
        (cfg / "me").write_text(ME + "\n")
        (cfg / "dns.ini").write_text(dns_zone.resolver_ini(dns_port))
        for name, text in setup.files:
            (cfg / name).parent.mkdir(parents=True, exist_ok=True)
            (cfg / name).write_text(text)
        self.log_path = root / "upesi.log"
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen([UPESI, "-c", str(root)], stdout=log,
                                         stderr=subprocess.STDOUT,
                                         env=dict(os.environ, YES_REALLY_DO_DISCARD="1"))
        deadline = time.monotonic() + 30
        while "Upesi ready" not in self.log():
            assert self.proc.poll() is None and time.monotonic() < deadline, \
                "upesi did not start:\n" + self.log()[-3000:]
            time.sleep(0.05)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("upesi did not stop within 20 s")
        assert self.proc.returncode == 0, "upesi exited with %s:\n%s" % (
            self.proc.returncode, self.log()[-3000:])


class Running:
    """dnsmasq, Haraka and (when it has the plugins) Upesi for one Setup."""

    def __init__(self, workdir, setup, with_upesi):
        self.setup = setup
        self.query_log = workdir / "dns-queries.log"
        self._stack = contextlib.ExitStack()
        try:
            self.dns_port = self._stack.enter_context(
                dns_zone.serve(list(setup.records), query_log=str(self.query_log)))
            self.haraka = self._stack.enter_context(haraka_peer.running(
                workdir / "haraka", self.dns_port, plugins=setup.plugins,
                files=dict(setup.files), public_client=setup.public_client,
                rdns_localhost=setup.rdns_localhost))
            self.upesi = None
            if with_upesi:
                self.upesi = UpesiServer(workdir / "upesi", self.dns_port, setup)
                self._stack.callback(self.upesi.stop)
        except BaseException:
            self._stack.close()
            raise

    def dns_queries(self):
        return dns_zone.queries(str(self.query_log))

    def close(self):
        self._stack.close()


class Codes:
    """What one case gave: Haraka's codes, Upesi's (None while it waits for `waiting`, the
    plugins it does not list yet), and the servers' logs for messages."""

    def __init__(self, running, haraka, upesi, waiting):
        self.running, self.haraka, self.upesi, self.waiting = running, haraka, upesi, waiting

    def haraka_log(self):
        # Haraka's plugins float within its package's version ranges: name the ones installed.
        versions = haraka_peer.plugin_versions(haraka_peer.install())
        used = {"haraka-plugin-" + name for name in self.running.setup.plugins} | {"Haraka"}
        return "codes %s\ninstalled: %s\n--- Haraka's log ---\n%s" % (
            self.haraka, ", ".join("%s@%s" % kv for kv in versions.items() if kv[0] in used),
            self.running.haraka.log()[-4000:])

    def upesi_log(self):
        return "codes %s\n--- Upesi's log ---\n%s" % (self.upesi, self.running.upesi.log()[-4000:])


class ServerPool:
    """Keeps the servers of the last Setup asked for; a different Setup stops them first.
    run() remembers each case's codes, so the [haraka] and [upesi] tests of a case share one
    session per server."""

    def __init__(self, workdir):
        self.workdir = pathlib.Path(workdir)
        self.current = None
        self.count = 0
        self.listed = upesi_plugins()
        self.done = {}

    def run(self, case, upesi=True):
        if case.name not in self.done:
            waiting = missing_in_upesi(case.setup, self.listed) if upesi else ["(not asked)"]
            running = self.get(case.setup, with_upesi=not waiting)
            haraka = run_transcript(running.haraka.port, case.client, case.transcript)
            theirs = None
            if running.upesi is not None:
                theirs = run_transcript(running.upesi.port, case.client, case.transcript)
            self.done[case.name] = Codes(running, haraka, theirs, waiting)
        return self.done[case.name]

    def get(self, setup, with_upesi=True):
        if (self.current is None or self.current.setup != setup
                or (with_upesi and self.current.upesi is None)):
            self.close()
            self.count += 1
            workdir = self.workdir / ("setup-%d" % self.count)
            workdir.mkdir(parents=True)
            self.current = Running(workdir, setup, with_upesi)
        return self.current

    def close(self):
        if self.current is not None:
            current, self.current = self.current, None
            current.close()
