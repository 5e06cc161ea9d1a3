"""The relay plugin over SMTP: relaying granted for one recipient by relay_dest_domains.ini
stays with that recipient."""
import json

import pytest

from conftest import run_upesi


def queued(install):
    r = run_upesi("-c", str(install), "--qlist", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def dest_domains_server(start_server, action):
    return start_server(
        plugins=["relay", "rcpt_to.in_host_list", "queue/maildir"],
        files={"relay.ini": "[relay]\nacl=false\ndest_domains=true\n",
               "outbound.ini": "[main]\ndisabled=true\n",  # keep it queued for the test
               "relay_dest_domains.ini":
                   '[domains]\nrelayed.example = { "action": "%s" }\n' % action})


@pytest.mark.parametrize("action", ["accept", "continue"])
def test_dest_domains_relays_only_the_recipient_it_was_asked_about(start_server, install,
                                                                   connect, action):
    server = dest_domains_server(start_server, action)
    c = connect(server)
    assert c.cmd("EHLO client.example")[0] == 250
    assert c.cmd("MAIL FROM:<s@client.example>")[0] == 250
    assert c.cmd("RCPT TO:<a@relayed.example>")[0] == 250
    # The same transaction may not use that grant for any other domain (an open relay).
    code, lines = c.cmd("RCPT TO:<victim@elsewhere.example>")
    assert code == 550 and "not allowed to relay" in lines[0]
    assert c.cmd("RCPT TO:<b@relayed.example>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send("Subject: x\r\n\r\nx\r\n.\r\n")
    assert c.reply()[0] == 250
    # The relayed recipients go to the outbound queue, and nothing else does.
    items = queued(install)
    assert len(items) == 1
    assert sorted(items[0]["rcpt_to"]) == ["<a@relayed.example>", "<b@relayed.example>"]
    assert not (install / "maildir").exists()


def test_dest_domains_grant_does_not_outlive_its_transaction(start_server, connect):
    server = dest_domains_server(start_server, "accept")
    c = connect(server)
    assert c.cmd("EHLO client.example")[0] == 250
    assert c.cmd("MAIL FROM:<s@client.example>")[0] == 250
    assert c.cmd("RCPT TO:<a@relayed.example>")[0] == 250
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("MAIL FROM:<s@client.example>")[0] == 250
    assert c.cmd("RCPT TO:<victim@elsewhere.example>")[0] == 550
