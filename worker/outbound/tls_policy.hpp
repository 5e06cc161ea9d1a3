// TlsPolicy: how outbound delivery protects a connection, as Haraka's outbound does:
// opportunistic STARTTLS by default (outbound.ini enable_tls), TLS with a verified certificate
// for tls.ini [outbound] force_tls_hosts, never for no_tls_hosts, SMTPS for next hops on port
// 465. A host whose handshake failed gets plain SMTP for a while instead of failing forever
// (Haraka needs Redis for that; here it is per worker, in memory), unless tls.ini [outbound]
// fallback_to_plain=false: then the attempt fails and the message waits for a retry.
// A destination domain named in tls.ini [outbound.policy] gets the level named there instead
// (Postfix's smtp_tls_policy_maps); above `may` the message goes over TLS or waits, never in
// clear, whatever any failure before.
//
// Threading: the loop thread.
#pragma once

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

  /// The options for one connection to `exchange` (the MX name) at `ip`:`port` for `domain`.
  /// Deciding changes nothing: only handshakeFailed does.
  smtp_client::TlsOptions decide(const std::string& exchange, const std::string& ip,
                                 std::uint16_t port, const std::string& domain,
                                 Clock::time_point now = Clock::now()) const;

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
  std::chrono::seconds no_go_expiry_;
  std::unordered_map<std::string, Clock::time_point> no_go_until_;
  std::map<std::string, tls::OutboundTlsLevel> destination_policy_;
};

} // namespace upesi::outbound
