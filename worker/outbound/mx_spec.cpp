#include "worker/outbound/mx_spec.hpp"

#include "common/util/text.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <charconv>

namespace upesi::outbound {

using dns::MxHost;

namespace {

// The parts below return only what is wrong ("bad port"); parseMxSpec says which answer, with
// its password hidden (shownSpec).

Result<std::uint16_t> parsePort(std::string_view text) {
  unsigned int port = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || ptr != text.data() + text.size() || port == 0 || port > 65535) {
    return Error{"bad port"};
  }
  return static_cast<std::uint16_t>(port);
}

// host, host:port, [v6]:port, v6 (several colons, no brackets: no port)
// A name or an address: "host/path", "a b" or "user@host" would only fail at connect.
bool plausibleHost(std::string_view host) {
  return !host.empty() && host.find_first_of("/@?# \t\r\n") == std::string_view::npos;
}

Result<std::monostate> parseHostPort(std::string_view text, MxHost& mx) {
  if (text.empty()) {
    return Error{"no host"};
  }
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) {
      return Error{"missing ']'"};
    }
    mx.exchange = std::string(text.substr(1, close - 1));
    if (mx.exchange.empty()) {
      return Error{"no host"};
    }
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return Error{"expected :port after ']'"};
      }
      auto port = parsePort(rest.substr(1));
      if (!port) {
        return Error{port.error()};
      }
      mx.port = *port;
    }
    return std::monostate{};
  }
  auto colon = text.rfind(':');
  if (colon != std::string_view::npos && text.find(':') == colon) {
    auto port = parsePort(text.substr(colon + 1));
    if (!port) {
      return Error{port.error()};
    }
    mx.port = *port;
    text = text.substr(0, colon);
  }
  mx.exchange = std::string(text);
  if (mx.exchange.empty()) {
    return Error{"no host"};
  }
  if (!plausibleHost(mx.exchange)) {
    return Error{"not a host name or address"};
  }
  return std::monostate{};
}

// A JSON field, absent or null: the default; of another type or out of range: an error naming
// the field (a plugin's answer is not trusted to be well formed, and nlohmann's get<> throws).
Result<std::monostate> jsonString(const nlohmann::json& json, const char* field, std::string& out) {
  auto it = json.find(field);
  if (it == json.end() || it->is_null()) {
    return std::monostate{};
  }
  if (!it->is_string()) {
    return Error{fmt::format("{} must be a string", field)};
  }
  out = it->get<std::string>();
  return std::monostate{};
}

Result<std::monostate> jsonInteger(const nlohmann::json& json, const char* field, std::uint64_t min,
                                   std::uint64_t max, std::uint64_t& out) {
  auto it = json.find(field);
  if (it == json.end() || it->is_null()) {
    return std::monostate{};
  }
  if (!it->is_number_integer()) {
    return Error{fmt::format("{} must be an integer", field)};
  }
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() < min ||
      it->get<std::uint64_t>() > max) {
    return Error{fmt::format("{} must be from {} to {}", field, min, max)};
  }
  out = it->get<std::uint64_t>();
  return std::monostate{};
}

