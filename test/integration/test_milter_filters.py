"""The milter plugin against real filters, every one started by the test on loopback (or a unix
socket in its directory) and stopped by it:

- a libmilter filter (python3-milter, peers/scripted_milter.py) driven by a JSON script: each
  reply at each stage it applies to, with the SMTP reply the client gets, and each change at the
  end of a message, seen in what the next hop (an aiosmtpd sink offering DSN) receives;
- opendkim signing relayed mail, the signature checked by dkimpy against the key in DNS;
- opendmarc adding its Authentication-Results from the DMARC and SPF records it looks up;
- filters that stop listening, freeze, die or answer garbage: milter.ini's default_action at
  that command, within the timeout, and the next transaction once the filter is back works.
Filters and servers that nothing breaks are shared by the tests of a section.
"""
import email
import email.policy
import hashlib
import itertools
import json
import os
import re
import subprocess
import time

import pytest

import dns_zone
import milter_peers
from conftest import Client, launch_server, run_upesi
from dns_zone import txt
from test_outbound import start_peer, stop_peer

pytest.importorskip("Milter")

SUBJECTS = itertools.count(1)
SINK_EXTENSIONS = "DSN"


# --- Shared pieces ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("milter")


@pytest.fixture(scope="module")
def sink(workdir):
    """The next hop: aiosmtpd offering DSN (so that NOTIFY, ORCPT, RET and ENVID reach it);
    yields (port, directory of received messages)."""
    out = workdir / "received"
    port, proc = start_peer("sink_mx.py", out, dict(os.environ, SINK_EXTENSIONS=SINK_EXTENSIONS))
    yield port, out
    stop_peer(proc)


def milter_ini(filters, **main):
    """milter.ini for filters [(name, socket, {key: value})], [main] keys from `main`."""
    text = "[main]\nmilters=%s\n" % ", ".join(name for name, _, _ in filters)
    text += "".join("%s=%s\n" % kv for kv in main.items())
    for name, socket_spec, keys in filters:
        text += "[%s]\nsocket=%s\n" % (name, socket_spec)
        text += "".join("%s=%s\n" % kv for kv in keys.items())
    return text


def start_relay(directory, sink_port, milter, plugins=("milter",)):
    """Upesi relaying every client's mail (the scripted `relayer` says so at connect_init) to
    the sink, through `plugins`; quarantined copies go to <directory>/quarantine."""
    install = directory / "inst"
    directory.mkdir(parents=True, exist_ok=True)
    r = run_upesi("-i", str(install))
    assert r.returncode == 0, r.stderr
    files = {
        "relayer.ini": "[connect_init]\ncode=CONT\nrelay=true\n",
        "route.ini": "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n" % sink_port,
        "outbound.ini": "[main]\ntemp_fail_intervals=1s*3\nscan_interval=1\n",
        "quarantine.ini": "[main]\nquarantine_path=%s\n" % (directory / "quarantine"),
        "milter.ini": milter,
    }
    return launch_server(install, directory / "server.log",
                         plugins=["relayer", *plugins, "queue/quarantine", "route"],
                         so=["relayer", "route"], files=files)


def new_subject():
    return "milter test %d" % next(SUBJECTS)


def message(subject, sender="alice@sender.test", extra_headers="", body="Hello, filters.\r\n"):
    return ("From: Alice <%s>\r\n"
            "To: Bob <bob@rcpt.test>\r\n"
            "Subject: %s\r\n"
            "Date: Sat, 05 Dec 2026 10:00:00 +0000\r\n"
            "Message-ID: <%s@sender.test>\r\n"
            "%s"
            "\r\n%s" % (sender, subject, hashlib.sha1(subject.encode()).hexdigest(),
                        extra_headers, body))


def on_the_wire(data):
    """The message as DATA sends it: dot-stuffed, then the final dot."""
    data = data.encode() if isinstance(data, str) else data
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data + (b".\r\n" if data.endswith(b"\r\n") else b"\r\n.\r\n")


def converse(server, sender="alice@sender.test", rcpts=("bob@rcpt.test",), data=None,
             helo="client.test", mail_params="", rcpt_params=None, client=None):
    """One SMTP transaction on a raw client: greeting and EHLO (unless `client`, a connection
    that had them, is given), MAIL, each RCPT, DATA, the message. Stops at the first refusal (a
    refused RCPT only drops that recipient). Returns {step: (code, lines)} with steps greeting,
    ehlo, mail, rcpt:ADDRESS, data, message."""
    replies = {}
    c = client or Client(server.port, timeout=60)
    try:
        if client is None:
            replies["greeting"] = c.reply()
            if replies["greeting"][0] != 220:
                return replies
            replies["ehlo"] = c.cmd("EHLO " + helo)
            if replies["ehlo"][0] != 250:
                return replies
        replies["mail"] = c.cmd("MAIL FROM:<%s>%s" % (sender, mail_params))
        if replies["mail"][0] != 250:
            return replies
        for rcpt in rcpts:
            params = (rcpt_params or {}).get(rcpt, "")
            replies["rcpt:" + rcpt] = c.cmd("RCPT TO:<%s>%s" % (rcpt, params))
        if not any(code == 250 for step, (code, _) in replies.items() if step.startswith("rcpt:")):
            return replies
        replies["data"] = c.cmd("DATA")
        if replies["data"][0] != 354:
            return replies
        data = data if data is not None else message(new_subject(), sender)
        c.send(on_the_wire(data))
        replies["message"] = c.reply()
        return replies
    finally:
        if client is None:
            c.close()


