"""Haraka 3.3.4 and Upesi, side by side: the same plugins, config files, DNS zone and SMTP
transcript against both, comparing the reply codes (see side_by_side.py).

Every case states the codes Haraka gives, as its plugins' READMEs document them, and runs
against Haraka ([haraka]). The [upesi] half runs as soon as `upesi -l` lists every plugin of
the case; until then it is skipped with the names it waits for. Differences are allowed only
where a Difference names the Haraka bug the project fixes (or, where Haraka has no issue for it,
the README section of the plugin that documents the difference).

Haraka comes from npm (haraka_peer.py): without node, npm or the npm registry these tests fail
with a message saying so."""
import email.utils
import socket

import pytest

import dns_zone
import haraka_peer
import side_by_side
from dns_zone import host, mx, ptr, txt
from side_by_side import Case, Data, Difference, Setup

pytestmark = pytest.mark.skipif(not dns_zone.AVAILABLE, reason="needs dnsmasq")

LOCAL = "test.example"
RECIPIENTS = {
    "host_list": LOCAL + "\n",
    # Haraka's rcpt_to.in_host_list takes any mailbox; Upesi's install asks for listed ones.
    "rcpt_to.in_host_list.ini": "[main]\nmailboxes=any\n",
}
PUBLIC = "[skip]\nprivate_ip=false\n"
# A name server that never answers: dnsmasq forwards slow.test to it, so lookups there time out.
SILENT_DNS = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
SILENT_DNS.bind(("127.0.0.1", 0))
SLOW_ZONE = "server=/slow.test/127.0.0.1#%d" % SILENT_DNS.getsockname()[1]


def message(*headers, date=True):
    fields = list(headers)
    if date:
        fields.insert(0, "Date: " + email.utils.formatdate(localtime=True))
    return "\r\n".join(fields + ["", "A body line.", ""])


GOOD = message("From: <a@sender.test>", "To: <b@test.example>", "Subject: hello",
               "Message-Id: <1@sender.test>")


def cases_for(plugin, setup, *cases):
    return [Case(plugin + "/" + name, setup, tuple(transcript), tuple(codes), client,
                 differences=tuple(differences))
            for name, client, transcript, codes, differences in cases]


def case(name, transcript, codes, client="127.0.0.2", differences=()):
    return (name, client, transcript, codes, differences)


# --- plugins Upesi has -------------------------------------------------------------------------

IN_HOST_LIST = Setup.of(["rcpt_to.in_host_list", "queue/discard"], RECIPIENTS)
RELAY = Setup.of(["relay", "rcpt_to.in_host_list"], dict(
    RECIPIENTS, **{"relay.ini": "[relay]\nacl=true\n", "relay_acl_allow": "127.0.0.2/32\n"}))
SPF = Setup.of(["spf", "rcpt_to.in_host_list"], dict(
    RECIPIENTS, **{"spf.ini": PUBLIC + "[deny]\nmfrom_fail=true\nhelo_fail=true\n"}), records=[
        txt("pass.test", "v=spf1 ip4:127.0.0.0/8 -all"),
        txt("helo-fail.test", "v=spf1 ip4:192.0.2.0/24 -all"),
        txt("fail.test", "v=spf1 ip4:192.0.2.0/24 -all"),
        txt("soft.test", "v=spf1 ip4:192.0.2.0/24 ~all"),
    ])
HEADERS_INI = ("[check]\nduplicate_singular=true\nmissing_required=true\ninvalid_date=false\n"
               "[reject]\nduplicate_singular=true\nmissing_required=true\n")
# Haraka loads `data.headers` as its `headers` plugin (reading headers.ini); Upesi's plugin of
# that name reads data.headers.ini: both files are written.
DATA_HEADERS = Setup.of(["data.headers", "rcpt_to.in_host_list", "queue/discard"], dict(
    RECIPIENTS, **{"headers.ini": HEADERS_INI, "data.headers.ini": HEADERS_INI}))

SESSION = ["EHLO client.sender.test", "MAIL FROM:<a@sender.test>"]

