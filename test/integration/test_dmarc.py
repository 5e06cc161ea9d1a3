"""The dmarc plugin through the real binary, after spf and dkim, against dnsmasq serving DMARC,
SPF and DKIM key records on a loopback port. Messages are signed here with dkimpy and sent from
addresses across 127.0.0.0/8, so SPF and DKIM pass or fail at will; each result is compared with
python3-authheaders (pyspf, dkimpy and its DMARC code) asking the same zone.

The domains sit under co.uk, com and kawasaki.jp, real public suffixes: the Public Suffix List
then gives organizational domains both sides agree on (publicsuffix2, under authheaders, takes
the unlisted .test itself as the organizational domain of every name under it)."""
import datetime
import email
import email.policy
import json
import smtplib
import subprocess
import time

import pytest

import dns_zone
from dns_zone import txt

pytestmark = [pytest.mark.skipif(not dns_zone.AVAILABLE, reason="needs dnsmasq"),
              # pyspf and authheaders ask dnspython through a call dnspython deprecates
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

PASS_IP = "127.0.10.5"  # inside every SPF record of the zone
FAIL_IP = "127.0.20.5"  # outside all of them
HELO = "client.elsewhere.com"
SPF = "v=spf1 ip4:127.0.10.0/24 -all"

DMARC = {
    "monitor.co.uk": ["v=DMARC1; p=none"],
    "quarantine.co.uk": ["v=DMARC1; p=quarantine"],
    "reject.co.uk": ["v=DMARC1; p=reject"],
    "parent.co.uk": ["v=DMARC1; p=reject; sp=none"],
    "own.parent.co.uk": ["v=DMARC1; p=quarantine"],
    "strict.co.uk": ["v=DMARC1; p=reject; adkim=s; aspf=s"],
    "sampled.co.uk": ["v=DMARC1; p=reject; pct=0"],
    "half.co.uk": ["v=DMARC1; p=reject; pct=50"],
    "full.co.uk": ["v=DMARC1; p=quarantine; pct=100; aspf=r; adkim=r"],
    "twice.co.uk": ["v=DMARC1; p=reject", "v=DMARC1; p=none"],
    "dup.reject.co.uk": ["v=DMARC1; p=none", "v=DMARC1; p=quarantine"],
    "misc.reject.co.uk": ["google-site-verification=abc"],
    "malformed.co.uk": ["v=DMARC1; p=sometimes"],
    "badsp.co.uk": ["v=DMARC1; p=reject; sp=sometimes"],
    "lenient.co.uk": ["v=DMARC1; p=sometimes; rua=mailto:reports@lenient.co.uk"],
    "lowercase.co.uk": ["v=dmarc1; p=reject"],
    "compact.co.uk": ["v=DMARC1;p=quarantine;aspf=s;"],
    "elsewhere.com": ["v=DMARC1; p=reject"],
    # The Public Suffix List's wildcard (*.kawasaki.jp) and exception (!city.kawasaki.jp):
    # shop.kawasaki.jp is a public suffix, whose record no one may use.
    "city.kawasaki.jp": ["v=DMARC1; p=reject"],
    "shop.kawasaki.jp": ["v=DMARC1; p=reject"],
    "mail.shop.kawasaki.jp": ["v=DMARC1; p=quarantine"],
    # Longer than one DNS string of 255 bytes: read joined (RFC 7489 6.6.3, as RFC 7208 3.3).
    "long.co.uk": ["v=DMARC1; p=quarantine; rua=" + ",".join(
        "mailto:reports%d@long.co.uk" % i for i in range(12))],
}
# Domains with an SPF record and DKIM keys (norecord.co.uk publishes no DMARC record).
SENDING = sorted(set(DMARC) | {
    "bounce.quarantine.co.uk", "mail.quarantine.co.uk", "mail.reject.co.uk", "news.reject.co.uk",
    "dup.reject.co.uk", "misc.reject.co.uk", "news.parent.co.uk", "bounce.strict.co.uk",
    "mail.strict.co.uk", "bounce.compact.co.uk", "norecord.co.uk", "sub.norecord.co.uk",
    "news.city.kawasaki.jp", "news.mail.shop.kawasaki.jp", "other.shop.kawasaki.jp"})
LOCAL_ZONES = ("co.uk", "com", "jp", "in-addr.arpa")


def openssl(*args):
    return subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60).stdout


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """{selector: (algorithm, private key as dkimpy takes it, the key record)}."""
    import base64
    d = tmp_path_factory.mktemp("keys")
    rsa = d / "rsa.pem"
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(rsa))
    rsa_public = base64.b64encode(openssl("pkey", "-in", str(rsa), "-pubout", "-outform", "DER"))
    ed = d / "ed25519.pem"
    openssl("genpkey", "-algorithm", "ED25519", "-out", str(ed))
    # The raw 32 bytes end both DER forms (RFC 8410).
    ed_seed = openssl("pkey", "-in", str(ed), "-outform", "DER")[-32:]
    ed_public = openssl("pkey", "-in", str(ed), "-pubout", "-outform", "DER")[-32:]
    return {
        # dkimpy reads PKCS#1 only
        "rsa": (b"rsa-sha256", openssl("pkey", "-in", str(rsa), "-traditional"),
                "v=DKIM1; k=rsa; p=" + rsa_public.decode()),
        "ed": (b"ed25519-sha256", base64.b64encode(ed_seed),
               "v=DKIM1; k=ed25519; p=" + base64.b64encode(ed_public).decode()),
    }


@pytest.fixture(scope="module")
def zone(keys):
    records = []
    for domain, values in DMARC.items():
        records += [txt("_dmarc." + domain, value) for value in values]
    for domain in SENDING:
        records.append(txt(domain, SPF))
        for selector, (_, _, key_record) in keys.items():
            records.append(txt("%s._domainkey.%s" % (selector, domain), key_record))
    with dns_zone.serve(records, local_zones=LOCAL_ZONES) as port:
        yield port


