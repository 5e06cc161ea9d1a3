#include "worker/outbound/tls_policy.hpp"

#include "common/util/text.hpp"

#include <algorithm>
#include <strings.h>

namespace upesi::outbound {

TlsPolicy::TlsPolicy(tls::ContextPtr context, std::vector<std::string> force_tls_hosts,
                     std::vector<std::string> no_tls_hosts, bool fallback_to_plain,
                     std::chrono::seconds no_go_expiry)
    : context_(std::move(context)), force_tls_hosts_(std::move(force_tls_hosts)),
      no_tls_hosts_(std::move(no_tls_hosts)), fallback_to_plain_(fallback_to_plain),
      no_go_expiry_(no_go_expiry) {}

bool TlsPolicy::listed(const std::vector<std::string>& hosts, const std::string& exchange,
                       const std::string& ip, const std::string& domain) {
  return std::any_of(hosts.begin(), hosts.end(), [&](const std::string& h) {
    return strcasecmp(h.c_str(), exchange.c_str()) == 0 || h == ip ||
           strcasecmp(h.c_str(), domain.c_str()) == 0;
  });
}

std::optional<tls::OutboundTlsLevel> TlsPolicy::levelFor(const std::string& domain) const {
  if (destination_policy_.empty()) {
    return std::nullopt;
  }
  std::string name = text::toLower(domain);
  if (auto it = destination_policy_.find(name); it != destination_policy_.end()) {
    return it->second;
  }
  for (auto dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1)) {
    if (auto it = destination_policy_.find(name.substr(dot)); it != destination_policy_.end()) {
      return it->second;
    }
  }
  return std::nullopt;
}

smtp_client::TlsOptions TlsPolicy::decide(const std::string& exchange, const std::string& ip,
                                          std::uint16_t port, const std::string& domain,
                                          Clock::time_point now) const {
  smtp_client::TlsOptions options;
  options.context = context_.get();
  options.name = exchange;
  if (auto level = levelFor(domain)) {
    using tls::OutboundTlsLevel;
    switch (*level) {
    case OutboundTlsLevel::None:
      options.mode = smtp_client::TlsMode::Off;
      return options;
    case OutboundTlsLevel::May:
      options.mode = !context_                         ? smtp_client::TlsMode::Off
                     : port == 465                     ? smtp_client::TlsMode::Implicit
                     : remembersFailure(exchange, now) ? smtp_client::TlsMode::Off
                                                       : smtp_client::TlsMode::Opportunistic;
      return options;
    case OutboundTlsLevel::Encrypt:
    case OutboundTlsLevel::Verify:
    case OutboundTlsLevel::Secure:
      // Without a context (enable_tls=false) the client refuses to connect: deferred, not sent
      // in clear.
      options.mode = port == 465 ? smtp_client::TlsMode::Implicit : smtp_client::TlsMode::Required;
      options.verify = *level != OutboundTlsLevel::Encrypt;
      if (*level == OutboundTlsLevel::Secure) {
        const std::string lower = text::toLower(domain);
        options.match_names = {lower, "." + lower};
      }
      return options;
    }
  }
  if (!context_) {
    return smtp_client::TlsOptions{};
  }
  if (listed(force_tls_hosts_, exchange, ip, domain)) {
    options.mode = port == 465 ? smtp_client::TlsMode::Implicit : smtp_client::TlsMode::Required;
    options.verify = true;
    return options;
  }
  if (port == 465) {
    options.mode = smtp_client::TlsMode::Implicit; // SMTPS speaks nothing else
    return options;
  }
  if (listed(no_tls_hosts_, exchange, ip, domain) || remembersFailure(exchange, now)) {
    options.mode = smtp_client::TlsMode::Off;
    return options;
  }
  options.mode = smtp_client::TlsMode::Opportunistic;
  return options;
}

bool TlsPolicy::handshakeFailed(const std::string& exchange, Clock::time_point now) {
  if (!fallback_to_plain_) {
    return false;
  }
  std::erase_if(no_go_until_, [now](const auto& entry) { return entry.second <= now; });
  no_go_until_[exchange] = now + no_go_expiry_;
  return true;
}

bool TlsPolicy::remembersFailure(const std::string& exchange, Clock::time_point now) const {
  auto it = no_go_until_.find(exchange);
  return it != no_go_until_.end() && now < it->second;
}

} // namespace upesi::outbound