def delivered(out, subject, timeout=20):
    """What the sink received for the message whose Subject is `subject`:
    {mail_from, rcpts, mail_args, rcpt_args, data}."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(out.glob("*.json")):
            found = json.loads(path.read_text())
            if "\r\nSubject: %s\r\n" % subject in "\r\n" + found["data"]:
                return found
        time.sleep(0.05)
    raise AssertionError("the sink got no message with subject %r" % subject)


def was_delivered(out, subject):
    return any("\r\nSubject: %s\r\n" % subject in "\r\n" + json.loads(p.read_text())["data"]
               for p in out.glob("*.json"))


def parsed(found):
    return email.message_from_string(found["data"], policy=email.policy.compat32)


def header_names(found):
    """The header's field names in order, as received."""
    head = found["data"].split("\r\n\r\n", 1)[0]
    return [line.split(":", 1)[0] for line in head.split("\r\n") if line[:1] not in (" ", "\t")]


def body_of(found):
    return found["data"].split("\r\n\r\n", 1)[1]


# --- The scripted filter: replies ----------------------------------------------------------------


@pytest.fixture(scope="module")
def scripted(workdir):
    milter = milter_peers.ScriptedMilter(workdir / "scripted").start()
    yield milter
    milter.stop()


@pytest.fixture(scope="module")
def relay(workdir, sink, scripted):
    """Upesi with the scripted filter."""
    ini = milter_ini([("scripted", scripted.socket, {})], connect_timeout=5, command_timeout=2,
                     content_timeout=30, default_action="tempfail")
    server = start_relay(workdir / "relay", sink[0], ini)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hasty_relay(workdir, sink, scripted):
    """The same with a content timeout of 2 s (milter.ini takes whole seconds)."""
    ini = milter_ini([("scripted", scripted.socket, {})], command_timeout=2, content_timeout=2,
                     default_action="tempfail")
    server = start_relay(workdir / "hasty-relay", sink[0], ini)
    yield server
    server.stop()


@pytest.fixture
def script(scripted):
    """script({stage: rule}) -> the filter answers so from the next SMTP connection on, with
    its record cleared."""
    def set_script(rules):
        scripted.set_script(rules)
        scripted.clear_events()
    return set_script


def enhanced(reply):
    """The enhanced status code of the reply's first line."""
    return reply[1][0].split(" ", 1)[0] if reply[1] else ""


def test_every_stage_reaches_the_filter_with_its_macros(relay, scripted, script, sink):
    script({})
    subject = new_subject()
    body = "First line.\r\n.A line that starts with a dot\r\n\r\nLast line.\r\n"
    data = message(subject, extra_headers="X-Folded: one\r\n\ttwo\r\n", body=body)
    replies = converse(relay, rcpts=("bob@rcpt.test", "carol@rcpt.test"), data=data,
                       mail_params=" BODY=8BITMIME")
    assert replies["message"][0] == 250, replies
    events = scripted.events(until="eom")
    # This connection's (a "close" of the previous test's may come first).
    [conn] = {e["conn"] for e in events if e["stage"] == "connect"}
    events = [e for e in events if e["conn"] == conn]
    stages = [e["stage"] for e in events]
    # Up to the message's end: the connection's close may already follow it.
    events = events[:stages.index("eom") + 1]
    stages = stages[:stages.index("eom") + 1]
    assert stages[:5] == ["connect", "helo", "envfrom", "envrcpt", "envrcpt"], stages
    assert stages[5] == "data" and stages[-1] == "eom" and "eoh" in stages, stages
    connect, helo, mail, rcpt = events[0], events[1], events[2], events[3]
    assert connect["text"] == "127.0.0.1"
    assert connect["macros"].get("{client_addr}") == "127.0.0.1", connect
    assert connect["macros"].get("j") == "mx.test.example", connect
    assert helo["text"] == "client.test"
    assert mail["text"] == "<alice@sender.test>" and "BODY=8BITMIME" in mail["args"], mail
    assert mail["macros"].get("{mail_addr}") == "alice@sender.test", mail
    assert rcpt["text"] == "<bob@rcpt.test>", rcpt
    assert rcpt["macros"].get("{rcpt_addr}") == "bob@rcpt.test", rcpt
    headers = [e["text"] for e in events if e["stage"] == "header"]
    assert "Subject: %s" % subject in headers, headers
    assert any(h.startswith("X-Folded: one") and "two" in h for h in headers), headers
    [eom] = [e for e in events if e["stage"] == "eom"]
    # The body exactly as stored: unstuffed, CRLF.
    assert eom["body_bytes"] == len(body), eom
    assert eom["body_sha256"] == hashlib.sha256(body.encode()).hexdigest()
    assert eom["macros"].get("i"), eom
    found = delivered(sink[1], subject)
    assert sorted(found["rcpts"]) == ["bob@rcpt.test", "carol@rcpt.test"]
    assert body_of(found) == body


