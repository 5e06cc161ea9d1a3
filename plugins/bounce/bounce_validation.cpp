#include "plugins/bounce/bounce_validation.hpp"

#include <upesi/text.hpp>

#include "common/util/cidr.hpp"
#include "plugins/headers/header_checks.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>

namespace upesi::plugins::bounce {

std::optional<std::string> computeHash(const std::string& algorithm, std::string_view secret,
                                       std::string_view from, std::string_view date,
                                       std::string_view message_id) {
  const EVP_MD* md = EVP_get_digestbyname(algorithm.c_str());
  if (md == nullptr) {
    return std::nullopt;
  }
  const std::string input = fmt::format("{}:{}:{}", from, date, message_id);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int length = 0;
  if (HMAC(md, secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(),
           &length) == nullptr) {
    return std::nullopt;
  }
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex += fmt::format("{:02x}", mac[i]);
  }
  return hex;
}

std::string hashInput(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c != '\r' && c != '\n') {
      out += c;
    }
  }
  const auto first = out.find_first_not_of(" \t");
  return first == std::string::npos ? std::string() : out.substr(first);
}

std::string extractHeader(std::string_view text, std::string_view name) {
  std::size_t at = 0;
  while (at < text.size()) {
    const auto end = std::min(text.find('\n', at), text.size());
    std::string_view line = text.substr(at, end - at);
    at = end + 1;
    if (line.size() <= name.size() || line[name.size()] != ':' ||
        !text::equalsIgnoreCase(line.substr(0, name.size()), name)) {
      continue;
    }
    std::string value(text::trim(line.substr(name.size() + 1)));
    // Continuation lines join with one space.
    while (at < text.size() && (text[at] == ' ' || text[at] == '\t')) {
      const auto next_end = std::min(text.find('\n', at), text.size());
      auto more = text::trim(text.substr(at, next_end - at));
      if (!more.empty()) {
        value += value.empty() ? std::string(more) : " " + std::string(more);
      }
      at = next_end + 1;
    }
    if (!value.empty()) {
      return value;
    }
  }
  return {};
}

BounceFields findBounceFields(const BodyPart& body) {
  BounceFields fields;
  const auto& text = body.text();
  if (!text.empty()) {
    fields.from = extractHeader(text, "From");
    fields.date = extractHeader(text, "Date");
    fields.message_id = extractHeader(text, "Message-ID");
    fields.hash = extractHeader(text, HashHeader);
    if (fields.any()) {
      return fields;
    }
  }
  for (std::size_t i = 0; i < body.childCount(); ++i) {
    auto child = findBounceFields(body.child(i));
    if (child.any()) {
      return child;
    }
  }
  return fields;
}

namespace {

Verdict fail(std::string value, std::string msg, std::string reject_on) {
  return {Verdict::Type::Fail, std::move(value), std::move(msg), std::move(reject_on)};
}

bool sameHash(const std::string& expected, const std::string& actual) {
  return CRYPTO_memcmp(expected.data(), actual.data(), expected.size()) == 0;
}

} // namespace

bool isWhitelisted(const nlohmann::json& whitelist, const std::string& rcpt,
                   const std::string& from) {
  if (!whitelist.is_object() || from.empty()) {
    return false;
  }
  auto entries = whitelist.find(rcpt);
  if (entries == whitelist.end() || !entries->is_array()) {
    return false;
  }
  for (const auto& entry : *entries) {
    if (!entry.is_string()) {
      continue;
    }
    const auto allowed = text::toLower(entry.get<std::string>());
    if (allowed == from ||
        (allowed.starts_with("*@") && from.ends_with(std::string_view(allowed).substr(1)))) {
      return true;
    }
  }
  return false;
}

