// TlsPolicy: how outbound delivery protects a connection, as Haraka's outbound does:
// opportunistic STARTTLS by default (outbound.ini enable_tls), TLS with a verified certificate
// for tls.ini [outbound] force_tls_hosts, never for no_tls_hosts, SMTPS for next hops on port
// 465. A host whose handshake failed gets plain SMTP for a while instead of failing forever
// (Haraka needs Redis for that; here it is per worker, in memory), unless tls.ini [outbound]
// fallback_to_plain=false: then the attempt fails and the message waits for a retry.
// A destination domain named in tls.ini [outbound.policy] gets the level named there instead
// (Postfix's smtp_tls_policy_maps); above `may` the message goes over TLS or waits, never in
// clear, whatever any failure before. DANE (RFC 7672) comes before all of these where it
// applies (tls.ini [outbound] dane, or a destination's `dane` level): a host with usable
// DNSSEC-validated TLSA records gets TLS matching them or nothing.
//
// Threading: the loop thread.
#pragma once

#include "common/dns/dane_lookup.hpp"
#include "common/smtp_client/smtp_client.hpp"
#include "common/tls/tls_config.hpp"
#include "common/tls/tls_context.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace upesi::outbound {

class TlsPolicy {
public:
  using Clock = std::chrono::steady_clock;

  /// `context` null: TLS off (enable_tls=false, or no usable client context).
  TlsPolicy(tls::ContextPtr context, std::vector<std::string> force_tls_hosts,
            std::vector<std::string> no_tls_hosts, bool fallback_to_plain = true,
            std::chrono::seconds no_go_expiry = std::chrono::hours(24));

  /// [outbound.policy]: destination domain (lower case, ".example.com" for its subdomains)
  /// -> level.
  void setDestinationPolicy(std::map<std::string, tls::OutboundTlsLevel> policy) {
    destination_policy_ = std::move(policy);
  }
  /// The level [outbound.policy] sets for `domain` (its own entry, else the nearest parent's
  /// ".parent" entry), if any.
  std::optional<tls::OutboundTlsLevel> levelFor(const std::string& domain) const;

  /// tls.ini [outbound] dane=opportunistic (true) or off.
  void setDane(bool opportunistic) { dane_opportunistic_ = opportunistic; }
  /// Whether deliveries to `domain` look for TLSA records: its level is `dane`, or it has no
  /// level and dane=opportunistic with TLS on. (The resolver must validate too: the caller's.)
  bool wantsDane(const std::string& domain) const;

  /// The options for one connection to `exchange` (the MX name) at `ip`:`port` for `domain`;
  /// `dane`: what DNS said of the host's TLSA records, when DANE applies.
  /// Deciding changes nothing: only handshakeFailed does.
  /// `sts_enforce`: the domain's MTA-STS policy is in force (RFC 8461 4.2: TLS with a
  /// certificate valid for the MX name), unless DANE or a level of its own says otherwise;
  /// then `applied`, if given, is set to "mta-sts".
  smtp_client::TlsOptions decide(const std::string& exchange, const std::string& ip,
                                 std::uint16_t port, const std::string& domain,
                                 Clock::time_point now = Clock::now(),
                                 const dns::DaneRequirement* dane = nullptr,
                                 bool sts_enforce = false, std::string* applied = nullptr) const;
  /// The client context (null with TLS off).
  SSL_CTX* context() const { return context_.get(); }

  /// The policy `options` carry out, for the log: none, may, encrypt, verify, secure, dane,
  /// or "dane-encrypt" (TLSA records, none usable).
  static std::string describe(const smtp_client::TlsOptions& options,
                              const dns::DaneRequirement* dane);

  /// An opportunistic handshake with `exchange` failed. True: try again in clear, and use plain
  /// SMTP for it until the expiry; false (fallback_to_plain=false): the attempt has failed.
  /// Hosts whose expiry has passed are forgotten here.
  bool handshakeFailed(const std::string& exchange, Clock::time_point now = Clock::now());

  /// True while `exchange` gets plain SMTP because its handshake failed.
  bool remembersFailure(const std::string& exchange, Clock::time_point now = Clock::now()) const;

private:
  static bool listed(const std::vector<std::string>& hosts, const std::string& exchange,
                     const std::string& ip, const std::string& domain);

  tls::ContextPtr context_;
  std::vector<std::string> force_tls_hosts_;
  std::vector<std::string> no_tls_hosts_;
  bool fallback_to_plain_;
  bool dane_opportunistic_ = false;
  std::chrono::seconds no_go_expiry_;
  std::unordered_map<std::string, Clock::time_point> no_go_until_;
  std::map<std::string, tls::OutboundTlsLevel> destination_policy_;
};

} // namespace upesi::outbound
