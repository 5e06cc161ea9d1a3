"""Haraka 3.3.4 from npm as a test peer: installed once into a cache outside the source tree
(shared by the integration tests and the benchmarks), started on a loopback port with a config
directory the caller writes, asking only the test's dnsmasq for DNS, and stopped again.

A cold install (empty npm cache) takes about 10 s and 50 MB here; later runs find the cached
copy and start at once. Haraka's plugins come as its optional dependencies; the ones the tests
use are checked after the install. Without npm or its registry, install() raises
HarakaUnavailable with a message saying so: callers fail with it rather than skip, since a
machine that cannot install the peer is a setup error to report."""
import contextlib
import fcntl
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

VERSION = "3.3.4"
# The plugins the side-by-side tests run (each an optional dependency of Haraka's package).
REQUIRED_PLUGINS = ("dns-list", "helo.checks", "fcrdns", "mail_from.is_resolvable", "access",
                    "headers", "bounce", "spf", "relay", "aliases")
INSTALL_TIMEOUT = 900


class HarakaUnavailable(Exception):
    """Haraka could not be installed or started: a setup error, reported as a failure."""


def cache_root():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "upesi" / ("haraka-" + VERSION)


def missing_plugins(home):
    modules = home / "node_modules"
    core_plugins = modules / "Haraka" / "plugins"
    return [name for name in REQUIRED_PLUGINS
            if not (modules / ("haraka-plugin-" + name) / "package.json").exists()
            and not (core_plugins / (name + ".js")).exists()]


def _complete(home):
    return ((home / "node_modules" / "Haraka" / "haraka.js").exists()
            and (home / "installed").exists() and not missing_plugins(home))


