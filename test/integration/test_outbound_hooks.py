"""The outbound hooks as plugins see them: get_mx, delivered, deferred and bounce receive the
queued item (with the transaction's notes) and their own facts; deferred OK drops the message,
deferred DENYSOFT with a number sets the next attempt, a bounce hook answer other than CONT
suppresses the DSN. And queue/quarantine keeps a copy without deciding the message's fate."""
import json
import smtplib
import time

from test_outbound import mx, queue_files, received, send  # noqa: F401 (mx is a fixture)


def relay_server(start_server, mx_port, record, watch="", outbound="temp_fail_intervals=1s*3\n",
                 extra_plugins=()):
    """relay + a recording scripted plugin `observer` (CONT everywhere unless `watch` says
    otherwise) + `route` (get_mx → the sink MX)."""
    files = {
        "relay_acl_allow": "127.0.0.1/32\n",
        "route.ini": "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n" % mx_port,
        "observer.ini": "[main]\nrecord=%s\n%s" % (record, watch),
        "outbound.ini": "[main]\nscan_interval=1\n" + outbound,
    }
    for hook in ("send_email", "get_mx", "delivered", "deferred", "bounce"):
        if "[%s]" % hook not in watch:
            files["observer.ini"] += "[%s]\ncode=CONT\n" % hook
    return start_server(plugins=["relay", "observer", *extra_plugins, "route"], so=["observer", "route"],
                        files=files)


