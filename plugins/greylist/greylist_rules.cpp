#include "plugins/greylist/greylist_rules.hpp"

#include <upesi/text.hpp>

#include "common/config/ini_values.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <charconv>

namespace upesi::plugins::greylist {
namespace {

// The keys of a list section ("[ip_whitelist]\n192.0.2.0/24\n" parses as a key without value).
std::vector<std::string> sectionKeys(const nlohmann::json& ini, const char* section) {
  std::vector<std::string> keys;
  if (ini.contains(section) && ini[section].is_object()) {
    for (const auto& [key, value] : ini[section].items()) {
      keys.push_back(key);
    }
  }
  return keys;
}

bool resultHas(const nlohmann::json& results, const char* key, std::string_view value) {
  if (!results.is_object() || !results.contains(key) || !results[key].is_array()) {
    return false;
  }
  for (const auto& item : results[key]) {
    if (item.is_string() && item.get<std::string>().starts_with(value)) {
      return true;
    }
  }
  return false;
}

// Why an rDNS name cannot stand for its host, or "" when it can.
std::string rdnsUnfit(const GreylistConfig& cfg, const std::string& rdns,
                      const nlohmann::json& fcrdns) {
  if (rdns.empty()) {
    return "no rDNS";
  }
  if (!fcrdns.is_object()) {
    return "no fcrdns results";
  }
  if (!resultHas(fcrdns, "pass", "fcrdns")) {
    return "rDNS not forward-confirmed";
  }
  if (fcrdns.contains("ptr_names") && fcrdns["ptr_names"].is_array() &&
      fcrdns["ptr_names"].size() > 1) {
    return "several PTR names";
  }
  if ((fcrdns.contains("generic_rdns") && fcrdns["generic_rdns"] == true) ||
      resultHas(fcrdns, "fail", "is_generic")) {
    return "generic rDNS";
  }
  if (resultHas(fcrdns, "fail", "valid_tld")) {
    return "invalid TLD";
  }
  for (const auto& domain : cfg.special_dynamic_domains) {
    if (rdns == domain || rdns.ends_with("." + domain)) {
      return "a dynamic domain";
    }
  }
  return {};
}

} // namespace

const std::vector<std::string>& greylistIniBooleans() {
  static const std::vector<std::string> booleans = {"+skip.private_ip", "-main.spf_domain",
                                                    "+main.fail_open"};
  return booleans;
}

GreylistConfig readGreylistConfig(const nlohmann::json& ini) {
  GreylistConfig cfg;
  if (ini.contains("main") && ini["main"].contains("text") && ini["main"]["text"].is_string()) {
    cfg.text = ini["main"]["text"].get<std::string>();
  }
  for (auto [key, slot] : {std::pair{"black", &cfg.black_s}, std::pair{"grey", &cfg.grey_s},
                           std::pair{"white", &cfg.white_s}}) {
    if (!ini.contains("period") || !ini["period"].contains(key)) {
      continue;
    }
    const auto text = config::iniText(ini["period"][key]);
    long long value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 1 ||
        value > 400LL * 86400) {
      cfg.problems.push_back(
          fmt::format("[period] {}: \"{}\" is not a number of seconds", key, text));
      continue;
    }
    *slot = value;
  }
  if (cfg.black_s >= cfg.grey_s) {
    cfg.problems.push_back("[period] black must be shorter than grey: using 850 and 90000");
    cfg.black_s = 850;
    cfg.grey_s = 90000;
  }
  cfg.skip_private_ip = config::iniFlag(ini, "skip", "private_ip", true);
  cfg.spf_domain = config::iniFlag(ini, "main", "spf_domain", false);
  cfg.fail_open = config::iniFlag(ini, "main", "fail_open", true);
  for (const auto& entry : sectionKeys(ini, "ip_whitelist")) {
    if (auto cidr = util::Cidr::parse(entry)) {
      cfg.ip_whitelist.push_back(*cidr);
    } else {
      cfg.problems.push_back(
          fmt::format("[ip_whitelist] \"{}\" is not an address or a CIDR", entry));
    }
  }
  for (const auto& entry : sectionKeys(ini, "envelope_whitelist")) {
    cfg.envelope_whitelist.insert(text::toLower(entry));
  }
  for (const auto& entry : sectionKeys(ini, "recipient_whitelist")) {
    cfg.recipient_whitelist.insert(text::toLower(entry));
  }
  for (const auto& entry : sectionKeys(ini, "special_dynamic_domains")) {
    cfg.special_dynamic_domains.push_back(text::toLower(entry));
  }
  return cfg;
}

bool addressListed(const std::set<std::string>& list, const std::string& address) {
  if (list.count(address) != 0) {
    return true;
  }
  const auto at = address.rfind('@');
  return at != std::string::npos && list.count(address.substr(at + 1)) != 0;
}

std::string networkOf(const std::string& ip) {
  in_addr v4{};
  in6_addr v6{};
  char text[INET6_ADDRSTRLEN] = {};
  if (::inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    auto* bytes = reinterpret_cast<unsigned char*>(&v4.s_addr);
    bytes[3] = 0;
    ::inet_ntop(AF_INET, &v4, text, sizeof text);
    return std::string(text) + "/24";
  }
  if (::inet_pton(AF_INET6, ip.c_str(), &v6) == 1) {
    for (int i = 8; i < 16; ++i) {
      v6.s6_addr[i] = 0;
    }
    ::inet_ntop(AF_INET6, &v6, text, sizeof text);
    return std::string(text) + "/64";
  }
  return ip;
}

HostId hostId(const GreylistConfig& cfg, const std::string& ip, const std::string& rdns_in,
              const nlohmann::json& fcrdns, const std::optional<std::string>& spf_pass_domain,
              const auth::PublicSuffixList* suffixes) {
  if (cfg.spf_domain && spf_pass_domain && !spf_pass_domain->empty()) {
    return {"spf:" + text::toLower(*spf_pass_domain), "spf"};
  }
  std::string rdns = text::toLower(rdns_in);
  if (!rdns.empty() && rdns.back() == '.') {
    rdns.pop_back();
  }
  if (suffixes != nullptr && rdnsUnfit(cfg, rdns, fcrdns).empty()) {
    const std::string org = suffixes->organizationalDomain(rdns);
    if (!org.empty()) {
      if (rdns == org) {
        return {rdns, "rdns"};
      }
      const auto dot = rdns.find('.');
      const std::string stripped = rdns.substr(dot + 1);
      return {stripped.size() >= org.size() ? stripped : org, "rdns"};
    }
  }
  return {networkOf(ip), "network"};
}

} // namespace upesi::plugins::greylist
