// get_mx answers (worker/outbound/mx_spec parseMxSpec): what a plugin returns for a domain, one
// MX per line: host, host:port, [v6]:port, smtp://user:pass@host:port, lmtp://host, or a JSON
// object with Haraka's HarakaMx fields.
//
// Input: one answer line.
//
// Invariants: nothing throws; an MX parsed has an exchange and a port; an error says which
// answer; a password never shows in an error (one put in the answer's password place is looked
// for); an MX written back as smtp:// or lmtp:// (or, from JSON, as JSON) parses the same.
#include "worker/outbound/mx_spec.hpp"

#include "common/util/text.hpp"
#include "test/fuzz/fuzz_check.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

using namespace upesi;
using namespace upesi::outbound;
using upesi::dns::MxHost;

namespace {

constexpr std::string_view Canary = "Zq7canaryPW";

bool sameMx(const MxHost& a, const MxHost& b) {
  return a.exchange == b.exchange && a.priority == b.priority && a.port == b.port &&
         a.using_lmtp == b.using_lmtp && a.bind == b.bind && a.bind_helo == b.bind_helo &&
         a.auth_user == b.auth_user && a.auth_pass == b.auth_pass && a.auth_type == b.auth_type;
}

// The answer with its password, where a URL has one ([scheme://]user:password@host), replaced
// by the canary; nothing if it has no password place.
std::optional<std::string> withCanaryPassword(std::string_view text) {
  if (!text.empty() && text.front() == '{') {
    auto json = nlohmann::json::parse(text, nullptr, false);
    if (json.is_discarded() || !json.is_object()) {
      return std::nullopt;
    }
    json["auth_pass"] = std::string(Canary);
    return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  const std::size_t scheme = text.find("://");
  const std::size_t start = scheme == std::string_view::npos ? 0 : scheme + 3;
  const std::size_t at = text.rfind('@');
  if (at == std::string_view::npos || at < start) {
    return std::nullopt;
  }
  const std::size_t colon = text.substr(start, at - start).find(':');
  if (colon == std::string_view::npos) {
    return std::nullopt;
  }
  return std::string(text.substr(0, start + colon + 1)) + std::string(Canary) +
         std::string(text.substr(at));
}

void checkError(const Result<MxHost>& mx) {
  if (!mx) {
    FUZZ_CHECK(mx.error().starts_with("MX "));
    FUZZ_CHECK(mx.error().find(Canary) == std::string::npos);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) {
    return 0;
  }
  const std::string spec(upesi::fuzz::asView(data, size));
  const auto mx = parseMxSpec(spec);
  (void)shownSpec(spec);
  if (spec.find(Canary) == std::string::npos) {
    checkError(mx);
    if (auto variant = withCanaryPassword(upesi::text::trim(spec))) {
      checkError(parseMxSpec(*variant));
      FUZZ_CHECK(shownSpec(*variant).find(Canary) == std::string::npos);
    }
  }
  if (!mx) {
    return 0;
  }
  FUZZ_CHECK(!mx->exchange.empty());
  FUZZ_CHECK(mx->port != 0);
  FUZZ_CHECK(mx->priority <= 65535);

  const std::string_view text = upesi::text::trim(spec);
  if (text.starts_with("{")) {
    // From JSON, back to JSON.
    nlohmann::json json = {
        {"exchange", mx->exchange},     {"priority", mx->priority},   {"port", mx->port},
        {"using_lmtp", mx->using_lmtp}, {"bind", mx->bind},           {"bind_helo", mx->bind_helo},
        {"auth_user", mx->auth_user},   {"auth_pass", mx->auth_pass}, {"auth_type", mx->auth_type}};
    const auto again = parseMxSpec(json.dump());
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(sameMx(*again, *mx));
    return 0;
  }
  FUZZ_CHECK(mx->priority == 0 && mx->bind.empty() && mx->bind_helo.empty() &&
             mx->auth_type.empty());
  FUZZ_CHECK(mx->using_lmtp == text.starts_with("lmtp://"));
  // A host with ']' or '@' cannot be written back inside brackets or after credentials.
  if (mx->exchange.find_first_of("]@") != std::string::npos) {
    return 0;
  }
  std::string url = mx->using_lmtp ? "lmtp://" : "smtp://";
  if (!mx->auth_user.empty() || !mx->auth_pass.empty()) {
    url += mx->auth_user;
    if (!mx->auth_pass.empty()) {
      url += ":" + mx->auth_pass;
    }
    url += "@";
  }
  url += "[" + mx->exchange + "]:" + std::to_string(mx->port);
  const auto again = parseMxSpec(url);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(sameMx(*again, *mx));
  return 0;
}
