"""What the outbound TLS policy tests share: peers (aiosmtpd MXes on port 25 of a loopback
address, the STARTTLS-stripping proxy, the policy server) started from test/integration/peers,
a message relayed through Upesi, and the two ends it can reach: a sink, or the queue."""
import json
import os
import pathlib
import smtplib
import subprocess
import time

from conftest import run_upesi
from test_outbound import received

PEERS = pathlib.Path(__file__).resolve().parent / "peers"


def start_peer(script, *args, env=None):
    """Starts peers/<script> with `args`; returns the process once it printed "ready"."""
    proc = subprocess.Popen(["/usr/bin/python3", str(PEERS / script)] + [str(a) for a in args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, **(env or {})))
    assert proc.stdout.readline().strip() == "ready"
    return proc


def start_mx(address, out, cert=None, key=None):
    """An aiosmtpd MX on address:25 writing to `out`, offering STARTTLS with cert and key."""
    out.mkdir(parents=True, exist_ok=True)
    env = {"SINK_TLS_CERT": str(cert), "SINK_TLS_KEY": str(key)} if cert else {}
    return start_peer("sink_mx.py", 25, out, address, env=env)


def stop_all(procs):
    for p in procs:
        p.stdin.close()
        p.terminate()
        p.wait(timeout=10)


def send(srv, rcpt, sender="alice@client.test"):
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as s:
        s.sendmail(sender, [rcpt], "Subject: policy\r\n\r\nto %s\r\n" % rcpt)


def arrived(out, rcpt, timeout=15):
    """The messages for rcpt at the sink writing to `out`, waiting up to `timeout` for one."""
    deadline = time.monotonic() + timeout
    while True:
        msgs = [m for m in received(out, want=0, timeout=0) if rcpt in m["rcpts"]]
        if msgs or time.monotonic() > deadline:
            return msgs
        time.sleep(0.05)


def queued(srv, rcpt):
    """The queue entries of `srv` that hold rcpt."""
    r = run_upesi("-c", str(srv.install), "--qlist", "--json")
    assert r.returncode == 0, r.stderr
    return [q for q in json.loads(r.stdout) if rcpt in json.dumps(q)]
