"""What the benchmark scripts share: free loopback ports, waiting for a server, the CPU of a
process tree, driving smtp-source, and starting servers (smtp-sink among them) as children that
are stopped again; pinning the client and the servers to CPUs of their own; the versions under
every table (and the refusal to measure on tmpfs); also memory and descriptors of a process, a
memory cgroup of its own for a server, the files of a queue directory, and building under the
build lock."""
import argparse
import configparser
import contextlib
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CLK = os.sysconf("SC_CLK_TCK")

# Set by pin_cpus(): the CPU of this script and its clients (smtp-source, the sinks that stand
# for remote hosts), and the CPU of the servers measured. None: nothing pinned.
CLIENT_CPU = None
SERVER_CPU = None
PIN_NOTE = "cpu pinning: off"


def pin_cpus():
    """Gives the client and the servers a CPU each, so that the client's work never lands in
    the server's time slices: this process (and so every child it starts, smtp-source and the
    sinks among them) moves to the first CPU it may use, and servers started with
    pinned(argv, "server") run on the second. On a machine with one CPU nothing is pinned (and
    the note under the tables says so)."""
    global CLIENT_CPU, SERVER_CPU, PIN_NOTE
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or not shutil.which("taskset"):
        PIN_NOTE = ("cpu pinning: off (%s): client and servers share the CPU" %
                    ("one CPU" if len(cpus) < 2 else "no taskset"))
        return
    CLIENT_CPU, SERVER_CPU = cpus[0], cpus[1]
    os.sched_setaffinity(0, {CLIENT_CPU})
    PIN_NOTE = ("cpu pinning: client and sinks on CPU %d, servers on CPU %d (taskset)"
                % (CLIENT_CPU, SERVER_CPU))


def pinned(argv, role="server"):
    """argv run under `taskset -c CPU` for role "server" or "client" (as is when pin_cpus() has
    not pinned anything)."""
    cpu = SERVER_CPU if role == "server" else CLIENT_CPU
    return argv if cpu is None else ["taskset", "-c", str(cpu)] + list(argv)


def check_pinned(pid, name):
    """Raises unless every process of pid's tree may run on the server CPU alone (Postfix's and
    Haraka's children inherit the master's affinity; this checks that they did)."""
    if SERVER_CPU is None:
        return
    for p in tree_pids(pid):
        try:
            with open("/proc/%d/status" % p) as f:
                allowed = next(line.split(":")[1].strip() for line in f
                               if line.startswith("Cpus_allowed_list"))
        except (OSError, StopIteration):
            continue  # exited meanwhile
        if allowed != str(SERVER_CPU):
            raise RuntimeError("%s: process %d runs on CPUs %s, not on the server CPU %d"
                               % (name, p, allowed, SERVER_CPU))


def pin_tree(pid, role="server"):
    """Moves every thread of pid's process tree to the role's CPU, for a server (or helper)
    started without pinned() (Haraka through haraka_peer.start, OpenDKIM); threads and
    children it makes later inherit that. Nothing when pin_cpus() pinned nothing."""
    cpu = SERVER_CPU if role == "server" else CLIENT_CPU
    if cpu is None:
        return
    for p in tree_pids(pid):
        try:
            tasks = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue  # exited meanwhile
        for tid in tasks:
            try:
                os.sched_setaffinity(int(tid), {cpu})
            except OSError:
                pass


def log_count(path, offset, needle):
    """How often needle occurs in the file at path from byte offset on (what a server logged
    during a round, e.g. one line per message)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace").count(needle)
    except OSError:
        return 0


def expect_logged(name, path, offset, needle, n, timeout=10):
    """Waits (a little: the log line may follow the reply) until the log at path holds n lines
    with needle since offset; raises when it holds any other number: the server did not handle
    exactly the n messages sent."""
    try:
        wait_until(lambda: log_count(path, offset, needle) >= n, timeout,
                   "%s: %d '%s' lines in its log" % (name, n, needle))
    except TimeoutError:
        pass
    got = log_count(path, offset, needle)
    if got != n:
        raise RuntimeError("invalid run: %s logged '%s' %d times in the round, not %d"
                           % (name, needle, got, n))


def file_size(path):
    """The size of a (log) file now, 0 when it does not exist."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pid_alive(pid):
    """True while pid runs (a zombie does not count)."""
    try:
        st = open("/proc/%d/stat" % pid).read()
    except OSError:
        return False
    return st[st.rfind(")") + 2:].split()[0] != "Z"


