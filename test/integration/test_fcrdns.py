"""The fcrdns plugin through the real binary, against dnsmasq serving PTR and address records:
clients connect from several loopback addresses ([skip] private_ip=false), each with its own
rDNS story, and the results are read from the stored message (X-Haraka-FCrDNS, the iprev
Authentication-Results, the Received header) and from the plugin's log summary."""
import smtplib
import socket
import time

import pytest

import dns_zone
from dns_zone import host, ptr
from saved_messages import stored

pytestmark = pytest.mark.skipif(not dns_zone.AVAILABLE, reason="needs dnsmasq")

ZONE = [
    host("mail.example.com", "127.0.0.2"),            # PTR and A agree: fcrdns passes
    # 127.0.0.3 has no PTR at all
    ptr("127.0.0.4", "elsewhere.example.com"),        # its name points elsewhere
    host("elsewhere.example.com", "192.0.2.44"),
    ptr("127.0.0.5", "c-127-0-0-5.dyn.example.net"),  # generic: the address in the name
    host("c-127-0-0-5.dyn.example.net", "127.0.0.5"),
    ptr("127.0.0.6", "host.invalidtld"),              # a TLD that does not exist
    ptr("127.0.0.7", "near.example.com"),             # a neighbour in the same /24
    host("near.example.com", "127.0.0.99"),
    ptr("127.0.0.8", "one.example.com"),              # two names in two domains
    ptr("127.0.0.8", "two.example.net"),
    host("one.example.com", "127.0.0.8"),
    host("two.example.net", "127.0.0.8"),
    ptr("127.0.0.9", "static-127-0-0-9.example.net"),  # generic but static
    host("static-127-0-0-9.example.net", "127.0.0.9"),
    ptr("127.0.0.10", "dual.example.com"),             # a name with two other addresses
    host("dual.example.com", "192.0.2.8", "2001:db8::8"),
]
LOCAL_ZONES = ("test", "in-addr.arpa", "example.com", "example.net", "invalidtld")
SUBJECTS = iter(range(1, 1000000))


@pytest.fixture(scope="module")
def zone():
    with dns_zone.serve(ZONE, local_zones=LOCAL_ZONES) as port:
        yield port


def start(start_server, install, dns_ini, fcrdns_ini="[skip]\nprivate_ip=false\n",
          plugins=("fcrdns",), extra=None):
    saved = install / "saved"
    saved.mkdir(exist_ok=True)
    files = dict(extra or {})
    files.update({
        "dns.ini": dns_ini,
        "fcrdns.ini": fcrdns_ini,
        "accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\nsave=%s\n" % saved,
    })
    server = start_server(plugins=list(plugins) + ["accept"], so=["accept", "marker"],
                          files=files)
    return server, saved


def send(server, saved, source):
    """Sends one message from `source`: the stored message."""
    subject = "case %d" % next(SUBJECTS)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30,
                      source_address=(source, 0)) as client:
        assert client.ehlo("client.example.org")[0] == 250
        assert client.mail("a@example.org")[0] == 250
        assert client.rcpt("b@example.org")[0] == 250
        body = ("Subject: %s\r\nX-Haraka-FCrDNS: forged.example\r\n\r\nbody\r\n" % subject)
        assert client.data(body.encode())[0] == 250
    return stored(saved, subject)


def greeting(server, source):
    """The first reply the server gives a client from `source`."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30,
                                  source_address=(source, 0)) as sock:
        return sock.makefile("rb").readline().decode().rstrip("\r\n")


def summary(server, source):
    """The plugin's log summary for a client from `source`."""
    for line in server.log().splitlines():
        if "ip=%s " % source in line and "rdns=" in line:
            return line
    raise AssertionError("no summary for %s:\n%s" % (source, server.log()))


def test_results_headers_and_remote_host(start_server, install, zone):
    server, saved = start(start_server, install, dns_zone.resolver_ini(zone))

    message = send(server, saved, "127.0.0.2")
    assert message.get_all("X-Haraka-FCrDNS") == ["mail.example.com"]  # the client's is gone
    assert message["X-Haraka-rDNS-OtherIPs"] is None
    assert "iprev=pass policy.iprev=127.0.0.2" in " ".join(message["Authentication-Results"].split())
    # The confirmed name became the connection's remote host.
    assert "from client.example.org (mail.example.com [127.0.0.2])" in \
        " ".join(message.get_all("Received")[0].split())
    line = summary(server, "127.0.0.2")
    assert 'rdns="mail.example.com" rdns_len=1 fcrdns="mail.example.com" fcrdns_len=1' in line
    assert "generic_rdns=false" in line

    message = send(server, saved, "127.0.0.3")  # no PTR
    assert message["X-Haraka-FCrDNS"] is None
    assert "iprev=permerror" in message["Authentication-Results"]
    assert "(localhost [127.0.0.3])" in message.get_all("Received")[0]

    message = send(server, saved, "127.0.0.4")  # the name resolves elsewhere
    assert message["X-Haraka-FCrDNS"] is None
    assert message["X-Haraka-rDNS-OtherIPs"] == "192.0.2.44"
    assert "iprev=fail" in message["Authentication-Results"]
    assert "(elsewhere.example.com [127.0.0.4])" in message.get_all("Received")[0]
    assert 'fcrdns="" fcrdns_len=0 other_ips_len=1' in summary(server, "127.0.0.4")

    message = send(server, saved, "127.0.0.5")  # generic, yet confirmed
    assert message["X-Haraka-FCrDNS"] == "c-127-0-0-5.dyn.example.net"
    assert "generic_rdns=true" in summary(server, "127.0.0.5")

    message = send(server, saved, "127.0.0.6")  # invalid TLD: not looked up
    assert message["X-Haraka-FCrDNS"] is None
    assert "invalid_tlds=1" in summary(server, "127.0.0.6")

    message = send(server, saved, "127.0.0.7")  # same /24 counts (fcrdns(net))
    assert message["X-Haraka-FCrDNS"] == "near.example.com"

    message = send(server, saved, "127.0.0.8")  # two PTR names, both confirm
    assert sorted(message["X-Haraka-FCrDNS"].split()) == ["one.example.com", "two.example.net"]
    line = summary(server, "127.0.0.8")
    assert "rdns_len=2" in line and "fcrdns_len=2" in line

    message = send(server, saved, "127.0.0.9")  # static names are not generic
    assert "generic_rdns=false" in summary(server, "127.0.0.9")

    message = send(server, saved, "127.0.0.10")  # every address kept, up to max_addresses
    assert sorted(message["X-Haraka-rDNS-OtherIPs"].split()) == ["192.0.2.8", "2001:db8::8"]


