#include "plugins/helo.checks/helo_rules.hpp"

#include <upesi/text.hpp>

#include "common/util/cidr.hpp"
#include "plugins/support/host_names.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace upesi::plugins::helo_checks {

namespace {

constexpr std::string_view Ipv6Tag = "IPv6:";

// An IPv4 or IPv6 address, written plainly (no brackets, no tag).
bool isAddress(std::string_view text) {
  if (text.empty() || text.front() == '[') {
    return false;
  }
  return util::IpAddress::parse(text).has_value();
}

std::string_view withoutTag(std::string_view text) {
  if (text.size() > Ipv6Tag.size() && text::equalsIgnoreCase(text.substr(0, 5), Ipv6Tag)) {
    text.remove_prefix(Ipv6Tag.size());
  }
  return text;
}

bool isPrivateAddress(std::string_view ip) {
  static const char* const Private[] = {
      "10.0.0.0/8",     "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8",
      "169.254.0.0/16", "fc00::/7",      "fe80::/10",      "::1"};
  auto address = util::IpAddress::parse(ip);
  if (!address) {
    return false;
  }
  return std::any_of(std::begin(Private), std::end(Private), [&](const char* net) {
    auto cidr = util::Cidr::parse(net);
    return cidr && cidr->contains(*address);
  });
}

} // namespace

std::optional<std::string> literalAddress(std::string_view helo) {
  if (helo.size() < 3 || helo.front() != '[' || helo.back() != ']') {
    return std::nullopt;
  }
  const std::string_view inside = withoutTag(helo.substr(1, helo.size() - 2));
  if (!isAddress(inside)) {
    return std::nullopt;
  }
  return std::string(inside);
}

bool isBareIp(std::string_view helo) {
  return isAddress(withoutTag(helo));
}

bool looksLikeAddress(std::string_view helo) {
  if (!helo.empty() && helo.front() == '[') {
    helo.remove_prefix(1);
  }
  if (!helo.empty() && helo.back() == ']') {
    helo.remove_suffix(1);
  }
  return isAddress(withoutTag(helo));
}

HostnameCheck checkHostname(std::string_view helo, const auth::PublicSuffixList& list,
                            const std::vector<std::string>& skip_tlds) {
  HostnameCheck check;
  const std::string lower = text::toLower(helo);
  const auto dot = lower.rfind('.');
  check.tld = dot == std::string::npos ? lower : lower.substr(dot + 1);
  if (dot == std::string::npos) {
    check.verdict = HostnameVerdict::NoDot;
    return check;
  }
  if (!knownOrganizationalDomain(list, lower).empty()) {
    return check;
  }
  const bool skipped = std::any_of(skip_tlds.begin(), skip_tlds.end(), [&](const auto& tld) {
    return tld == check.tld || tld == "." + check.tld;
  });
  check.verdict = skipped ? HostnameVerdict::SkippedTld : HostnameVerdict::Invalid;
  return check;
}

bool bigCompanyAllows(std::string_view rdns, std::string_view allowed) {
  const std::string name = text::toLower(rdns);
  for (const auto& domain : text::splitList(allowed, ",")) {
    const std::string wanted = text::toLower(domain);
    if (name == wanted || (name.size() > wanted.size() && name.ends_with("." + wanted))) {
      return true;
    }
  }
  return false;
}

LiteralVerdict checkLiteral(std::string_view helo, std::string_view remote_ip, int mode) {
  const auto address = literalAddress(helo);
  if (!address) {
    return LiteralVerdict::NotLiteral;
  }
  if (mode > 2 && isPrivateAddress(*address)) {
    return LiteralVerdict::PassPrivate;
  }
  if (mode > 1) {
    return sameIpv4Slash24(remote_ip, *address) ? LiteralVerdict::Pass
                                                : LiteralVerdict::FailNetwork;
  }
  return *address == remote_ip ? LiteralVerdict::Pass : LiteralVerdict::FailExact;
}

HeloPatterns HeloPatterns::compile(const std::vector<std::string>& lines, std::string_view file) {
  HeloPatterns compiled;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = text::trim(lines[i]);
    if (line.empty() || line.front() == '#') {
      continue; // as a list file reads
    }
    try {
      compiled.patterns_.emplace_back(
          std::string(line), std::regex::ECMAScript | std::regex::icase | std::regex::optimize);
    } catch (const std::regex_error& e) {
      compiled.errors_.push_back(fmt::format(
          "{} line {}: bad regular expression \"{}\" ({}); skipped", file, i + 1, line, e.what()));
    }
  }
  return compiled;
}

bool HeloPatterns::matches(std::string_view helo, std::string* error) const {
  if (patterns_.empty()) {
    return false;
  }
  if (helo.size() > MaxPatternInput) {
    return true;
  }
  for (const auto& pattern : patterns_) {
    try {
      if (std::regex_match(helo.begin(), helo.end(), pattern)) {
        return true;
      }
    } catch (const std::regex_error& e) {
      if (error != nullptr) {
        *error = e.what();
      }
    }
  }
  return false;
}

} // namespace upesi::plugins::helo_checks