def start(start_server, install, dns_port, dmarc_ini="", quarantine=False, first=False,
          smtp=None):
    saved = install / "saved"
    saved.mkdir(exist_ok=True)
    files = {
        "dns.ini": dns_zone.resolver_ini(dns_port),
        "spf.ini": "[skip]\nprivate_ip=false\n",
        "dmarc.ini": dmarc_ini,
        "accept.ini": "[rcpt]\ncode=OK\n[queue]\ncode=OK\nsave=%s\n" % saved,
    }
    plugins = (["dmarc", "dkim", "spf"] if first else ["spf", "dkim", "dmarc"]) + (
        ["queue/quarantine"] if quarantine else []) + ["accept"]
    server = start_server(plugins=plugins, so=["accept"], files=files, smtp=smtp)
    return server, saved


SUBJECTS = iter(range(1, 1000000))


def compose(keys, header_from, sign=None, tamper=False):
    """A message from `header_from`, signed by the domain and selector `sign` names when given;
    `tamper` changes the body after signing. Returns (subject, bytes)."""
    import dkim
    subject = "case %d" % next(SUBJECTS)
    message = ("From: Sender <%s>\r\nTo: <user@example.com>\r\nSubject: %s\r\n"
               "Message-ID: <%d@client.elsewhere.com>\r\n\r\nHello.\r\n"
               % (header_from, subject, time.time_ns())).encode()
    if sign:
        domain, selector = sign
        algorithm, key, _ = keys[selector]
        message = dkim.sign(message, selector.encode(), domain.encode(), key,
                            signature_algorithm=algorithm, linesep=b"\r\n",
                            include_headers=[b"from", b"to", b"subject", b"message-id"]) + message
    if tamper:
        message = message.replace(b"Hello.", b"Hello, altered.")
    return subject, message


def deliver(server, source, mail_from, message, helo=HELO):
    """Sends `message`; returns the (code, text) of the reply to the end of DATA."""
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30,
                      source_address=(source, 0)) as client:
        client.ehlo(helo)
        assert client.mail(mail_from)[0] == 250
        assert client.rcpt("user@example.com")[0] == 250
        code, text = client.data(message)
    return code, text.decode()


def stored_file(saved, subject, timeout=10):
    """(the transaction's uuid, the stored message) for the message whose subject starts with
    `subject` ("case N")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in saved.iterdir():
            raw = path.read_bytes().split(b"\r\n", 1)[1]
            message = email.message_from_bytes(raw, policy=email.policy.compat32)
            words = str(message["Subject"]).split()
            if words[:2] == subject.split():
                return path.stem, message
        time.sleep(0.05)
    raise AssertionError("no stored message with subject %r" % subject)


def stored(saved, subject):
    return stored_file(saved, subject)[1]


def our_results(message):
    """{method: result object} from the Authentication-Results field of authserv-id `me`."""
    import authres
    [field] = message.get_all("Authentication-Results")
    parsed = authres.AuthenticationResultsHeader.parse_value(" ".join(field.split()))
    assert parsed.authserv_id == "mx.test.example"
    found = {}
    for result in parsed.results:
        assert result.method not in found, field
        found[result.method] = result
    return found


def properties(result):
    return {"%s.%s" % (p.type, p.name): p.value for p in result.properties}


def dmarc_log_lines(server):
    return [line for line in server.log().splitlines()
            if " result=" in line and " policy=" in line and " disposition=" in line]


def logged_policy(server, before):
    """The policy and disposition of the one dmarc log line written since `before` lines."""
    lines = dmarc_log_lines(server)
    assert len(lines) == before + 1, lines[before:]
    fields = dict(part.split("=", 1) for part in lines[-1].split() if "=" in part)
    return fields["policy"], fields["disposition"]


def reference(port, message, source, mail_from):
    """authheaders' (spf, dkim, dmarc) results for the message, asking the zone."""
    import authheaders
    import dns.resolver
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    resolver.lifetime = 5
    saved, dns.resolver.default_resolver = dns.resolver.default_resolver, resolver
    try:
        spf = authheaders.check_spf(source, mail_from, HELO)
        spf_result = spf.result  # check_dmarc rewrites smtp.mailfrom, not the result
        dkim = authheaders.check_dkim(message) if b"DKIM-Signature:" in message else None
        dmarc = authheaders.check_dmarc(message, spf, dkim)
    finally:
        dns.resolver.default_resolver = saved
    # An unsigned message is dkim=none (RFC 8601 2.7.1); check_dkim would call it fail.
    return spf_result, dkim.result if dkim else "none", dmarc