def test_reject_flags(start_server, install, zone):
    ini = ("[reject]\nno_rdns=true\nno_fcrdns=true\ninvalid_tld=true\ngeneric_rdns=true\n"
           "[skip]\nprivate_ip=false\n")
    server, saved = start(start_server, install, dns_zone.resolver_ini(zone), ini)
    assert greeting(server, "127.0.0.2").startswith("220 ")
    assert greeting(server, "127.0.0.3") == "554 5.7.1 client [127.0.0.3] rejected; no rDNS"
    assert greeting(server, "127.0.0.4") == "554 5.7.1 Sorry, no FCrDNS match found"
    assert greeting(server, "127.0.0.5") == (
        "554 5.7.1 client c-127-0-0-5.dyn.example.net [127.0.0.5] rejected; generic rDNS, "
        "please use your ISPs SMTP relay")
    assert greeting(server, "127.0.0.6") == (
        "554 5.7.1 client [127.0.0.6] rejected; invalid TLD in rDNS (host.invalidtld)")
    assert greeting(server, "127.0.0.9").startswith("220 ")


def test_reject_flags_off_by_default(start_server, install, zone):
    server, _ = start(start_server, install, dns_zone.resolver_ini(zone))
    for source in ("127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"):
        assert greeting(server, source).startswith("220 "), source


def test_private_clients_skipped_by_default(start_server, install, zone):
    server, saved = start(start_server, install, dns_zone.resolver_ini(zone),
                          "[reject]\nno_rdns=true\n")
    message = send(server, saved, "127.0.0.3")  # would be rejected if checked
    assert message["X-Haraka-FCrDNS"] is None
    assert "(localhost [127.0.0.3])" in message.get_all("Received")[0]
    assert "rdns=" not in server.log()


def test_silent_resolver_times_out(start_server, install):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # never answers
    silent.bind(("127.0.0.1", 0))
    try:
        ini = "[main]\nservers=127.0.0.1:%d\ntimeout_ms=10000\ntries=1\n" % silent.getsockname()[1]
        server, _ = start(start_server, install, ini,
                          "timeout=1\n[reject]\nno_rdns=true\n[skip]\nprivate_ip=false\n")
        began = time.monotonic()
        assert greeting(server, "127.0.0.2") == "421 4.7.0 client [127.0.0.2] rDNS lookup timeout"
        assert 0.9 < time.monotonic() - began < 5

        server.stop()
        server, _ = start(start_server, install, ini, "timeout=1\n[skip]\nprivate_ip=false\n")
        began = time.monotonic()
        assert greeting(server, "127.0.0.2").startswith("220 ")  # without no_rdns: on it goes
        assert 0.9 < time.monotonic() - began < 5
    finally:
        silent.close()


def test_whitelisted_client_not_rejected(start_server, install, zone):
    ini = "[reject]\nno_rdns=true\nno_fcrdns=true\n[skip]\nprivate_ip=false\n"
    marker = {"marker.ini": "[connect_init]\nconnection_note=rdns_access:white\n"}
    server, _ = start(start_server, install, dns_zone.resolver_ini(zone), ini,
                      plugins=("marker", "fcrdns"), extra=marker)
    assert greeting(server, "127.0.0.3").startswith("220 ")
    # As in Haraka, the whitelist does not spare a client from no_fcrdns.
    assert greeting(server, "127.0.0.4") == "554 5.7.1 Sorry, no FCrDNS match found"


def test_bounds_and_suffix_list(start_server, install, zone):
    server, saved = start(start_server, install, dns_zone.resolver_ini(zone),
                          "max_ptr_names=1\nmax_addresses=1\n[skip]\nprivate_ip=false\n")
    message = send(server, saved, "127.0.0.8")
    assert "rdns_len=1 " in summary(server, "127.0.0.8")
    assert len(message["X-Haraka-FCrDNS"].split()) == 1
    assert send(server, saved, "127.0.0.10")["X-Haraka-rDNS-OtherIPs"] in ("192.0.2.8",
                                                                             "2001:db8::8")
    server.stop()
    # Without a public suffix list every TLD is unknown; the log says why.
    server, saved = start(start_server, install, dns_zone.resolver_ini(zone),
                          "public_suffix_list=/nonexistent/psl.dat\n[skip]\nprivate_ip=false\n")
    message = send(server, saved, "127.0.0.2")
    assert message["X-Haraka-FCrDNS"] is None
    assert "invalid_tlds=1" in summary(server, "127.0.0.2")
    assert "/nonexistent/psl.dat" in server.log()