def calls(record, hook, want=1, timeout=15):
    """The JSON facts of the recorded calls of `hook`, once at least `want` are there."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        if record.exists():
            for line in record.read_text().splitlines():
                fields = line.split(" ", 3)
                if fields[1] == hook:
                    found.append(json.loads(fields[3]))
        if len(found) >= want or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def wait_empty(install, timeout=5):
    deadline = time.monotonic() + timeout
    while queue_files(install) and time.monotonic() < deadline:
        time.sleep(0.05)
    return queue_files(install)


def bounces(msgs):
    return [m for m in msgs if m["mail_from"] in ("", "<>")]


def test_delivered_hook_params(start_server, mx, install, tmp_path):
    port, out = mx
    record = tmp_path / "calls"
    server = relay_server(start_server, port, record)
    assert send(server, ["bob@example.net", "carol@example.net"]) == {}
    [facts] = calls(record, "delivered")
    assert facts["host"] == "127.0.0.1" and facts["ip"] == "127.0.0.1"
    assert facts["port"] == port and facts["mode"] == "SMTP"
    assert facts["response"] == "250 2.0.0 accepted"
    assert sorted(facts["ok_recips"]) == ["bob@example.net", "carol@example.net"]
    assert 0 <= facts["delay"] < 10
    assert facts["attempts"] == 0
    [get_mx] = calls(record, "get_mx")
    assert get_mx["domain"] == "example.net" and get_mx["uuid"] == facts["uuid"]
    assert calls(record, "deferred", timeout=0) == [] and calls(record, "bounce", timeout=0) == []


def test_hmail_path_queue_time_and_own_notes(start_server, mx, install, tmp_path):
    port, out = mx
    record = tmp_path / "calls"
    server = relay_server(start_server, port, record,
                          watch="[get_mx]\ncode=CONT\nitem_note=chosen:by get_mx\n")
    before_ms = time.time() * 1000
    assert send(server, ["bob@example.net"]) == {}
    [delivered] = calls(record, "delivered")
    after_ms = time.time() * 1000
    [get_mx] = calls(record, "get_mx")
    path = delivered["path"]
    assert path.startswith(str(install.resolve() / "queue") + "/") and get_mx["path"] == path
    assert before_ms - 1000 <= delivered["queue_time"] <= after_ms
    # Set by get_mx, seen by delivered in the same attempt; not in the transaction's notes.
    assert get_mx["item_notes"] == {} and delivered["item_notes"] == {"chosen": "by get_mx"}
    assert "chosen" not in delivered["notes"]


def test_send_email_answers_other_than_delay_are_ignored(start_server, mx, install, tmp_path):
    """Haraka's send_email hook knows DELAY alone; OK, DENY and DENYSOFT are logged and the
    message goes on to get_mx and the next hop: a plugin written for Haraka loses no mail."""
    for code in ("OK", "DENY", "DENYSOFT"):
        port, out = mx
        record = tmp_path / ("calls-" + code)
        server = relay_server(start_server, port, record,
                              watch="[send_email]\ncode=%s\nmsg=mine\n" % code)
        before = len(received(out, want=0, timeout=0))
        assert send(server, ["bob@example.net"]) == {}
        msgs = received(out, want=before + 1)
        assert len(msgs) == before + 1, code
        assert msgs[-1]["rcpts"] == ["bob@example.net"]
        assert server.wait_log("send_email answered %s \"mine\": ignored" % code)
        assert "[WARN]" in [line for line in server.log().splitlines()
                            if "send_email answered" in line][0]
        [facts] = calls(record, "send_email")
        assert facts["uuid"] == calls(record, "delivered")[0]["uuid"]
        assert calls(record, "bounce", timeout=0) == []
        assert wait_empty(install) == []
        assert server.stop() == 0


def test_send_email_delay_that_is_no_number_is_not_read_as_zero(start_server, mx, install,
                                                                  tmp_path):
    port, out = mx
    record = tmp_path / "calls"
    server = relay_server(start_server, port, record,
                          watch="[send_email]\ncode=DELAY\nmsg=soon\n")
    assert send(server, ["bob@example.net"]) == {}
    assert server.wait_log("send_email answered DELAY without a number of seconds")
    # Held for the default minute, not retried at once (strtoull read "soon" as 0).
    assert received(out, timeout=2) == []
    assert len(calls(record, "send_email", timeout=0)) == 1


def test_deferred_hook_params_and_retry(start_server, mx, install, tmp_path):
    port, out = mx
    (out / "fail-once").write_text("")
    record = tmp_path / "calls"
    server = relay_server(start_server, port, record)
    assert send(server, ["bob@example.net"]) == {}
    [facts] = calls(record, "deferred")
    assert facts["delay"] == 1  # temp_fail_intervals=1s*3
    assert facts["fail_recips"] == ["bob@example.net"]
    assert "not this time" in facts["error"]
    assert facts["attempts"] == 0
    [msg] = received(out)
    assert msg["rcpts"] == ["bob@example.net"]
    [delivered] = calls(record, "delivered")
    assert delivered["attempts"] == 1  # the retry knows it is one
    assert [c["attempts"] for c in calls(record, "get_mx", want=2)] == [0, 1]


def test_deferred_ok_drops_the_message(start_server, mx, install, tmp_path):
    port, out = mx
    (out / "fail-once").write_text("")
    record = tmp_path / "calls"
    server = relay_server(start_server, port, record, watch="[deferred]\ncode=OK\n")
    assert send(server, ["bob@example.net"]) == {}
    assert server.wait_log("the deferred hook dropped it")
    assert wait_empty(install) == []
    time.sleep(2)  # past the 1 s retry: nothing is retried, nothing bounces
    assert received(out, want=1, timeout=0.1) == []
    assert queue_files(install) == []
    assert len(calls(record, "get_mx", timeout=0)) == 1
    assert calls(record, "bounce", timeout=0) == []


def test_deferred_denysoft_sets_the_next_attempt(start_server, mx, install, tmp_path):
    port, out = mx
    (out / "fail-once").write_text("")
    record = tmp_path / "calls"
    server = relay_server(start_server, port, record, watch="[deferred]\ncode=DENYSOFT\nmsg=2\n",
                          outbound="temp_fail_intervals=1h\n")
    assert send(server, ["bob@example.net"]) == {}
    assert server.wait_log("deferred 1 recipient(s) for 2 s")
    [facts] = calls(record, "deferred")
    assert facts["delay"] == 3600  # what the schedule said, before the hook changed it
    now_ms = time.time() * 1000
    [f] = queue_files(install)
    parts = f.name.split("_")
    assert parts[2] == "1"
    assert abs(int(parts[1]) - (now_ms + 2000)) < 1500
    start = time.monotonic()
    [msg] = received(out, timeout=10)
    assert msg["rcpts"] == ["bob@example.net"]
    assert time.monotonic() - start < 4  # not an hour


def test_bounce_hook_params_and_the_dsn(start_server, mx, install, tmp_path):
    port, out = mx
    record = tmp_path / "calls"
    server = relay_server(start_server, port, record)
    assert send(server, ["perm-user@example.net", "bob@example.net"]) == {}
    [facts] = calls(record, "bounce")
    assert facts["bounced"] == ["perm-user@example.net"]
    assert facts["deferred_rcpt"] == []
    assert facts["mx"] == "127.0.0.1"  # the MX that refused it (get_mx named it by address)
    assert "no such user here" in facts["error"]
    msgs = received(out, want=2)
    [dsn] = bounces(msgs)
    assert dsn["rcpts"] == ["alice@client.example"]
    # To the original sender, naming the original subject; RFC 3464's Arrival-Date; and the
    # whole original (small enough for bounce_size_limit), dot-stuffing undone.
    data = dsn["data"]
    assert "\r\nTo: <alice@client.example>\r\n" in data
    assert '    "out"\r\n' in data
    assert "\r\nArrival-Date: " in data
    assert "\r\nFinal-Recipient: rfc822; perm-user@example.net\r\n" in data
    assert "bob@example.net" not in data.split("message/delivery-status")[1].split(
        "message/rfc822")[0]
    original = data.split("Content-Type: message/rfc822\r\n\r\n", 1)[1]
    assert original.startswith("Received: (Upesi outbound); ")
    assert "\r\nSubject: out\r\n" in original
    assert "\r\n\r\nhello\r\n.leading dot\r\n\r\n--" in original
    # Two deliveries: bob's, then the DSN (a message of its own, with a new uuid).
    delivered = calls(record, "delivered", want=2)
    ours = [d for d in delivered if d["uuid"] == facts["uuid"]]
    assert [d["ok_recips"] for d in ours] == [["bob@example.net"]]
    assert [d["ok_recips"] for d in delivered if d not in ours] == [["alice@client.example"]]


def test_bounce_returns_the_header_alone_past_bounce_size_limit(start_server, mx, install,
                                                                 tmp_path):
    port, out = mx
    server = relay_server(start_server, port, tmp_path / "calls",
                          outbound="temp_fail_intervals=1s*3\nbounce_size_limit=100\n")
    assert send(server, ["perm-user@example.net"]) == {}
    [dsn] = bounces(received(out))
    part = dsn["data"].split("Content-Type: text/rfc822-headers\r\n\r\n", 1)[1]
    assert "\r\nSubject: out\r\n" in part and "hello" not in part
    assert "message/rfc822" not in dsn["data"]


def test_deferred_err_is_the_temporary_reason_not_another_recipients_5xx(start_server, mx,
                                                                          install, tmp_path):
    """One attempt, one recipient refused (550) and one deferred (451): the bounce hook gets the
    550, the deferred hook the 451."""
    port, out = mx
    record = tmp_path / "calls"
    server = relay_server(start_server, port, record, outbound="temp_fail_intervals=1h\n")
    assert send(server, ["perm-user@example.net", "temp-user@example.net"]) == {}
    [deferred] = calls(record, "deferred")
    assert deferred["fail_recips"] == ["temp-user@example.net"]
    assert "try again later" in deferred["error"] and "no such user" not in deferred["error"]
    assert deferred["mx"] == "127.0.0.1"
    [bounce] = calls(record, "bounce")
    assert bounce["bounced"] == ["perm-user@example.net"]
    assert "no such user" in bounce["error"]


def test_bounce_after_the_last_retry_names_deferred_rcpt(start_server, mx, install, tmp_path):
    port, out = mx
    record = tmp_path / "calls"
    server = relay_server(start_server, port, record, outbound="temp_fail_intervals=none\n")
    assert send(server, ["temp-user@example.net"]) == {}
    [bounce] = calls(record, "bounce")
    assert bounce["deferred_rcpt"] == ["temp-user@example.net"]
    assert bounce["bounced"] == []
    assert bounce["mx"] == "127.0.0.1"
    assert bounce["error"].startswith("Too many failures (") and "try again later" in bounce["error"]
    assert calls(record, "deferred", timeout=0) == []
    [dsn] = bounces(received(out))
    assert "\r\nFinal-Recipient: rfc822; temp-user@example.net\r\nAction: failed\r\n" \
        "Status: 5.3.0\r\n" in dsn["data"]


def test_bounce_hook_answer_suppresses_the_dsn(start_server, mx, install, tmp_path):
    for code in ("DENY", "OK"):
        port, out = mx
        record = tmp_path / ("calls-" + code)
        server = relay_server(start_server, port, record, watch="[bounce]\ncode=%s\n" % code)
        assert send(server, ["perm-user@example.net"]) == {}
        assert len(calls(record, "bounce")) == 1
        assert server.wait_log("bounce suppressed by the bounce hook")
        assert wait_empty(install) == []
        time.sleep(1)
        assert bounces(received(out, want=1, timeout=0.1)) == []
        assert server.stop() == 0


def test_pre_send_trans_email_sees_every_message_entering_the_queue(start_server, mx, install,
                                                                    tmp_path):
    """Relayed mail, a plugin's send_email and a bounce all pass pre_send_trans_email with a
    connection whose transaction is the message, Message-Id, Date and Received already in its
    header: what a DKIM signer adds there (X-Signed here) reaches the next hop each time."""
    port, out = mx
    record = tmp_path / "calls"
    server = relay_server(
        start_server, port, record,
        watch="[ehlo]\ncode=CONT\nsend_to=ops@example.net\nsend_notes={\"origin\":\"ehlo\"}\n"
              "[pre_send_trans_email]\ncode=CONT\nheader=X-Signed: by-watch\n")
    assert send(server, ["perm-user@example.net", "bob@example.net"]) == {}
    msgs = received(out, want=3)
    assert len(msgs) == 3
    for msg in msgs:
        header = msg["data"].split("\r\n\r\n", 1)[0] + "\r\n"
        assert "\r\nX-Signed: by-watch\r\n" in header, msg
        assert header.startswith("Received: (Upesi outbound); ")
    [dsn] = bounces(msgs)
    assert dsn["rcpts"] == ["alice@client.example"]
    [generated] = [m for m in msgs if m["mail_from"] == "robot@plugin.example"]
    assert generated["rcpts"] == ["ops@example.net"]
    assert "\r\nMessage-Id: <" in generated["data"] and "\r\nDate: " in generated["data"]
    seen = calls(record, "pre_send_trans_email", want=3)
    assert len(seen) == 3
    by_sender = {facts["mail_from"]: facts for facts in seen}
    assert sorted(by_sender) == ["", "alice@client.example", "robot@plugin.example"]
    for facts in seen:
        assert len(facts["Message-Id"]) == 1 and len(facts["Date"]) == 1
        assert facts["Received"][0].startswith("(Upesi outbound); ")
    assert by_sender["robot@plugin.example"]["notes"] == {"origin": "ehlo"}
    assert by_sender["robot@plugin.example"]["rcpts"] == ["ops@example.net"]
    assert by_sender[""]["rcpts"] == ["alice@client.example"]
    # The plugin's callback: OK and the queue reply naming the new transaction.
    [result] = [line for line in record.read_text().splitlines()
                if line.startswith("send_email OK ")]
    uuid = by_sender["robot@plugin.example"]["uuid"]
    assert result.endswith("Message Queued (%s)" % uuid)
    delivered = calls(record, "delivered", want=3)
    assert uuid + ".1" in [d["uuid"] for d in delivered]
    assert wait_empty(install) == []


def test_pre_send_trans_email_deny_refuses_a_plugins_mail(start_server, mx, install, tmp_path):
    port, out = mx
    record = tmp_path / "calls"
    files = {
        "observer.ini": "[main]\nrecord=%s\n[ehlo]\nsend_to=ops@example.net\n"
                     "[pre_send_trans_email]\ncode=DENY\nmsg=not signed\n" % record,
        "outbound.ini": "[main]\nscan_interval=1\n",
    }
    server = start_server(plugins=["observer"], so=["observer"], files=files)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.ehlo("x.example")
    deadline = time.monotonic() + 10
    while "send_email " not in (record.read_text() if record.exists() else ""):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    [result] = [line for line in record.read_text().splitlines() if line.startswith("send_email ")]
    assert result.startswith("send_email DENY ") and result.endswith(" not signed")
    assert queue_files(install) == []


def test_transaction_notes_reach_the_outbound_hooks(start_server, mx, install, tmp_path):
    port, out = mx
    record = tmp_path / "calls"
    server = relay_server(start_server, port, record,
                          watch="[mail]\nnote=tag:hello\n[rcpt]\nnote=score:7\n")
    assert send(server, ["bob@example.net"]) == {}
    [facts] = calls(record, "get_mx")
    assert facts["notes"]["tag"] == "hello"
    assert facts["notes"]["score"] == 7
    [delivered] = calls(record, "delivered")
    assert delivered["notes"]["tag"] == "hello"


def quarantined(install, timeout=10):
    day = time.strftime("%Y%m%d")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        base = install / "quarantine"
        found = sorted(p for p in base.rglob("*") if p.is_file() and p.parent.name == day) \
            if base.exists() else []
        if found:
            return found
        time.sleep(0.05)
    return []


def test_quarantine_keeps_a_copy_and_the_message_is_still_delivered(start_server, mx, install,
                                                                    tmp_path):
    port, out = mx
    record = tmp_path / "calls"
    server = relay_server(start_server, port, record, watch="[mail]\nnote=quarantine:1\n",
                          extra_plugins=["queue/quarantine"])
    assert send(server, ["bob@example.net"]) == {}
    [msg] = received(out)
    assert msg["rcpts"] == ["bob@example.net"]
    [copy] = quarantined(install)
    assert copy.parent.parent == install / "quarantine"
    [get_mx] = calls(record, "get_mx")
    assert copy.name == get_mx["uuid"].rsplit(".", 1)[0]  # the transaction's uuid
    assert get_mx["notes"]["quarantined"] == str(copy)
    data = copy.read_bytes()
    assert b"Subject: out\n" in data
    assert b"\r" not in data and b"\n.leading dot\n" in data  # LF ends, not dot-stuffed
    assert list((install / "quarantine" / "tmp").iterdir()) == []
    assert wait_empty(install) == []


def test_no_note_no_copy(start_server, mx, install, tmp_path):
    port, out = mx
    server = relay_server(start_server, port, tmp_path / "calls",
                          extra_plugins=["queue/quarantine"])
    assert send(server, ["bob@example.net"]) == {}
    assert len(received(out)) == 1
    assert quarantined(install, timeout=0.5) == []


def test_quarantine_inbound_subdir_and_action(start_server, install, connect, tmp_path):
    files = {
        "observer.ini": "[mail]\nnote=quarantine:corpus/../spam\n[rcpt]\ncode=OK\n"
                     "note=quarantine_action:902\n",
        "sink.ini": "[queue]\ncode=OK\n",
        "quarantine.ini": "[main]\nquarantine_path=qdir\n",
    }
    server = start_server(plugins=["observer", "queue/quarantine", "sink"], so=["observer", "sink"],
                          files=files)
    c = connect(server)
    c.cmd("EHLO x.example")
    assert c.cmd("MAIL FROM:<a@client.example>")[0] == 250
    assert c.cmd("RCPT TO:<r@here.example>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send("Subject: q\r\n\r\nbody\r\n.\r\n")
    code, lines = c.reply()
    assert code == 550  # the quarantine_action note: DENY after the copy
    day = time.strftime("%Y%m%d")
    [copy] = list((install / "qdir" / "corpus" / "_.." / "spam" / day).iterdir())
    assert copy.read_bytes().endswith(b"\n\nbody\n")


def worker_title(server, want, timeout=15):
    """The worker's /proc/PID/cmdline once it contains every text in `want`."""
    [pid] = server.wait_workers(1)
    deadline = time.monotonic() + timeout
    while True:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            title = f.read().split(b"\0")[0].decode()
        if all(w in title for w in want) or time.monotonic() > deadline:
            return title
        time.sleep(0.1)