def wait_port(port, proc=None, timeout=30, pid=None):
    """Waits until 127.0.0.1:port answers; fails early when proc (a Popen) or pid has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        if pid is not None and not pid_alive(pid):
            raise RuntimeError("server pid %d exited" % pid)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.recv(100)
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server on port %d did not answer" % port)


def wait_until(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it is true; raises TimeoutError naming `what` (a text, or a
    function giving one) after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise TimeoutError("timed out after %.0f s waiting for %s" % (
                timeout, what() if callable(what) else what))
        time.sleep(interval)


def processes():
    """(pid, fields of /proc/PID/stat after the command name, command name) of every process,
    zombies included (their CPU counts until they are reaped)."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            st = open("/proc/%s/stat" % d).read()
        except OSError:
            continue
        yield int(d), st[st.rfind(")") + 2:].split(), st[st.find("(") + 1:st.rfind(")")]


def _tree(root):
    """{pid: stat fields} of root and its descendants."""
    kids, stats = {}, {}
    for pid, fields, _ in processes():
        stats[pid] = fields
        kids.setdefault(int(fields[1]), []).append(pid)
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            tree[pid] = stats[pid]
        todo.extend(kids.get(pid, []))
    return tree


def tree_cpu_s(root):
    """user+system seconds of root and its descendants (reaped children included)."""
    return sum(sum(int(x) for x in f[11:15]) for f in _tree(root).values()) / CLK


def tree_pids(root):
    """root and its live descendants."""
    return [pid for pid, f in _tree(root).items() if f[0] != "Z"]


def smtp_source(port, messages, sessions, size, rcpt="user@example.com",
                sender="sender@example.com", helo="bench.client", timeout=600):
    """Sends `messages` messages with Postfix's smtp-source (one new connection per message) and
    raises unless every one was accepted."""
    cmd = ["smtp-source", "-A", "-M", helo, "-m", str(messages), "-s", str(sessions),
           "-l", str(size), "-t", rcpt, "-f", sender, "-4", "inet:127.0.0.1:%d" % port]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    errors = r.stdout.count("warning") + r.stderr.count("warning") + r.stderr.count("fatal")
    if r.returncode != 0 or errors:
        raise RuntimeError("smtp-source failed (rc=%d): %s" % (r.returncode, r.stderr[-300:]))


def load(port, pid, messages, sessions, size, **client):
    """msgs/s and server CPU ms/msg (tree of pid, incl. 0.3 s after the last reply); `client`
    goes to smtp_source (sender, rcpt, helo)."""
    cpu0 = tree_cpu_s(pid)
    t0 = time.monotonic()
    smtp_source(port, messages, sessions, size, **client)
    wall = time.monotonic() - t0
    time.sleep(0.3)  # work the server does after its last reply
    cpu = tree_cpu_s(pid) - cpu0
    return messages / wall, cpu * 1000 / messages


class Peer:
    """A server started as our child, in its own session (so that stop() reaches its whole
    process group), with its output in a temporary log file. role "server" runs it on the
    server CPU, "client" on the client's (see pin_cpus). ready_line: text the server logs once
    its start-up work is done (it may keep working after it listens), waited for after each
    start. cgroup: a MemoryCgroup the server (and so every child of it) joins before it execs.
    """

    def __init__(self, name, argv, port, env=None, cwd=None, log_path=None, role="server",
                 ready_line=None, cgroup=None):
        self.name, self.port, self.ready_line, self.cgroup = name, port, ready_line, cgroup
        self.log_path = log_path or tempfile.mktemp(prefix="bench-%s-" % name, suffix=".log")
        self._start = (pinned(argv, role), env, cwd)
        self._spawn("w")

    def _spawn(self, mode):
        argv, env, cwd = self._start
        self.log = open(self.log_path, mode)
        offset = self.log.tell()
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, cwd=cwd, start_new_session=True,
                                     preexec_fn=self.cgroup.join if self.cgroup else None)
        self.pid = self.proc.pid
        try:
            wait_port(self.port, self.proc)
            if self.ready_line:
                wait_until(lambda: self.ready_line in self._log_since(offset), 60,
                           "%s: '%s' in its log" % (self.name, self.ready_line))
        except BaseException as e:
            self.stop()
            if not isinstance(e, Exception):
                raise
            raise RuntimeError("%s: %s\n--- log tail ---\n%s" % (self.name, e, self.log_tail())) \
                from None

    def restart(self, while_stopped=None):
        """Stops the server, calls while_stopped() (e.g. to empty its queue), starts it again
        with the same command, its output appended to the same log."""
        self.stop()
        if while_stopped:
            while_stopped()
        self._spawn("a")

    def _log_since(self, offset):
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def log_bytes(self):
        """The size of its log file now."""
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_tail(self, chars=2000):
        try:
            return pathlib.Path(self.log_path).read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)
        self.log.close()