Verdict verify(const BounceFields& fields, const VerifyOptions& options) {
  if (!fields.hash.empty()) {
    if (fields.from.empty() || fields.date.empty() || fields.message_id.empty()) {
      return fail("validate_bounce", "missing headers", "hash_validation");
    }
    auto expected =
        computeHash(options.algorithm, options.secret, fields.from, fields.date, fields.message_id);
    if (!expected || expected->size() != fields.hash.size()) {
      return fail("validate_bounce", "hash length mismatch", "hash_validation");
    }
    if (!sameHash(*expected, fields.hash)) {
      return fail("validate_bounce", "hash does not match", "hash_validation");
    }
    if (!options.check_date) {
      return {Verdict::Type::Pass, "", "", ""};
    }
    auto when = headers::parseDate(fields.date);
    if (!when) {
      return fail("bounce_date", "invalid date header", "hash_date");
    }
    const auto age_days = (options.now - *when) / 86400;
    if (age_days > options.max_age_days) {
      return fail("bounce_date", "hash is too old", "hash_date");
    }
    return {Verdict::Type::Pass, "", "", ""};
  }
  if (!fields.from.empty() && !fields.date.empty() && !fields.message_id.empty()) {
    if (options.from_address.empty()) {
      return {Verdict::Type::Skip, "", "invalid from header", ""};
    }
    if (isWhitelisted(options.whitelist, options.rcpt, options.from_address)) {
      return {Verdict::Type::Skip, "", "whitelisted", ""};
    }
    return fail("validate_bounce", "missing validation hash", "hash_validation");
  }
  return {Verdict::Type::Skip, "", "missing all headers", ""};
}

namespace {

bool isPublic(const util::IpAddress& ip) {
  static const std::array<const char*, 12> private_nets = {
      "0.0.0.0/8",      "10.0.0.0/8",    "100.64.0.0/10",  "127.0.0.0/8",
      "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "::/128",
      "::1/128",        "fc00::/7",      "fe80::/10",      "::ffff:127.0.0.0/104"};
  for (const auto* net : private_nets) {
    auto cidr = util::Cidr::parse(net);
    if (cidr && cidr->contains(ip)) {
      return false;
    }
  }
  return true;
}

// An address in brackets or parentheses starting at `open`: its text, or "".
std::string bracketedIp(std::string_view text, std::size_t open) {
  const char close = text[open] == '[' ? ']' : ')';
  auto start = open + 1;
  if (text.substr(start, 5) == "IPv6:" || text.substr(start, 5) == "ipv6:") {
    start += 5;
  }
  const auto end = text.find(close, start);
  if (end == std::string_view::npos || end - start > 45) {
    return {};
  }
  std::string candidate(text.substr(start, end - start));
  return util::IpAddress::parse(candidate) ? candidate : std::string();
}

} // namespace

void receivedIpsIn(std::string_view text, std::vector<std::string>& ips, std::size_t limit) {
  constexpr std::string_view Label = "Received:";
  for (std::size_t at = 0; at < text.size() && ips.size() < limit;) {
    auto found = text.find(Label, at);
    if (found == std::string_view::npos) {
      return;
    }
    at = found + Label.size();
    if (found != 0 && text[found - 1] != '\n') {
      continue; // only at the start of a line
    }
    // The first bracketed address after it, as Haraka's lazy pattern finds.
    for (auto open = text.find_first_of("[(", at); open != std::string_view::npos;
         open = text.find_first_of("[(", open + 1)) {
      auto ip = bracketedIp(text, open);
      if (ip.empty()) {
        continue;
      }
      auto parsed = util::IpAddress::parse(ip);
      if (isPublic(*parsed) && std::find(ips.begin(), ips.end(), ip) == ips.end()) {
        ips.push_back(ip);
      }
      at = open + 1;
      break;
    }
  }
}

std::vector<std::string> receivedIps(const BodyPart& body, std::size_t limit) {
  std::vector<std::string> ips;
  receivedIpsIn(body.text(), ips, limit);
  for (std::size_t i = 0; i < body.childCount() && ips.size() < limit; ++i) {
    for (const auto& ip : receivedIps(body.child(i), limit - ips.size())) {
      if (std::find(ips.begin(), ips.end(), ip) == ips.end()) {
        ips.push_back(ip);
      }
    }
  }
  return ips;
}

} // namespace upesi::plugins::bounce
