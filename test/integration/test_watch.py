"""The watch plugin: its page and assets, the events its websocket sends (python3-websockets),
events from one worker reaching a page served by another, and headless chromium showing a
message's row with the client's address and coloured cells."""
import asyncio
import json
import os
import signal
import smtplib
import subprocess
import time
import urllib.request

import pytest

from conftest import free_port
from test_http import curl, http_ini

PLUGINS = ["watch", "refuser", "accept"]
FILES = {
    "refuser.ini": "[rcpt]\ncode=DENY\nmatch=blocked\nmsg=no such user here\n",
    "accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\n",
}


@pytest.fixture
def watched(start_server):
    def start(nodes=0, watch_ini=None, **keys):
        port = free_port()
        files = dict(FILES)
        files["http.ini"] = http_ini(port, **keys)
        if watch_ini:
            files["watch.ini"] = watch_ini
        server = start_server(plugins=PLUGINS, so=["refuser", "accept"], files=files,
                              smtp={"nodes": nodes})
        if nodes:
            server.wait_workers(nodes)
        return server, port
    return start


def send(port, rcpts=("ok@example.com", "blocked@example.com")):
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("watcher.example")
        return s.sendmail("sender@client.example", list(rcpts), "Subject: watch\r\n\r\nhi\r\n")


async def collect(uri, until, action=None, timeout=15):
    """Events from the websocket at `uri` until `until(events)` holds; `action` runs (in a
    thread) once the socket is open."""
    import websockets.client

    events = []
    async with websockets.client.connect(uri, open_timeout=10) as ws:
        if action:
            await asyncio.get_running_loop().run_in_executor(None, action)
        deadline = time.monotonic() + timeout
        while not until(events) and time.monotonic() < deadline:
            try:
                events.append(json.loads(await asyncio.wait_for(ws.recv(), 1)))
            except asyncio.TimeoutError:
                pass
    return events


def test_page_and_assets_are_served_by_the_plugin(watched):
    server, port = watched()
    r = curl("-i", "http://127.0.0.1:%d/watch/" % port)
    assert r.stdout.startswith("HTTP/1.1 200")
    assert "Content-Security-Policy: default-src 'self'" in r.stdout
    assert '<script src="watch.js"' in r.stdout
    assert "http://" not in r.stdout.split("\n\n", 1)[1]  # nothing from elsewhere
    assert curl("http://127.0.0.1:%d/watch/watch.js" % port).stdout.startswith('"use strict"')
    assert "state-fail" in curl("http://127.0.0.1:%d/watch/watch.css" % port).stdout
    r = curl("-i", "http://127.0.0.1:%d/watch" % port)
    assert r.stdout.startswith("HTTP/1.1 301") and "Location: /watch/" in r.stdout
    r = curl("-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:%d/watch/x.js" % port)
    assert r.stdout == "404"


def test_websocket_frames_follow_a_transaction(watched):
    server, port = watched()

    def done(events):
        return any(e["p"] == "end" for e in events)

    refused = {}

    def action():
        refused.update(send(server.port))

    events = asyncio.run(collect("ws://127.0.0.1:%d/watch/ws" % port, done, action))
    assert "blocked@example.com" in refused
    uuids = {e["u"] for e in events}
    assert len(uuids) == 1
    by_phase = {}
    for e in events:
        by_phase.setdefault(e["p"], []).append(e)
    assert any(e.get("v") == "127.0.0.1" for e in by_phase["remote"])
    assert any(e["s"] == "pass" and e.get("v") == "watcher.example" for e in by_phase["helo"])
    assert any(e["s"] == "pass" and e.get("v") == "<ok@example.com>" for e in by_phase["rcpt"])
    fails = [e for e in by_phase["rcpt"] if e["s"] == "fail"]
    assert fails and "refuser" in fails[0]["d"] and "no such user here" in fails[0]["d"]
    assert any(e["s"] == "pass" for e in by_phase["data"])
    assert any(e["s"] == "pass" and "Queued" in e.get("v", "") for e in by_phase["queue"])


def test_ignored_addresses_are_not_shown(watched):
    server, port = watched(watch_ini="[main]\nignore=127.0.0.0/8\n")

    def action():
        send(server.port, rcpts=("ok@example.com",))

    events = asyncio.run(collect("ws://127.0.0.1:%d/watch/ws" % port, lambda e: False, action,
                                 timeout=3))
    assert events == []