def test_process_title_shows_the_outbound_queue(start_server, mx, install):
    """Haraka's process_title shows out=<in progress>/<waiting>/<temp failed>; ours also the
    queue's size and the delivered, deferred and bounced counts, in the worker's title."""
    port, out = mx
    files = {
        "relay_acl_allow": "127.0.0.1/32\n",
        "route.ini": "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n" % port,
        "outbound.ini": "[main]\nscan_interval=1\ntemp_fail_intervals=1h\n",
    }
    server = start_server(plugins=["process_title", "relay", "route"], so=["route"], files=files,
                          smtp={"nodes": 1})
    title = worker_title(server, ["out=0/0/0"])
    assert title.startswith("upesi (worker) cn=0 cc=0 msgs=0 out=0/0/0 queue=0 delivered=0 "
                            "deferred=0 bounced=0"), title
    assert send(server, ["bob@example.net"]) == {}
    received(out, want=1)
    title = worker_title(server, ["delivered=1 "])
    assert "delivered=1 deferred=0 bounced=0" in title, title
    assert send(server, ["perm-user@example.net"]) == {}
    title = worker_title(server, ["bounced=1", "delivered=2 "])  # the DSN was delivered too
    assert "delivered=2 deferred=0 bounced=1" in title, title
    assert send(server, ["temp-user@example.net"]) == {}
    title = worker_title(server, ["deferred=1 ", "out=0/0/1"])  # renamed for its retry
    assert " msgs=3 out=0/0/1 queue=1 delivered=2 deferred=1 bounced=1" in title, title
