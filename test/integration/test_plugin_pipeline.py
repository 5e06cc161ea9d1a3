"""The hook pipeline seen from a client: every return code on the hooks that matter, priorities
and order, timeouts, exceptions, the deny hook, and plugins loaded from shared objects."""
import json

import pytest

ACCEPT = "[rcpt]\ncode=OK\n[queue]\ncode=OK\n"


def scripted(start_server, sections, extra_plugins=(), smtp=None, extra_files=None):
    """A server running the `test` plugin configured with `sections`, then `accept`."""
    files = {"test.ini": sections, "accept.ini": ACCEPT}
    files.update(extra_files or {})
    plugins = ["test", *extra_plugins, "accept"]
    return start_server(plugins=plugins, so=plugins, files=files, smtp=smtp)


@pytest.mark.parametrize("code,expect,closes", [
    ("DENY", 554, False),
    ("DENYSOFT", 421, False),
    ("DENYDISCONNECT", 554, True),
    ("DENYSOFTDISCONNECT", 421, True),
])
def test_connect_codes(start_server, connect, code, expect, closes):
    server = scripted(start_server, "[connect]\ncode=%s\nmsg=go away\n" % code)
    c = connect(server, greet=False)
    reply, lines = c.reply()
    assert reply == expect and lines[0].endswith("go away")
    if closes:
        assert c.closed()
    else:
        # Haraka's LOOP state: the same answer to everything but QUIT.
        assert c.cmd("EHLO x.example") == (expect, lines)
        assert c.cmd("QUIT")[0] == 221


@pytest.mark.parametrize("hook,command,code,expect", [
    ("ehlo", "EHLO x.example", "DENY", 550),
    ("ehlo", "EHLO x.example", "DENYSOFT", 450),
    ("mail", "MAIL FROM:<a@b.example>", "DENY", 550),
    ("mail", "MAIL FROM:<a@b.example>", "DENYSOFT", 450),
    ("rcpt", "RCPT TO:<r@example.com>", "DENY", 550),
    ("rcpt", "RCPT TO:<r@example.com>", "DENYSOFT", 450),
    ("data", "DATA", "DENY", 554),
    ("data", "DATA", "DENYSOFT", 451),
    ("vrfy", "VRFY someone", "OK", 250),
    ("noop", "NOOP", "DENY", 500),
])
def test_command_hook_codes(start_server, connect, hook, command, code, expect):
    server = scripted(start_server, "[%s]\ncode=%s\nmsg=because\n" % (hook, code))
    c = connect(server)
    setup = {"ehlo": [], "mail": ["EHLO x.example"],
             "rcpt": ["EHLO x.example", "MAIL FROM:<a@b.example>"],
             "data": ["EHLO x.example", "MAIL FROM:<a@b.example>", "RCPT TO:<r@example.com>"],
             "vrfy": ["EHLO x.example"], "noop": []}[hook]
    for line in setup:
        assert c.cmd(line)[0] == 250
    reply, lines = c.cmd(command)
    assert reply == expect
    assert lines[0].endswith("because")


def test_vrfy_hook_is_given_the_argument(start_server, connect, tmp_path):
    record = tmp_path / "calls"
    server = scripted(start_server, "[main]\nrecord=%s\n[vrfy]\ncode=OK\nmsg=known\n" % record)
    c = connect(server)
    assert c.cmd("EHLO x.example")[0] == 250
    code, lines = c.cmd("VRFY Alice Smith <alice@example.com>")
    assert code == 250 and lines[0].endswith("known")
    [line] = [l for l in record.read_text().splitlines() if l.split()[1] == "vrfy"]
    facts = json.loads(line.split(" ", 3)[3])
    assert facts == {"verb": "VRFY", "argument": "Alice Smith <alice@example.com>"}


def test_rcpt_denydisconnect_closes(start_server, connect):
    server = scripted(start_server, "[rcpt]\ncode=DENYDISCONNECT\nmsg=bye now\n")
    c = connect(server)
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    assert c.cmd("RCPT TO:<r@example.com>")[0] == 550
    assert c.closed()


def test_rcpt_cont_without_relaying_is_refused(start_server, connect):
    server = start_server(plugins=["test"], so=["test"], files={"test.ini": "[rcpt]\ncode=CONT\n"})
    c = connect(server)
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    code, lines = c.cmd("RCPT TO:<r@example.com>")
    assert code == 550 and "I cannot deliver mail for <r@example.com>" in lines[0]


