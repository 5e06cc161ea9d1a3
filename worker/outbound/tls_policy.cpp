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

bool TlsPolicy::wantsDane(const std::string& domain) const {
  if (auto level = levelFor(domain)) {
    return *level == tls::OutboundTlsLevel::Dane;
  }
  return dane_opportunistic_ && context_ != nullptr;
}

smtp_client::TlsOptions TlsPolicy::decide(const std::string& exchange, const std::string& ip,
                                          std::uint16_t port, const std::string& domain,
                                          Clock::time_point now, const dns::DaneRequirement* dane,
                                          bool sts_enforce, std::string* applied) const {
  smtp_client::TlsOptions options;
  options.context = context_.get();
  options.name = exchange;
  if (dane != nullptr && (dane->kind == dns::DaneRequirement::Kind::Usable ||
                          dane->kind == dns::DaneRequirement::Kind::Unusable)) {
    // RFC 7672 2.2: TLS or no delivery; authenticated by the records when one is usable.
    // Without a context (enable_tls=false) the client refuses to connect: deferred.
    options.mode = port == 465 ? smtp_client::TlsMode::Implicit : smtp_client::TlsMode::Required;
    options.verify = dane->kind == dns::DaneRequirement::Kind::Usable;
    options.tlsa = dane->records;
    return options;
  }
  if (auto level = levelFor(domain)) {
    using tls::OutboundTlsLevel;
    switch (*level) {
    case OutboundTlsLevel::None:
      options.mode = smtp_client::TlsMode::Off;
      return options;
    case OutboundTlsLevel::May:
    case OutboundTlsLevel::Dane: // without TLSA records
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
  if (sts_enforce) {
    // Without a context (enable_tls=false) the client refuses to connect: deferred.
    options.mode = port == 465 ? smtp_client::TlsMode::Implicit : smtp_client::TlsMode::Required;
    options.verify = true;
    if (applied != nullptr) {
      *applied = "mta-sts";
    }
    return options;
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

std::string TlsPolicy::describe(const smtp_client::TlsOptions& options,
                                const dns::DaneRequirement* dane) {
  using smtp_client::TlsMode;
  if (!options.tlsa.empty()) {
    return "dane";
  }
  if (dane != nullptr && dane->kind == dns::DaneRequirement::Kind::Unusable) {
    return "dane-encrypt";
  }
  switch (options.mode) {
  case TlsMode::Off:
    return "none";
  case TlsMode::Opportunistic:
    return "may";
  case TlsMode::Required:
  case TlsMode::Implicit:
    break;
  }
  if (!options.verify) {
    return options.mode == TlsMode::Implicit ? "smtps" : "encrypt";
  }
  return options.match_names.empty() ? "verify" : "secure";
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
