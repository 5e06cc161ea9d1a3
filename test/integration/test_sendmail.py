"""The sendmail entry point (upesi-sendmail) and the pickup that queues what it leaves in the
maildrop through send_email; with outbound.ini deliver_host_list_locally, local programs' mail
for this host lands in its maildirs, as cron's does under Postfix."""
import os
import pathlib
import subprocess
import time

import pytest

SENDMAIL = os.environ.get("UPESI_SENDMAIL", "")

LOCAL = {
    "host_list": "localhost\nmx.test.example\n",
    "local_mailboxes": "@mx.test.example\n@localhost\n",
    "outbound.ini": "[main]\ndeliver_host_list_locally=true\n",
}
PLUGINS = ["rcpt_to.in_host_list", "queue/maildir"]


def sendmail(install, *args, message="", timeout=30):
    assert SENDMAIL, "UPESI_SENDMAIL must name the built upesi-sendmail"
    return subprocess.run([SENDMAIL, "-C", str(install), *args], input=message.encode(),
                          capture_output=True, timeout=timeout)


def maildir_files(install, domain, user):
    new = install / "maildir" / domain / user / "new"
    return sorted(new.iterdir()) if new.is_dir() else []


def wait_files(install, domain, user, count=1, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        files = maildir_files(install, domain, user)
        if len(files) >= count:
            return files
        time.sleep(0.05)
    return maildir_files(install, domain, user)


def drops(install):
    return [p.name for p in (install / "maildrop").iterdir() if p.is_file()]


def test_cron_style_mail_to_root_lands_in_the_local_maildir(start_server, install):
    server = start_server(plugins=PLUGINS, files=LOCAL)
    # What cron runs: sendmail -FCronDaemon -i -B8BITMIME -oem root
    r = sendmail(install, "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root",
                 message="Subject: Cron <root@host> run-parts\nTo: root\n\n.\nline after a dot\n")
    assert r.returncode == 0, r.stderr
    files = wait_files(install, "mx.test.example", "root")
    assert len(files) == 1, server.log()
    text = files[0].read_text()
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    assert "From: CronDaemon <%s@mx.test.example>\n" % user in text
    assert "(Upesi sendmail, from userid %d)" % os.getuid() in text
    assert text.endswith("\n.\nline after a dot\n")  # -i: a lone dot is text
    assert "Message-Id:" in text or "Message-ID:" in text
    assert drops(install) == []
    assert server.wait_log("maildrop: d.")


def test_t_takes_to_cc_bcc_and_bcc_is_not_delivered(start_server, install):
    start_server(plugins=PLUGINS, files=LOCAL)
    message = ("From: Ops <ops@mx.test.example>\nTo: alice, Bob <bob@mx.test.example>\n"
               "Cc: carol@localhost\nBcc: dave\nSubject: -t\n\nhello\n.\nnot sent\n")
    r = sendmail(install, "-t", message=message)
    assert r.returncode == 0, r.stderr
    for domain, user in [("mx.test.example", "alice"), ("mx.test.example", "bob"),
                         ("localhost", "carol"), ("mx.test.example", "dave")]:
        files = wait_files(install, domain, user)
        assert len(files) == 1, (domain, user)
        text = files[0].read_text()
        header = text.split("\n\n", 1)[0]
        assert "\nBcc:" not in header
        assert "To: alice, Bob <bob@mx.test.example>\nCc: carol@localhost\n" in header
        assert "From: Ops <ops@mx.test.example>" in text
        assert text.endswith("\n\nhello\n")  # without -i a lone dot ends the message
        assert "Return-Path: <ops@mx.test.example>" not in text  # the sender is the user


def test_f_sets_the_envelope_sender(start_server, install):
    start_server(plugins=PLUGINS, files=LOCAL)
    r = sendmail(install, "-f", "bounces@mx.test.example", "alice@localhost",
                 message="Subject: f\n\nx\n")
    assert r.returncode == 0, r.stderr
    files = wait_files(install, "localhost", "alice")
    assert len(files) == 1
    assert files[0].read_text().startswith("Return-Path: <bounces@mx.test.example>\n")


def test_bs_speaks_smtp_on_stdin_and_stdout(start_server, install):
    start_server(plugins=PLUGINS, files=LOCAL)
    session = ("EHLO client\r\nMAIL FROM:<app@mx.test.example>\r\nRCPT TO:<erin@localhost>\r\n"
               "DATA\r\nSubject: bs\r\n\r\n..stuffed\r\n.\r\nQUIT\r\n")
    r = sendmail(install, "-bs", message=session)
    assert r.returncode == 0, r.stderr
    replies = r.stdout.decode().split("\r\n")
    assert replies[0].startswith("220 ")
    assert "250 SIZE 26214400" in replies
    assert any(line.startswith("250 2.0.0 Ok: queued as d.") for line in replies), replies
    assert replies[-2] == "221 2.0.0 Bye"
    files = wait_files(install, "localhost", "erin")
    assert len(files) == 1
    text = files[0].read_text()
    assert "\nSubject: bs\n" in text and text.endswith("\n\n.stuffed\n")  # unstuffed once


def test_mail_dropped_while_the_server_is_down_is_queued_when_it_starts(start_server, install):
    (install / "config" / "host_list").write_text(LOCAL["host_list"])
    r = sendmail(install, "frank@localhost", message="Subject: early\n\nx\n")
    assert r.returncode == 0, r.stderr
    assert len(drops(install)) == 1  # safe on disk, no server yet
    start_server(plugins=PLUGINS, files=LOCAL)
    assert len(wait_files(install, "localhost", "frank")) == 1
    assert drops(install) == []


def test_each_message_is_queued_once_by_several_workers(start_server, install):
    server = start_server(plugins=PLUGINS, files=LOCAL, smtp={"nodes": 2})
    assert len(server.wait_workers(2)) == 2
    for n in range(20):
        r = sendmail(install, "grace@localhost", message="Subject: %d\n\nx\n" % n)
        assert r.returncode == 0, r.stderr
    files = wait_files(install, "localhost", "grace", count=20)
    time.sleep(1)  # a second copy would arrive within this
    files = maildir_files(install, "localhost", "grace")
    subjects = sorted(int(f.read_text().split("Subject: ")[1].split("\n")[0]) for f in files)
    assert subjects == list(range(20)), server.log()
    assert drops(install) == []


def test_a_file_that_is_not_a_drop_file_is_moved_aside(start_server, install):
    server = start_server(plugins=PLUGINS, files=LOCAL)
    (install / "maildrop" / "d.1.2.bad").write_text("From: x\n\nnot an envelope\n")
    assert server.wait_log("maildrop: d.1.2.bad: not a drop file")
    assert (install / "maildrop" / "failed" / "d.1.2.bad").exists()
    r = sendmail(install, "heidi@localhost", message="Subject: after\n\nx\n")
    assert r.returncode == 0
    assert len(wait_files(install, "localhost", "heidi")) == 1


def test_usage_errors_and_limits(install):
    r = sendmail(install, message="Subject: nobody\n\nx\n")
    assert r.returncode == 64 and b"no recipients given" in r.stderr
    r = sendmail(install, "-t", message="Subject: nobody\n\nx\n")
    assert r.returncode == 64 and b"no recipients in the To, Cc or Bcc" in r.stderr
    r = sendmail(install, "-k", "x")
    assert r.returncode == 64 and r.stderr == b"sendmail: unknown option -k\n"
    (install / "config" / "smtp.ini").write_text("[main]\nmax_message_size=1024\n")
    r = sendmail(install, "x@localhost", message="Subject: big\n\n" + "x" * 2000)
    assert r.returncode == 65 and b"over 1024 bytes" in r.stderr
    assert drops(install) == []
    r = sendmail(install, "-bp")
    assert r.returncode == 69 and b"--qlist" in r.stderr


@pytest.mark.parametrize("name", ["mailq", "newaliases"])
def test_invoked_as_mailq_or_newaliases(tmp_path, install, name):
    link = tmp_path / name
    link.symlink_to(SENDMAIL)
    r = subprocess.run([str(link), "-C", str(install)], capture_output=True, timeout=10)
    if name == "mailq":
        assert r.returncode == 69 and b"--qlist" in r.stderr
    else:
        assert r.returncode == 0 and b"nothing to rebuild" in r.stderr
    assert pathlib.Path(install / "maildrop").is_dir()
