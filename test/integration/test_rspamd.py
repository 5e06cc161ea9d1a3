"""The rspamd plugin through the real binary, against Debian's rspamd started by this module on
a loopback port with a config written here: one normal worker, no controller, no redis, DNS
pointed at a dnsmasq on loopback that forwards nothing, the modules that fetch remote maps or
ask outside services turned off, and rspamd's test patterns on (GTUBE rejects; its variants ask
for "add header" and "rewrite subject"). Clients connect from 127.0.0.1, which the plugin skips
unless [check] local_ip is on."""
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import time
import urllib.request

import pytest

import dns_zone
from conftest import free_port
from saved_messages import stored

RSPAMD = shutil.which("rspamd") or "/usr/bin/rspamd"
pytestmark = [
    pytest.mark.skipif(not os.path.exists(RSPAMD), reason="needs rspamd"),
    pytest.mark.skipif(not dns_zone.AVAILABLE, reason="needs dnsmasq"),
]

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
GTUBE_ADD_HEADER = "YJS" + GTUBE[3:]
GTUBE_REWRITE_SUBJECT = "ZJS" + GTUBE[3:]

# Modules that would fetch maps over HTTP, ask services on the Internet or need redis.
OFF = ["rbl", "whitelist", "phishing", "multimap", "mime_types", "mid", "fuzzy_check",
       "greylist", "rspamd_update", "asn", "url_redirector", "emails", "dkim_signing", "arc",
       "neural", "ratelimit", "replies", "reputation", "history_redis", "dcc", "p0f",
       "metadata_exporter", "clickhouse", "elastic", "external_services", "antivirus",
       "spamtrap", "bimi", "dmarc", "maillist"]


def rspamd_config(root, port, dns_port, milter_port):
    (root / "local.d").mkdir()
    for module in OFF:
        (root / "local.d" / (module + ".conf")).write_text("enabled = false;\n")
    # The add/remove headers rspamd hands an MTA in its reply ("milter" in the JSON).
    (root / "local.d" / "milter_headers.conf").write_text(
        'use = ["x-spam-status"];\nskip_local = false;\nskip_authenticated = false;\n')
    # A short list of suffixes: compiling the real one (9600 names) takes rspamd 20 s.
    (root / "tld.dat").write_text("com\norg\nnet\ntest\nexample\n")
    (root / "rspamd.conf").write_text("""
.include "$CONFDIR/common.conf"
options {
    pidfile = "$RUNDIR/rspamd.pid";
    url_tld = "%(root)s/tld.dat";
    local_addrs = [];
    hs_cache_dir = "$DBDIR";
    enable_test_patterns = true;
    dns { nameserver = ["127.0.0.1:%(dns)d"]; timeout = 1s; retransmits = 1; }
}
logging { type = "file"; filename = "$LOGDIR/rspamd.log"; level = "info"; }
worker "normal" {
    bind_socket = "127.0.0.1:%(port)d";
    .include "$CONFDIR/worker-normal.inc"
    count = 1;
}
worker "rspamd_proxy" {
    bind_socket = "127.0.0.1:%(milter)d";
    milter = yes;
    timeout = 120s;
    self_scan = yes;
    count = 1;
    reject_message = "Refused by rspamd's proxy";
    upstream "local" { default = yes; self_scan = yes; }
}
""" % {"root": root, "dns": dns_port, "port": port, "milter": milter_port})


