// DNS answers as plugins receive them from Host::dnsQuery.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi {

enum class DnsType { A, Aaaa, Mx, Txt, Ptr, Cname, Ns };

/// The record type's name as DNS writes it: "A", "AAAA", "MX"...
constexpr std::string_view toString(DnsType type) {
  switch (type) {
  case DnsType::A:
    return "A";
  case DnsType::Aaaa:
    return "AAAA";
  case DnsType::Mx:
    return "MX";
  case DnsType::Txt:
    return "TXT";
  case DnsType::Ptr:
    return "PTR";
  case DnsType::Cname:
    return "CNAME";
  case DnsType::Ns:
    return "NS";
  }
  return "?";
}

enum class DnsStatus {
  Ok,
  NoData,   ///< the name exists, without records of this type
  NxDomain, ///< the name does not exist
  ServFail, ///< the server failed (or refused)
  Timeout,
  Error, ///< anything else (bad name, no servers, cancelled)
};

struct DnsRecord {
  std::string value;     ///< address, host name, or TXT text (strings joined)
  unsigned priority = 0; ///< MX preference
  std::uint32_t ttl = 0;
};

struct DnsResult {
  DnsStatus status = DnsStatus::Error;
  std::string error; ///< a readable reason when status is not Ok
  std::vector<DnsRecord> records;
};

using DnsCallback = std::function<void(DnsResult)>;

} // namespace upesi