@pytest.mark.parametrize("first", ["message", "message accepted at its end", "refused rcpt",
                                   "helo only", "refused mail"])
def test_next_client_reuses_the_filter_connection_at_once(relay, scripted, script, sink, first):
    """However the previous SMTP connection ended, the next one's CONNECT is answered at once
    (libmilter takes QUIT_NC only at a message's end answered with CONTINUE, and ignores every
    command after one it did not take: OpenDKIM answers ACCEPT there)."""
    rules = {"envrcpt": {"match": "refused", "reply": "reject"},
             "envfrom": {"match": "refused", "reply": "reject"}}
    if first == "message accepted at its end":
        rules["eom"] = {"reply": "accept"}
    script(rules)
    c = Client(relay.port)
    assert c.reply()[0] == 220 and c.cmd("EHLO client.test")[0] == 250
    if first.startswith("message"):
        assert converse(relay, client=c)["message"][0] == 250
    elif first == "refused rcpt":
        assert converse(relay, rcpts=("refused@rcpt.test",), client=c)[
            "rcpt:refused@rcpt.test"][0] == 550
    elif first == "refused mail":
        assert converse(relay, sender="refused@sender.test", client=c)["mail"][0] == 550
    assert c.cmd("QUIT")[0] == 221
    c.close()
    subject = new_subject()
    started = time.monotonic()
    replies = converse(relay, data=message(subject))
    elapsed = time.monotonic() - started
    assert replies["message"][0] == 250, replies
    assert elapsed < 1.5, "the next client waited %.1f s" % elapsed
    delivered(sink[1], subject)


# (stage, rule, the step of the conversation that is refused, code, enhanced code). Codes are
# the core's for a DENY / DENYSOFT at that hook (as Haraka's), with the milter's 5.7.1 / 4.7.1.
REFUSALS = [
    ("connect", "reject", "greeting", 554, None),
    ("connect", "tempfail", "greeting", 421, None),
    ("helo", "reject", "ehlo", 550, "5.7.1"),
    ("helo", "tempfail", "ehlo", 450, "4.7.1"),
    ("envfrom", "reject", "mail", 550, "5.7.1"),
    ("envfrom", "tempfail", "mail", 450, "4.7.1"),
    ("data", "reject", "data", 554, "5.7.1"),
    ("data", "tempfail", "data", 451, "4.7.1"),
    ("header", "reject", "message", 550, "5.7.1"),
    ("eoh", "tempfail", "message", 450, "4.7.1"),
    ("body", "reject", "message", 550, "5.7.1"),
    ("eom", "reject", "message", 550, "5.7.1"),
    ("eom", "tempfail", "message", 450, "4.7.1"),
]


@pytest.mark.parametrize("stage,reply,step,code,status", REFUSALS,
                         ids=["%s-%s" % r[:2] for r in REFUSALS])
def test_refusal_at_each_stage(relay, scripted, script, sink, stage, reply, step, code, status):
    script({stage: {"reply": reply}})
    subject = new_subject()
    replies = converse(relay, data=message(subject))
    assert step in replies, replies
    assert replies[step][0] == code, replies
    if status:
        assert enhanced(replies[step]) == status, replies
    assert "message" not in replies or replies["message"][0] != 250
    # Nothing of a refused connection or message reaches the filter after the refusal.
    later = {"connect": "helo", "helo": "envfrom", "envfrom": "envrcpt", "data": "header"}
    if stage in later:
        assert not scripted.events(later[stage]), scripted.events()


def test_refused_recipient_leaves_the_others(relay, scripted, script, sink):
    script({"envrcpt": [{"match": "reject-me", "reply": "reject"},
                        {"match": "later", "reply": "tempfail"}]})
    subject = new_subject()
    replies = converse(relay, rcpts=("bob@rcpt.test", "reject-me@rcpt.test", "later@rcpt.test"),
                       data=message(subject))
    assert replies["rcpt:reject-me@rcpt.test"][0] == 550, replies
    assert enhanced(replies["rcpt:reject-me@rcpt.test"]) == "5.7.1", replies
    assert replies["rcpt:later@rcpt.test"][0] == 450, replies
    assert enhanced(replies["rcpt:later@rcpt.test"]) == "4.7.1", replies
    assert replies["message"][0] == 250, replies
    assert delivered(sink[1], subject)["rcpts"] == ["bob@rcpt.test"]


