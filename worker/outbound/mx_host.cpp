#include "worker/outbound/mx_host.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>

namespace upesi::outbound {
namespace {

Result<std::uint16_t> parsePort(std::string_view text, const std::string& spec) {
  unsigned int port = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || ptr != text.data() + text.size() || port == 0 || port > 65535) {
    return Error{fmt::format("MX \"{}\": bad port", spec)};
  }
  return static_cast<std::uint16_t>(port);
}

// host, host:port, [v6]:port, v6 (several colons, no brackets: no port)
Result<std::monostate> parseHostPort(std::string_view text, MxHost& mx, const std::string& spec) {
  if (text.empty()) {
    return Error{fmt::format("MX \"{}\": no host", spec)};
  }
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) {
      return Error{fmt::format("MX \"{}\": missing ']'", spec)};
    }
    mx.exchange = std::string(text.substr(1, close - 1));
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return Error{fmt::format("MX \"{}\": expected :port after ']'", spec)};
      }
      auto port = parsePort(rest.substr(1), spec);
      if (!port) {
        return Error{port.error()};
      }
      mx.port = *port;
    }
    return std::monostate{};
  }
  auto colon = text.rfind(':');
  if (colon != std::string_view::npos && text.find(':') == colon) {
    auto port = parsePort(text.substr(colon + 1), spec);
    if (!port) {
      return Error{port.error()};
    }
    mx.port = *port;
    text = text.substr(0, colon);
  }
  mx.exchange = std::string(text);
  if (mx.exchange.empty()) {
    return Error{fmt::format("MX \"{}\": no host", spec)};
  }
  return std::monostate{};
}

} // namespace

Result<MxHost> parseMxSpec(const std::string& spec) {
  MxHost mx;
  std::string_view text = spec;
  while (!text.empty() && text.front() == ' ') {
    text.remove_prefix(1);
  }
  while (!text.empty() && text.back() == ' ') {
    text.remove_suffix(1);
  }
  if (!text.empty() && text.front() == '{') {
    auto json = nlohmann::json::parse(text, nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.contains("exchange") ||
        !json["exchange"].is_string()) {
      return Error{fmt::format("MX \"{}\": not a JSON object with an exchange", spec)};
    }
    mx.exchange = json["exchange"].get<std::string>();
    mx.priority = json.value("priority", 0U);
    mx.using_lmtp = json.value("using_lmtp", false);
    mx.port = json.value("port", static_cast<std::uint16_t>(mx.using_lmtp ? 24 : 25));
    mx.bind = json.value("bind", std::string());
    mx.bind_helo = json.value("bind_helo", std::string());
    mx.auth_user = json.value("auth_user", std::string());
    mx.auth_pass = json.value("auth_pass", std::string());
    mx.auth_type = json.value("auth_type", std::string());
    return mx;
  }
  std::string_view rest = text;
  if (rest.starts_with("smtp://") || rest.starts_with("lmtp://")) {
    mx.using_lmtp = rest.starts_with("lmtp://");
    mx.port = mx.using_lmtp ? 24 : 25;
    rest.remove_prefix(7);
    if (!rest.empty() && rest.back() == '/') {
      rest.remove_suffix(1);
    }
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
      auto credentials = rest.substr(0, at);
      auto colon = credentials.find(':');
      mx.auth_user = std::string(credentials.substr(0, colon));
      if (colon != std::string_view::npos) {
        mx.auth_pass = std::string(credentials.substr(colon + 1));
      }
      rest = rest.substr(at + 1);
    }
  } else if (text.find("://") != std::string_view::npos) {
    return Error{fmt::format("MX \"{}\": only smtp:// and lmtp:// are understood", spec)};
  }
  if (auto r = parseHostPort(rest, mx, spec); !r) {
    return Error{r.error()};
  }
  return mx;
}

MxPlan planFromMxAnswer(const std::string& domain, const DnsResult& answer) {
  MxPlan plan;
  switch (answer.status) {
  case DnsStatus::Ok:
    break;
  case DnsStatus::NoData:
    plan.kind = MxPlan::Kind::Implicit;
    plan.hosts.push_back(MxHost{domain, 0, 25, false, {}, {}, {}, {}, {}});
    return plan;
  case DnsStatus::NxDomain:
    plan.kind = MxPlan::Kind::NoDomain;
    plan.reason = fmt::format("No Such Domain: {}", domain);
    return plan;
  default:
    plan.kind = MxPlan::Kind::TempFail;
    plan.reason = fmt::format("DNS lookup failure for {}: {}", domain, answer.error);
    return plan;
  }
  if (answer.records.size() == 1 &&
      (answer.records[0].value.empty() || answer.records[0].value == ".") &&
      answer.records[0].priority == 0) {
    plan.kind = MxPlan::Kind::NullMx;
    plan.reason = fmt::format("{} does not accept mail (null MX, RFC 7505)", domain);
    return plan;
  }
  for (const auto& record : answer.records) {
    if (record.value.empty() || record.value == ".") {
      continue;
    }
    plan.hosts.push_back(MxHost{record.value, record.priority, 25, false, {}, {}, {}, {}, {}});
  }
  std::stable_sort(plan.hosts.begin(), plan.hosts.end(),
                   [](const MxHost& a, const MxHost& b) { return a.priority < b.priority; });
  if (plan.hosts.empty()) {
    plan.kind = MxPlan::Kind::NullMx;
    plan.reason = fmt::format("{} has no usable MX", domain);
  }
  return plan;
}

} // namespace upesi::outbound
