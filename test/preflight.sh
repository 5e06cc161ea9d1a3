#!/usr/bin/env bash
# Checks that every peer the tests talk to can do what the tests ask of it, and names the
# Debian package that is missing, one line each, before any test runs: a missing Recommends
# (swaks without Net::SSLeay) otherwise shows up as a handful of failing TLS tests.
# Exit status 1 if anything is missing.
set -uo pipefail

missing=0
lack() { # lack PACKAGE WHAT
  echo "preflight: $2: install $1" >&2
  missing=1
}

have() { command -v "$1" >/dev/null 2>&1; }

if ! have swaks; then
  lack swaks "swaks not found"
else
  support=$(swaks --support 2>&1)
  grep -q "^=== TLS supported" <<<"$support" || lack libnet-ssleay-perl "swaks cannot do TLS"
  grep -q "^=== IPv6 supported" <<<"$support" || lack libio-socket-inet6-perl "swaks cannot do IPv6"
  grep -q "^=== AUTH CRAM-MD5 supported" <<<"$support" || lack perl "swaks cannot do AUTH CRAM-MD5"
fi

for tool in /usr/sbin/smtp-source /usr/sbin/smtp-sink; do
  [ -x "$tool" ] || lack postfix "${tool##*/} not found"
done
[ -x /usr/sbin/dnsmasq ] || lack dnsmasq-base "dnsmasq not found"
have openssl || lack openssl "openssl not found"
have systemd-analyze || lack systemd "systemd-analyze not found"
have cc || lack gcc "no C compiler (the fault-injection shims are C)"
have curl || lack curl "curl not found"
have promtool || lack prometheus "promtool not found"
[ -x /usr/bin/prometheus ] || lack prometheus "prometheus not found"
have chromium || lack chromium "chromium not found"
[ -x /usr/sbin/opendkim ] || lack opendkim "opendkim not found"
[ -x /usr/bin/rspamd ] || lack rspamd "rspamd not found (the rspamd plugin's peer)"
have opendkim-genkey || lack opendkim-tools "opendkim-genkey not found"
[ -x /usr/sbin/opendmarc ] || lack opendmarc "opendmarc not found"
have ip || lack iproute2 "ip not found (it brings up opendmarc's private loopback)"
[ -f /usr/share/publicsuffix/public_suffix_list.dat ] || lack publicsuffix "the Public Suffix List not found"
[ -x /usr/sbin/spamd ] || lack spamd "spamd not found (the spamassassin plugin's peer)"
[ -f /usr/share/spamassassin/20_body_tests.cf ] || lack spamassassin "SpamAssassin's rules not found"
[ -x /usr/sbin/clamd ] || lack clamav-daemon "clamd not found (the clamd plugin's peer)"
[ -x /usr/bin/redis-server ] || lack redis-server "redis-server not found (the Redis client's peer)"
[ -x /usr/bin/redis-cli ] || lack redis-tools "redis-cli not found (reads the keys the limit tests leave)"
[ -x /usr/sbin/clamav-milter ] || lack clamav-milter "clamav-milter not found (a milter plugin peer)"
[ -x /usr/sbin/haproxy ] || lack haproxy "haproxy not found (the PROXY protocol's balancer)"
# The Debian package's test (test/package).
have dpkg-buildpackage || lack dpkg-dev "dpkg-buildpackage not found (builds the Debian package)"
have dh || lack debhelper "dh not found (builds the Debian package)"
have lintian || lack lintian "lintian not found (checks the Debian package)"
[ -x /usr/sbin/debootstrap ] || lack debootstrap "debootstrap not found (makes the package test's root)"
have setpriv || lack util-linux "setpriv not found (starts the packaged server as the unit does)"
# Haraka 3.3.4 for the side-by-side tests is installed from npm on first use.
have node || lack nodejs "node not found (Haraka, the side-by-side tests' peer)"
have npm || lack npm "npm not found (it installs Haraka for the side-by-side tests)"

# Debian's python packages are seen only by Debian's interpreter.
if [ ! -x /usr/bin/python3 ]; then
  lack python3 "/usr/bin/python3 not found"
else
  for module in pytest:python3-pytest aiosmtpd:python3-aiosmtpd websockets:python3-websockets \
    spf:python3-spf dns.resolver:python3-dnspython authres:python3-authres \
    authheaders:python3-authheaders dkim:python3-dkim nacl.signing:python3-nacl \
    Milter:python3-milter; do
    /usr/bin/python3 -c "import ${module%%:*}" 2>/dev/null ||
      lack "${module#*:}" "/usr/bin/python3 cannot import ${module%%:*}"
  done
fi

# The fuzz targets link clang's libFuzzer runtime.
if ! have clang++-14; then
  lack clang-14 "clang++-14 not found"
else
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  printf '%s\n' '#include <cstddef>' '#include <cstdint>' \
    'extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }' \
    >"$scratch/fuzz.cpp"
  clang++-14 -fsanitize=fuzzer,address,undefined "$scratch/fuzz.cpp" -o "$scratch/fuzz" \
    >/dev/null 2>&1 || lack libclang-rt-14-dev "clang++-14 cannot link a libFuzzer target"
fi

exit $missing
