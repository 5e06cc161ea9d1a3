"""dnsmasq on a loopback port serving the records a test gives, for everything under .test
(anything else there is NXDOMAIN; nothing is forwarded anywhere)."""
import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
AVAILABLE = os.path.exists(DNSMASQ)


def free_port():
    """A loopback port free for both UDP and TCP (dnsmasq listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise AssertionError("no free port for dnsmasq")


def txt(name, text):
    """A TXT record; text longer than 255 bytes is split into strings, as DNS requires."""
    assert '"' not in text and "\\" not in text, text
    chunks = [text[i:i + 255] for i in range(0, len(text), 255)] or [""]
    return "txt-record=%s,%s" % (name, ",".join('"%s"' % c for c in chunks))


def host(name, *addresses):
    return "host-record=%s,%s" % (name, ",".join(addresses))


def mx(name, target, preference):
    return "mx-host=%s,%s,%d" % (name, target, preference)


def ptr(address, name):
    """A PTR record for an IPv4 address."""
    reverse = ".".join(reversed(address.split("."))) + ".in-addr.arpa"
    return "ptr-record=%s,%s" % (reverse, name)


@contextlib.contextmanager
def serve(records, local_zones=("test", "in-addr.arpa"), query_log=None):
    """Yields the port of a dnsmasq answering `records` (lines made by the helpers above, read
    from a config file, where dnsmasq unquotes TXT strings). With query_log (a path), dnsmasq
    writes every query it receives there (see queries())."""
    conf = tempfile.NamedTemporaryFile("w", suffix=".conf", prefix="zone-")
    conf.write("".join(line + "\n" for line in records))
    conf.flush()
    proc = None
    for _ in range(5):
        port = free_port()
        proc = subprocess.Popen(
            [DNSMASQ, "--no-daemon", "--keep-in-foreground", "--port=%d" % port,
             "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
             "--no-poll", "--pid-file="]
            + (["--log-queries", "--log-facility=%s" % query_log] if query_log
               else ["--log-facility=-"])
            + ["--local=/%s/" % zone for zone in local_zones] + ["--conf-file=" + conf.name],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.3)
        if proc.poll() is None:
            break
        error = proc.stderr.read()
        # A port can be taken between our check and dnsmasq's bind: try another.
        assert b"Address already in use" in error, error
    assert proc.poll() is None
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        conf.close()


def queries(query_log):
    """(type, name, client address) of each query in a query_log written by serve()."""
    try:
        text = open(query_log).read()
    except FileNotFoundError:
        return []
    return re.findall(r"query\[(\w+)\] (\S+) from (\S+)", text)


def resolver_ini(port):
    """config/dns.ini pointing the server's resolver at the zone."""
    return "[main]\nservers=127.0.0.1:%d\ntimeout_ms=1000\ntries=1\n" % port
