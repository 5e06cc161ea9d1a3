"""What the benchmark scripts share: free loopback ports, waiting for a server, the CPU of a
process tree, driving smtp-source, and starting servers (smtp-sink among them) as children that
are stopped again; also memory and descriptors of a process, the files of a queue directory,
and building under the build lock."""
import argparse
import contextlib
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CLK = os.sysconf("SC_CLK_TCK")


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
    process group), with its output in a temporary log file."""

    def __init__(self, name, argv, port, env=None, cwd=None, log_path=None):
        self.name, self.port = name, port
        self.log_path = log_path or tempfile.mktemp(prefix="bench-%s-" % name, suffix=".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, cwd=cwd, start_new_session=True)
        self.pid = self.proc.pid
        try:
            wait_port(port, self.proc)
        except BaseException as e:
            self.stop()
            if not isinstance(e, Exception):
                raise
            raise RuntimeError("%s: %s\n--- log tail ---\n%s" % (name, e, self.log_tail())) \
                from None

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
    it writes each message it gets into a file of its own there (-d)."""

    def __init__(self, name="sink", counting=False, logdir=None, dump_dir=None):
        port = free_port()
        argv = ["smtp-sink", "-u", os.environ.get("USER", "root"), "-m", "5000"]
        if counting:
            argv.append("-c")
        if dump_dir:
            argv += ["-d", os.path.join(dump_dir, "msg.")]
        super().__init__(name, argv + ["127.0.0.1:%d" % port, "1024"], port,
                         log_path=os.path.join(logdir, name + ".log") if logdir else None)

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


def start_sink(counting=False, name="sink", logdir=None, dump_dir=None):
    return Sink(name, counting, logdir, dump_dir)


def exit_on_sigterm():
    """SIGTERM and SIGHUP raise SystemExit, SIGINT KeyboardInterrupt (even when started with
    SIGINT ignored, as background jobs are), so that `finally` blocks stop the servers."""
    def handler(signum, frame):
        raise SystemExit("stopped by signal %d" % signum)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)


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
    first (also on Ctrl-C and SIGTERM, see exit_on_sigterm), and the directory is removed."""
    workdir = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
    peers = []
    try:
        yield workdir, peers
    except Exception:
        show_logs(peers, sys.stderr)
        raise
    finally:
        for peer in reversed(peers):
            peer.stop()
        shutil.rmtree(workdir, ignore_errors=True)


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


def machine_line():
    model = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
    return "date: %s  machine: %d cpus, %s" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(), model)


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
