"""The dns-list plugin through the real binary, against dnsmasq serving DNS lists under .test on
a loopback port. Clients connect from 127.0.0.2 (listed on the block lists), 127.0.0.3 (on
none), 127.0.0.4 (on the allow list) and a few more addresses with their own answers; the
plugin's results are read from its log line (Haraka's emit)."""
import smtplib
import socket
import time

import pytest

import dns_zone
from dns_zone import host

pytestmark = pytest.mark.skipif(not dns_zone.AVAILABLE, reason="needs dnsmasq")

LISTED, CLEAN, ALLOWED = "127.0.0.2", "127.0.0.3", "127.0.0.4"
SPAMHAUS_ERROR, ONLY_W1, ALL_THREE = "127.0.0.5", "127.0.0.6", "127.0.0.7"
W1_OTHER_CODE, BOTH_W = "127.0.0.8", "127.0.0.9"


def listed(ip, zone, answer="127.0.0.2", ttl=None):
    name = ".".join(reversed(ip.split("."))) + "." + zone
    return host(name, answer, str(ttl)) if ttl else host(name, answer)


ZONE = [
    # bl.test and bl2.test: block lists that pass the self-test and list 127.0.0.2
    listed(LISTED, "bl.test", ttl=300),
    listed(LISTED, "bl2.test", "127.0.0.3", ttl=300),
    # wl.test: an allow list
    listed(LISTED, "wl.test"),
    listed(ALLOWED, "wl.test"),
    listed(ALL_THREE, "wl.test"),
    # err.test: a list that answers one client with Spamhaus's "public resolver" code
    listed(LISTED, "err.test"),
    listed(SPAMHAUS_ERROR, "err.test", "127.255.255.254"),
    # loop.test lists 127.0.0.1, empty.test does not list 127.0.0.2: both fail the self-test
    listed(LISTED, "loop.test"),
    listed("127.0.0.1", "loop.test"),
    listed(CLEAN, "loop.test"),
    listed(CLEAN, "empty.test"),
    # w1.test and w2.test: weighted lists
    listed(LISTED, "w1.test"),
    listed(LISTED, "w2.test"),
    listed(ONLY_W1, "w1.test"),
    listed(ALL_THREE, "w1.test"),
    listed(ALL_THREE, "w2.test"),
    listed(W1_OTHER_CODE, "w1.test", "127.0.0.20"),
    listed(W1_OTHER_CODE, "w2.test"),
    listed(BOTH_W, "w1.test"),
    listed(BOTH_W, "w2.test"),
    # hk.test: a karma list (127.0.0.1 good, 127.0.0.2 bad, others a note)
    listed(LISTED, "hk.test"),
    listed(ALLOWED, "hk.test", "127.0.0.1"),
    listed(CLEAN, "hk.test", "127.0.0.3"),
    # the fixed zone of [ips.backscatterer.org]; dnsmasq has no upstream for the rest of it
    listed(LISTED, "ips.backscatterer.org"),
]


@pytest.fixture
def zone():
    with dns_zone.serve(ZONE) as port:
        yield port


def start(start_server, dns_port, ini, plugins=("dns-list", "accept"), files=None, wait=(),
          so=("accept",), skip="private_ip=false\n", smtp=None):
    """Starts a server with dns-list.ini = `ini` + [skip] `skip`; waits for the log lines in
    `wait` (zones enabled by the self-test)."""
    config = {
        "dns.ini": dns_zone.resolver_ini(dns_port),
        "dns-list.ini": ini + "\n[skip]\n" + skip,
        "accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\n",
    }
    config.update(files or {})
    server = start_server(plugins=list(plugins), so=list(so), files=config, smtp=smtp)
    for line in wait:
        assert server.wait_log(line), server.log()
    return server


def greeting(server, source):
    """The code and text of the server's first reply to a client from `source`."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=15,
                                  source_address=(source, 0)) as s:
        s.settimeout(15)
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    line = data.decode().split("\r\n")[0]
    return int(line[:3]), line[4:]


def mail_from(server, source, login=None, sender="sender@client.test"):
    """The reply to MAIL FROM from `source` (after AUTH when `login` is (user, password))."""
    with smtplib.SMTP("127.0.0.1", server.port, timeout=15, source_address=(source, 0)) as c:
        assert c.ehlo("client.test")[0] == 250
        if login:
            assert c.login(*login)[0] == 235
        code, text = c.mail(sender)
        return code, text.decode()


RESULT_KEYS = ("pass: ", "fail: ", "err: ", "skip: ", "msg: ", "score: ")


def results_lines(server):
    return [line for line in server.log().splitlines()
            if "[dns-list]" in line and any(key in line for key in RESULT_KEYS)]


def results_after(server, action):
    """Runs `action()`; returns its value and the plugin's results line it caused."""
    before = len(results_lines(server))
    value = action()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = results_lines(server)
        if len(lines) > before:
            return value, lines[before]
        time.sleep(0.05)
    raise AssertionError("no results line:\n" + server.log())


