"""The aliases plugin over SMTP: every key form and their precedence, sub-addresses, drop, list
expansion bounded by the recipient limit, and aliases.json read again when it changes. Messages
are delivered by queue/maildir, so where a copy lands shows where the alias sent it."""
import json
import time

PLUGINS = ["aliases", "rcpt_to.in_host_list", "queue/maildir"]
HOSTS = "example.com\nexample.org\n"

PRECEDENCE = {
    "foo-bar@example.com": {"action": "alias", "to": "r1"},
    "foo-bar": {"action": "alias", "to": "r2"},
    "foo@example.com": {"action": "alias", "to": "r3"},
    "foo": {"action": "alias", "to": "r4"},
    "@example.com": {"action": "alias", "to": "r5"},
    "*": {"action": "alias", "to": "r6@example.com"},
}


def serve(start_server, aliases, smtp=None):
    return start_server(plugins=PLUGINS, smtp=smtp,
                        files={"host_list": HOSTS, "aliases.json": json.dumps(aliases),
                               "rcpt_to.in_host_list.ini": "[main]\nmailboxes=any\n"})


def send(connect, server, recipients, subject):
    """Sends one message; returns the RCPT reply codes and the final reply code."""
    c = connect(server)
    assert c.cmd("EHLO client.example")[0] == 250
    assert c.cmd("MAIL FROM:<s@client.example>")[0] == 250
    codes = [c.cmd("RCPT TO:<%s>" % rcpt)[0] for rcpt in recipients]
    if 250 not in codes:
        return codes, None
    assert c.cmd("DATA")[0] == 354
    c.send("Subject: %s\r\n\r\nbody\r\n.\r\n" % subject)
    final = c.reply()[0]
    c.cmd("QUIT")
    return codes, final


def mailboxes_with(install, subject):
    """The mailboxes ("local@domain") holding a message with `subject`."""
    found = []
    for path in (install / "maildir").rglob("new/*"):
        if ("Subject: %s\n" % subject) in path.read_text():
            found.append("%s@%s" % (path.parent.parent.name, path.parent.parent.parent.name))
    return sorted(found)


def test_precedence_of_the_key_forms(start_server, install, connect):
    server = serve(start_server, PRECEDENCE)
    table = [
        ("foo-bar@example.com", "r1@example.com"),  # user@host
        ("FOO-BAR@Example.COM", "r1@example.com"),  # any case
        ("foo-bar@example.org", "r2@example.org"),  # user, before prefix@host
        ("foo+x@example.com", "r3@example.com"),  # prefix@host, before prefix and @host
        ("foo-x@example.com", "r3@example.com"),
        ("foo@example.com", "r3@example.com"),  # a plain user's own user@host
        ("foo+x@example.org", "r4@example.org"),  # prefix at any domain
        ("bar@example.com", "r5@example.com"),  # @host, before *
        ("bar@example.org", "r6@example.com"),  # *
        ("-x@example.org", "r6@example.com"),  # no prefix before a leading separator
    ]
    for n, (rcpt, expected) in enumerate(table):
        codes, final = send(connect, server, [rcpt], "precedence %d" % n)
        assert codes == [250] and final == 250, rcpt
        assert mailboxes_with(install, "precedence %d" % n) == [expected], rcpt


def test_user_at_host_is_not_chained_through_at_host(start_server, install, connect):
    # Haraka#1580: foo@example.com must go to bar, not on through @example.com.
    server = serve(start_server, {
        "foo@example.com": {"action": "alias", "to": "bar@example.com"},
        "@example.com": {"action": "alias", "to": "foobar@example.com"},
    })
    send(connect, server, ["foo@example.com"], "chain")
    assert mailboxes_with(install, "chain") == ["bar@example.com"]
    send(connect, server, ["anyone@example.com"], "domain")
    assert mailboxes_with(install, "domain") == ["foobar@example.com"]


