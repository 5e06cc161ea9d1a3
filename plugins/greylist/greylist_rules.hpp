// greylist.ini and the greylisting tuple: who the client is (its hostid), and whether it skips
// greylisting.
//
// hostid: a sending host retries from another address of the same pool, so it is not the IP:
//   - with [main] spf_domain=true and SPF passing for the sender: that domain ("spf:example.com");
//   - a static-looking rDNS name (fcrdns confirmed it, one PTR, not generic, a known TLD): the
//     name without its first label, never shorter than its organizational domain
//     (mta7.out.example.com -> out.example.com);
//   - otherwise the client's /24 (IPv4) or /64 (IPv6).
#pragma once

#include "common/auth/public_suffix.hpp"
#include "common/util/cidr.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace upesi::plugins::greylist {

struct GreylistConfig {
  std::string text = "Greylisted, please try again later"; // after 451 4.7.1
  long long black_s = 850;                                 // before a retry counts
  long long grey_s = 90000;                                // a retry must come within this (25 h)
  long long white_s = 3024000; // a passed host stays white this long after its last mail (35 d)
  bool skip_private_ip = true;
  bool spf_domain = false;
  bool fail_open = true; // Redis down: accept (else defer)
  std::vector<util::Cidr> ip_whitelist;
  std::set<std::string> envelope_whitelist;         // addresses and domains, lower-case
  std::set<std::string> recipient_whitelist;        // addresses and domains, lower-case
  std::vector<std::string> special_dynamic_domains; // rDNS under these is never a hostid
  std::vector<std::string> problems;
};

/// The booleans of greylist.ini.
const std::vector<std::string>& greylistIniBooleans();

GreylistConfig readGreylistConfig(const nlohmann::json& ini);

/// `address` (lower-case "user@domain") or its domain in `list`.
bool addressListed(const std::set<std::string>& list, const std::string& address);

struct HostId {
  std::string id;
  std::string kind; // "spf", "rdns" or "network"
};

/// The hostid of a client: `fcrdns` is the fcrdns plugin's results (null when it did not run),
/// `spf_pass_domain` the sender's domain when SPF passed for it.
HostId hostId(const GreylistConfig& cfg, const std::string& ip, const std::string& rdns,
              const nlohmann::json& fcrdns, const std::optional<std::string>& spf_pass_domain,
              const auth::PublicSuffixList* suffixes);

/// The network an IP counts under: "192.0.2.0/24", "2001:db8:1:2::/64".
std::string networkOf(const std::string& ip);

} // namespace upesi::plugins::greylist