Result<MxHost> parseMxJson(std::string_view text, std::vector<std::string>& warnings) {
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return Error{"not a JSON object"};
  }
  MxHost mx;
  if (auto it = json.find("exchange");
      it == json.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
    return Error{"exchange must be a non-empty string"};
  } else if (!plausibleHost(it->get_ref<const std::string&>())) {
    return Error{"exchange is not a host name or address"};
  }
  mx.exchange = json["exchange"].get<std::string>();
  for (auto [field, out] :
       {std::pair{"using_lmtp", &mx.using_lmtp}, std::pair{"auth_required", &mx.auth_required}}) {
    if (auto it = json.find(field); it != json.end() && !it->is_null()) {
      if (!it->is_boolean()) {
        return Error{fmt::format("{} must be true or false", field)};
      }
      *out = it->get<bool>();
    }
  }
  std::uint64_t priority = 0;
  // An MX preference is 16 bits (RFC 1035 section 3.3.9).
  if (auto r = jsonInteger(json, "priority", 0, 65535, priority); !r) {
    return Error{r.error()};
  }
  mx.priority = static_cast<unsigned>(priority);
  std::uint64_t port = mx.using_lmtp ? 24 : 25;
  if (auto r = jsonInteger(json, "port", 1, 65535, port); !r) {
    return Error{r.error()};
  }
  mx.port = static_cast<std::uint16_t>(port);
  for (auto [field, out] :
       {std::pair{"bind", &mx.bind}, std::pair{"bind_helo", &mx.bind_helo},
        std::pair{"auth_user", &mx.auth_user}, std::pair{"auth_pass", &mx.auth_pass},
        std::pair{"auth_type", &mx.auth_type}}) {
    if (auto r = jsonString(json, field, *out); !r) {
      return Error{r.error()};
    }
  }
  // Haraka's Outbound.md has long called bind_helo "bind_ehlo": take either; its code reads
  // bind_helo, which wins when both are given.
  std::string bind_ehlo;
  if (auto r = jsonString(json, "bind_ehlo", bind_ehlo); !r) {
    return Error{r.error()};
  }
  if (mx.bind_helo.empty()) {
    mx.bind_helo = bind_ehlo;
  } else if (!bind_ehlo.empty() && bind_ehlo != mx.bind_helo) {
    warnings.push_back(fmt::format("bind_ehlo \"{}\" and bind_helo \"{}\" differ: using bind_helo",
                                   bind_ehlo, mx.bind_helo));
  }
  return mx;
}

Result<MxHost> parseMxText(std::string_view text, std::vector<std::string>& warnings) {
  if (!text.empty() && text.front() == '{') {
    return parseMxJson(text, warnings);
  }
  MxHost mx;
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
    return Error{"only smtp:// and lmtp:// are understood"};
  }
  if (auto r = parseHostPort(rest, mx); !r) {
    return Error{r.error()};
  }
  return mx;
}

} // namespace

std::string shownSpec(std::string_view spec) {
  const std::string_view text = text::trim(spec);
  if (!text.empty() && text.front() == '{') {
    auto json = nlohmann::json::parse(text, nullptr, false);
    if (!json.is_discarded() && json.is_object()) {
      if (auto it = json.find("auth_pass"); it != json.end() && !it->is_null()) {
        *it = "***";
      }
      return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    // Unparsed, a password cannot be told from the rest (a key may be spelt with \u escapes).
    if (text.find("pass") != std::string_view::npos || text.find('\\') != std::string_view::npos) {
      return fmt::format("(JSON text of {} bytes, not shown)", text.size());
    }
    return fmt::format("{:?}", text);
  }
  // [scheme://]user:password@host...: as parseMxText reads it, the user ends at the first ':'
  // and the password at the last '@'.
  const std::size_t scheme = text.find("://");
  const std::size_t start = scheme == std::string_view::npos ? 0 : scheme + 3;
  const std::size_t at = text.rfind('@');
  if (at != std::string_view::npos && at >= start) {
    const std::size_t colon = text.substr(start, at - start).find(':');
    if (colon != std::string_view::npos) {
      return fmt::format(
          "{:?}", fmt::format("{}***{}", text.substr(0, start + colon + 1), text.substr(at)));
    }
  }
  return fmt::format("{:?}", text);
}

Result<MxHost> parseMxSpec(const std::string& spec, std::vector<std::string>* warnings) {
  std::vector<std::string> found;
  auto mx = parseMxText(text::trim(spec), found);
  if (!mx) {
    return Error{fmt::format("MX {}: {}", shownSpec(spec), mx.error())};
  }
  if (warnings != nullptr) {
    for (auto& w : found) {
      warnings->push_back(fmt::format("MX {}: {}", shownSpec(spec), w));
    }
  }
  return mx;
}

} // namespace upesi::outbound