# (From, MAIL FROM, client, DKIM (d=, selector) or None, body altered after signing)
CORPUS = [
    ("a@monitor.co.uk", "b@monitor.co.uk", PASS_IP, None, False),
    ("a@monitor.co.uk", "b@elsewhere.com", PASS_IP, None, False),
    ("a@quarantine.co.uk", "b@quarantine.co.uk", FAIL_IP, ("quarantine.co.uk", "rsa"), False),
    ("a@quarantine.co.uk", "b@bounce.quarantine.co.uk", PASS_IP, None, False),
    ("a@quarantine.co.uk", "b@elsewhere.com", PASS_IP, ("elsewhere.com", "rsa"), False),
    ("a@quarantine.co.uk", "b@quarantine.co.uk", FAIL_IP, ("quarantine.co.uk", "rsa"), True),
    ("a@reject.co.uk", "b@reject.co.uk", FAIL_IP, None, False),
    ("a@reject.co.uk", "b@elsewhere.com", PASS_IP, ("mail.reject.co.uk", "rsa"), False),
    ("a@reject.co.uk", "b@reject.co.uk", PASS_IP, ("reject.co.uk", "ed"), False),
    ("a@reject.co.uk", "b@elsewhere.com", FAIL_IP, ("reject.co.uk", "ed"), True),
    ("a@news.reject.co.uk", "b@news.reject.co.uk", FAIL_IP, None, False),
    ("a@news.reject.co.uk", "b@mail.reject.co.uk", PASS_IP, None, False),
    ("a@misc.reject.co.uk", "b@misc.reject.co.uk", FAIL_IP, None, False),
    ("a@dup.reject.co.uk", "b@dup.reject.co.uk", FAIL_IP, None, False),
    ("a@news.parent.co.uk", "b@elsewhere.com", PASS_IP, None, False),
    ("a@news.parent.co.uk", "b@parent.co.uk", PASS_IP, None, False),
    ("a@news.parent.co.uk", "b@elsewhere.com", FAIL_IP, ("parent.co.uk", "rsa"), False),
    ("a@parent.co.uk", "b@elsewhere.com", PASS_IP, None, False),
    ("a@own.parent.co.uk", "b@elsewhere.com", PASS_IP, ("elsewhere.com", "ed"), False),
    ("a@strict.co.uk", "b@bounce.strict.co.uk", PASS_IP, None, False),
    ("a@strict.co.uk", "b@strict.co.uk", PASS_IP, None, False),
    ("a@strict.co.uk", "b@elsewhere.com", FAIL_IP, ("mail.strict.co.uk", "rsa"), False),
    ("a@strict.co.uk", "b@elsewhere.com", FAIL_IP, ("strict.co.uk", "rsa"), False),
    ("a@sampled.co.uk", "b@elsewhere.com", PASS_IP, None, False),
    ("a@sampled.co.uk", "b@sampled.co.uk", PASS_IP, None, False),
    ("a@full.co.uk", "b@full.co.uk", FAIL_IP, None, False),
    ("a@long.co.uk", "b@long.co.uk", FAIL_IP, None, False),
    ("a@news.city.kawasaki.jp", "b@city.kawasaki.jp", PASS_IP, None, False),
    ("a@news.city.kawasaki.jp", "b@elsewhere.com", PASS_IP, None, False),
    ("a@news.mail.shop.kawasaki.jp", "b@mail.shop.kawasaki.jp", PASS_IP, None, False),
    ("a@news.mail.shop.kawasaki.jp", "b@other.shop.kawasaki.jp", PASS_IP,
     ("other.shop.kawasaki.jp", "rsa"), False),
    ("a@other.shop.kawasaki.jp", "b@other.shop.kawasaki.jp", FAIL_IP, None, False),
    ("a@twice.co.uk", "b@twice.co.uk", FAIL_IP, None, False),
    ("a@norecord.co.uk", "b@norecord.co.uk", FAIL_IP, None, False),
    ("a@sub.norecord.co.uk", "b@elsewhere.com", PASS_IP, None, False),
    ("a@malformed.co.uk", "b@malformed.co.uk", FAIL_IP, None, False),
    ("a@badsp.co.uk", "b@badsp.co.uk", FAIL_IP, None, False),
    ("a@lenient.co.uk", "b@lenient.co.uk", FAIL_IP, None, False),
    ("a@lowercase.co.uk", "b@lowercase.co.uk", FAIL_IP, None, False),
    ("a@compact.co.uk", "b@bounce.compact.co.uk", PASS_IP, None, False),
    ("a@compact.co.uk", "b@compact.co.uk", PASS_IP, None, False),
]

# Where authheaders departs from RFC 7489, the answer the RFC asks for, and why.
RFC_OVER_AUTHHEADERS = {
    # authheaders applies sp= to the organizational domain's own mail; section 6.3 gives sp=
    # to subdomains only.
    "a@parent.co.uk": (("fail", "reject"), "p= applies to the domain itself (RFC 7489 6.3)"),
    # authheaders reads an invalid p= as the policy; section 11.2 names permerror for a
    # syntactically incorrect record.
    "a@malformed.co.uk": (("permerror", None), "an invalid p= is a permerror (RFC 7489 11.2)"),
    "a@badsp.co.uk": (("permerror", None), "an invalid sp= is a permerror (RFC 7489 11.2)"),
    # Section 6.6.3 step 5: an invalid p= with a valid rua= is read as p=none.
    "a@lenient.co.uk": (("fail", "none"), "an invalid p= with rua= is p=none (RFC 7489 6.6.3)"),
    # authheaders goes on to the organizational domain; section 6.6.3 steps 3 and 4 stop at
    # two records at the From domain.
    "a@dup.reject.co.uk": (("none", None), "two records stop discovery (RFC 7489 6.6.3)"),
}


def test_results_match_authheaders_on_a_corpus(start_server, install, keys, zone):
    # Every message is kept, so that its header can be read; actions are tested below.
    server, saved = start(start_server, install, zone,
                          "[reject]\naction=none\n[quarantine]\naction=none\n")
    assert len(CORPUS) >= 20
    mismatches = []
    seen = set()
    for header_from, mail_from, source, sign, tamper in CORPUS:
        subject, message = compose(keys, header_from, sign, tamper)
        before = len(dmarc_log_lines(server))
        code, text = deliver(server, source, mail_from, message)
        assert code == 250, (header_from, text)
        ours = our_results(stored(saved, subject))
        policy, _ = logged_policy(server, before)
        spf, dkim, dmarc = reference(zone, message, source, mail_from)
        case = "From %s, MAIL FROM %s from %s, DKIM %s%s" % (
            header_from, mail_from, source, sign, " altered" if tamper else "")

        # The inputs first: SPF and DKIM must agree before DMARC can.
        if ours["spf"].result != spf:
            mismatches.append("%s: spf %s, authheaders %s" % (case, ours["spf"].result, spf))
        if ours["dkim"].result != dkim:
            mismatches.append("%s: dkim %s, authheaders %s" % (case, ours["dkim"].result, dkim))
        got = (ours["dmarc"].result, policy if ours["dmarc"].result in ("pass", "fail") else None)
        theirs = (dmarc.result, dmarc.policy if dmarc.result in ("pass", "fail") else None)
        expected, why = RFC_OVER_AUTHHEADERS.get(header_from, (theirs, ""))
        if got != expected:
            mismatches.append("%s: dmarc %s, expected %s (authheaders %s) %s"
                              % (case, got, expected, theirs, why))
        assert properties(ours["dmarc"])["header.from"] == header_from.split("@")[1], case
        seen.add(got)
    assert mismatches == [], "\n".join(mismatches)
    # The corpus reaches every result and policy it was written for.
    assert {result for result, _ in seen} == {"pass", "fail", "none", "permerror"}
    assert {policy for result, policy in seen if result == "fail"} == {
        "none", "quarantine", "reject"}


@pytest.mark.parametrize("first", [False, True], ids=["listed_last", "listed_first"])
def test_authentication_results_has_spf_dkim_and_dmarc_with_their_identities(
        start_server, install, keys, zone, first):
    # Listed before spf and dkim, dmarc still runs after them.
    server, saved = start(start_server, install, zone, first=first)
    subject, message = compose(keys, "a@quarantine.co.uk", ("mail.quarantine.co.uk", "ed"))
    code, _ = deliver(server, PASS_IP, "b@bounce.quarantine.co.uk", message)
    assert code == 250
    stored_message = stored(saved, subject)
    ours = our_results(stored_message)
    assert set(ours) == {"spf", "dkim", "dmarc"}
    assert ours["spf"].result == "pass"
    assert properties(ours["spf"]) == {"smtp.mailfrom": "b@bounce.quarantine.co.uk"}
    assert ours["dkim"].result == "pass"
    dkim = properties(ours["dkim"])
    assert dkim["header.d"] == "mail.quarantine.co.uk" and dkim["header.s"] == "ed"
    assert dkim["header.a"] == "ed25519-sha256"
    assert ours["dmarc"].result == "pass"
    assert properties(ours["dmarc"]) == {"header.from": "quarantine.co.uk"}
    # The policy found and what was done with the message are in the comment.
    field = " ".join(stored_message["Authentication-Results"].split())
    assert "dmarc=pass (p=quarantine dis=none) header.from=quarantine.co.uk" in field, field

    # A failing message: the published p= and sp= and the disposition.
    subject, message = compose(keys, "a@news.parent.co.uk")
    assert deliver(server, FAIL_IP, "b@parent.co.uk", message)[0] == 250
    stored_message = stored(saved, subject)
    ours = our_results(stored_message)
    assert ours["spf"].result == "fail" and ours["dkim"].result == "none"
    assert ours["dmarc"].result == "fail"
    field = " ".join(stored_message["Authentication-Results"].split())
    assert "dmarc=fail (p=reject sp=none dis=none) header.from=news.parent.co.uk" in field, field


def test_what_authheaders_cannot_judge_follows_the_rfcs(start_server, install, keys, zone):
    import authres
    import dkim
    server, saved = start(start_server, install, zone)

    # Any aligned passing signature passes, not only the first (RFC 7489 section 4.2).
    subject, message = compose(keys, "a@reject.co.uk", ("reject.co.uk", "rsa"))
    algorithm, key, _ = keys["ed"]
    message = dkim.sign(message, b"ed", b"elsewhere.com", key, signature_algorithm=algorithm,
                        linesep=b"\r\n", include_headers=[b"from", b"subject"]) + message
    assert deliver(server, FAIL_IP, "b@elsewhere.com", message)[0] == 250
    field = " ".join(stored(saved, subject)["Authentication-Results"].split())
    results = authres.AuthenticationResultsHeader.parse_value(field).results
    assert sorted((r.result, properties(r)["header.d"]) for r in results if r.method == "dkim") == [
        ("pass", "elsewhere.com"), ("pass", "reject.co.uk")], field
    assert [r.result for r in results if r.method == "dmarc"] == ["pass"], field

    # A bounce is aligned through the HELO identity (RFC 7208 section 2.4).
    subject, message = compose(keys, "a@reject.co.uk")
    assert deliver(server, PASS_IP, "", message, helo="reject.co.uk")[0] == 250
    assert our_results(stored(saved, subject))["dmarc"].result == "pass"
    code, text = deliver(server, FAIL_IP, "", compose(keys, "a@reject.co.uk")[1],
                         helo="reject.co.uk")
    assert code == 550 and text.startswith("5.7.1"), (code, text)

    # Domains are compared without regard to case.
    subject, message = compose(keys, "A@Reject.CO.UK")
    assert deliver(server, PASS_IP, "B@REJECT.co.uk", message)[0] == 250
    assert our_results(stored(saved, subject))["dmarc"].result == "pass"

    # A DNS failure is a temperror, which never refuses: dnsmasq refuses names under .net.
    subject, message = compose(keys, "a@failing.net")
    assert deliver(server, FAIL_IP, "b@reject.co.uk", message)[0] == 250
    assert our_results(stored(saved, subject))["dmarc"].result == "temperror"


def quarantined(install, uuid):
    """The copies queue/quarantine made of the transaction `uuid` under the note "dmarc"."""
    return list((install / "quarantine" / "dmarc").glob("*/" + uuid))


def test_actions_follow_the_disposition(start_server, install, keys, zone):
    server, saved = start(start_server, install, zone, quarantine=True)

    # p=reject, failing: refused at the end of DATA.
    subject, message = compose(keys, "a@reject.co.uk", ("reject.co.uk", "rsa"), tamper=True)
    code, text = deliver(server, FAIL_IP, "b@reject.co.uk", message)
    assert code == 550 and text.startswith("5.7.1"), (code, text)
    assert "reject.co.uk" in text
    # A subdomain without a record gets its organizational domain's p= (no sp=).
    subject, message = compose(keys, "a@news.reject.co.uk")
    code, text = deliver(server, PASS_IP, "b@elsewhere.com", message)
    assert code == 550 and text.startswith("5.7.1"), (code, text)

    # p=quarantine, failing: accepted, marked, and copied by queue/quarantine.
    subject, message = compose(keys, "a@quarantine.co.uk", ("elsewhere.com", "rsa"))
    assert deliver(server, PASS_IP, "b@elsewhere.com", message)[0] == 250
    uuid, kept = stored_file(saved, subject)
    assert kept["X-DMARC-Quarantine"] == "quarantine.co.uk p=quarantine"
    assert len(quarantined(install, uuid)) == 1

    # p=reject with pct=0: every failing message is sampled out, to quarantine.
    subject, message = compose(keys, "a@sampled.co.uk")
    assert deliver(server, PASS_IP, "b@elsewhere.com", message)[0] == 250
    uuid, kept = stored_file(saved, subject)
    assert kept["X-DMARC-Quarantine"] == "sampled.co.uk p=reject"
    assert "dis=quarantine" in " ".join(kept["Authentication-Results"].split())
    assert len(quarantined(install, uuid)) == 1

    # p=reject, passing (aligned DKIM, SPF failing): accepted as sent.
    subject, message = compose(keys, "a@reject.co.uk", ("reject.co.uk", "ed"))
    assert deliver(server, FAIL_IP, "b@reject.co.uk", message)[0] == 250
    uuid, kept = stored_file(saved, subject)
    assert kept["X-DMARC-Quarantine"] is None
    assert quarantined(install, uuid) == []
    assert our_results(kept)["dmarc"].result == "pass"
    sent = email.message_from_bytes(message, policy=email.policy.compat32)
    for name in ("DKIM-Signature", "From", "To", "Subject", "Message-ID"):
        assert kept.get_all(name) == sent.get_all(name), name
    assert kept.get_payload() == sent.get_payload()
    # A message without a DMARC record is not touched either.
    subject, message = compose(keys, "a@norecord.co.uk")
    assert deliver(server, FAIL_IP, "b@norecord.co.uk", message)[0] == 250
    uuid, kept = stored_file(saved, subject)
    assert kept["X-DMARC-Quarantine"] is None and quarantined(install, uuid) == []


def test_reject_action_quarantine_accepts_and_marks(start_server, install, keys, zone):
    server, saved = start(start_server, install, zone, "[reject]\naction=quarantine\n",
                          quarantine=True)
    subject, message = compose(keys, "a@reject.co.uk")
    assert deliver(server, FAIL_IP, "b@reject.co.uk", message)[0] == 250
    uuid, kept = stored_file(saved, subject)
    assert kept["X-DMARC-Quarantine"] == "reject.co.uk p=reject"
    assert "dmarc=fail (p=reject dis=reject)" in " ".join(kept["Authentication-Results"].split())
    assert len(quarantined(install, uuid)) == 1


def aggregate_rows(install, since):
    """The rows of the day files from the UTC day of `since` to today's."""
    days = {datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d")
            for t in (since, time.time())}
    files = [install / "dmarc" / ("aggregate-%s.jsonl" % day) for day in sorted(days)]
    return [json.loads(line) for f in files if f.exists() for line in f.read_text().splitlines()]


def rows_when(install, since, count, timeout=10):
    """The rows once `count` are there (written off the loop, after the reply) or `timeout`
    has passed, and a moment more for a stray extra one to show."""
    deadline = time.monotonic() + timeout
    while len(aggregate_rows(install, since)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    return aggregate_rows(install, since)


def test_pct_samples_failing_mail_across_workers(start_server, install, keys, zone):
    import concurrent.futures
    server, saved = start(start_server, install, zone, smtp={"nodes": 2})
    server.wait_workers(2)
    started = time.time()

    def one(_):
        return deliver(server, PASS_IP, "b@elsewhere.com", compose(keys, "a@half.co.uk")[1])[0]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(one, range(60)))
    # pct=50: each failing message is refused or, sampled out, quarantined; missing either
    # in 60 draws would happen once in 2^59 runs.
    refused, kept = codes.count(550), codes.count(250)
    assert refused + kept == 60 and refused > 0 and kept > 0, codes
    rows = rows_when(install, started, 60)  # each line whole JSON, though two workers append
    assert len(rows) == 60
    dispositions = [(row["policy_evaluated"]["disposition"], row["policy_evaluated"].get("reason"))
                    for row in rows]
    assert dispositions.count(("reject", None)) == refused
    assert dispositions.count(("quarantine", "sampled_out")) == kept


def test_aggregate_rows_record_each_evaluated_message(start_server, install, keys, zone):
    server, saved = start(start_server, install, zone)
    started = time.time()
    sent = [
        # (From, MAIL FROM, client, DKIM, altered, SMTP code)
        ("a@quarantine.co.uk", "b@bounce.quarantine.co.uk", PASS_IP,
         ("quarantine.co.uk", "rsa"), False, 250),
        ("a@reject.co.uk", "b@reject.co.uk", FAIL_IP, ("reject.co.uk", "ed"), True, 550),
        ("a@sampled.co.uk", "b@elsewhere.com", PASS_IP, ("elsewhere.com", "rsa"), False, 250),
        ("a@news.parent.co.uk", "b@parent.co.uk", PASS_IP, None, False, 250),
        # No record: nothing to report.
        ("a@norecord.co.uk", "b@norecord.co.uk", PASS_IP, None, False, 250),
        ("a@twice.co.uk", "b@twice.co.uk", PASS_IP, None, False, 250),
    ]
    for header_from, mail_from, source, sign, tamper, expected_code in sent:
        _, message = compose(keys, header_from, sign, tamper)
        assert deliver(server, source, mail_from, message)[0] == expected_code, header_from
    rows = rows_when(install, started, 4)
    by_from = {row["identifiers"]["header_from"]: row for row in rows}
    assert len(rows) == 4 and set(by_from) == {
        "quarantine.co.uk", "reject.co.uk", "sampled.co.uk", "news.parent.co.uk"}, rows
    for row in by_from.values():
        assert started - 1 <= row["time"] <= time.time() + 1
        assert row["count"] == 1

    row = by_from["quarantine.co.uk"]
    assert row["source_ip"] == PASS_IP
    assert row["policy_evaluated"] == {"disposition": "none", "dkim": "pass", "spf": "pass"}
    assert row["identifiers"]["envelope_from"] == "bounce.quarantine.co.uk"
    assert row["auth_results"]["dkim"] == [
        {"domain": "quarantine.co.uk", "selector": "rsa", "result": "pass"}]
    assert row["auth_results"]["spf"] == {
        "domain": "bounce.quarantine.co.uk", "scope": "mfrom", "result": "pass"}
    published = row["policy_published"]
    assert (published["domain"], published["p"], published["sp"], published["pct"],
            published["adkim"], published["aspf"]) == (
        "quarantine.co.uk", "quarantine", "quarantine", 100, "r", "r")

    row = by_from["reject.co.uk"]
    assert row["source_ip"] == FAIL_IP
    assert row["policy_evaluated"] == {"disposition": "reject", "dkim": "fail", "spf": "fail"}
    assert row["identifiers"]["envelope_from"] == "reject.co.uk"
    assert row["auth_results"]["dkim"] == [
        {"domain": "reject.co.uk", "selector": "ed", "result": "fail"}]
    assert row["auth_results"]["spf"] == {
        "domain": "reject.co.uk", "scope": "mfrom", "result": "fail"}
    assert row["policy_published"]["p"] == "reject"

    row = by_from["sampled.co.uk"]
    assert row["policy_evaluated"] == {"disposition": "quarantine", "dkim": "fail",
                                       "spf": "fail", "reason": "sampled_out"}
    assert row["identifiers"]["envelope_from"] == "elsewhere.com"
    assert row["auth_results"]["dkim"] == [
        {"domain": "elsewhere.com", "selector": "rsa", "result": "pass"}]
    assert row["auth_results"]["spf"]["result"] == "pass"
    assert (row["policy_published"]["p"], row["policy_published"]["pct"]) == ("reject", 0)

    row = by_from["news.parent.co.uk"]
    assert row["policy_evaluated"] == {"disposition": "none", "dkim": "fail", "spf": "pass"}
    assert row["auth_results"]["dkim"] == []
    published = row["policy_published"]
    assert (published["domain"], published["p"], published["sp"]) == (
        "parent.co.uk", "reject", "none")


def bodies():
    """Bodies that test a verifier hashing as the message streams in: whitespace runs and
    trailing blanks for relaxed canonicalization, lines starting with dots, long lines, empty
    lines at the end (which both canonicalizations drop), and the empty body."""
    lines = []
    for i in range(2500):
        lines.append(("." * (i % 3)) + "line %d\t with  \t runs" % i + " " * (i % 4)
                     + "\t" * (i % 2))
        if i % 7 == 0:
            lines += ["", " \t", ""]
    long_lines = ["%04d " % i + " x" * 490 + "  " for i in range(200)]
    return [
        "\r\n".join(lines) + "\r\n\r\n\r\n\r\n",
        "\r\n".join(long_lines) + "\r\n",
        "\r\n" * 50,
        "",
        ".\r\n..\r\n. \r\n",
    ]


def signed(keys, body, canonicalization, selector):
    import dkim
    subject = "case %d" % next(SUBJECTS)
    message = ("From: <a@reject.co.uk>\r\nSubject:  %s \t\r\nTo: <user@example.com>\r\n\r\n%s"
               % (subject, body)).encode()
    algorithm, key, _ = keys[selector]
    return subject, dkim.sign(message, selector.encode(), b"reject.co.uk", key,
                              signature_algorithm=algorithm, linesep=b"\r\n",
                              canonicalize=canonicalization,
                              include_headers=[b"from", b"subject", b"to"]) + message


class SourcedClient:
    """A raw SMTP client for BDAT (smtplib has no BDAT) connecting from a chosen address."""

    def __init__(self, port, source):
        import socket
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30,
                                             source_address=(source, 0))
        self.file = self.sock.makefile("rb")

    def reply(self):
        lines = []
        for _ in range(100):
            line = self.file.readline()
            assert line.endswith(b"\r\n"), line
            lines.append(line[4:-2].decode())
            if line[3:4] != b"-":
                return int(line[:3]), lines
        raise AssertionError("a reply of more than 100 lines")

    def cmd(self, data):
        self.sock.sendall(data)
        return self.reply()

    def close(self):
        self.file.close()
        self.sock.close()


def send_bdat(server, source, mail_from, message, size):
    client = SourcedClient(server.port, source)
    try:
        assert client.reply()[0] == 220
        code, lines = client.cmd(b"EHLO %s\r\n" % HELO.encode())
        assert code == 250 and "CHUNKING" in lines
        assert client.cmd(b"MAIL FROM:<%s>\r\n" % mail_from.encode())[0] == 250
        assert client.cmd(b"RCPT TO:<user@example.com>\r\n")[0] == 250
        chunks = [message[i:i + size] for i in range(0, len(message), size)]
        for chunk in chunks[:-1]:
            assert client.cmd(b"BDAT %d\r\n" % len(chunk) + chunk)[0] == 250
        code, lines = client.cmd(b"BDAT %d LAST\r\n" % len(chunks[-1]) + chunks[-1])
        assert client.cmd(b"QUIT\r\n")[0] == 221
        return code, lines
    finally:
        client.close()


def dkim_and_dmarc_failures(case, code, text, saved, subject):
    """[] when the message was accepted with dkim=pass and dmarc=pass, else what went wrong."""
    if code != 250:
        return ["%s: refused %d %s" % (case, code, text)]
    ours = our_results(stored(saved, subject))
    if (ours["dkim"].result, ours["dmarc"].result) != ("pass", "pass"):
        return ["%s: dkim=%s dmarc=%s" % (case, ours["dkim"].result, ours["dmarc"].result)]
    return []


def test_signatures_verify_however_the_body_arrives(start_server, install, keys, zone):
    # SPF fails for an unaligned domain: only the signature can make DMARC pass.
    server, saved = start(start_server, install, zone)
    failures = []
    for number, body in enumerate(bodies()):
        for canonicalization in [(b"simple", b"simple"), (b"relaxed", b"relaxed")]:
            for way in ["DATA", "BDAT"]:
                subject, message = signed(keys, body, canonicalization,
                                          "ed" if number % 2 else "rsa")
                if way == "DATA":
                    code, text = deliver(server, FAIL_IP, "b@elsewhere.com", message)
                else:
                    # Chunks split inside lines, CRLFs and whitespace runs.
                    code, text = send_bdat(server, FAIL_IP, "b@elsewhere.com", message, 997)
                case = "body %d, %s, %s" % (number, b"/".join(canonicalization).decode(), way)
                failures += dkim_and_dmarc_failures(case, code, text, saved, subject)
    assert failures == [], "\n".join(failures)


def test_each_transaction_of_a_connection_is_judged_on_its_own(start_server, install, keys, zone):
    server, saved = start(start_server, install, zone)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30,
                      source_address=(PASS_IP, 0)) as client:
        client.ehlo(HELO)
        outcomes = []
        for header_from, mail_from, sign in [
                ("a@reject.co.uk", "b@reject.co.uk", None),  # SPF aligned: pass
                ("a@reject.co.uk", "b@elsewhere.com", None),  # nothing aligned: refused
                ("a@reject.co.uk", "b@elsewhere.com", ("reject.co.uk", "rsa")),  # DKIM: pass
                ("a@strict.co.uk", "b@elsewhere.com", ("reject.co.uk", "rsa")),  # refused
                ("a@quarantine.co.uk", "b@quarantine.co.uk", None)]:  # pass
            subject, message = compose(keys, header_from, sign)
            assert client.mail(mail_from)[0] == 250
            assert client.rcpt("user@example.com")[0] == 250
            code, _ = client.data(message)
            outcomes.append(code)
            if code == 250:
                kept = stored(saved, subject)
                assert our_results(kept)["dmarc"].result == "pass"
                assert kept["X-DMARC-Quarantine"] is None
            else:
                client.rset()
    assert outcomes == [250, 550, 250, 550, 250]


