"""GET /metrics: the same totals whichever worker answers, kept across worker restarts, valid
for `promtool check metrics` on every scrape, and scraped by a real Prometheus server (Debian's
prometheus) whose query API sees the target up and the messages swaks sent."""
import json
import os
import signal
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import free_port
from test_http import http_ini

ACCEPT = {"accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\n"}


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def promtool_check(text):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    # promtool also prints lint advice (exit 3 for lint problems only would still be a
    # finding): the exposition must be clean.
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def sample(text, name, labels=None):
    """The value of `name{labels}` (labels: a dict that must all match), summed over series."""
    total = None
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, value = line.rsplit(" ", 1)
        metric = series.split("{", 1)[0]
        if metric != name:
            continue
        if labels:
            if not all('%s="%s"' % kv in series for kv in labels.items()):
                continue
        total = (total or 0) + float(value)
    return total


def swaks(port, count):
    for i in range(count):
        r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % port, "--to",
                            "rcpt%d@example.com" % i, "--from", "s@client.example",
                            "--timeout", "10"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture
def metered(start_server):
    def start(nodes=2, **keys):
        port = free_port()
        files = dict(ACCEPT)
        files["http.ini"] = http_ini(port, **keys)
        server = start_server(plugins=["accept"], so=["accept"], files=files,
                              smtp={"nodes": nodes})
        if nodes:
            server.wait_workers(nodes)
        return server, port
    return start


def test_every_scrape_is_valid_and_counts_the_mail(metered):
    server, port = metered()
    text = scrape(port)
    promtool_check(text)
    assert "# TYPE upesi_smtp_messages_accepted_total counter" in text
    swaks(server.port, 6)
    # Whichever worker answers, the same totals: every scrape sees all 6.
    for _ in range(6):
        text = scrape(port)
        promtool_check(text)
        assert sample(text, "upesi_smtp_messages_accepted_total") == 6
        assert sample(text, "upesi_smtp_recipients_accepted_total") == 6
        assert sample(text, "upesi_smtp_connections_total") == 6
    assert sample(text, "upesi_http_requests_total", {"class": "2xx"}) >= 6
    # Hook latency, per hook and plugin.
    assert sample(text, "upesi_hook_duration_seconds_count",
                  {"hook": "rcpt", "plugin": "accept"}) == 6


def test_totals_survive_a_worker_restart(metered):
    server, port = metered()
    swaks(server.port, 4)
    before = scrape(port)
    assert sample(before, "upesi_smtp_messages_accepted_total") == 4
    victim = server.workers()[0]
    os.kill(victim, signal.SIGKILL)
    assert server.wait_log("restarting worker")
    server.wait_workers(2, exclude=[victim])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        after = scrape(port)
        if sample(after, "upesi_worker_restarts_total") == 1:
            break
        time.sleep(0.2)
    assert sample(after, "upesi_worker_restarts_total") == 1
    assert sample(after, "upesi_smtp_messages_accepted_total") == 4
    promtool_check(after)
    swaks(server.port, 1)
    assert sample(scrape(port), "upesi_smtp_messages_accepted_total") == 5


def test_reloads_are_counted_and_totals_kept(metered):
    server, port = metered()
    swaks(server.port, 2)
    old = server.workers()
    server.proc.send_signal(signal.SIGUSR2)
    assert server.wait_log("reload done", timeout=30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and set(server.workers()) & set(old):
        time.sleep(0.1)
    text = scrape(port)
    assert sample(text, "upesi_reloads_total") == 1
    assert sample(text, "upesi_smtp_messages_accepted_total") == 2


def test_metrics_off(metered):
    server, port = metered(metrics="false")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10)
    assert e.value.code == 404


def test_single_process_serves_metrics(metered):
    server, port = metered(nodes=0)
    swaks(server.port, 2)
    text = scrape(port)
    promtool_check(text)
    assert sample(text, "upesi_smtp_messages_accepted_total") == 2


def test_prometheus_scrapes_the_server(metered, tmp_path):
    server, port = metered(token="scrape-token")
    swaks(server.port, 5)
    prom_port = free_port()
    (tmp_path / "token").write_text("scrape-token")
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        "  - job_name: upesi\n"
        "    authorization:\n      credentials_file: %s\n"
        "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % (tmp_path / "token", port))
    log = open(tmp_path / "prometheus.log", "w")
    proc = subprocess.Popen(["prometheus", "--config.file", str(tmp_path / "prometheus.yml"),
                             "--storage.tsdb.path", str(tmp_path / "data"),
                             "--web.listen-address", "127.0.0.1:%d" % prom_port],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        def query(expr):
            url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (prom_port,
                                                                 urllib.parse.quote(expr))
            with urllib.request.urlopen(url, timeout=5) as r:
                body = json.loads(r.read())
            assert body["status"] == "success"
            return body["data"]["result"]

        deadline = time.monotonic() + 60
        up = accepted = None
        while time.monotonic() < deadline:
            try:
                up = query('up{job="upesi"}')
                accepted = query("sum(upesi_smtp_messages_accepted_total)")
            except OSError:
                up = accepted = None
            if up and accepted and float(accepted[0]["value"][1]) == 5:
                break
            time.sleep(0.5)
        assert up and up[0]["value"][1] == "1", (tmp_path / "prometheus.log").read_text()
        assert accepted and float(accepted[0]["value"][1]) == 5
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