class Sink(Peer):
    """smtp-sink on a free loopback port. With counting=True it runs with -c, and messages()
    reads its running message counter (every "." it answered) from its output. With dump_dir
    it writes each message it gets into a file of its own there (-d). It runs on the client's
    CPU where it stands for a remote host, on the server CPU (role "server") where it is the
    server measured, as inbound.py's ceiling."""

    def __init__(self, name="sink", counting=False, logdir=None, dump_dir=None, role="client"):
        port = free_port()
        argv = ["smtp-sink", "-u", os.environ.get("USER", "root"), "-m", "5000"]
        if counting:
            argv.append("-c")
        if dump_dir:
            argv += ["-d", os.path.join(dump_dir, "msg.")]
        super().__init__(name, argv + ["127.0.0.1:%d" % port, "1024"], port,
                         log_path=os.path.join(logdir, name + ".log") if logdir else None,
                         role=role)

    def messages(self):
        return self._counter("mesg")

    def sessions(self):
        return self._counter("sess")

    def _counter(self, name):
        # -c writes "sess=N quit=N mesg=N\r" after every session end, QUIT and message.
        with open(self.log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 200))
            records = f.read().decode(errors="replace").split("\r")
        for record in reversed(records[:-1]):  # the last piece may be incomplete
            m = re.search(r"sess=(\d+) quit=\d+ mesg=(\d+)$", record)
            if m:
                return int(m.group(1 if name == "sess" else 2))
        return 0


def start_sink(counting=False, name="sink", logdir=None, dump_dir=None, role="client"):
    return Sink(name, counting, logdir, dump_dir, role)


EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


def exit_on_sigterm():
    """SIGTERM and SIGHUP raise SystemExit, SIGINT KeyboardInterrupt (even when started with
    SIGINT ignored, as background jobs are), so that `finally` blocks stop the servers. Only
    the first signal does, the next ones are ignored: the cleanup it starts (stopping the
    servers, removing what a bench set up) is not cut short. timeout(1) sends its SIGTERM
    twice, to the command and to its process group; a second Ctrl-C does the same."""
    owner = os.getpid()

    def handler(signum, frame):
        if os.getpid() == owner:  # a forked child (a pool worker) must stay killable
            for s in EXIT_SIGNALS:
                signal.signal(s, signal.SIG_IGN)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit("stopped by signal %d" % signum)
    for s in EXIT_SIGNALS:
        signal.signal(s, handler)


def show_logs(peers, out):
    """Prints the end of each server's log (after a failure)."""
    for peer in peers:
        tail = peer.log_tail()
        if tail:
            print("--- %s log tail ---\n%s" % (peer.name, tail), file=out)


@contextlib.contextmanager
def servers_run(prefix):
    """(a temporary work directory, a list for the servers a bench starts): on the way out the
    log tails are shown after an error, every server in the list is stopped, the last started
    first (also on Ctrl-C and SIGTERM, see exit_on_sigterm; past a stop that fails, whose error
    is raised once the rest is done), and the directory is removed."""
    refuse_memory_fs(tempfile.gettempdir())
    workdir = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
    peers = []
    try:
        yield workdir, peers
    except Exception:
        show_logs(peers, sys.stderr)
        raise
    finally:
        failed = stop_all(peers)
        shutil.rmtree(workdir, ignore_errors=True)
    if failed:
        raise failed