EXISTING = (
    cases_for("rcpt_to.in_host_list", IN_HOST_LIST,
              case("local-and-foreign", SESSION + ["RCPT TO:<b@test.example>",
                                                    "RCPT TO:<b@elsewhere.test>", Data(GOOD),
                                                    "QUIT"],
                   (220, 250, 250, 250, 550, 250, 221)),
              case("case-insensitive-domain", SESSION + ["RCPT TO:<b@TEST.Example>"],
                   (220, 250, 250, 250)),
              case("no-recipient", SESSION + ["RCPT TO:<b@elsewhere.test>", Data(GOOD)],
                   (220, 250, 250, 550, 503)))
    + cases_for("relay", RELAY,
                case("listed-client-relays", SESSION + ["RCPT TO:<b@elsewhere.test>"],
                     (220, 250, 250, 250)),
                case("unlisted-client-does-not", SESSION + ["RCPT TO:<b@elsewhere.test>",
                                                             "RCPT TO:<b@test.example>"],
                     (220, 250, 250, 550, 250), client="127.0.0.3"))
    + cases_for("spf", SPF,
                case("mfrom-pass", ["EHLO client.test", "MAIL FROM:<a@pass.test>",
                                    "RCPT TO:<b@test.example>"], (220, 250, 250, 250)),
                case("mfrom-fail-denied", ["EHLO client.test", "MAIL FROM:<a@fail.test>",
                                           "MAIL FROM:<a@pass.test>"], (220, 250, 550, 250)),
                case("mfrom-softfail-accepted", ["EHLO client.test", "MAIL FROM:<a@soft.test>"],
                     (220, 250, 250)),
                case("mfrom-none-accepted", ["EHLO client.test", "MAIL FROM:<a@none.test>"],
                     (220, 250, 250)),
                # The HELO verdict decides only for the null sender.
                case("helo-fail-null-sender", ["EHLO helo-fail.test", "MAIL FROM:<a@pass.test>",
                                               "RSET", "MAIL FROM:<>"],
                     (220, 250, 250, 250, 550)))
    + cases_for("data.headers", DATA_HEADERS,
                case("good-message", SESSION + ["RCPT TO:<b@test.example>", Data(GOOD)],
                     (220, 250, 250, 250, 250)),
                case("duplicate-subject", SESSION + ["RCPT TO:<b@test.example>", Data(message(
                    "From: <a@sender.test>", "Subject: one", "Subject: two"))],
                    (220, 250, 250, 250, 550)),
                case("missing-date", SESSION + ["RCPT TO:<b@test.example>", Data(message(
                    "From: <a@sender.test>", "Subject: one", date=False))],
                    (220, 250, 250, 250, 550)))
)

# --- plugins being written: against Haraka only until `upesi -l` lists them ------------------

DNS_LIST = Setup.of(["dns-list", "rcpt_to.in_host_list"], dict(
    RECIPIENTS, **{"dns-list.ini": PUBLIC + "[main]\nzones=bl.test,info.test\n"
                                            "periodic_checks=0\nsearch=all\n"
                                            "[info.test]\nreject=false\n"}), records=[
        host("2.0.0.127.bl.test", "127.0.0.2"),
        host("5.0.0.127.info.test", "127.0.0.2"),
        # An error answer (as Spamhaus gives for a refused query), not a listing.
        host("4.0.0.127.bl.test", "127.255.255.254"),
    ])
HELO_CHECKS = Setup.of(["helo.checks", "rcpt_to.in_host_list"], dict(
    RECIPIENTS, **{"helo.checks.ini": PUBLIC
                   + "[check]\nmatch_re=false\nbare_ip=false\ndynamic=false\n"
                   "big_company=false\nrdns_match=false\nforward_dns=false\n"
                   "host_mismatch=false\nproto_mismatch=false\nvalid_hostname=true\n"
                   "[reject]\nvalid_hostname=true\n"}))
FCRDNS = Setup.of(["fcrdns", "rcpt_to.in_host_list"], dict(
    RECIPIENTS, **{"fcrdns.ini": PUBLIC + "[reject]\nno_rdns=true\nno_fcrdns=true\n"}),
    records=[ptr("127.0.0.2", "mail.example.com"), host("mail.example.com", "127.0.0.2"),
             ptr("127.0.0.4", "other.example.com"), host("other.example.com", "192.0.2.4")],
    rdns_localhost=False)