def test_a_page_sees_the_connections_of_every_worker(watched):
    server, port = watched(nodes=2)
    first, second = server.wait_workers(2)
    # The page is served by `second` (first is stopped and cannot accept), the mail by `first`
    # (second is stopped and cannot accept).
    os.kill(first, signal.SIGSTOP)
    import websockets.client

    async def run():
        async with websockets.client.connect("ws://127.0.0.1:%d/watch/ws" % port,
                                             open_timeout=10) as ws:
            os.kill(first, signal.SIGCONT)
            # `second` is stopped only until `first` has accepted the connection: a worker
            # stopped past the watched window (3 s) rightly counts as no longer watching.
            os.kill(second, signal.SIGSTOP)
            try:
                client = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: smtplib.SMTP("127.0.0.1", server.port, timeout=30))
            finally:
                os.kill(second, signal.SIGCONT)

            def deliver():
                with client:
                    client.ehlo("watcher.example")
                    client.sendmail("sender@client.example", ["ok@example.com"],
                                    "Subject: watch\r\n\r\nhi\r\n")

            await asyncio.get_running_loop().run_in_executor(None, deliver)
            events = []
            deadline = time.monotonic() + 15
            while not any(e["p"] == "end" for e in events) and time.monotonic() < deadline:
                try:
                    events.append(json.loads(await asyncio.wait_for(ws.recv(), 1)))
                except asyncio.TimeoutError:
                    pass
            return events

    try:
        events = asyncio.run(run())
    finally:
        os.kill(first, signal.SIGCONT)
        os.kill(second, signal.SIGCONT)
    assert any(e["p"] == "queue" and e["s"] == "pass" for e in events)
    assert any(e["p"] == "end" for e in events)


def test_chromium_shows_the_row(watched, tmp_path):
    import websockets.client

    server, port = watched()
    debug_port = free_port()
    # Everything but loopback is unreachable for it: no name resolves, nothing phones home.
    proc = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=%d" % debug_port,
         "--user-data-dir=%s" % (tmp_path / "profile"), "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--no-pings", "--disable-domain-reliability",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=127.0.0.1", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        targets = None
        while time.monotonic() < deadline and not targets:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % debug_port,
                                            timeout=2) as r:
                    targets = [t for t in json.loads(r.read()) if t["type"] == "page"]
            except OSError:
                time.sleep(0.3)
        assert targets, "chromium's debugging endpoint did not come up"

        async def drive():
            async with websockets.client.connect(targets[0]["webSocketDebuggerUrl"],
                                                 max_size=None, open_timeout=10) as cdp:
                ids = iter(range(1, 1000))

                async def call(method, **params):
                    my = next(ids)
                    await cdp.send(json.dumps({"id": my, "method": method, "params": params}))
                    while True:
                        message = json.loads(await asyncio.wait_for(cdp.recv(), 10))
                        if message.get("id") == my:
                            return message.get("result", {})

                async def evaluate(expression):
                    result = await call("Runtime.evaluate", expression=expression,
                                        returnByValue=True)
                    return result.get("result", {}).get("value")

                await call("Page.navigate", url="http://127.0.0.1:%d/watch/" % port)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    status = await evaluate("document.getElementById('status') && "
                                            "document.getElementById('status').textContent")
                    if status == "live":
                        break
                    await asyncio.sleep(0.2)
                assert status == "live"
                await asyncio.get_running_loop().run_in_executor(None, lambda: send(server.port))
                rows = []
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    rows = await evaluate(
                        "Array.from(document.querySelectorAll('#rows tr')).map(tr => "
                        "Array.from(tr.cells).map(td => [td.className, td.textContent, "
                        "getComputedStyle(td).backgroundColor]))")
                    if rows and any("state-pass" in c[0] and c[0].startswith("phase-queue")
                                    for c in rows[0]):
                        break
                    await asyncio.sleep(0.2)
                return rows

        rows = asyncio.run(drive())
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert len(rows) == 1
    cells = {c[0].split()[0]: c for c in rows[0][1:]}
    assert cells["phase-remote"][1] == "127.0.0.1"
    assert "state-pass" in cells["phase-remote"][0]
    assert cells["phase-helo"][1] == "watcher.example"
    assert "<ok@example.com>" in cells["phase-rcpt"][1]
    assert "state-pass" in cells["phase-queue"][0]
    # Coloured: the pass cells are green, as the stylesheet says.
    assert cells["phase-queue"][2] == "rgb(200, 240, 200)"