def stop_all(peers):
    """Stops every peer, the last started first, going on past a failure (printed); returns
    the first failure, or None."""
    failed = None
    for peer in reversed(peers):
        try:
            peer.stop()
        except Exception as e:  # noqa: BLE001 - the others must still be stopped
            print("stopping %s: %s" % (getattr(peer, "name", peer), e), file=sys.stderr)
            failed = failed or e
    return failed


def paired_run_parser(doc, rounds=5):
    """The command line of a script comparing servers round by round: --upesi, --rounds,
    --quick (10 sessions, 1 round), --messages and --json; the script adds its own."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--upesi", default=str(ROOT / "build-release" / "master" / "upesi"))
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--quick", action="store_true", help="10 sessions only, 1 round")
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--json", help="also write the medians to this file")
    return ap


def write_json(path, value):
    """Writes value as JSON to path (the scripts' --json); nothing when path is None."""
    if path:
        pathlib.Path(path).write_text(json.dumps(value, indent=1))


def machine_line(upesi=None):
    """The lines printed under every table: date and machine, the versions of everything
    measured (see versions_line; upesi: the binary run) and the CPU pinning."""
    model = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
    return "date: %s  machine: %d cpus, %s\n%s\n%s" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(), model,
        versions_line(upesi), PIN_NOTE)


def _output(argv, cwd=None):
    """A command's first output line, or None when it fails or is missing."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = r.stdout.strip().splitlines()
    return lines[0].strip() if r.returncode == 0 and lines else None


def git_commit(path):
    """The short commit of the git tree holding path, "-dirty" when tracked files differ from
    it; None outside a git tree."""
    path = str(path)
    commit = _output(["git", "-C", path, "rev-parse", "--short", "HEAD"])
    if commit is None:
        return None
    try:
        dirty = subprocess.run(["git", "-C", path, "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        dirty = "?"
    return commit + ("-dirty" if dirty else "")


def fs_type(path):
    """The type of the file system holding path (findmnt's name: ext4, xfs, tmpfs; else what
    `stat -f` says)."""
    return (_output(["findmnt", "-n", "-o", "FSTYPE", "-T", str(path)])
            or _output(["stat", "-f", "-c", "%T", str(path)]) or "unknown")


MEMORY_FS = ("tmpfs", "ramfs")


def peers_cache_dir():
    """Where peers fetched from Debian's packages are unpacked: $XDG_CACHE_HOME/upesi/peers
    (or ~/.cache/upesi/peers)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return pathlib.Path(base) / "upesi" / "peers"


def unpack_debs(packages, name):
    """Fetches `packages` with apt-get download (into the cache's debs/) and unpacks them with
    dpkg -x into the cache's `name`/, replacing what was there; never installs them (Debian's
    MTA packages conflict with each other). Raises RuntimeError when apt-get cannot fetch."""
    debs = peers_cache_dir() / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["apt-get", "download", *packages], cwd=debs, capture_output=True,
                       text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("apt-get download %s: %s" % (" ".join(packages), r.stderr))
    root = peers_cache_dir() / (name + ".tmp")
    shutil.rmtree(root, ignore_errors=True)
    for p in packages:
        deb = sorted(debs.glob("%s_*.deb" % p))[-1]
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True, timeout=120)
    shutil.rmtree(peers_cache_dir() / name, ignore_errors=True)
    root.rename(peers_cache_dir() / name)


def peer_available(name, install):
    """Runs a peer's install(); False, with a line saying why, when it cannot be had."""
    try:
        install()
    except Exception as e:
        print("%s: left out, not available: %s" % (name, e), file=sys.stderr)
        return False
    return True


def refuse_memory_fs(path):
    """Exits when path (where the servers' queues go) is on tmpfs or ramfs: an fsync costs
    nothing there, so a queue in memory would make the servers' figures meaningless."""
    kind = fs_type(path)
    if kind in MEMORY_FS or _output(["stat", "-f", "-c", "%T", str(path)]) in MEMORY_FS:
        sys.exit("refusing to run: %s is on %s, where fsync costs nothing and the queues' "
                 "figures mean nothing; set TMPDIR to a directory on a disk" % (path, kind))
    import scratch_fs
    if scratch_fs.journal_state(path) == "no journal":
        print("note: %s is on an ext4 without a journal, where creating a file after many were "
              "deleted costs a scan past them (test/bench/scratch_fs.py runs a command on a "
              "journaled one)" % path, file=sys.stderr)