IS_RESOLVABLE = Setup.of(["mail_from.is_resolvable", "rcpt_to.in_host_list"], dict(
    RECIPIENTS, **{"mail_from.is_resolvable.ini": PUBLIC + "[main]\nallow_mx_ip=false\n"
                                                  "timeout_ms=800\n[reject]\nno_mx=deny\n"}),
    records=[
        SLOW_ZONE,
        mx("good.test", "mx.good.test", 10), host("mx.good.test", "192.0.2.10"),
        host("implicit.test", "192.0.2.11"),
        mx("loopback.test", "mx.loopback.test", 10), host("mx.loopback.test", "127.0.0.5"),
        mx("nullmx.test", ".", 0),
    ])
ACCESS = Setup.of(["access", "rcpt_to.in_host_list"], dict(
    RECIPIENTS, **{"access.ini": PUBLIC,
                   "connect.rdns_access.blacklist": "127.0.0.3\n",
                   "mail_from.access.blacklist": "spammer@sender.test\n",
                   "mail_from.access.blacklist_regex": ".*@junk\\.test$\n",
                   "mail_from.access.whitelist": "friend@junk.test\n",
                   "rcpt_to.access.blacklist": "closed@test.example\n"}))
ALIASES = Setup.of(["aliases", "rcpt_to.in_host_list"], dict(
    RECIPIENTS, **{"aliases.json": '{"dropped@test.example": {"action": "drop"},\n'
                              ' "old@test.example": {"action": "alias", '
                              '"to": "new@elsewhere.test"}}\n'}))
BOUNCE = Setup.of(["bounce", "rcpt_to.in_host_list", "queue/discard"], dict(
    RECIPIENTS, **{"bounce_bad_rcpt": "noreply@test.example\n"}))
NO_BOUNCES = Setup.of(["bounce", "rcpt_to.in_host_list"], dict(
    RECIPIENTS, **{"bounce.ini": "[reject]\nall_bounces=true\n"}))
HEADERS = Setup.of(["headers", "rcpt_to.in_host_list", "queue/discard"], dict(
    RECIPIENTS, **{"headers.ini": HEADERS_INI}))

NEW = (
    cases_for("dns-list", DNS_LIST,
              # A listed client is refused at the banner; Haraka answers every later command
              # with the same 554 until the client leaves.
              case("listed", ["EHLO client.test", "MAIL FROM:<a@sender.test>"],
                   (554, 554, 554)),
              case("unlisted", ["EHLO client.test", "MAIL FROM:<a@sender.test>"],
                   (220, 250, 250), client="127.0.0.3"),
              # reject=false: the listing is recorded, not acted on.
              case("informational", ["EHLO client.test"], (220, 250), client="127.0.0.5"),
              case("error-answer", ["EHLO client.test"], (554, 554), client="127.0.0.4",
                   differences=[(0, Difference(
                       "Haraka#3106", 554, 220,
                       "an answer in 127.255.255.0/24 is the list's error code, not a "
                       "listing")), (1, Difference("Haraka#3106", 554, 250, "as above"))]))
    + cases_for("helo.checks", HELO_CHECKS,
                case("no-dot", ["HELO nodot", "HELO mail.example.com",
                                "MAIL FROM:<a@sender.test>"], (220, 550, 250, 250),
                     differences=[(2, Difference(
                         "Haraka#3040", 250, 550,
                         "a refused greeting sticks: the client cannot greet its way past a "
                         "failed check (Haraka skips every check that already ran)")),
                         (3, Difference("Haraka#3040", 250, 503, "no accepted greeting"))]),
                case("valid", ["EHLO mail.example.com", "MAIL FROM:<a@sender.test>"],
                     (220, 250, 250)),
                case("literal", ["EHLO [127.0.0.2]"], (220, 250)),
                # Both run the name's checks on the first greeting only.
                case("re-helo", ["EHLO mail.example.com", "EHLO nodot",
                                 "MAIL FROM:<a@sender.test>"], (220, 250, 250, 250)))
    + cases_for("fcrdns", FCRDNS,
                case("match", ["EHLO client.test"], (220, 250)),
                case("no-rdns", ["EHLO client.test"], (554, 554), client="127.0.0.3"),
                case("no-match", ["EHLO client.test"], (554, 554), client="127.0.0.4"))
    + cases_for("mail_from.is_resolvable", IS_RESOLVABLE,
                case("mx", ["EHLO client.test", "MAIL FROM:<a@good.test>"], (220, 250, 250)),
                case("null-sender", ["EHLO client.test", "MAIL FROM:<>"], (220, 250, 250)),
                case("no-domain", ["EHLO client.test", "MAIL FROM:<a@nowhere.test>",
                                   "MAIL FROM:<a@good.test>"], (220, 250, 550, 250)),
                case("implicit-mx", ["EHLO client.test", "MAIL FROM:<a@implicit.test>"],
                     (220, 250, 550), differences=[(2, Difference(
                         "RFC 5321 5.1 implicit MX", 550, 250,
                         "a domain without MX but with a usable address of its own passes, as "
                         "Haraka's documentation says; its plugin (1.3.0) refuses it unless "
                         "allow_mx_ip=true"))]),
                case("loopback-mx", ["EHLO client.test", "MAIL FROM:<a@loopback.test>"],
                     (220, 250, 550)),
                case("null-mx", ["EHLO client.test", "MAIL FROM:<a@nullmx.test>"],
                     (220, 250, 550)),
                # The zone's server refuses names outside it: a temporary failure.
                case("refused", ["EHLO client.test", "MAIL FROM:<a@outside.invalid>"],
                     (220, 250, 450)),
                # The plugin's own timeout answers, well before the hook's (Haraka#2448 was
                # the core's "plugin timeout" answering instead).
                case("no-answer", ["EHLO client.test", "MAIL FROM:<a@slow.test>",
                                   "MAIL FROM:<a@good.test>"], (220, 250, 450, 250)))
    + cases_for("access", ACCESS,
                case("listed-client", ["EHLO client.test"], (554, None), client="127.0.0.3"),
                case("sender-and-recipient", ["EHLO client.test",
                                              "MAIL FROM:<spammer@sender.test>",
                                              "MAIL FROM:<a@sender.test>",
                                              "RCPT TO:<closed@test.example>",
                                              "RCPT TO:<open@test.example>"],
                     (220, 250, 550, 250, 550, 250)),
                case("whitelist-before-regex", ["EHLO client.test",
                                                "MAIL FROM:<other@junk.test>",
                                                "MAIL FROM:<friend@junk.test>"],
                     (220, 250, 550, 250)))
    + cases_for("aliases", ALIASES,
                # drop accepts the recipient and discards the message at the queue hook.
                case("drop", SESSION + ["RCPT TO:<dropped@test.example>", Data(GOOD)],
                     (220, 250, 250, 250, 250)),
                # The alias is rewritten before rcpt_to.in_host_list sees it: its new domain is
                # not local, so the recipient is refused.
                case("alias", SESSION + ["RCPT TO:<old@test.example>",
                                         "RCPT TO:<other@test.example>"],
                     (220, 250, 250, 550, 250)))
    + cases_for("bounce", BOUNCE,
                case("bad-rcpt", ["EHLO client.test", "MAIL FROM:<>",
                                  "RCPT TO:<noreply@test.example>", "RCPT TO:<b@test.example>"],
                     (220, 250, 250, 550, 250)),
                case("single-recipient", ["EHLO client.test", "MAIL FROM:<>",
                                          "RCPT TO:<b@test.example>", "RCPT TO:<c@test.example>",
                                          Data(GOOD)], (220, 250, 250, 250, 250, 554)),
                case("one-recipient", ["EHLO client.test", "MAIL FROM:<>",
                                       "RCPT TO:<b@test.example>", Data(GOOD)],
                     (220, 250, 250, 250, 250)))
    + cases_for("bounce", NO_BOUNCES,
                case("all-bounces-refused", ["EHLO client.test", "MAIL FROM:<>",
                                             "MAIL FROM:<a@sender.test>"], (220, 250, 550, 250)))
    + cases_for("headers", HEADERS,
                case("duplicate-subject", SESSION + ["RCPT TO:<b@test.example>", Data(message(
                    "From: <a@sender.test>", "Subject: one", "Subject: two"))],
                    (220, 250, 250, 250, 550)),
                case("missing-date", SESSION + ["RCPT TO:<b@test.example>", Data(message(
                    "From: <a@sender.test>", "Subject: one", date=False))],
                    (220, 250, 250, 250, 550)))
)

CASES = EXISTING + NEW


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    try:
        haraka_peer.install()
    except haraka_peer.HarakaUnavailable as e:
        pytest.fail("Haraka %s is needed beside Upesi: %s" % (haraka_peer.VERSION, e))
    servers = side_by_side.ServerPool(tmp_path_factory.mktemp("side-by-side"))
    yield servers
    servers.close()


@pytest.mark.parametrize("side", ["haraka", "upesi"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(pool, case, side):
    codes = pool.run(case)
    if side == "haraka":
        assert codes.haraka == case.haraka, "Haraka's codes changed:\n" + codes.haraka_log()
        return
    if codes.upesi is None:
        pytest.skip("waiting for Upesi's plugin(s): %s" % ", ".join(codes.waiting))
    assert codes.upesi == case.upesi_expected(), "\n" + codes.upesi_log()


def test_haraka_asks_only_the_test_dns(pool):
    """Every plugin that asks DNS, loaded together in Haraka: all their resolvers point at the
    test's dnsmasq, nothing calls getaddrinfo for a name, and dnsmasq saw each plugin's
    queries (so they came to it rather than anywhere else)."""
    setup = Setup.of(
        ["dns-list", "fcrdns", "helo.checks", "mail_from.is_resolvable", "spf", "bounce",
         "rcpt_to.in_host_list"],
        dict(RECIPIENTS, **{"dns-list.ini": "[main]\nzones=bl.test\nperiodic_checks=0\n",
                            "helo.checks.ini": "[skip]\nprivate_ip=false\ntlds[]=test\n"}),
        records=[ptr("127.0.0.2", "mail.example.com"), host("mail.example.com", "127.0.0.2"),
                 mx("good.test", "mx.good.test", 10), host("mx.good.test", "192.0.2.10"),
                 txt("good.test", "v=spf1 ip4:127.0.0.0/8 -all")],
        rdns_localhost=False)
    check = Case("dns", setup, ("EHLO mail.example.com", "MAIL FROM:<a@good.test>",
                                "RCPT TO:<b@test.example>", "QUIT"), (220, 250, 250, 250, 221))
    codes = pool.run(check, upesi=False)
    assert codes.haraka == check.haraka, codes.haraka_log()
    running = pool.current
    trace = running.haraka.dns_lines()
    server = "127.0.0.1:%d" % running.dns_port
    assert trace and all(line.endswith(" " + server) for line in trace), trace
    asked = {(kind, name) for kind, name, _ in running.dns_queries()}
    assert {client for _, _, client in running.dns_queries()} == {"127.0.0.1"}
    for query in [("A", "2.0.0.127.bl.test"),  # dns-list
                  ("PTR", "2.0.0.127.in-addr.arpa"),  # fcrdns
                  ("A", "mail.example.com"),  # fcrdns and helo.checks
                  ("MX", "good.test"),  # mail_from.is_resolvable
                  ("TXT", "good.test")]:  # spf
        assert query in asked, (query, sorted(asked))


def test_unreachable_registry_is_an_error(tmp_path, monkeypatch):
    """Without the npm registry (and nothing cached), installing Haraka fails, saying why, so
    that the side-by-side tests fail rather than skip on a machine without network."""
    closed = haraka_peer.free_port()
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:%d/" % closed)
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    with pytest.raises(haraka_peer.HarakaUnavailable, match="npm registry"):
        haraka_peer.install(tmp_path / "haraka")
    assert not (tmp_path / "haraka" / "installed").exists()