def enabled(*zones):
    return ["enabling %s zone %s" % (kind, name) for kind, name in zones]


def test_a_listed_client_is_refused_at_connect_as_haraka_does(start_server, zone):
    server = start(start_server, zone, "[main]\nzones=bl.test, bl2.test\n",
                   wait=enabled(("block", "bl.test"), ("block", "bl2.test")))
    (code, text), results = results_after(server, lambda: greeting(server, LISTED))
    assert code == 554, text
    assert text == "5.7.1 host [127.0.0.2] is listed on bl.test, bl2.test"
    assert "fail: bl.test, bl2.test" in results
    (code, text), results = results_after(server, lambda: greeting(server, CLEAN))
    assert code == 220, text
    assert "pass: bl.test, bl2.test" in results


def test_reject_false_only_records(start_server, zone):
    server = start(start_server, zone,
                   "[main]\nzones=bl.test\n[bl.test]\nreject=false\n127.0.0.2=SBL\n",
                   wait=enabled(("block", "bl.test")))
    (code, _), results = results_after(server, lambda: greeting(server, LISTED))
    assert code == 220
    assert "fail: bl.test" in results and "msg: SBL" in results


def test_an_allow_listing_accepts_and_later_zones_do_not_decide(start_server, zone):
    ini = ("[main]\nzones=wl.test, bl.test\nsearch=first\n"
           "[wl.test]\ntype=allow\nok_helo=true\nok_mail=true\n")
    server = start(start_server, zone, ini, plugins=("dns-list", "deny", "accept"),
                   so=("deny", "accept"),
                   files={"deny.ini": "[ehlo]\ncode=DENY\nmsg=no\n[mail]\ncode=DENY\nmsg=no\n"},
                   wait=enabled(("allow", "wl.test"), ("block", "bl.test")))
    # 127.0.0.2 is on both lists: the allow list comes first and ends the search; ok_helo and
    # ok_mail answer EHLO and MAIL before the plugin that denies both.
    (code, _), results = results_after(server, lambda: mail_from(server, LISTED))
    assert code == 250
    assert "pass: wl.test" in results and "bl.test" not in results
    # Not allow-listed: the later plugin's denial stands.
    with smtplib.SMTP("127.0.0.1", server.port, timeout=15, source_address=(CLEAN, 0)) as c:
        assert c.ehlo("client.test")[0] == 550


def test_search_all_records_every_zone_and_the_allow_listing_still_wins(start_server, zone):
    ini = "[main]\nzones=bl.test, wl.test\nsearch=all\n[wl.test]\ntype=allow\n"
    server = start(start_server, zone, ini,
                   wait=enabled(("allow", "wl.test"), ("block", "bl.test")))
    (code, _), results = results_after(server, lambda: greeting(server, LISTED))
    assert code == 220
    assert "pass: wl.test" in results and "fail: bl.test" in results
    # search=first with the block list first: it decides before the allow list counts.
    server.stop()
    server = start(start_server, zone, ini.replace("search=all", "search=first"),
                   wait=enabled(("allow", "wl.test"), ("block", "bl.test")))
    (code, text), results = results_after(server, lambda: greeting(server, LISTED))
    assert code == 554 and text.endswith("is listed on bl.test")
    assert "fail: bl.test" in results and "wl.test" not in results


WEIGHTED = ("[main]\nzones=\n[weighted]\n"
            "sites=w1.test=127.0.0.[2..11], w2.test wl.test=127.0.0.[2;3]*-2\nthreshold=2\n")


def test_weighted_scores_reach_the_threshold_only_together(start_server, zone):
    server = start(start_server, zone, WEIGHTED, wait=["enabling block zone w2.test"])
    (code, _), results = results_after(server, lambda: mail_from(server, ONLY_W1))
    assert code == 250 and "score: 1" in results and "fail: w1.test" in results
    (code, text), results = results_after(server, lambda: mail_from(server, BOTH_W))
    assert code == 550
    assert text == "5.7.1 Service unavailable; client [127.0.0.9] blocked using w1.test, w2.test"
    assert "score: 2" in results and "fail: w1.test, w2.test" in results
    # The allow list's negative weight offsets both.
    (code, _), results = results_after(server, lambda: mail_from(server, ALL_THREE))
    assert code == 250 and "score: 0" in results and "pass: wl.test" in results
    # w1.test's answer 127.0.0.20 is outside its filter: only w2.test counts.
    (code, _), results = results_after(server, lambda: mail_from(server, W1_OTHER_CODE))
    assert code == 250 and "score: 1" in results and "w1.test" not in results


def test_weighted_defer_and_the_allow_threshold(start_server, zone):
    ini = WEIGHTED.replace("*-2", "*-3") + "action=defer\nallow_threshold=-1\n"
    server = start(start_server, zone, ini, plugins=("dns-list", "deny", "accept"),
                   so=("deny", "accept"), files={"deny.ini": "[connect]\ncode=DENY\nmsg=no\n"},
                   wait=["enabling block zone wl.test"])
    # Score -1: allow-listed, so the connect hook answers OK before the denying plugin.
    (code, _), results = results_after(server, lambda: greeting(server, ALL_THREE))
    assert code == 220 and "score: -1" in results
    (code, _), results = results_after(server, lambda: greeting(server, ONLY_W1))
    assert code == 554 and "score: 1" in results
    server.stop()
    server = start(start_server, zone, ini, wait=["enabling block zone wl.test"])
    (code, text), _ = results_after(server, lambda: mail_from(server, BOTH_W))
    assert code == 450 and "blocked using w1.test, w2.test" in text


def test_an_error_answer_is_never_a_listing(start_server, zone):
    ini = "[main]\nzones=err.test, bl.test\n[stats]\nenable=true\n"
    server = start(start_server, zone, ini,
                   wait=enabled(("block", "err.test"), ("block", "bl.test")))
    assert "Redis statistics are not supported" in server.log()
    (code, _), results = results_after(server, lambda: greeting(server, SPAMHAUS_ERROR))
    assert code == 220
    assert "err: err.test: 127.255.255.254: query via a public resolver refused" in results
    assert "pass: bl.test" in results and "fail" not in results
    assert "err.test lookup error" in server.log()
    server.stop()
    server = start(start_server, zone, ini + "[main]\ndefer_on_error=true\n",
                   wait=enabled(("block", "err.test"), ("block", "bl.test")))
    code, text = greeting(server, SPAMHAUS_ERROR)
    assert code == 421 and "DNS list lookup failed for err.test" in text


def test_zones_failing_the_self_test_are_disabled_and_not_consulted(start_server, zone):
    ini = "[main]\nzones=loop.test, empty.test, bl.test\nperiodic_checks=1\n"
    server = start(start_server, zone, ini, wait=[
        "disabling block zone 'loop.test' lists 127.0.0.1",
        "disabling block zone 'empty.test' does not list 127.0.0.2"])
    # Both list 127.0.0.3; disabled, they are not asked.
    (code, _), results = results_after(server, lambda: greeting(server, CLEAN))
    assert code == 220
    assert "loop.test" not in results and "empty.test" not in results
    assert "pass: bl.test" in results
    # A list that lists 127.0.0.1 on purpose is kept with loopback_is_rejected.
    server.stop()
    # Under 5 minutes zones start enabled; the self-test has run once empty.test is out.
    server = start(start_server, zone, ini + "[loop.test]\nloopback_is_rejected=true\n",
                   wait=["disabling block zone 'empty.test'"])
    assert "disabling block zone 'loop.test'" not in server.log()
    code, text = greeting(server, CLEAN)
    assert code == 554 and text.endswith("is listed on loop.test")


@pytest.mark.parametrize("setting, cached", [("", True), ("cache_max_entries=0", False),
                                             ("cache_max_ttl=0", False)])
def test_a_returning_client_is_judged_from_the_cache(start_server, setting, cached):
    ini = "[main]\nzones=bl.test, bl2.test\ndefer_on_error=true\n" + setting + "\n"
    with dns_zone.serve(ZONE) as port:
        # The resolver's own cache off: only the plugin's may remember the lists' answers.
        server = start(start_server, port, ini,
                       files={"dns.ini": dns_zone.resolver_ini(port) + "cache_size=0\n"},
                       wait=enabled(("block", "bl.test"), ("block", "bl2.test")))
        assert greeting(server, LISTED)[0] == 554
        assert greeting(server, CLEAN)[0] == 220
    # The lists are gone: only the cache can answer.
    (code, _), results = results_after(server, lambda: greeting(server, LISTED))
    assert code == (554 if cached else 421), results
    (code, _), results = results_after(server, lambda: greeting(server, CLEAN))
    assert code == (220 if cached else 421), results
    assert greeting(server, ONLY_W1)[0] == 421  # never seen: asked, and no answer


def test_unlisted_answers_are_cached_for_cache_unlisted_ttl(start_server):
    ini = "[main]\nzones=bl.test\ndefer_on_error=true\ncache_unlisted_ttl=0\n"
    with dns_zone.serve(ZONE) as port:
        server = start(start_server, port, ini, wait=enabled(("block", "bl.test")))
        assert greeting(server, LISTED)[0] == 554
        assert greeting(server, CLEAN)[0] == 220
    assert greeting(server, LISTED)[0] == 554
    assert greeting(server, CLEAN)[0] == 421


def test_a_resolver_that_never_answers_passes_the_client_within_the_timeout(start_server):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.settimeout(5)
        port = silent.getsockname()[1]
        ini = "[main]\nzones=bl.test\nperiodic_checks=0\nlookup_timeout=1\n"
        server = start(start_server, port, ini, files={
            "dns.ini": "[main]\nservers=127.0.0.1:%d\ntimeout_ms=20000\ntries=1\n" % port})
        began = time.monotonic()
        (code, _), results = results_after(server, lambda: greeting(server, LISTED))
        assert code == 220
        assert 0.9 < time.monotonic() - began < 5
        assert "err: bl.test: no answer within 1 s" in results
        assert silent.recv(512)  # it was asked


def test_private_relaying_and_authenticated_clients_are_skipped(start_server, zone):
    ini = "[main]\nzones=bl.test\nperiodic_checks=0\n"
    server = start(start_server, zone, ini, skip="")
    (code, _), results = results_after(server, lambda: greeting(server, LISTED))
    assert code == 220 and "skip: private: 127.0.0.2" in results
    server.stop()

    relay = {"relay.ini": "[relay]\nacl=true\n", "relay_acl_allow": "127.0.0.2/32\n"}
    server = start(start_server, zone, ini, plugins=("dns-list", "relay", "accept"), files=relay)
    (code, _), results = results_after(server, lambda: greeting(server, LISTED))
    assert code == 220 and "skip: relay" in results
    server.stop()
    server = start(start_server, zone, ini, plugins=("dns-list", "relay", "accept"), files=relay,
                   skip="private_ip=false\nrelaying=false\n")
    assert greeting(server, LISTED)[0] == 554
    server.stop()

    auth = {"auth_flat_file.ini": "[users]\nbob=hunter2\n"}
    plugins = ("auth/flat_file", "dns-list", "accept")
    ini += "reject_at=mail\n"
    clear = {"auth_requires_tls": "false"}
    # An authenticated client relays: [skip] relaying would spare it anyway.
    server = start(start_server, zone, ini, plugins=plugins, files=auth, smtp=clear,
                   skip="private_ip=false\nrelaying=false\n")
    code, text = mail_from(server, LISTED)
    assert code == 550 and text == "5.7.1 host [127.0.0.2] is listed on bl.test"
    assert mail_from(server, LISTED, ("bob", "hunter2"))[0] == 250
    assert "skip: mail(auth)" in server.log()
    server.stop()
    server = start(start_server, zone, ini, plugins=plugins, files=auth, smtp=clear,
                   skip="private_ip=false\nrelaying=false\nauth=false\n")
    assert mail_from(server, LISTED, ("bob", "hunter2"))[0] == 550


def test_bounces_from_a_backscatterer_listed_client_are_refused(start_server, zone):
    ini = "[main]\nzones=\n[ips.backscatterer.org]\nenable=true\n"
    server = start(start_server, zone, ini)
    code, text = mail_from(server, LISTED, sender="")
    assert code == 550
    assert text == "5.7.1 Host localhost [127.0.0.2] is listed by ips.backscatterer.org"
    assert mail_from(server, LISTED, sender="postmaster@client.test")[0] == 550
    assert mail_from(server, LISTED)[0] == 250
    assert mail_from(server, CLEAN, sender="")[0] == 250


def test_a_karma_list_passes_fails_or_notes(start_server, zone):
    ini = ("[main]\nzones=hk.test\n[hk.test]\ntype=karma\nloopback_is_rejected=true\n"
           "127.0.0.3=yellowlist\n")
    server = start(start_server, zone, ini, wait=["enabling karma zone hk.test"])
    (code, text), results = results_after(server, lambda: greeting(server, LISTED))
    assert code == 554 and text.endswith("is listed on hk.test") and "fail: hk.test" in results
    (code, _), results = results_after(server, lambda: greeting(server, ALLOWED))
    assert code == 220 and "pass: hk.test" in results
    (code, _), results = results_after(server, lambda: greeting(server, CLEAN))
    assert code == 220 and "msg: yellowlist, hk.test" in results