def haraka_version():
    """Haraka's version as installed for the benchmarks (test/integration/haraka_peer.py), with
    node's, or None when it is not installed."""
    sys.path.insert(0, str(ROOT / "test" / "integration"))
    import haraka_peer
    meta = haraka_peer.cache_root() / "node_modules" / "Haraka" / "package.json"
    try:
        version = json.loads(meta.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None
    return "%s (node %s)" % (version, _output(["node", "--version"]) or "?")


def versions_line(upesi=None):
    """Our commit (of the binary's source tree, when upesi is given and lies in one, and of
    these scripts), Postfix's mail_version, Haraka's and Exim's versions, the kernel, and the file system
    of the directory the servers' queues are written in."""
    parts = []
    bench = git_commit(ROOT)
    if upesi:
        binary = pathlib.Path(upesi).resolve()
        built = time.strftime("%Y-%m-%d %H:%M UTC",
                              time.gmtime(binary.stat().st_mtime)) if binary.exists() else "?"
        # `upesi --version` names the commit it was built from; its tree's HEAD, the guess
        # left for an older binary, is wrong when the tree moved on after the build.
        said = _output([str(binary), "--version"]) or ""
        found = re.search(r"\(commit ([^,)]+)", said)
        if found:
            commit = found.group(1)
        else:
            top = _output(["git", "-C", str(binary.parent), "rev-parse", "--show-toplevel"])
            commit = "%s? (its tree's HEAD)" % (git_commit(top) if top else "")
        parts.append("upesi %s (binary built %s), bench scripts %s" % (commit, built, bench))
    else:
        parts.append("upesi %s" % bench)
    parts.append("postfix %s" % (_output(["/usr/sbin/postconf", "-d", "-h", "mail_version"])
                                 or "not installed"))
    parts.append("haraka %s" % (haraka_version() or "not installed"))
    import exim_peer  # (it imports this module)
    parts.append("exim %s" % (exim_peer.version() or "not unpacked"))
    import opensmtpd_peer  # (it imports this module)
    parts.append("opensmtpd %s" % (opensmtpd_peer.version() or "not unpacked"))
    parts.append("kernel %s" % os.uname().release)
    tmp = tempfile.gettempdir()
    import scratch_fs
    journal = scratch_fs.journal_state(tmp)
    parts.append("queues on %s%s (%s)" % (fs_type(tmp), ", " + journal if journal else "", tmp))
    return "versions: " + ", ".join(parts)


def median_range(values, fmt="%.3f"):
    """ "median (min–max)" of values ("–" when there are none)."""
    if not values:
        return "–"
    return "%s (%s–%s)" % (fmt % statistics.median(values), fmt % min(values), fmt % max(values))


def ratio_range(values, fmt="%.2f"):
    """ "median x (min–max)" of ratios."""
    if not values:
        return "–"
    return "%sx (%s–%s)" % (fmt % statistics.median(values), fmt % min(values),
                            fmt % max(values))


def paired_ratios(mine, theirs):
    """Round by round ratios of two servers' figures (the rounds interleave them, so that drift
    hits both alike)."""
    return [a / b for a, b in zip(mine, theirs) if b]


def summary(values):
    """{"median", "min", "max"} of values, for the scripts' JSON."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def shipped_ini(binary, name):
    """[main] of the shipped default config file `name` (e.g. "smtp.ini") that the binary
    reads: UPESI_DEFAULTS_DIR's when that is set, else its source tree's etc/ (the binary lies in
    BUILD/master/), else these scripts' tree's."""
    dirs = [os.environ.get("UPESI_DEFAULTS_DIR")] if os.environ.get("UPESI_DEFAULTS_DIR") else []
    if binary:
        dirs.append(pathlib.Path(binary).resolve().parents[2] / "etc")
    dirs.append(ROOT / "etc")
    for d in dirs:
        path = pathlib.Path(d) / name
        if path.exists():
            parser = configparser.ConfigParser(strict=False, interpolation=None)
            parser.read_string(path.read_text())
            return dict(parser["main"]) if parser.has_section("main") else {}
    return {}


def pss_kb(pids):
    """The PSS (proportional set size, fair to servers of several processes) of pids, in kB."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def proc_usage(pid):
    """{"rss": kB, "pss": kB, "fds": open descriptors} of pid (/proc/PID/smaps_rollup and
    /proc/PID/fd), or None when it has gone."""
    try:
        usage = {"fds": len(os.listdir("/proc/%d/fd" % pid))}
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss"):
                    usage[key.lower()] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return usage if "rss" in usage and "pss" in usage else None


def _cgroup_mounts():
    """{"v2": (mount point, root), "v1": (mount point, root)}: the cgroup v2 hierarchy and the
    v1 hierarchy with the memory controller, where mounted (root: the cgroup seen at the mount
    point, "/" outside a cgroup namespace)."""
    found = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, right = left.split(), right.split()
            if len(fields) < 5 or len(right) < 3:
                continue
            if right[0] == "cgroup2":
                found.setdefault("v2", (fields[4], fields[3]))
            elif right[0] == "cgroup" and "memory" in right[2].split(","):
                found.setdefault("v1", (fields[4], fields[3]))
    return found


def _own_cgroup(version):
    """This process's cgroup path in the v2 hierarchy, or in v1's memory hierarchy."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            hid, controllers, path = line.rstrip("\n").split(":", 2)
            if version == "v2" and hid == "0" and not controllers:
                return path
            if version == "v1" and "memory" in controllers.split(","):
                return path
    return None


def _read_words(path):
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:
        return []


class MemoryCgroup:
    """A fresh memory cgroup for one server: made here, joined by the server before it execs
    (join, as Popen's preexec_fn: every process it forks is charged there too), read with
    read(), removed once its processes are gone (remove(); also on leaving a `with` block).
    Needs root.

    cgroup v2 where a v2 hierarchy has the memory controller: made under the nearest ancestor of
    this process's cgroup that hands the controller down (its cgroup.subtree_control), read from
    memory.current: user memory, page cache, kernel memory (slab, kernel stacks, page tables)
    and socket buffers. Else cgroup v1: made under this process's memory cgroup (hierarchical,
    so its limits still hold), read from memory.usage_in_bytes, which counts user memory, page
    cache and kernel memory (the kernel charges that to memory.kmem.usage_in_bytes and to the
    total alike; check_kmem() refuses a kernel booted with cgroup.memory=nokmem), plus
    memory.kmem.tcp.usage_in_bytes: v1 charges TCP socket buffers to that counter only, and
    only once its limit has been written, so a limit far above any use is written at creation.
    A socket is tied to a cgroup when it is made, so that only sockets made after the limit is
    written count (and only then does the kernel charge an accepted socket's own structure to
    the accepting process's cgroup: about 2 KiB per connection that would be missed)."""

    TCP_LIMIT = 1 << 50  # 1 PiB: activates the counter, never limits

    def __init__(self, name):
        mounts = _cgroup_mounts()
        self.version = self.path = None
        if "v2" in mounts:
            base = self._v2_base(*mounts["v2"])
            if base:
                self.version, self.path = "v2", os.path.join(base, name)
        if self.path is None and "v1" in mounts:
            mount, root = mounts["v1"]
            own = _own_cgroup("v1")
            if own is not None and own.startswith(root):
                self.version = "v1"
                self.path = os.path.join(mount, own[len(root):].lstrip("/"), name)
        if self.path is None:
            raise RuntimeError("no memory cgroup hierarchy to make a cgroup in (v2 without the "
                               "memory controller, no v1 memory hierarchy)")
        os.mkdir(self.path)
        try:
            if self.version == "v1":
                self._write("memory.kmem.tcp.limit_in_bytes", str(self.TCP_LIMIT))
        except BaseException:
            os.rmdir(self.path)
            raise

    @staticmethod
    def _v2_base(mount, root):
        own = _own_cgroup("v2")
        if own is None or not own.startswith(root):
            return None
        rel = own[len(root):].strip("/")
        while True:
            d = os.path.join(mount, rel)
            if "memory" in _read_words(os.path.join(d, "cgroup.subtree_control")):
                return d
            if not rel:
                return None
            rel = os.path.dirname(rel)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()

    def _write(self, name, value):
        with open(os.path.join(self.path, name), "w") as f:
            f.write(value)

    def _int(self, name):
        with open(os.path.join(self.path, name)) as f:
            return int(f.read())

    def join(self):
        """Moves the calling process into the cgroup (for Popen's preexec_fn)."""
        self._write("cgroup.procs", str(os.getpid()))

    def pids(self):
        return [int(p) for p in _read_words(os.path.join(self.path, "cgroup.procs"))]

    def stat(self):
        """memory.stat as {key: bytes}, v1's hierarchical total_* under the v2 names."""
        stat = {}
        with open(os.path.join(self.path, "memory.stat")) as f:
            for line in f:
                key, value = line.split()
                if self.version == "v1":
                    if not key.startswith("total_"):
                        continue
                    key = key[len("total_"):]
                stat[key] = int(value)
        return stat

    def read(self):
        """{"charged": bytes charged to the cgroup, "file": of which page cache (the file
        LRU lists: cache charged to whoever read or wrote the page first, shmem not included),
        "sock": of which socket buffers, "kernel": of which kernel memory (sockets included on
        v1; None where v2's memory.stat does not say)}."""
        stat = self.stat()
        file = stat.get("active_file", 0) + stat.get("inactive_file", 0)
        if self.version == "v2":
            return {"charged": self._int("memory.current"), "file": file,
                    "sock": stat.get("sock", 0), "kernel": stat.get("kernel")}
        tcp = self._int("memory.kmem.tcp.usage_in_bytes")
        return {"charged": self._int("memory.usage_in_bytes") + tcp, "file": file,
                "sock": tcp, "kernel": self._int("memory.kmem.usage_in_bytes") + tcp}

    def check_kmem(self):
        """Raises unless kernel memory is charged (call it once a server runs in the cgroup)."""
        kernel = self.read()["kernel"]
        if kernel == 0:
            raise RuntimeError("%s: no kernel memory charged (cgroup.memory=nokmem?): the "
                               "figures would leave sockets out" % self.path)

    def describe(self):
        if self.version == "v2":
            return "cgroup v2 memory.current (user, kernel and socket memory)"
        return ("cgroup v1 memory.usage_in_bytes (user and kernel memory) + "
                "memory.kmem.tcp.usage_in_bytes (TCP socket buffers)")

    def remove(self, timeout=20):
        """Waits for the cgroup's processes to be gone (SIGKILL to those left after timeout
        s: they are the servers we started), then removes it."""
        if not os.path.isdir(self.path):
            return
        try:
            wait_until(lambda: not self.pids(), timeout, "%s to empty" % self.path)
        except TimeoutError:
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        while True:
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:  # exiting processes still listed
                    raise
                time.sleep(0.1)


def queue_files(queue_dir):
    """Files in an Upesi queue directory, those still being written (temporary names) left
    out."""
    try:
        return sum(1 for e in os.scandir(queue_dir)
                   if not e.name.startswith((".", "__tmp__.")) and e.is_file())
    except OSError:
        return 0


BUILD_LOCK = "/tmp/upesi-build.lock"


def holds_build_lock():
    """True when this process has the build lock open, as under `flock BUILD_LOCK command`
    (flock hands its locked descriptor on to the command)."""
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink("/proc/self/fd/" + fd) == BUILD_LOCK:
                return True
        except OSError:
            pass
    return False


def ensure_built(build_dir, targets=()):
    """Runs ninja in build_dir if it has work to do for targets (all when none), holding the
    build lock: the one this process inherited, else taken with flock(1). ninja's output goes
    to stderr."""
    build_dir = str(build_dir)
    dry = subprocess.run(["ninja", "-C", build_dir, "-n", *targets], capture_output=True,
                         text=True, timeout=300)
    if dry.returncode == 0 and "no work to do" in dry.stdout:
        return
    cmd = ["ninja", "-C", build_dir, *targets]
    if not holds_build_lock():
        cmd = ["flock", BUILD_LOCK] + cmd
    proc = subprocess.Popen(cmd, stdout=2)
    try:
        if proc.wait(timeout=3600) != 0:
            raise RuntimeError("%s failed (exit status %d)" % (" ".join(cmd), proc.returncode))
    except BaseException:
        # Interrupted: SIGTERM lets ninja stop its compilers (SIGKILL would orphan them).
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise
