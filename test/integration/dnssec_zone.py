"""A validating unbound on a loopback port, serving zones the test writes: each zone is either
signed (ldns-keygen and ldns-signzone, its key given to unbound as the trust anchor) or left
unsigned (then unbound calls its answers insecure). Unbound answers from the zone files itself
(auth-zone for-upstream, so its validator checks them as any answer from upstream); every other
name goes to a loopback port nobody listens on, so nothing leaves the machine.

    with dnssec_zone.serve(tmp_path, {"signed.test": RECORDS}, {"plain.test": RECORDS}) as port:

Records are zone-file lines relative to the zone's origin ("@ MX 10 mx", "mx A 127.0.0.2").
`tamper` names records ("_25._tcp.mx-bogus TLSA") whose data is changed after signing, so that
their signatures no longer verify: unbound answers SERVFAIL for them, as for any bogus answer.
"""
import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import time

import dns_zone

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
LDNS_SIGNZONE = shutil.which("ldns-signzone") or "/usr/bin/ldns-signzone"
LDNS_KEYGEN = shutil.which("ldns-keygen") or "/usr/bin/ldns-keygen"
AVAILABLE = all(os.path.exists(p) for p in (UNBOUND, LDNS_SIGNZONE, LDNS_KEYGEN))
MISSING = "needs unbound and ldnsutils (packaging/dev installs them)"


def spki_sha256(cert_path):
    """The SHA-256 of a certificate's SubjectPublicKeyInfo, hex: TLSA 3 1 1 / 2 1 1 data."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert_path), "-noout", "-pubkey"],
                         check=True, capture_output=True, timeout=30).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         check=True, capture_output=True, timeout=30).stdout
    return hashlib.sha256(der).hexdigest()


def cert_sha256(cert_path):
    """The SHA-256 of a whole certificate (DER), hex: TLSA 3 0 1 / 2 0 1 data."""
    der = subprocess.run(["openssl", "x509", "-in", str(cert_path), "-outform", "DER"],
                         check=True, capture_output=True, timeout=30).stdout
    return hashlib.sha256(der).hexdigest()


def _zone_text(origin, records):
    head = ["$ORIGIN %s." % origin, "$TTL 300",
            "@ SOA ns.%s. hostmaster.%s. 1 3600 600 86400 300" % (origin, origin),
            "@ NS ns.%s." % origin, "ns A 127.0.0.1"]
    return "\n".join(head + list(records)) + "\n"


def _sign(directory, origin, records, tamper):
    zone = directory / (origin + ".zone")
    zone.write_text(_zone_text(origin, records))
    keys = []
    for ksk in (True, False):
        args = [LDNS_KEYGEN, "-a", "ECDSAP256SHA256"] + (["-k"] if ksk else []) + [origin]
        out = subprocess.run(args, cwd=directory, check=True, capture_output=True, text=True,
                             timeout=60)
        keys.append(out.stdout.strip())
    subprocess.run([LDNS_SIGNZONE, "-n", str(zone)] + keys, cwd=directory, check=True,
                   capture_output=True, timeout=60)
    signed = directory / (origin + ".zone.signed")
    if tamper:
        lines = []
        for line in signed.read_text().splitlines():
            fields = line.split()
            owner = fields[0].rstrip(".") if fields else ""
            for name in tamper:
                label, rtype = name.rsplit(" ", 1)
                if (owner == "%s.%s" % (label, origin) and len(fields) > 4
                        and fields[3] == rtype):
                    fields[-1] = "00" * (len(fields[-1]) // 2)  # the data, not its RRSIG
                    line = "\t".join(fields)
            lines.append(line)
        signed.write_text("\n".join(lines) + "\n")
    anchor = directory / (keys[0] + ".key")  # the KSK's DNSKEY
    return signed, anchor


@contextlib.contextmanager
def serve(directory, signed=None, unsigned=None, tamper=()):
    """Yields the port of a validating unbound serving the zones ({origin: [records]})."""
    directory.mkdir(parents=True, exist_ok=True)
    port = dns_zone.free_port()
    dead = dns_zone.free_port()
    conf = ["server:",
            "  interface: 127.0.0.1", "  port: %d" % port, "  do-ip6: no",
            "  do-daemonize: no", "  username: \"\"", "  chroot: \"\"",
            "  directory: \"%s\"" % directory, "  pidfile: \"\"",
            "  use-syslog: no", "  logfile: \"%s\"" % (directory / "unbound.log"),
            "  verbosity: 1", "  log-servfail: yes",
            "  module-config: \"validator iterator\"",
            "  access-control: 127.0.0.0/8 allow",
            "  do-not-query-localhost: no",
            # unbound answers NXDOMAIN for the special-use .test itself unless told not to
            "  local-zone: \"test.\" nodefault",
            "  harden-dnssec-stripped: yes",
            "  val-log-level: 2",
            "  cache-max-ttl: 1", "  cache-max-negative-ttl: 1"]
    auth = []
    for origin, records in (signed or {}).items():
        zone, anchor = _sign(directory, origin, records, tamper)
        conf.append("  trust-anchor-file: \"%s\"" % anchor)
        auth += ["auth-zone:", "  name: \"%s\"" % origin, "  zonefile: \"%s\"" % zone,
                 "  for-upstream: yes", "  for-downstream: no", "  fallback-enabled: no"]
    for origin, records in (unsigned or {}).items():
        zone = directory / (origin + ".zone")
        zone.write_text(_zone_text(origin, records))
        auth += ["auth-zone:", "  name: \"%s\"" % origin, "  zonefile: \"%s\"" % zone,
                 "  for-upstream: yes", "  for-downstream: no", "  fallback-enabled: no"]
    # Everything else: a loopback port where nothing answers.
    conf += auth + ["stub-zone:", "  name: \".\"", "  stub-addr: 127.0.0.1@%d" % dead]
    path = directory / "unbound.conf"
    path.write_text("\n".join(conf) + "\n")
    check = subprocess.run([UNBOUND + "-checkconf", str(path)], capture_output=True, text=True,
                           timeout=30) if os.path.exists(UNBOUND + "-checkconf") else None
    assert check is None or check.returncode == 0, check.stdout + check.stderr
    proc = subprocess.Popen([UNBOUND, "-d", "-c", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, "unbound exited: %s\n%s" % (
                proc.stdout.read().decode(errors="replace"), log_of(directory))
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "unbound did not listen: " + log_of(directory)
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def log_of(directory):
    path = directory / "unbound.log"
    return path.read_text(errors="replace") if path.exists() else ""


def resolver_ini(port, validating=True):
    """config/dns.ini naming the unbound as the resolver, validating or not."""
    return "[main]\nservers=127.0.0.1:%d\ntimeout_ms=2000\ntries=1\nvalidating=%s\n" % (
        port, "true" if validating else "false")