def test_sub_address_with_and_without_its_own_entry(start_server, install, connect):
    server = serve(start_server, {
        "test2": {"action": "alias", "to": "plain"},
        "test2-testing": {"action": "alias", "to": "special@example.org"},
    })
    send(connect, server, ["test2-testing@example.com"], "own")
    assert mailboxes_with(install, "own") == ["special@example.org"]
    send(connect, server, ["test2+other@example.com"], "fallback")
    assert mailboxes_with(install, "fallback") == ["plain@example.com"]
    send(connect, server, ["test20@example.com"], "unrelated")
    assert mailboxes_with(install, "unrelated") == ["test20@example.com"]


def test_drop_removes_only_that_recipient(start_server, install, connect):
    server = serve(start_server, {"test1": {"action": "drop"}})
    codes, final = send(connect, server, ["test1+news@example.com", "keep@example.com"], "mixed")
    assert codes == [250, 250] and final == 250
    assert mailboxes_with(install, "mixed") == ["keep@example.com"]
    # Every recipient dropped: accepted, and stored nowhere.
    codes, final = send(connect, server, ["test1@example.com"], "all dropped")
    assert codes == [250] and final == 250
    assert mailboxes_with(install, "all dropped") == []
    assert "discarding message" in server.log()


def test_list_alias_expands_once_and_within_the_recipient_limit(start_server, install, connect):
    server = serve(start_server, {
        "sales@example.com": {"action": "alias",
                              "to": ["alice@example.com", "bob", "alice@example.com"]},
        "all": {"action": "alias", "to": ["a", "b", "c", "d"]},
    }, smtp={"max_recipients": 3})
    send(connect, server, ["sales@example.com"], "list")
    assert mailboxes_with(install, "list") == ["alice@example.com", "bob@example.com"]
    codes, final = send(connect, server, ["all@example.org"], "bounded")
    assert codes == [250] and final == 250
    assert mailboxes_with(install, "bounded") == ["a@example.org", "b@example.org",
                                                  "c@example.org"]
    assert "targets left out" in server.log()


def test_refused_recipient_adds_no_targets(start_server, install, connect):
    # nowhere.example is not ours: the alias rewrites it, and rcpt_to.in_host_list refuses it.
    server = serve(start_server, {
        "team@nowhere.example": {"action": "alias",
                                 "to": ["x@nowhere.example", "y@example.com"]},
    })
    codes, final = send(connect, server, ["team@nowhere.example", "ok@example.com"], "refused")
    assert codes == [550, 250] and final == 250
    assert mailboxes_with(install, "refused") == ["ok@example.com"]


def test_unknown_action_and_missing_to_leave_the_recipient(start_server, install, connect):
    server = serve(start_server, {"x": {"action": "bogus"}, "y": {"action": "alias"}})
    send(connect, server, ["x@example.com", "y@example.com"], "left")
    assert mailboxes_with(install, "left") == ["x@example.com", "y@example.com"]
    assert "unknown action: bogus" in server.log()
    assert 'alias failed for y, no "to" field in alias config' in server.log()


def test_aliases_json_is_read_again_when_it_changes(start_server, install, connect):
    server = serve(start_server, {"a": {"action": "alias", "to": "one"}})
    send(connect, server, ["a@example.com"], "before")
    assert mailboxes_with(install, "before") == ["one@example.com"]
    (install / "config" / "aliases.json").write_text(
        json.dumps({"a": {"action": "alias", "to": "two"}}))
    deadline = time.time() + 10
    n = 0
    while time.time() < deadline:
        n += 1
        send(connect, server, ["a@example.com"], "after %d" % n)
        if mailboxes_with(install, "after %d" % n) == ["two@example.com"]:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("aliases.json was not read again:\n" + server.log())


def test_later_rcpt_plugins_judge_the_target(start_server, install, connect):
    # As Haraka's params[0]: rcpt_to.in_host_list sees the alias's target. Mail for a local
    # mailbox aliased to a domain that is not ours is refused, not accepted for the wrong place.
    server = serve(start_server, {
        "away@example.com": {"action": "alias", "to": "someone@elsewhere.example"},
        "desk@example.com": {"action": "alias", "to": "helpdesk@example.org"},
    })
    codes, final = send(connect, server, ["away@example.com", "desk@example.com"], "judged")
    assert codes == [550, 250] and final == 250
    assert mailboxes_with(install, "judged") == ["helpdesk@example.org"]