def install(home=None):
    """The directory holding node_modules/Haraka (VERSION) and its plugins, installing it first
    when missing. Concurrent callers wait for one another on a lock file."""
    home = pathlib.Path(home) if home else cache_root()
    if _complete(home):
        return home
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            raise HarakaUnavailable(
                "%s not found: Haraka %s cannot be installed (Debian: apt-get install nodejs npm, "
                "or packaging/dev test)" % (tool, VERSION))
    home.mkdir(parents=True, exist_ok=True)
    with open(home.parent / (home.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _complete(home):
            return home
        # A half-finished earlier attempt is started over.
        (home / "installed").unlink(missing_ok=True)
        shutil.rmtree(home / "node_modules", ignore_errors=True)
        (home / "package.json").write_text('{"name": "upesi-haraka-peer", "private": true}\n')
        started = time.monotonic()
        try:
            # --prefer-offline: what npm's own cache holds is not asked for again.
            r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-save",
                                "--prefer-offline", "Haraka@" + VERSION], cwd=home,
                               capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise HarakaUnavailable("npm install Haraka@%s took over %d s: is the npm registry "
                                    "reachable from this machine?" % (VERSION, INSTALL_TIMEOUT))
        if r.returncode != 0:
            raise HarakaUnavailable(
                "npm could not install Haraka@%s (exit %d): the side-by-side tests need the npm "
                "registry (or a filled npm cache). npm said:\n%s"
                % (VERSION, r.returncode, (r.stderr or r.stdout)[-2000:]))
        missing = missing_plugins(home)
        if missing:
            raise HarakaUnavailable("Haraka@%s installed without the plugins %s (optional "
                                    "dependencies npm skipped?)" % (VERSION, ", ".join(missing)))
        (home / "installed").write_text("%.1f s\n" % (time.monotonic() - started))
    return home


def plugin_versions(home):
    """{package: version} of Haraka and its plugins as installed (the plugins float within
    Haraka's ranges, so a difference in behaviour may come from a newer plugin)."""
    versions = {}
    for pkg in sorted((home / "node_modules").iterdir()):
        if pkg.name == "Haraka" or pkg.name.startswith("haraka-plugin-"):
            meta = json.loads((pkg / "package.json").read_text())
            versions[pkg.name] = meta.get("version")
    return versions


# Runs before Haraka's modules (NODE_OPTIONS=--require): every resolver Node offers is pointed
# at the test's dnsmasq, later attempts to change that are refused, and dns.lookup (getaddrinfo:
# /etc/hosts and the system's resolvers) is refused for names. Each of these is written to a
# trace file, which the tests read to show that no query went anywhere else.
# A `new Resolver()` starts from the system's resolv.conf, not from dns.setServers, and
# haraka-net-utils (get_mx, getHostIPs), fcrdns and dns-list each make one when loaded, hence
# the subclass. No plugin the tests load calls dns.lookup itself (in Haraka 3.3.4 only a
# connection to a host name does: the redis client, undici); it is caught all the same.
DNS_PRELOAD = r"""'use strict'
const dns = require('node:dns')
const fs = require('node:fs')
const net = require('node:net')
const servers = [process.env.UPESI_TEST_DNS]
const trace = process.env.UPESI_TEST_DNS_TRACE
const note = (line) => fs.appendFileSync(trace, line + '\n')

dns.setServers(servers)
dns.promises.setServers(servers)
note(`default ${dns.getServers().join(',')}`)
for (const [ns, name] of [[dns, 'dns.Resolver'], [dns.promises, 'dns.promises.Resolver']]) {
  const Base = ns.Resolver
  ns.Resolver = class extends Base {
    constructor(...args) {
      super(...args)
      Base.prototype.setServers.call(this, servers)
      note(`resolver ${name} ${this.getServers().join(',')}`)
    }
    setServers(list) {
      note(`refused ${name}.setServers ${list}`)
    }
  }
}
for (const [ns, name] of [[dns, 'dns'], [dns.promises, 'dns.promises']]) {
  ns.setServers = (list) => note(`refused ${name}.setServers ${list}`)
}

const notFound = (hostname) =>
  Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
    code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname,
  })
const realLookup = dns.lookup
dns.lookup = function (hostname, options, callback) {
  if (net.isIP(hostname) || hostname === 'localhost') {
    return realLookup.call(dns, hostname, options, callback)
  }
  note(`refused dns.lookup ${hostname}`)
  const cb = typeof options === 'function' ? options : callback
  process.nextTick(cb, notFound(hostname))
}
const realPromisesLookup = dns.promises.lookup
dns.promises.lookup = async function (hostname, options) {
  if (net.isIP(hostname) || hostname === 'localhost') {
    return realPromisesLookup.call(dns.promises, hostname, options)
  }
  note(`refused dns.promises.lookup ${hostname}`)
  throw notFound(hostname)
}
"""

# First in config/plugins: our loopback clients count as public addresses (Haraka's plugins
# skip private ones), and unless a plugin under test looks the PTR up itself, the client is
# named "localhost" without a PTR query, as Upesi names loopback clients.
PUBLIC_CLIENT_PLUGIN = """'use strict'
exports.hook_connect_init = function (next, connection) {
  connection.remote.is_private = false
  next()
}
"""
LOCALHOST_RDNS = """exports.hook_lookup_rdns = function (next, connection) {
  next(OK, 'localhost')
}
"""
PUBLIC_CLIENT = "test_public_client"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Haraka:
    """A running Haraka: `root` is its install directory (config/ and plugins/), `port` its
    loopback port, `log_path` its output, `dns_trace` the preload's record of DNS settings."""

    def __init__(self, root, port, proc, log_path, dns_trace):
        self.root, self.port, self.proc = root, port, proc
        self.log_path, self.dns_trace = log_path, dns_trace

    def log(self):
        return self.log_path.read_text(errors="replace")

    def dns_lines(self):
        return self.dns_trace.read_text().splitlines() if self.dns_trace.exists() else []

    def stop(self, timeout=15):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def prepare(root, home, port, plugins, files, public_client=False, rdns_localhost=True):
    """Haraka's skeleton (`haraka -i`) in root, then smtp.ini for `port`, config/plugins, `me`,
    the caller's config files (name -> text, under config/) and the shim plugin if asked."""
    haraka_bin = home / "node_modules" / "Haraka" / "bin" / "haraka"
    r = subprocess.run(["node", str(haraka_bin), "-i", str(root)], capture_output=True,
                       text=True, timeout=120)
    if r.returncode != 0:
        raise HarakaUnavailable("haraka -i failed: %s" % (r.stderr or r.stdout)[-2000:])
    cfg = root / "config"
    (root / "plugins").mkdir(exist_ok=True)
    (cfg / "smtp.ini").write_text(
        "[main]\nlisten=127.0.0.1:%d\nnodes=0\npublic_ip=127.0.0.1\n" % port)
    names = list(plugins)
    if public_client:
        (root / "plugins" / (PUBLIC_CLIENT + ".js")).write_text(
            PUBLIC_CLIENT_PLUGIN + (LOCALHOST_RDNS if rdns_localhost else ""))
        names.insert(0, PUBLIC_CLIENT)
    (cfg / "plugins").write_text("".join(name + "\n" for name in names))
    (cfg / "me").write_text("mx.test.example\n")
    (cfg / "log.ini").write_text("[main]\nlevel=info\n")
    for name, text in files.items():
        path = cfg / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def start(root, dns_port, plugins=(), files=None, public_client=False, rdns_localhost=True,
          env=None, home=None):
    """Installs Haraka if needed, writes its config under `root` and starts it; returns a Haraka
    once it listens. Every DNS query it makes goes to 127.0.0.1:dns_port."""
    home = install(home)
    root = pathlib.Path(root)
    port = free_port()
    prepare(root, home, port, plugins, files or {}, public_client, rdns_localhost)
    preload = root / "dns_preload.js"
    preload.write_text(DNS_PRELOAD)
    dns_trace = root / "dns_trace.log"
    dns_trace.unlink(missing_ok=True)
    log_path = root / "haraka.log"
    child_env = dict(os.environ, HARAKA=str(root), YES_REALLY_DO_DISCARD="1",
                     NODE_OPTIONS="--require %s" % preload,
                     UPESI_TEST_DNS="127.0.0.1:%d" % dns_port, UPESI_TEST_DNS_TRACE=str(dns_trace))
    child_env.update(env or {})
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["node", str(home / "node_modules" / "Haraka" / "haraka.js")],
                                stdout=log, stderr=subprocess.STDOUT, env=child_env,
                                cwd=str(home), start_new_session=True)
    haraka = Haraka(root, port, proc, log_path, dns_trace)
    deadline = time.monotonic() + 60
    # Haraka says where it listens once every plugin has registered (a test connection would
    # run the plugins, and their DNS queries, before the test starts). The Public Suffix List
    # loads in the background: until it has, helo.checks and fcrdns find every name invalid.
    # Below info (a benchmark's log level) there is no "Listening" line: then the port is
    # polled, which runs the plugins once.
    quiet = "level=info" not in (root / "config" / "log.ini").read_text()

    def listening():
        if not quiet:
            return "Listening on 127.0.0.1:%d" % port in haraka.log()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return True
        return False

    while not listening() or "loaded Public Suffixes" not in haraka.log():
        if proc.poll() is not None or time.monotonic() > deadline:
            haraka.stop()
            raise HarakaUnavailable("Haraka did not start (exit %s):\n%s"
                                    % (proc.returncode, haraka.log()[-3000:]))
        time.sleep(0.05)
    return haraka


@contextlib.contextmanager
def running(root, dns_port, **kwargs):
    haraka = start(root, dns_port, **kwargs)
    try:
        yield haraka
    finally:
        haraka.stop()
