// tls.ini, as Haraka's tls plugin reads it: [main] for the server side, [outbound] overriding
// [main] for the SMTP client, [no_tls_hosts] for peers that get no STARTTLS, and
// [outbound.policy] for the TLS each destination domain gets (as Postfix's
// smtp_tls_policy_maps). Every error names
// the file and line of the key. A new key is also listed in common/config/known_keys.cpp.
#pragma once

#include "common/config/config.hpp"
#include "common/util/result.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace upesi::tls {

/// One side's settings. File names are relative to the config directory.
struct TlsSideConfig {
  std::string key = "tls_key.pem";
  std::string cert = "tls_cert.pem";
  std::string dhparam;      // empty: OpenSSL's built-in groups
  std::string ca;           // trusted CAs for peer certificates; empty: system store (client)
  std::string ciphers;      // TLS 1.2 and older, OpenSSL syntax; empty: OpenSSL's default
  std::string ciphersuites; // TLS 1.3; empty: OpenSSL's default
  std::string min_version = "TLSv1.2";
  bool honor_cipher_order = true;
  bool request_cert = false;        // server: ask the client for a certificate
  bool reject_unauthorized = false; // fail the handshake on a certificate that does not verify
};

/// Postfix's TLS security levels for a destination (smtp_tls_policy_maps), the weakest first.
enum class OutboundTlsLevel {
  None,    ///< no TLS
  May,     ///< STARTTLS when offered, unverified; a failed handshake may fall back to plain
  Dane,    ///< DANE (RFC 7672) where the MX host has DNSSEC-validated TLSA records, else `may`
  Encrypt, ///< TLS or no delivery, the certificate unchecked
  Verify,  ///< TLS with a certificate that verifies and names the MX host
  Secure,  ///< TLS with a certificate that verifies and names the domain or a subdomain of it
};
std::optional<OutboundTlsLevel> outboundTlsLevelFromName(const std::string& name);
const char* toString(OutboundTlsLevel level);

struct TlsConfig {
  TlsSideConfig server;
  TlsSideConfig outbound;
  std::vector<std::uint16_t> no_starttls_ports;        // STARTTLS not offered on these
  std::vector<std::uint16_t> require_authorized_ports; // a verified client certificate required
  std::vector<std::string> no_tls_hosts;               // IPs/CIDRs: STARTTLS not offered to them
  // Outbound: hosts (name, IP or domain) that must do TLS with a valid certificate, and ones
  // that never get STARTTLS.
  std::vector<std::string> force_tls_hosts;
  std::vector<std::string> outbound_no_tls_hosts;
  // Outbound: a next hop whose STARTTLS handshake fails gets the message in clear (Haraka's
  // way); false defers it instead.
  bool outbound_fallback_to_plain = true;
  // [outbound.policy]: destination domain (lower case; ".example.com": its subdomains) ->
  // the level its deliveries get, whatever the host lists above say.
  std::map<std::string, OutboundTlsLevel> outbound_policy;
  // [outbound] dane=opportunistic: destinations without a policy of their own get DANE
  // wherever DNSSEC says the MX host publishes TLSA records (with dns.ini validating=true).
  bool outbound_dane = true;
  // [outbound] mta_sts: destinations' MTA-STS policies (RFC 8461) are fetched and applied.
  bool outbound_mta_sts = true;
  // [outbound] tls_rpt: DANE and MTA-STS outcomes are counted and reported daily (RFC 8460) to
  // the domains that ask; tls_rpt_from: the reports' sender (default noreply-tls-reports@me).
  bool outbound_tls_rpt = true;
  std::string outbound_tls_rpt_from;
  std::string sni_dir = "tls"; // config/tls/: one PEM per name (key and chain)
};

inline const config::ReadOptions TlsIniBooleans{
    {"+main.honorCipherOrder", "-main.requestCert", "-main.rejectUnauthorized",
     "+outbound.honorCipherOrder", "-outbound.requestCert", "-outbound.rejectUnauthorized",
     "+outbound.fallback_to_plain", "+outbound.mta_sts", "+outbound.tls_rpt"}};

Result<TlsConfig> readTlsConfig(config::Config& config);

/// "TLSv1.2" → TLS1_2_VERSION; 0 for a name OpenSSL does not know.
int tlsVersionFromName(const std::string& name);

} // namespace upesi::tls