def test_signatures_verify_over_every_header_layout(start_server, install, keys, zone):
    import dkim
    server, saved = start(start_server, install, zone)
    layouts = [
        # Folded fields, whitespace after the colon and before the line end.
        ("Subject:\t%s\r\n  folded\r\n\tagain  \r\nTo:  <user@example.com> \r\n",
         [b"from", b"subject", b"to"]),
        # The same name twice, signed bottom-up, and an absent name (signed as empty).
        ("Subject: %s\r\nX-List: first\r\nX-List: second\r\n",
         [b"from", b"x-list", b"x-list", b"reply-to", b"subject"]),
        # Oversigned: names once more than present.
        ("Subject: %s\r\nTo: <user@example.com>\r\n",
         [b"from", b"from", b"subject", b"subject", b"to", b"to"]),
        # Field names in other cases than in h=.
        ("SUBJECT: %s\r\nto: <user@example.com>\r\n", [b"From", b"Subject", b"TO"]),
    ]
    failures = []
    for number, (layout, signed_names) in enumerate(layouts):
        for canonicalization in [(b"simple", b"simple"), (b"relaxed", b"simple")]:
            subject = "case %d" % next(SUBJECTS)
            message = ("From: <a@reject.co.uk>\r\n" + layout % subject
                       + "\r\nHello.\r\n").encode()
            algorithm, key, _ = keys["rsa"]
            message = dkim.sign(message, b"rsa", b"reject.co.uk", key,
                                signature_algorithm=algorithm, linesep=b"\r\n",
                                canonicalize=canonicalization,
                                include_headers=signed_names) + message
            case = "layout %d, %s" % (number, b"/".join(canonicalization).decode())
            code, text = deliver(server, FAIL_IP, "b@elsewhere.com", message)
            failures += dkim_and_dmarc_failures(case, code, text, saved, subject)
    assert failures == [], "\n".join(failures)


def test_relaying_clients_are_skipped_unless_asked(start_server, install, keys, zone):
    saved = install / "saved"
    saved.mkdir()
    files = {"dns.ini": dns_zone.resolver_ini(zone), "spf.ini": "[skip]\nprivate_ip=false\n",
             # The relay plugin lets the failing client relay; relayed mail is queued outbound.
             "relay.ini": "[relay]\nacl=true\n", "relay_acl_allow": FAIL_IP + "/32\n",
             "accept.ini": "[queue_outbound]\ncode=OK\nsave=%s\n" % saved}
    plugins = ["relay", "spf", "dkim", "dmarc", "accept"]
    server = start_server(plugins=plugins, so=["accept"], files=files)
    started = time.time()
    subject, message = compose(keys, "a@reject.co.uk")
    assert deliver(server, FAIL_IP, "b@reject.co.uk", message)[0] == 250
    assert "[dmarc]" not in server.log()
    assert "dmarc=" not in stored(saved, subject).get("Authentication-Results", "")
    assert rows_when(install, started, 1, timeout=1) == []
    server.stop()

    files["dmarc.ini"] = "[skip]\nrelaying=false\n"
    server = start_server(plugins=plugins, so=["accept"], files=files)
    code, text = deliver(server, FAIL_IP, "b@reject.co.uk", compose(keys, "a@reject.co.uk")[1])
    assert code == 550 and text.startswith("5.7.1"), (code, text)
    assert len(rows_when(install, started, 1)) == 1


def test_an_unanswering_resolver_is_a_temperror_that_refuses_nothing(start_server, install,
                                                                      keys):
    dead_port = dns_zone.free_port()  # nothing listens there: every lookup times out
    server, saved = start(start_server, install, dead_port, "[main]\nlookup_timeout=5\n")
    subject, message = compose(keys, "a@reject.co.uk", ("reject.co.uk", "rsa"))
    assert deliver(server, FAIL_IP, "b@reject.co.uk", message)[0] == 250
    ours = our_results(stored(saved, subject))
    assert (ours["spf"].result, ours["dkim"].result, ours["dmarc"].result) == (
        "temperror", "temperror", "temperror")
    assert rows_when(install, time.time(), 1, timeout=1) == []


def test_the_author_domain_is_found_in_every_form_of_from(start_server, install, keys, zone):
    server, saved = start(start_server, install, zone)
    forms = [
        "a@reject.co.uk",
        "Name <a@reject.co.uk>",
        '"a@elsewhere.com" <a@reject.co.uk>',
        "=?utf-8?q?J=C3=B6rg?= <a@reject.co.uk>",
        "a@reject.co.uk (a@elsewhere.com)",
        "(a@elsewhere.com) Name\r\n\t<a@REJECT.co.uk>",
        "Team: a@reject.co.uk, b@reject.co.uk;",
        '"a b"@reject.co.uk',
    ]
    for form in forms:
        message = ("From: %s\r\nSubject: form\r\n\r\nHello.\r\n" % form).encode()
        code, text = deliver(server, FAIL_IP, "b@elsewhere.com", message)
        # The failing reject.co.uk mail is refused, naming the domain found.
        assert (code, text.split(":")[0]) == (
            550, "5.7.1 Message rejected"), (form, code, text)
        assert "policy of reject.co.uk" in text, (form, text)
    # The field name in any case.
    code, text = deliver(server, FAIL_IP, "b@elsewhere.com",
                         b"FROM: <a@reject.co.uk>\r\nSubject: form\r\n\r\nHello.\r\n")
    assert code == 550, (code, text)
    # No domain to judge (RFC 7489 section 6.6.1): not refused, a permerror.
    for form in ["<a@[127.0.0.1]>", "undisclosed-recipients:;", "<a@[127.0.0.1]>, (none)"]:
        subject = "case %d" % next(SUBJECTS)
        message = ("From: %s\r\nSubject: %s\r\n\r\nHello.\r\n" % (form, subject)).encode()
        assert deliver(server, FAIL_IP, "b@elsewhere.com", message)[0] == 250, form
        assert our_results(stored(saved, subject))["dmarc"].result == "permerror", form
    # No From at all.
    subject = "case %d" % next(SUBJECTS)
    assert deliver(server, FAIL_IP, "b@elsewhere.com",
                   ("Subject: %s\r\n\r\nHello.\r\n" % subject).encode())[0] == 250
    assert our_results(stored(saved, subject))["dmarc"].result == "permerror"


