"""A queue longer than the schedule (outbound.ini scheduled_max): a worker keeps only the
earliest-due files in memory and reads the others in as room opens, so every message is still
delivered once, a flush reaches the files left on disk, and fresh mail is not held behind the
backlog."""
import os
import signal
import smtplib
import time

from test_outbound import mx, queue_empties, queue_files, received, relay_server  # noqa: F401

LIMITS = "scheduled_max=100\nconcurrency_max=10\n"


def queue_messages(server, n, domains=3):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        for i in range(n):
            s.sendmail("alice@client.example", ["user%d@d%d.example" % (i, i % domains)],
                       "Subject: backlog %d\r\n\r\nhello\r\n" % i)


def subjects(messages):
    return sorted(line for m in messages for line in m["data"].split("\r\n")
                  if line.startswith("Subject: "))


def defer_all(install, seconds):
    """Renames every queue file to be next due `seconds` from now (the second field of
    Haraka's name), as a delivery that failed would."""
    due = str(int((time.time() + seconds) * 1000))
    for f in queue_files(install):
        parts = f.name.split("_")
        parts[1] = due
        os.rename(f, f.with_name("_".join(parts)))


def test_a_queue_longer_than_the_schedule_is_delivered_once(start_server, mx, install):
    port, out = mx
    server = relay_server(start_server, port, outbound=LIMITS + "disabled=true\n")
    queue_messages(server, 250)
    assert len(queue_files(install)) == 250
    (install / "config" / "outbound.ini").write_text(
        "[main]\ntemp_fail_intervals=1s*3\nscan_interval=30\n" + LIMITS)
    got = received(out, want=250, timeout=60)
    assert queue_empties(install, timeout=10)
    time.sleep(0.5)
    got = received(out, want=251, timeout=0.1)
    assert subjects(got) == sorted("Subject: backlog %d" % i for i in range(250))


def test_a_deferred_backlog_is_read_at_start_and_flushed_whole(start_server, mx, install):
    port, out = mx
    server = relay_server(start_server, port, outbound=LIMITS + "disabled=true\n")
    queue_messages(server, 250)
    server.stop()
    defer_all(install, 3600)
    server = relay_server(start_server, port, outbound=LIMITS)
    assert server.wait_log("outbound: 250 queue files, 100 of them scheduled here", timeout=15)
    # Fresh mail goes out at once, ahead of the deferred backlog.
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.sendmail("alice@client.example", ["fresh@d9.example"], "Subject: fresh\r\n\r\nhi\r\n")
    [fresh] = received(out, want=1, timeout=5)
    assert fresh["rcpts"] == ["fresh@d9.example"]
    time.sleep(1.5)
    assert len(received(out, want=2, timeout=0.1)) == 1  # the backlog is not due
    server.proc.send_signal(signal.SIGHUP)
    got = received(out, want=251, timeout=60)
    assert len(got) == 251
    assert queue_empties(install, timeout=10)
    assert subjects(got) == sorted(["Subject: fresh"] +
                                   ["Subject: backlog %d" % i for i in range(250)])