def test_replycode_keeps_the_filters_lines_under_the_stages_code(relay, script):
    """SMFIR_REPLYCODE: the filter's enhanced code and every line of its text, under the code the
    stage gives a refusal of that class (a plugin answers DENY or DENYSOFT, not a number)."""
    script({
        "envrcpt": {"match": "moved", "reply": "replycode", "code": "551", "xcode": "5.1.6",
                    "text": ["This mailbox has moved", "to somewhere else", "ask the sender"]},
        "eom": {"reply": "replycode", "code": "452", "xcode": "4.3.1",
                "text": ["Filter is out of room", "come back later"]},
    })
    replies = converse(relay, rcpts=("moved@rcpt.test", "bob@rcpt.test"))
    code, lines = replies["rcpt:moved@rcpt.test"]
    assert code == 550, replies
    assert lines == ["5.1.6 This mailbox has moved", "5.1.6 to somewhere else",
                     "5.1.6 ask the sender"], lines
    code, lines = replies["message"]
    assert code == 450, replies
    assert lines == ["4.3.1 Filter is out of room", "4.3.1 come back later"], lines


def test_accept_at_connect_ends_the_filters_part(relay, scripted, script, sink):
    script({"connect": {"reply": "accept"},
            "eom": {"actions": [{"addheader": ["X-Not-Here", "the filter was done"]}]}})
    subject = new_subject()
    assert converse(relay, data=message(subject))["message"][0] == 250
    found = delivered(sink[1], subject)
    assert parsed(found)["X-Not-Here"] is None
    stages = {e["stage"] for e in scripted.events()}
    assert stages <= {"connect", "close", "abort"}, stages


def test_accept_at_mail_ends_the_filters_part_for_that_message(relay, scripted, script, sink):
    script({"envfrom": {"match": "accept-me", "reply": "accept"},
            "eom": {"actions": [{"addheader": ["X-Filtered", "yes"]}]}})
    first, second = new_subject(), new_subject()
    c = Client(relay.port)
    assert c.reply()[0] == 220 and c.cmd("EHLO client.test")[0] == 250
    replies = converse(relay, sender="accept-me@sender.test", data=message(first), client=c)
    assert replies["message"][0] == 250, replies
    replies = converse(relay, data=message(second), client=c)
    assert replies["message"][0] == 250, replies
    c.close()
    assert parsed(delivered(sink[1], first))["X-Filtered"] is None
    assert parsed(delivered(sink[1], second))["X-Filtered"] == "yes"
    # The filter saw the first message's MAIL only, then the whole second one.
    assert [e["text"] for e in scripted.events("eom")] == [second]


@pytest.mark.parametrize("stage", ["envfrom", "envrcpt", "eom"])
def test_discard_accepts_and_drops(relay, scripted, script, sink, stage):
    script({stage: {"match": "drop" if stage != "eom" else "discard", "reply": "discard"}})
    dropped, kept = "discard " + new_subject(), new_subject()
    c = Client(relay.port)
    assert c.reply()[0] == 220 and c.cmd("EHLO client.test")[0] == 250
    sender = "drop@sender.test" if stage == "envfrom" else "alice@sender.test"
    rcpt = "drop@rcpt.test" if stage == "envrcpt" else "bob@rcpt.test"
    replies = converse(relay, sender=sender, rcpts=(rcpt,), data=message(dropped), client=c)
    assert replies["message"][0] == 250, replies
    replies = converse(relay, data=message(kept), client=c)
    assert replies["message"][0] == 250, replies
    c.close()
    delivered(sink[1], kept)
    assert not was_delivered(sink[1], dropped)


def test_skip_ends_the_body_early(relay, scripted, script, sink):
    """SMFIS_SKIP on the first chunk: no more chunks, end of message still comes (and its
    changes are made)."""
    script({"body": {"reply": "skip"},
            "eom": {"actions": [{"addheader": ["X-Skipped", "yes"]}]}})
    subject = new_subject()
    body = "".join("line %06d of a body long enough for several chunks\r\n" % n
                   for n in range(8000))
    assert len(body) > 4 * 65536
    assert converse(relay, data=message(subject, body=body))["message"][0] == 250
    [eom] = scripted.events("eom", until="eom")
    assert eom["body_chunks"] == 1, eom
    assert 0 < eom["body_bytes"] <= 65536, eom
    found = delivered(sink[1], subject)
    assert parsed(found)["X-Skipped"] == "yes"
    assert body_of(found) == body


