"""A new install as `upesi -i` makes it: local mailboxes land in maildirs, other recipients are
refused; and the relay plugin's ACL."""
import smtplib

import pytest


def default_server(start_server, install, **kwargs):
    lines = (install / "config" / "plugins").read_text().splitlines()
    plugins = [p.strip() for p in lines if p.strip() and not p.startswith("#")]
    assert plugins == ["rcpt_to.in_host_list", "queue/maildir"]
    return start_server(plugins=plugins, **kwargs)


def test_skeleton_delivers_local_mail_into_maildirs(start_server, install):
    server = default_server(start_server, install,
                            files={"local_mailboxes": "john.doe@example.com\nB@LOCALHOST\n"})
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        refused = s.sendmail("sender@client.example", ["John.Doe@Example.COM", "b@localhost"],
                             "Subject: hello\r\n\r\nfirst line\r\n..dot line\r\n")
        assert refused == {}
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            s.sendmail("sender@client.example", ["x@elsewhere.example"], "Subject: no\r\n\r\nx\r\n")
    john = list((install / "maildir" / "example.com" / "john.doe" / "new").iterdir())
    b = list((install / "maildir" / "localhost" / "b" / "new").iterdir())
    assert len(john) == 1 and len(b) == 1
    text = john[0].read_bytes()
    assert text.startswith(b"Return-Path: <sender@client.example>\nDelivered-To: "
                           b"John.Doe@example.com\nReceived: from ")
    assert b"\r" not in text  # maildirs hold LF line ends
    assert text.endswith(b"Subject: hello\n\nfirst line\n..dot line\n")  # smtplib stuffed it
    assert not any((install / "maildir" / "example.com" / "john.doe" / "tmp").iterdir())
    assert not (install / "maildir" / "elsewhere.example").exists()


ANY_MAILBOX = {"rcpt_to.in_host_list.ini": "[main]\nmailboxes=any\n"}


def test_skeleton_accepts_only_known_mailboxes(start_server, install):
    server = default_server(start_server, install)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.ehlo("client.example")
        s.mail("s@client.example")
        # The README's example mailbox and postmaster of every local domain, in any case.
        assert s.rcpt("you@example.com")[0] == 250
        assert s.rcpt("YOU@Example.com")[0] == 250
        assert s.rcpt("PostMaster@localhost")[0] == 250
        # Naming a mailbox does not create it.
        for n in range(5):
            code, text = s.rcpt("user%d@example.com" % n)
            assert code == 550 and b"does not exist" in text, text
        assert s.rcpt("nobody@localhost")[0] == 550
        assert s.data("Subject: x\r\n\r\nx\r\n")[0] == 250
    assert sorted(p.name for p in (install / "maildir" / "example.com").iterdir()) == ["you"]
    assert sorted(p.name for p in (install / "maildir" / "localhost").iterdir()) == ["postmaster"]
    assert len(list((install / "maildir" / "example.com" / "you" / "new").iterdir())) == 1


def test_maildir_names_are_injective_and_case_folded(start_server, install):
    server = default_server(start_server, install, files=ANY_MAILBOX)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        assert s.sendmail("s@client.example",
                          ['"a/b"@example.com', "a_b@example.com", "a%2Fb@example.com",
                           "X@example.com", "x@example.com"], "Subject: x\r\n\r\nx\r\n") == {}
    base = install / "maildir" / "example.com"
    assert sorted(p.name for p in base.iterdir()) == ["a%252fb", "a%2Fb", "a_b", "x"]
    for name in ["a%252fb", "a%2Fb", "a_b", "x"]:
        assert len(list((base / name / "new").iterdir())) == 1, name


def test_recipient_names_cannot_escape_the_maildir(start_server, install):
    server = default_server(start_server, install, files=ANY_MAILBOX)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        assert s.sendmail("s@client.example", ['"../../etc"@example.com', '".hidden"@example.com'],
                          "Subject: x\r\n\r\nx\r\n") == {}
    names = sorted(p.name for p in (install / "maildir" / "example.com").iterdir())
    assert names == ["%2E.%2F..%2Fetc", "%2Ehidden"]


def test_maildir_failure_answers_451_and_keeps_nothing(start_server, install):
    base = install / "maildir"
    base.mkdir()
    (base / "example.com").write_text("a file where a directory must go\n")
    server = default_server(start_server, install, files=ANY_MAILBOX)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        with pytest.raises(smtplib.SMTPDataError) as err:
            s.sendmail("s@client.example", ["a@localhost", "b@example.com"],
                       "Subject: x\r\n\r\nx\r\n")
        assert err.value.smtp_code == 451
    assert not any((base / "localhost" / "a" / "new").iterdir())
    assert not any((base / "localhost" / "a" / "tmp").iterdir())


def test_relay_acl_lets_listed_clients_relay(start_server, install, connect):
    server = start_server(plugins=["relay", "rcpt_to.in_host_list", "queue/maildir"],
                          files={"relay_acl_allow": "10.0.0.0/8\n127.0.0.0/8\n"})
    c = connect(server)
    assert c.cmd("EHLO x.example")[0] == 250
    assert c.cmd("MAIL FROM:<s@client.example>")[0] == 250
    assert c.cmd("RCPT TO:<x@elsewhere.example>")[0] == 250


def test_relay_acl_others_may_not(start_server, install, connect):
    server = start_server(plugins=["relay", "rcpt_to.in_host_list", "queue/maildir"],
                          files={"relay_acl_allow": "10.0.0.0/8\n"})
    c = connect(server)
    assert c.cmd("EHLO x.example")[0] == 250
    assert c.cmd("MAIL FROM:<s@client.example>")[0] == 250
    assert c.cmd("RCPT TO:<x@elsewhere.example>")[0] == 550


@pytest.mark.parametrize("host_list,primary", [("example.com\nlocalhost\n", "example.com"),
                                               ("", "mx.test.example")])
def test_bare_postmaster_goes_to_the_primary_domain(start_server, install, connect, host_list,
                                                    primary):
    # RFC 5321 4.5.1: <Postmaster> without a domain, in any case, must be accepted. It is
    # delivered to postmaster of the first domain of host_list, or of `me` without one.
    server = default_server(start_server, install, files={"host_list": host_list})
    c = connect(server)
    assert c.cmd("EHLO client.example")[0] == 250
    assert c.cmd("MAIL FROM:<s@client.example>")[0] == 250
    for rcpt in ["<Postmaster>", "<POSTMASTER>", "<postmaster>"]:
        code, lines = c.cmd("RCPT TO:%s" % rcpt)
        assert code == 250, (rcpt, lines)
    # Only postmaster may come without a domain.
    assert c.cmd("RCPT TO:<abuse>")[0] == 550
    assert c.cmd("RCPT TO:<someone>")[0] == 501
    assert c.cmd("DATA")[0] == 354
    c.send("Subject: to the postmaster\r\n\r\nhello\r\n.\r\n")
    assert c.reply()[0] == 250
    (copy,) = (install / "maildir" / primary / "postmaster" / "new").iterdir()
    assert b"Delivered-To: postmaster@%s\n" % primary.encode() in copy.read_bytes()
    assert sorted(p.name for p in (install / "maildir").iterdir()) == [primary]