def dmarc_entries(message):
    """[(result, header.from)] of the dmarc entries of our Authentication-Results field."""
    import authres
    [field] = message.get_all("Authentication-Results")
    parsed = authres.AuthenticationResultsHeader.parse_value(" ".join(field.split()))
    return sorted((r.result, properties(r)["header.from"]) for r in parsed.results
                  if r.method == "dmarc")


def test_every_author_domain_is_judged(start_server, install, keys, zone):
    # RFC 7489 section 6.6.1: each author domain is evaluated and the strictest policy among
    # those that fail applies; an address added beside a domain cannot hide its policy.
    server, saved = start(start_server, install, zone)
    started = time.time()
    refused = [
        # (From fields, MAIL FROM): elsewhere.com passes by SPF, reject.co.uk fails.
        ("From: a@reject.co.uk, b@elsewhere.com", "b@elsewhere.com"),
        ("From: <b@elsewhere.com>\r\nFrom: <a@reject.co.uk>", "b@elsewhere.com"),
        ("From: <a@reject.co.uk>, <b@[127.0.0.1]>", "b@elsewhere.com"),
        ("From: a@quarantine.co.uk, b@reject.co.uk", "b@elsewhere.com"),
    ]
    for fields, mail_from in refused:
        message = ("%s\r\nSubject: several\r\n\r\nHello.\r\n" % fields).encode()
        code, text = deliver(server, PASS_IP, mail_from, message)
        assert code == 550 and "policy of reject.co.uk" in text, (fields, code, text)

    # quarantine.co.uk fails and elsewhere.com passes: quarantined, both entries written.
    subject = "case %d" % next(SUBJECTS)
    message = ("From: a@quarantine.co.uk, b@elsewhere.com\r\nSubject: %s\r\n\r\nHello.\r\n"
               % subject).encode()
    assert deliver(server, PASS_IP, "b@elsewhere.com", message)[0] == 250
    kept = stored(saved, subject)
    assert kept["X-DMARC-Quarantine"] == "quarantine.co.uk p=quarantine"
    assert dmarc_entries(kept) == [("fail", "quarantine.co.uk"), ("pass", "elsewhere.com")]

    # Both pass (reject.co.uk by its signature, quarantine.co.uk by SPF): accepted as sent.
    subject, message = compose(keys, "a@reject.co.uk>, <b@quarantine.co.uk",
                               ("reject.co.uk", "rsa"))
    assert deliver(server, PASS_IP, "b@quarantine.co.uk", message)[0] == 250
    kept = stored(saved, subject)
    assert kept["X-DMARC-Quarantine"] is None
    assert dmarc_entries(kept) == [("pass", "quarantine.co.uk"), ("pass", "reject.co.uk")]

    # A report row for each domain evaluated against a record (the literal is none).
    rows = rows_when(install, started, 11)
    assert sorted(row["identifiers"]["header_from"] for row in rows) == sorted(
        ["reject.co.uk"] * 5 + ["elsewhere.com"] * 3 + ["quarantine.co.uk"] * 3)

    # More domains than are evaluated: refused, or a ninth address would hide the policies.
    subject = "case %d" % next(SUBJECTS)
    many = ", ".join("a@d%d.co.uk" % i for i in range(9))
    message = ("From: %s\r\nSubject: %s\r\n\r\nHello.\r\n" % (many, subject)).encode()
    code, text = deliver(server, PASS_IP, "b@elsewhere.com", message)
    assert code == 550 and "5.7.1" in text and "9 domains" in text, (code, text)


def test_authenticated_clients_are_skipped_unless_asked(start_server, install, keys, zone,
                                                        tmp_path):
    import ssl
    from pki import Pki
    pki = Pki(tmp_path / "pki")
    key, cert = pki.issue("mx.test.example", ["mx.test.example"])
    saved = install / "saved"
    saved.mkdir()
    files = {"dns.ini": dns_zone.resolver_ini(zone), "spf.ini": "[skip]\nprivate_ip=false\n",
             "tls_key.pem": key.read_text(), "tls_cert.pem": cert.read_text(),
             "auth_flat_file.ini": "[users]\nalice=s3cret-Pa55\n",
             # Only [skip] auth can spare the client: authenticated clients relay.
             "dmarc.ini": "[skip]\nrelaying=false\n",
             "accept.ini": "[queue_outbound]\ncode=OK\nsave=%s\n" % saved}
    plugins = ["tls", "auth/flat_file", "spf", "dkim", "dmarc", "accept"]

    def send():
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30,
                          source_address=(FAIL_IP, 0)) as client:
            client.ehlo(HELO)
            context = ssl.create_default_context(cafile=str(pki.ca_cert))
            context.check_hostname = False
            client.starttls(context=context)
            client.ehlo(HELO)
            client.login("alice", "s3cret-Pa55")
            assert client.mail("b@reject.co.uk")[0] == 250
            assert client.rcpt("user@example.com")[0] == 250
            subject, message = compose(keys, "a@reject.co.uk")
            return subject, client.data(message)

    server = start_server(plugins=plugins, so=["accept"], files=files,
                          smtp={"auth_failure_delay": 0})
    subject, (code, text) = send()
    assert code == 250, text
    assert "dmarc=" not in stored(saved, subject).get("Authentication-Results", "")
    server.stop()

    files["dmarc.ini"] = "[skip]\nrelaying=false\nauth=false\n"
    server = start_server(plugins=plugins, so=["accept"], files=files,
                          smtp={"auth_failure_delay": 0})
    _, (code, text) = send()
    assert code == 550 and text.startswith(b"5.7.1"), (code, text)