def test_relaying_turns_cont_into_ok_and_uses_queue_outbound(start_server, connect):
    server = start_server(plugins=["test"], so=["test"], files={
        "test.ini": "[connect]\ncode=CONT\nrelay=true\n[queue_outbound]\ncode=OK\nmsg=outbound\n"})
    c = connect(server)
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    assert c.cmd("RCPT TO:<r@elsewhere.example>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send("Subject: x\r\n\r\nx\r\n.\r\n")
    assert c.reply() == (250, ["2.0.0 outbound"])


def test_queue_cont_is_451(start_server, connect):
    server = start_server(plugins=["test"], so=["test"], files={"test.ini": "[rcpt]\ncode=OK\n"})
    c = connect(server)
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    c.cmd("RCPT TO:<r@example.com>")
    c.cmd("DATA")
    c.send("Subject: x\r\n\r\nx\r\n.\r\n")
    code, lines = c.reply()
    assert code == 451 and "Queuing declined or disabled" in lines[0]


def test_priority_then_config_order_then_registration(start_server, connect, tmp_path):
    record = tmp_path / "calls"
    files = {
        "first.ini": "[main]\nrecord=%s\n[helo]\ncode=CONT\npriority=10\n" % record,
        "second.ini": "[main]\nrecord=%s\n[helo]\ncode=CONT\npriority=-5\n" % record,
        "third.ini": "[main]\nrecord=%s\n[helo]\ncode=CONT\n" % record,
    }
    server = start_server(plugins=["first", "second", "third"], so=["first", "second", "third"],
                          files=files)
    c = connect(server)
    assert c.cmd("HELO x.example")[0] == 250
    calls = [line.rsplit(" ", 1)[0] for line in record.read_text().splitlines()
             if " helo " in line]
    assert calls[:3] == ["second helo", "third helo", "first helo"]


def test_hook_timeout_answers_denysoft(start_server, connect):
    server = scripted(start_server, "[mail]\nmode=never\n", extra_files={"test.timeout": "1\n"})
    c = connect(server)
    c.cmd("EHLO x.example")
    code, lines = c.cmd("MAIL FROM:<a@b.example>")
    assert code == 450 and "plugin timeout" in lines[0]
    assert server.wait_log("timed out after 1 s")
    assert c.cmd("NOOP")[0] == 250


def test_async_answer(start_server, connect):
    server = scripted(start_server, "[mail]\ncode=DENY\nmsg=later\nmode=async\ndelay_ms=200\n")
    c = connect(server)
    c.cmd("EHLO x.example")
    assert c.cmd("MAIL FROM:<a@b.example>") == (550, ["5.7.1 later"])


def test_exception_is_logged_and_counts_as_cont(start_server, connect):
    server = scripted(start_server, "[helo]\nmode=throw\n")
    c = connect(server)
    assert c.cmd("HELO x.example")[0] == 250
    assert server.wait_log("[CRIT]")
    assert "scripted failure" in server.log()


def test_second_next_is_ignored(start_server, connect):
    server = scripted(start_server, "[helo]\ncode=CONT\nmode=twice\n")
    c = connect(server)
    assert c.cmd("HELO x.example")[0] == 250
    assert c.cmd("NOOP")[0] == 250
    assert server.wait_log("called more than once")


def test_deny_hook_overrides(start_server, connect):
    files = {"strict.ini": "[rcpt]\ncode=DENY\nmsg=strict says no\n",
             "forgiving.ini": "[deny]\ncode=OK\n"}
    server = start_server(plugins=["strict", "forgiving", "accept"],
                          so=["strict", "forgiving", "accept"],
                          files={**files, "accept.ini": ACCEPT})
    c = connect(server)
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    assert c.cmd("RCPT TO:<r@example.com>")[0] == 250


def test_unrecognized_command_handled_by_plugin(start_server, connect):
    server = scripted(start_server, "[unrecognized_command]\ncode=OK\nmsg=XSTATUS fine\n")
    c = connect(server)
    assert c.cmd("XSTATUS") == (250, ["XSTATUS fine"])


def test_unrecognized_command_ok_without_message_gets_250(start_server, connect):
    server = scripted(start_server, "[unrecognized_command]\ncode=OK\n")
    c = connect(server)
    assert c.cmd("XSTATUS") == (250, ["2.0.0 OK"])
    assert c.cmd("NOOP")[0] == 250


def recorded_calls(path):
    """[(plugin, hook, facts)] from a scripted plugin's record file."""
    import json
    calls = []
    for line in path.read_text().splitlines():
        fields = line.split(" ", 3)
        calls.append((fields[0], fields[1], json.loads(fields[3]) if len(fields) > 3 else None))
    return calls


def test_hook_next_runs_the_named_hook(start_server, connect, tmp_path):
    # Haraka's documentation's own example: next(HOOK_NEXT, 'rcpt_ok') from unrecognized_command.
    record = tmp_path / "calls"
    files = {"jump.ini": "[main]\nrecord=%s\n[unrecognized_command]\ncode=HOOK_NEXT\n"
                         "msg=rcpt_ok\n" % record,
             "vouch.ini": "[main]\nrecord=%s\n[rcpt_ok]\ncode=CONT\n" % record,
             "accept.ini": ACCEPT}
    server = start_server(plugins=["jump", "vouch", "accept"], so=["jump", "vouch", "accept"],
                          files=files)
    c = connect(server)
    # Without a recipient there is nothing for rcpt_ok to confirm.
    assert c.cmd("XCONFIRM")[0] == 503
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    assert c.cmd("RCPT TO:<r@example.com>")[0] == 250
    record.write_text("")
    # rcpt_ok's own reply, for the transaction's last recipient, not 451 Internal error.
    assert c.cmd("XCONFIRM now please") == (250, ["2.1.5 recipient <r@example.com> OK"])
    assert recorded_calls(record) == [
        ("jump", "unrecognized_command", {"verb": "XCONFIRM", "argument": "now please"}),
        ("vouch", "rcpt_ok", {"verb": "XCONFIRM", "argument": "now please",
                              "address": "r@example.com"}),
    ]


def test_hook_next_to_lookup_rdns_restarts_the_connection(start_server, connect):
    # xclient's use: lookup_rdns, then connect, then a new greeting.
    files = {"jump.ini": "[unrecognized_command]\ncode=HOOK_NEXT\nmsg=lookup_rdns\n"
                         "[lookup_rdns]\ncode=OK\nmsg=client.example\n", "accept.ini": ACCEPT}
    server = start_server(plugins=["jump", "accept"], so=["jump", "accept"], files=files)
    c = connect(server)
    code, lines = c.cmd("XCLIENT NAME=client.example")
    assert code == 220 and "ESMTP" in lines[0]
    code, lines = c.cmd("EHLO x.example")
    assert code == 250 and "Hello client.example [127.0.0.1]" in lines[0]


def test_hook_next_answers_as_the_named_hook(start_server, connect):
    files = {"jump.ini": "[unrecognized_command]\ncode=HOOK_NEXT\nmsg=vrfy\n",
             "strict.ini": "[vrfy]\ncode=DENY\nmsg=no such user\n", "accept.ini": ACCEPT}
    server = start_server(plugins=["jump", "strict", "accept"], so=["jump", "strict", "accept"],
                          files=files)
    c = connect(server)
    assert c.cmd("XWHO someone") == (550, ["5.1.1 no such user"])


def test_hook_next_to_quit_and_to_a_hook_it_cannot_run(start_server, connect):
    server = scripted(start_server, "[unrecognized_command]\ncode=HOOK_NEXT\nmsg=data_post\n")
    c = connect(server)
    assert c.cmd("XJUMP")[0] == 451
    assert server.wait_log("HOOK_NEXT to \"data_post\"")
    c.close()
    server.stop()
    server = scripted(start_server, "[unrecognized_command]\ncode=HOOK_NEXT\nmsg=quit\n")
    c = connect(server)
    assert c.cmd("XBYE")[0] == 221
    assert c.closed()


def test_shared_object_ships_its_config_and_inherits_a_base(start_server, connect, install):
    # derived.so ships plugins/derived/config/derived.ini naming its base; the base's rules come
    # from the base's own shipped file (rcpt) and from the install's config/base.ini (queue).
    shipped = {"plugins/derived/config/derived.ini": "[main]\ninherits=base\n",
               "plugins/base/config/base.ini": "[rcpt]\ncode=OK\n[queue]\ncode=DENY\n"}
    for path, text in shipped.items():
        (install / path).parent.mkdir(parents=True, exist_ok=True)
        (install / path).write_text(text)
    server = start_server(plugins=["derived"], so=["derived"],
                          files={"base.ini": "[queue]\ncode=OK\nmsg=queued by base\n"})
    c = connect(server)
    c.cmd("EHLO x.example")
    c.cmd("MAIL FROM:<a@b.example>")
    assert c.cmd("RCPT TO:<anyone@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    assert c.cmd("Subject: x\r\n\r\nbody\r\n.") == (250, ["2.0.0 queued by base"])


def test_hook_order_listing_includes_shared_objects(start_server, upesi_bin):
    import subprocess
    server = scripted(start_server, "[rcpt]\ncode=OK\npriority=-20\n")
    r = subprocess.run([upesi_bin, "-c", str(server.install), "-o"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    rcpt = lines.index("rcpt")
    assert "test" in lines[rcpt + 1] and "-20" in lines[rcpt + 1]
    assert "accept" in lines[rcpt + 2]
    r = subprocess.run([upesi_bin, "-c", str(server.install), "-l"], capture_output=True,
                       text=True, timeout=30)
    assert "test" in r.stdout and "plugins/test.so" in r.stdout
    r = subprocess.run([upesi_bin, "-c", str(server.install), "-h", "test"], capture_output=True,
                       text=True, timeout=30)
    assert "Answers hooks" in r.stdout
