// TlsPolicy: how outbound delivery protects a connection, as Haraka's outbound does:
// opportunistic STARTTLS by default (outbound.ini enable_tls), TLS with a verified certificate
// for tls.ini [outbound] force_tls_hosts, never for no_tls_hosts, SMTPS for next hops on port
// 465. A host whose handshake failed gets plain SMTP for a while instead of failing forever
// (Haraka needs Redis for that; here it is per worker, in memory).
//
// Threading: the loop thread.
#pragma once

#include "common/smtp_client/smtp_client.hpp"
#include "common/tls/tls_context.hpp"

#include <chrono>
#include <string>
#include <unordered_map>
#include <vector>

namespace upesi::outbound {

class TlsPolicy {
public:
  using Clock = std::chrono::steady_clock;

  /// `context` null: TLS off (enable_tls=false, or no usable client context).
  TlsPolicy(tls::ContextPtr context, std::vector<std::string> force_tls_hosts,
            std::vector<std::string> no_tls_hosts,
            std::chrono::seconds no_go_expiry = std::chrono::hours(24));

  /// The options for one connection to `exchange` (the MX name) at `ip`:`port` for `domain`.
  smtp_client::TlsOptions decide(const std::string& exchange, const std::string& ip,
                                 std::uint16_t port, const std::string& domain,
                                 Clock::time_point now = Clock::now());

  /// An opportunistic handshake with `exchange` failed: plain SMTP for it until the expiry.
  void handshakeFailed(const std::string& exchange, Clock::time_point now = Clock::now());

private:
  static bool listed(const std::vector<std::string>& hosts, const std::string& exchange,
                     const std::string& ip, const std::string& domain);

  tls::ContextPtr context_;
  std::vector<std::string> force_tls_hosts_;
  std::vector<std::string> no_tls_hosts_;
  std::chrono::seconds no_go_expiry_;
  std::unordered_map<std::string, Clock::time_point> no_go_until_;
};

} // namespace upesi::outbound
