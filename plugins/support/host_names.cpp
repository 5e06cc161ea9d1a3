#include "plugins/support/host_names.hpp"

#include <upesi/text.hpp>

#include "common/util/cidr.hpp"

#include <fmt/format.h>

#include <map>
#include <mutex>
#include <vector>

namespace upesi::plugins {

namespace {

std::vector<std::string> splitOctets(std::string_view ip) {
  std::vector<std::string> octets;
  std::size_t start = 0;
  while (octets.size() < 4) {
    auto dot = ip.find('.', start);
    octets.emplace_back(ip.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  return octets;
}

std::string withoutRange(const std::string& text, std::size_t at, std::size_t length) {
  return text.substr(0, at) + text.substr(at + length);
}

// Both octets appear in `text`, at different places (the longer one looked for first).
bool octetsIn(const std::string& text, const std::string& first, const std::string& second) {
  if (second.size() >= first.size()) {
    auto at = text.rfind(second);
    return at != std::string::npos &&
           withoutRange(text, at, second.size()).rfind(first) != std::string::npos;
  }
  auto at = text.find(first);
  return at != std::string::npos &&
         withoutRange(text, at, first.size()).rfind(second) != std::string::npos;
}

// The labels left of the TLD (when the list knows it) and the one label above it.
std::string hostPart(std::string_view name, const auth::PublicSuffixList& list) {
  std::string lower = text::toLower(std::string(name));
  auto cut = lower.rfind('.');
  if (cut == std::string::npos || cut == 0) {
    return {}; // a single label is all domain
  }
  if (list.hasRuleFor(lower.substr(cut + 1))) {
    auto above = lower.rfind('.', cut - 1);
    return above == std::string::npos ? "" : lower.substr(0, above);
  }
  return lower.substr(0, cut);
}

bool isIpv4(std::string_view ip) {
  auto parsed = util::IpAddress::parse(ip);
  return parsed && !parsed->v6 && ip.find(':') == std::string_view::npos &&
         ip.find('[') == std::string_view::npos;
}

} // namespace

std::string knownOrganizationalDomain(const auth::PublicSuffixList& list, std::string_view name) {
  if (!list.hasRuleFor(name)) {
    return {};
  }
  auto registrable = list.registrableDomain(name);
  return registrable ? *registrable : std::string();
}

bool ipInHostName(std::string_view ip, std::string_view name, const auth::PublicSuffixList& list) {
  if (ip.empty() || name.empty() || !isIpv4(ip)) {
    return false;
  }
  const std::string host = hostPart(name, list);
  const auto octets = splitOctets(ip);
  if (octets.size() != 4) {
    return false;
  }
  if (octetsIn(host, octets[2], octets[3]) || octetsIn(host, octets[0], octets[1])) {
    return true;
  }
  // The address as one hex number (no leading zeros, as Haraka writes it), byte by byte.
  unsigned long value = 0;
  for (const auto& octet : octets) {
    value = value * 256 + std::stoul(octet);
  }
  const std::string hex = fmt::format("{:x}", value);
  std::string rest = host;
  for (std::size_t i = 0; i < 4; ++i) {
    const std::string pair = i * 2 < hex.size() ? hex.substr(i * 2, 2) : "";
    auto at = rest.find(pair);
    if (at == std::string::npos) {
      return false;
    }
    rest = withoutRange(rest, at, pair.size());
  }
  return true;
}

bool sameIpv4Slash24(std::string_view a, std::string_view b) {
  if (!isIpv4(a) || !isIpv4(b)) {
    return false;
  }
  return a.substr(0, a.rfind('.')) == b.substr(0, b.rfind('.'));
}

std::shared_ptr<const auth::PublicSuffixList> sharedSuffixList(const std::string& path,
                                                               std::string& error) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const auth::PublicSuffixList>> loaded;
  std::lock_guard lock(mutex);
  if (auto found = loaded.find(path); found != loaded.end()) {
    return found->second;
  }
  auto list = auth::PublicSuffixList::load(path);
  if (!list) {
    error = list.error();
    return std::make_shared<const auth::PublicSuffixList>(); // not kept: a later load may work
  }
  auto shared = std::make_shared<const auth::PublicSuffixList>(std::move(*list));
  loaded[path] = shared;
  return shared;
}

} // namespace upesi::plugins