def test_progress_keeps_a_slow_filter_alive(hasty_relay, scripted, script, sink):
    """content_timeout is 2 s: an end of message taking 3.5 s passes only because the filter
    says SMFIR_PROGRESS every half second."""
    script({"eom": [{"match": "slow", "delay": 3.5, "progress_every": 0.5,
                     "actions": [{"addheader": ["X-Slow", "but alive"]}]}]})
    subject = "slow " + new_subject()
    started = time.monotonic()
    assert converse(hasty_relay, data=message(subject))["message"][0] == 250
    assert time.monotonic() - started >= 3.4
    assert parsed(delivered(sink[1], subject))["X-Slow"] == "but alive"


def test_slow_filter_without_progress_times_out(hasty_relay, scripted, script, sink):
    script({"eom": {"delay": 4, "actions": [{"addheader": ["X-Slow", "too late"]}]}})
    c = Client(hasty_relay.port, timeout=30)
    try:
        assert c.reply()[0] == 220 and c.cmd("EHLO client.test")[0] == 250
        assert c.cmd("MAIL FROM:<alice@sender.test>")[0] == 250
        assert c.cmd("RCPT TO:<bob@rcpt.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        started = time.monotonic()
        c.send(on_the_wire(message(new_subject())))
        reply = c.reply()
        elapsed = time.monotonic() - started
    finally:
        c.close()
    assert reply[0] == 450 and enhanced(reply) == "4.7.1", reply
    assert 1.8 <= elapsed < 3.8, elapsed


# --- The scripted filter: changes at the end of the message --------------------------------------


def test_header_changes(relay, script, sink):
    script({"eom": {"actions": [
        {"addheader": ["X-Added", "at the end"]},
        {"insheader": [0, "X-First", "before everything"]},
        {"chgheader": ["X-Change", 2, "second one changed"]},
        {"chgheader": ["X-Remove", 1, ""]},
        {"chgheader": ["X-Missing", 1, "added as it was not there"]},
    ]}})
    subject = new_subject()
    extra = ("X-Change: first\r\nX-Change: second\r\nX-Remove: going\r\n"
             "X-Keep: stays\r\n")
    assert converse(relay, data=message(subject, extra_headers=extra))["message"][0] == 250
    found = delivered(sink[1], subject)
    names = header_names(found)
    msg = parsed(found)
    # Index 0 is before every field the client sent (our Received fields aside: the one the
    # outbound queue adds on relaying is newer than the filter's change).
    assert names.index("X-First") < names.index("From"), names
    assert msg["X-First"] == "before everything"
    assert names[-1] in ("X-Added", "X-Missing"), names
    assert msg["X-Added"] == "at the end"
    assert msg.get_all("X-Change") == ["first", "second one changed"]
    assert msg["X-Remove"] is None and "X-Remove" not in names
    assert msg["X-Missing"] == "added as it was not there"
    assert msg["X-Keep"] == "stays" and msg["Subject"] == subject


def test_envelope_changes(relay, scripted, script, sink):
    """Change the sender (with RET and ENVID), delete a recipient, add one with NOTIFY and
    ORCPT: the next hop is told so."""
    script({"eom": {"actions": [
        {"chgfrom": ["<bounces@sender.test>", "RET=HDRS ENVID=milter-42"]},
        {"delrcpt": "<carol@rcpt.test>"},
        {"addrcpt": ["<dave@rcpt.test>", "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;dave@old.test"]},
    ]}})
    subject = new_subject()
    replies = converse(relay, rcpts=("bob@rcpt.test", "carol@rcpt.test"), data=message(subject))
    assert replies["message"][0] == 250, replies
    found = delivered(sink[1], subject)
    assert found["mail_from"] == "bounces@sender.test"
    assert "RET=HDRS" in found["mail_args"] and "ENVID=milter-42" in found["mail_args"], found
    assert found["rcpts"] == ["bob@rcpt.test", "dave@rcpt.test"], found
    dave = found["rcpt_args"][1]
    assert "NOTIFY=SUCCESS,FAILURE" in dave and "ORCPT=rfc822;dave@old.test" in dave, found
    assert "NOTIFY" not in found["rcpt_args"][0], found


def test_recipient_added_mid_transaction(relay, scripted, script, sink):
    """A transaction where the filter refuses one recipient and adds another at its end; the
    next transaction on the same connection (the filter was sent ABORT between) gets none of
    it."""
    script({"envrcpt": {"match": "refused", "reply": "reject"},
            "eom": {"match": "add", "actions": [{"addrcpt": ["<added@rcpt.test>", ""]}]}})
    first, second = "add " + new_subject(), new_subject()
    c = Client(relay.port)
    assert c.reply()[0] == 220 and c.cmd("EHLO client.test")[0] == 250
    replies = converse(relay, rcpts=("bob@rcpt.test", "refused@rcpt.test", "carol@rcpt.test"),
                       data=message(first), client=c)
    assert replies["rcpt:refused@rcpt.test"][0] == 550, replies
    assert replies["message"][0] == 250, replies
    assert c.cmd("RSET")[0] == 250
    replies = converse(relay, rcpts=("bob@rcpt.test",), data=message(second), client=c)
    assert replies["message"][0] == 250, replies
    c.close()
    assert sorted(delivered(sink[1], first)["rcpts"]) == ["added@rcpt.test", "bob@rcpt.test",
                                                           "carol@rcpt.test"]
    assert delivered(sink[1], second)["rcpts"] == ["bob@rcpt.test"]


def test_replace_body(relay, script, sink):
    script({"eom": {"actions": [{"replacebody": "The filter wrote this.\r\n.dot line\r\n"}]}})
    subject = new_subject()
    assert converse(relay, data=message(subject, body="original\r\n"))["message"][0] == 250
    found = delivered(sink[1], subject)
    assert body_of(found) == "The filter wrote this.\r\n.dot line\r\n"
    assert parsed(found)["Subject"] == subject


def generated_body(lines):
    # As peers/scripted_milter.py's generated_line().
    return b"".join(b"generated body line %08d: the quick brown fox jumps over the lazy dog\r\n"
                    % n for n in range(lines))


def test_replace_body_of_a_10_mb_message(relay, scripted, script, sink):
    """A 10 MB message goes to the filter in chunks of at most 64 KB and is replaced by 10 MB
    the filter writes."""
    lines = 10 * 1024 * 1024 // 72 + 1
    script({"eom": {"actions": [{"replacebody_lines": lines}]}})
    subject = new_subject()
    original = "".join("original line %08d, padded to seventy-two bytes with some text.\r\n"
                       % n for n in range(10 * 1024 * 1024 // 66 + 1))
    assert len(original) >= 10 * 1024 * 1024
    started = time.monotonic()
    replies = converse(relay, data=message(subject, body=original))
    assert replies["message"][0] == 250, replies
    [eom] = scripted.events("eom", until="eom")
    assert eom["body_bytes"] == len(original), eom
    assert eom["body_sha256"] == hashlib.sha256(original.encode()).hexdigest()
    assert eom["body_chunks"] >= len(original) // 65536, eom
    found = delivered(sink[1], subject, timeout=60)
    print("10 MB replaced and relayed in %.1f s" % (time.monotonic() - started))
    want = generated_body(lines)
    got = body_of(found).encode()
    assert len(got) == len(want) and got == want


def test_quarantine(relay, script, sink, workdir):
    """SMFIR_QUARANTINE sets the transaction note queue/quarantine acts on: a copy is kept,
    and the message goes on."""
    script({"eom": {"actions": [{"quarantine": "held"}]}})
    subject = new_subject()
    assert converse(relay, data=message(subject))["message"][0] == 250
    delivered(sink[1], subject)
    copies = [p for p in (workdir / "relay" / "quarantine").rglob("*")
              if p.is_file() and ("Subject: %s\n" % subject) in p.read_text(errors="replace")]
    assert len(copies) == 1, list((workdir / "relay" / "quarantine").rglob("*"))


# --- opendkim -----------------------------------------------------------------------------------


def genkey(directory, domain, selector):
    """opendkim-genkey's key pair: (private key path, the TXT record's text)."""
    directory.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["opendkim-genkey", "-b", "2048", "-d", domain, "-s", selector,
                        "-D", str(directory)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    record = "".join(re.findall(r'"([^"]*)"', (directory / (selector + ".txt")).read_text()))
    assert "p=" in record, record
    return directory / (selector + ".private"), record


@pytest.mark.skipif(not dns_zone.AVAILABLE, reason="needs dnsmasq")
def test_opendkim_signs_relayed_mail(workdir, sink):
    dkim = pytest.importorskip("dkim")
    resolver = pytest.importorskip("dns.resolver")
    key, record = genkey(workdir / "dkim-keys", "sender.test", "mta")
    filter_ = milter_peers.opendkim(workdir / "opendkim", "sender.test", "mta", key).start()
    server = None
    try:
        server = start_relay(workdir / "dkim-relay", sink[0],
                             milter_ini([("opendkim", filter_.socket, {})], command_timeout=5))
        subject = new_subject()
        extra = "X-Long: a header folded\r\n  over two lines\r\n"
        body = "Signed by opendkim.\r\n.leading dot\r\n\r\n"
        assert converse(server, data=message(subject, extra_headers=extra, body=body))[
            "message"][0] == 250
        data = delivered(sink[1], subject)["data"].encode()
    finally:
        if server:
            server.stop()
        filter_.stop()
    assert b"\r\nDKIM-Signature:" in data.split(b"\r\n\r\n")[0], data[:600]
    with dns_zone.serve([txt("mta._domainkey.sender.test", record)]) as port:
        ask = resolver.Resolver(configure=False)
        ask.nameservers, ask.port = ["127.0.0.1"], port

        def dnsfunc(name, timeout=5):
            name = name.decode() if isinstance(name, bytes) else name
            answer = ask.resolve(name, "TXT", lifetime=timeout)
            return b"".join(b"".join(r.strings) for r in answer)

        assert dkim.verify(data, dnsfunc=dnsfunc)
        # The check is real: a changed body fails it.
        assert not dkim.verify(data.replace(b"Signed by", b"Forged by"), dnsfunc=dnsfunc)


# --- opendmarc ----------------------------------------------------------------------------------


@pytest.mark.skipif(not dns_zone.AVAILABLE, reason="needs dnsmasq")
@pytest.mark.skipif(not milter_peers.can_unshare(),
                    reason="opendmarc's resolver is the system's: needs network namespaces")
def test_opendmarc_adds_its_verdict(workdir, sink):
    """opendmarc finds p=reject in DNS for both From domains. SPF passes for the envelope's
    sender.test (libspf2 passes any client on loopback, whatever the record says): aligned with
    From: sender.test, DMARC passes; not aligned with From: forged.test, DMARC fails and
    opendmarc (RejectFailures) refuses the message."""
    zone = [
        txt("sender.test", "v=spf1 ip4:127.0.0.1 -all"),
        txt("_dmarc.sender.test", "v=DMARC1; p=reject"),
        txt("_dmarc.forged.test", "v=DMARC1; p=reject"),
    ]
    filter_ = milter_peers.opendmarc(workdir / "opendmarc", zone, "dmarc.test.example").start()
    server = None
    try:
        server = start_relay(workdir / "dmarc-relay", sink[0],
                             milter_ini([("opendmarc", filter_.socket, {})], command_timeout=5,
                                        content_timeout=10))
        subject = new_subject()
        assert converse(server, data=message(subject))["message"][0] == 250
        found = parsed(delivered(sink[1], subject))
        forged = converse(server, sender="alice@sender.test",
                          data=message(new_subject(), sender="ceo@forged.test"))
    finally:
        if server:
            server.stop()
        filter_.stop()
    verdicts = [r for r in found.get_all("Authentication-Results") or []
                if r.startswith("dmarc.test.example;") and "dmarc=" in r]
    assert len(verdicts) == 1, found.get_all("Authentication-Results")
    assert re.search(r"\bdmarc=pass \(p=reject", verdicts[0]), verdicts
    assert "header.from=sender.test" in verdicts[0], verdicts
    code, lines = forged["message"]
    assert code == 550 and "forged.test" in " ".join(lines), forged


# --- Failure modes ------------------------------------------------------------------------------


def failing_server(workdir, sink_port, name, socket_spec, default_action):
    ini = milter_ini([("flaky", socket_spec, {"default_action": default_action})],
                     connect_timeout=2, command_timeout=2, content_timeout=2)
    return start_relay(workdir / name, sink_port, ini)


# default_action -> (code class, enhanced code) of the refusal; accept: none.
OUTCOMES = {"tempfail": (4, "4.7.1"), "reject": (5, "5.7.1")}
MARK = {"eom": {"actions": [{"addheader": ["X-Filtered", "yes"]}]}}


def assert_default_action(replies, step, default_action, sink, subject):
    """The transaction got `default_action` at `step` (or, at connect, before MAIL)."""
    if default_action == "accept":
        assert replies["message"][0] == 250, replies
        assert parsed(delivered(sink[1], subject))["X-Filtered"] is None
        return
    klass, status = OUTCOMES[default_action]
    refused = [s for s, r in replies.items() if r[0] // 100 in (4, 5)]
    assert refused, replies
    assert refused[0] == step or (step == "connect" and refused[0] in ("greeting", "ehlo",
                                                                       "mail")), replies
    code, lines = replies[refused[0]]
    assert code // 100 == klass, replies
    if refused[0] != "greeting":
        assert enhanced(replies[refused[0]]) == status, replies


def assert_next_transaction_works(server, filter_, sink):
    subject = new_subject()
    replies = converse(server, data=message(subject))
    assert replies.get("message", (None,))[0] == 250, replies
    assert parsed(delivered(sink[1], subject))["X-Filtered"] == "yes"


def assert_logged(server):
    """The failure is an ERROR line naming the filter."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if any("[ERROR]" in line and "flaky" in line
               for line in server.log().splitlines()):
            return
        time.sleep(0.05)
    raise AssertionError("no ERROR line naming the filter:\n" + server.log())


def assert_stops_cleanly(server):
    """SIGTERM with filter connections open or pooled: a clean exit, not a crash."""
    code = server.stop()
    assert code == 0, "exit status %s:\n%s" % (code, server.log()[-3000:])


ACTIONS = ["tempfail", "accept", "reject"]


@pytest.mark.parametrize("default_action", ACTIONS)
def test_filter_not_listening(workdir, sink, default_action):
    name = "stopped-" + default_action
    filter_ = milter_peers.ScriptedMilter(workdir / name / "filter")
    filter_.set_script(MARK)
    server = None
    try:
        server = failing_server(workdir, sink[0], name, filter_.socket, default_action)
        subject = new_subject()
        started = time.monotonic()
        replies = converse(server, data=message(subject))
        assert time.monotonic() - started < 2, replies  # refused at once, no timeout
        assert_default_action(replies, "connect", default_action, sink, subject)
        assert_logged(server)
        filter_.start()
        assert_next_transaction_works(server, filter_, sink)
        assert_stops_cleanly(server)
    finally:
        if server:
            server.stop()
        filter_.stop()


def start_transaction(server, subject):
    """A client that has had MAIL accepted."""
    c = Client(server.port, timeout=8)
    assert c.reply()[0] == 220 and c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("MAIL FROM:<alice@sender.test>")[0] == 250
    return c


def finish_transaction(c, subject):
    """RCPT, DATA and the message, stopping at the first refusal."""
    replies = {}
    try:
        replies["rcpt:bob@rcpt.test"] = c.cmd("RCPT TO:<bob@rcpt.test>")
        if replies["rcpt:bob@rcpt.test"][0] == 250:
            replies["data"] = c.cmd("DATA")
            if replies["data"][0] == 354:
                c.send(on_the_wire(message(subject)))
                replies["message"] = c.reply()
    finally:
        c.close()
    return replies


@pytest.mark.parametrize("default_action", ACTIONS)
def test_filter_frozen_mid_transaction(workdir, sink, default_action):
    """SIGSTOP after MAIL: the RCPT waits command_timeout (2 s), then default_action."""
    name = "frozen-" + default_action
    filter_ = milter_peers.ScriptedMilter(workdir / name / "filter")
    filter_.set_script(MARK)
    filter_.start()
    server = None
    try:
        server = failing_server(workdir, sink[0], name, filter_.socket, default_action)
        subject = new_subject()
        c = start_transaction(server, subject)
        filter_.pause()
        started = time.monotonic()
        replies = finish_transaction(c, subject)
        elapsed = time.monotonic() - started
        assert 1.8 <= elapsed < 5, (elapsed, replies)
        assert_default_action(replies, "rcpt:bob@rcpt.test", default_action, sink, subject)
        assert_logged(server)
        filter_.resume()
        assert_next_transaction_works(server, filter_, sink)
        assert_stops_cleanly(server)
    finally:
        if server:
            server.stop()
        filter_.stop()


@pytest.mark.parametrize("default_action", ACTIONS)
def test_filter_killed_mid_transaction(workdir, sink, default_action):
    """SIGKILL after MAIL: the RCPT gets default_action at once; restarted, the filter works
    again."""
    name = "killed-" + default_action
    filter_ = milter_peers.ScriptedMilter(workdir / name / "filter")
    filter_.set_script(MARK)
    filter_.start()
    server = None
    try:
        server = failing_server(workdir, sink[0], name, filter_.socket, default_action)
        subject = new_subject()
        c = start_transaction(server, subject)
        filter_.kill()
        started = time.monotonic()
        replies = finish_transaction(c, subject)
        assert time.monotonic() - started < 1.5, replies
        assert_default_action(replies, "rcpt:bob@rcpt.test", default_action, sink, subject)
        assert_logged(server)
        filter_.start()
        assert_next_transaction_works(server, filter_, sink)
        assert_stops_cleanly(server)
    finally:
        if server:
            server.stop()
        filter_.stop()


GARBAGE = [("mail", "tempfail"), ("mail", "accept"), ("mail", "reject"),
           ("optneg", "tempfail"), ("oversized", "tempfail"), ("truncated", "tempfail")]


@pytest.mark.parametrize("mode,default_action", GARBAGE, ids=["%s-%s" % g for g in GARBAGE])
def test_filter_answering_garbage(workdir, sink, mode, default_action):
    name = "garbage-%s-%s" % (mode, default_action)
    garbage = milter_peers.GarbageMilter(workdir / name / "garbage", mode).start()
    server = None
    try:
        server = failing_server(workdir, sink[0], name, garbage.socket, default_action)
        subject = new_subject()
        started = time.monotonic()
        replies = converse(server, data=message(subject))
        assert time.monotonic() - started < 1.8, replies  # no waiting for a timeout
        step = "connect" if mode == "optneg" else "mail"
        assert_default_action(replies, step, default_action, sink, subject)
        assert_logged(server)
        # A well-behaved filter in its place.
        garbage.stop()
        filter_ = milter_peers.ScriptedMilter(workdir / name / "filter", port=garbage.address[1])
        filter_.set_script(MARK)
        filter_.start()
        try:
            assert_next_transaction_works(server, filter_, sink)
            assert_stops_cleanly(server)
        finally:
            filter_.stop()
    finally:
        if server:
            server.stop()
        garbage.stop()