class Rspamd:
    def __init__(self, root, port, proc, milter_port):
        self.root, self.port, self.proc = root, port, proc
        self.milter_port = milter_port  # the proxy worker, speaking milter

    def log(self):
        try:
            return (self.root / "rspamd.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def pids(self):
        """The main process and its workers."""
        with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
            return [self.proc.pid] + [int(p) for p in f.read().split()]


def ping(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/ping" % port, timeout=1) as r:
            return r.read().strip() == b"pong"
    except OSError:
        return False


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def rspamd(tmp_path_factory):
    root = tmp_path_factory.mktemp("rspamd")
    with dns_zone.serve([]) as dns_port:
        port = free_port()
        milter_port = free_port()
        rspamd_config(root, port, dns_port, milter_port)
        for d in ("db", "run"):
            (root / d).mkdir()
        out = open(root / "stdout.log", "w")
        started = time.monotonic()
        proc = subprocess.Popen(
            [RSPAMD, "-f", "-i", "-u", "root", "-g", "root", "-c", str(root / "rspamd.conf"),
             "--var=LOCAL_CONFDIR=%s" % root, "--var=DBDIR=%s" % (root / "db"),
             "--var=RUNDIR=%s" % (root / "run"), "--var=LOGDIR=%s" % root],
            stdout=out, stderr=subprocess.STDOUT)
        out.close()
        try:
            deadline = started + 60
            while not (ping(port) and listening(milter_port)):
                assert proc.poll() is None, (root / "stdout.log").read_text()
                assert time.monotonic() < deadline, "rspamd did not start"
                time.sleep(0.1)
            print("rspamd ready after %.1f s" % (time.monotonic() - started))
            yield Rspamd(root, port, proc, milter_port)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def serve(start_server, install, port, rspamd_ini="", files=None):
    """Upesi with rspamd then the scripted `accept` plugin, which saves what it queues."""
    saved = install / "saved"
    saved.mkdir(exist_ok=True)
    files = dict(files or {})
    files.update({
        "rspamd.ini": "host=127.0.0.1\nport=%d\n%s" % (port, rspamd_ini),
        "accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\nsave=%s\n" % saved,
    })
    return start_server(plugins=["rspamd", "accept"], so=["accept"], files=files), saved


LOCAL = "\n[check]\nlocal_ip=true\n"


def message(subject, body):
    return ("From: Alice <alice@example.com>\r\nTo: Bob <bob@example.org>\r\n"
            "Subject: %s\r\nDate: Sat, 05 Dec 2026 11:00:00 +0000\r\n"
            "Message-ID: <%s@example.com>\r\n\r\n%s\r\n" % (subject, abs(hash(subject)), body))


def send(server, subject, body, rcpts=("bob@example.org",)):
    """The reply to the end of DATA: (code, text)."""
    with smtplib.SMTP("127.0.0.1", server.port, timeout=40) as smtp:
        smtp.ehlo("client.example.com")
        smtp.mail("alice@example.com")
        for rcpt in rcpts:
            smtp.rcpt(rcpt)
        return smtp.data(message(subject, body).encode())


def test_gtube_is_refused_with_rspamds_message_and_the_envelope_reaches_rspamd(
        start_server, install, rspamd):
    server, _ = serve(start_server, install, rspamd.port, LOCAL)
    code, text = send(server, "gtube", GTUBE, rcpts=("bob@example.org", "carol@example.org"))
    assert code == 550, text
    assert b"Gtube pattern" in text
    assert server.wait_log("action: reject")
    # rspamd logged what the request's fields told it: client, sender, recipients, queue id.
    deadline = time.monotonic() + 10
    while "GTUBE" not in rspamd.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = [l for l in rspamd.log().splitlines() if "GTUBE" in l and "task_write_log" in l][-1]
    assert "ip: 127.0.0.1" in line
    assert "from: <alice@example.com>" in line
    assert "rcpts: <bob@example.org,carol@example.org>" in line
    assert "qid: <" in line


def test_a_clean_message_passes_with_the_configured_headers(start_server, install, rspamd):
    server, saved = serve(start_server, install, rspamd.port,
                          "add_headers=always\n" + LOCAL)
    code, text = send(server, "clean", "Hello Bob, lunch at noon?")
    assert code == 250, text
    saved_message = stored(saved, "clean")
    score = saved_message["X-Rspamd-Score"]
    assert score is not None and float(score) < 15
    assert saved_message["X-Rspamd-Bar"] is not None
    assert saved_message["X-Rspamd-Report"] is not None
    # rspamd's milter_headers module, through the reply's milter.add_headers.
    assert saved_message["X-Spam-Status"] is not None
    assert saved_message["X-Spam-Status"].startswith("No")


def test_add_header_and_rewrite_subject_follow_rspamds_action(start_server, install, rspamd):
    server, saved = serve(start_server, install, rspamd.port, LOCAL)
    code, text = send(server, "add header", GTUBE_ADD_HEADER)
    assert code == 250, text
    flagged = stored(saved, "add header")
    assert flagged["X-Rspamd-Score"] is not None
    assert flagged["X-Rspamd-Bar"].startswith("+")
    code, text = send(server, "rewrite me", GTUBE_REWRITE_SUBJECT)
    assert code == 250, text
    deadline = time.monotonic() + 10
    rewritten = None
    while rewritten is None and time.monotonic() < deadline:
        for path in saved.iterdir():
            raw = path.read_bytes()
            if b"rewrite me" in raw and b"X-Rspamd" not in raw:
                rewritten = raw
        time.sleep(0.05)
    assert rewritten is not None
    subject = [l for l in rewritten.split(b"\r\n") if l.startswith(b"Subject:")]
    assert subject != [b"Subject: rewrite me"] and b"rewrite me" in subject[0], subject


def test_local_clients_are_not_scanned_by_default(start_server, install, rspamd):
    server, saved = serve(start_server, install, rspamd.port)
    code, text = send(server, "local gtube", GTUBE)
    assert code == 250, text
    assert server.wait_log("not scanned: skip: local_ip")


def test_rspamd_down_carries_on_or_defers_as_configured(start_server, install, rspamd):
    closed = free_port()
    http = free_port()
    server, saved = serve(start_server, install, closed, LOCAL,
                          files={"http.ini": "[main]\nlisten=127.0.0.1:%d\n" % http})
    code, text = send(server, "down", "Hello")
    assert code == 250, text
    assert server.wait_log("no verdict from rspamd at 127.0.0.1:%d (error)" % closed)
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http, timeout=10) as r:
        scraped = r.read().decode()
    assert 'upesi_filter_failures_total{filter="rspamd",reason="error"} 1' in scraped, scraped
    server.stop()
    server, _ = serve(start_server, install, closed, "[defer]\nerror=true\n" + LOCAL)
    code, text = send(server, "down deferred", "Hello")
    assert code == 450 and text == b"4.7.1 Rspamd scan error", (code, text)


def test_rspamd_too_slow_is_a_timeout(start_server, install, rspamd):
    server, _ = serve(start_server, install, rspamd.port,
                      "timeout=1\n[defer]\ntimeout=true\n" + LOCAL)
    # rspamd stopped: the kernel still accepts the connection, nobody answers.
    pids = rspamd.pids()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        code, text = send(server, "slow", "Hello")
        elapsed = time.monotonic() - started
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    assert code == 450 and text == b"4.7.1 Rspamd scan timeout", (code, text)
    assert elapsed < 5
    assert server.wait_log("(timeout)")


def test_rspamds_proxy_as_a_milter_refuses_gtube(start_server, install, rspamd):
    """rspamd's proxy worker in milter mode (scanning itself), asked through the milter plugin:
    GTUBE is refused at the end of DATA, a clean message is stored with the proxy's header."""
    saved = install / "saved"
    saved.mkdir(exist_ok=True)
    files = {
        "milter.ini": "[main]\nmilters=rspamd\n[rspamd]\nsocket=inet:127.0.0.1:%d\n"
                      % rspamd.milter_port,
        "accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\nsave=%s\n" % saved,
    }
    server = start_server(plugins=["milter", "accept"], so=["accept"], files=files)
    code, text = send(server, "gtube by milter", GTUBE)
    assert code == 550, text
    assert b"Refused by rspamd's proxy" in text or b"Gtube pattern" in text, text
    code, text = send(server, "clean by milter", "Nothing to see here, just a note.")
    assert code == 250, text
    # The header rspamd's milter_headers module asks for, added through the milter protocol.
    assert (stored(saved, "clean by milter")["X-Spam-Status"] or "").startswith("No")
    assert len(list(saved.iterdir())) == 1  # GTUBE was not stored
