#include "common/dns/dane_lookup.hpp"

#include <fmt/format.h>

#include <memory>

namespace upesi::dns {
namespace {

constexpr unsigned RcodeNoError = 0;
constexpr unsigned RcodeServFail = 2;
constexpr unsigned RcodeNxDomain = 3;
constexpr unsigned RcodeRefused = 5;
constexpr unsigned RecordTypeA = 1;
constexpr unsigned RecordTypeMx = 15;

const unsigned char* bytesOf(const std::string& message) {
  return reinterpret_cast<const unsigned char*>(message.data());
}

std::string rcodeText(unsigned rcode) {
  switch (rcode) {
  case RcodeServFail:
    return "SERVFAIL";
  case RcodeNxDomain:
    return "NXDOMAIN";
  case RcodeRefused:
    return "REFUSED";
  default:
    return fmt::format("RCODE {}", rcode);
  }
}

// The answer as Resolver::query would have given it, from the raw message.
DnsResult resultOf(const Resolver::RawAnswer& answer, DnsType type) {
  if (answer.status != DnsStatus::Ok) {
    return DnsResult{answer.status, answer.error, {}};
  }
  const auto* message = bytesOf(answer.message);
  const int length = static_cast<int>(answer.message.size());
  auto header = authenticatedAndRcode(message, length);
  if (!header) {
    return DnsResult{DnsStatus::Error, "malformed answer", {}};
  }
  switch (header->second) {
  case RcodeNoError:
    return parseAnswer(type, message, length);
  case RcodeNxDomain:
    return DnsResult{DnsStatus::NxDomain, "Domain name not found", {}};
  case RcodeServFail:
  case RcodeRefused:
    return DnsResult{DnsStatus::ServFail, rcodeText(header->second), {}};
  default:
    return DnsResult{DnsStatus::Error, rcodeText(header->second), {}};
  }
}

bool authenticated(const Resolver::RawAnswer& answer) {
  if (answer.status != DnsStatus::Ok) {
    return false;
  }
  auto header =
      authenticatedAndRcode(bytesOf(answer.message), static_cast<int>(answer.message.size()));
  return header && header->first &&
         (header->second == RcodeNoError || header->second == RcodeNxDomain);
}

} // namespace

void lookupSecureMx(const AuthenticatedLookup& lookup, const std::string& domain,
                    std::function<void(MxPlan plan, bool secure)> done) {
  lookup(domain, RecordTypeMx, [domain, done = std::move(done)](const Resolver::RawAnswer& answer) {
    MxPlan plan = planFromMxAnswer(domain, resultOf(answer, DnsType::Mx));
    done(std::move(plan), authenticated(answer));
  });
}

bool usableForSmtp(const TlsaRecord& record) {
  return (record.usage == 2 || record.usage == 3) && record.selector <= 1 && record.matching <= 2;
}

DaneRequirement requirementFromTlsa(const std::string& qname, const Resolver::RawAnswer& answer) {
  DaneRequirement out;
  if (answer.status != DnsStatus::Ok) {
    out.kind = DaneRequirement::Kind::Failed;
    out.reason = fmt::format("TLSA lookup for {} failed: {}", qname, answer.error);
    return out;
  }
  auto tlsa = parseTlsaAnswer(bytesOf(answer.message), static_cast<int>(answer.message.size()));
  if (!tlsa) {
    out.kind = DaneRequirement::Kind::Failed;
    out.reason = fmt::format("TLSA lookup for {}: malformed answer", qname);
    return out;
  }
  if (tlsa->rcode != RcodeNoError && tlsa->rcode != RcodeNxDomain) {
    // RFC 7672 2.2: a secure host whose TLSA records cannot be had is not sent to in clear.
    out.kind = DaneRequirement::Kind::Failed;
    out.reason = fmt::format("TLSA lookup for {} failed: {}", qname, rcodeText(tlsa->rcode));
    return out;
  }
  if (!tlsa->authenticated) {
    out.reason = fmt::format("TLSA records of {} not DNSSEC-validated", qname);
    return out;
  }
  if (tlsa->records.empty()) {
    out.reason = fmt::format("no TLSA records at {}", qname);
    return out;
  }
  for (auto& record : tlsa->records) {
    if (usableForSmtp(record)) {
      out.records.push_back(std::move(record));
    }
  }
  if (out.records.empty()) {
    out.kind = DaneRequirement::Kind::Unusable;
    out.reason =
        fmt::format("{} TLSA records at {}, none usable for SMTP", tlsa->records.size(), qname);
    return out;
  }
  out.kind = DaneRequirement::Kind::Usable;
  out.reason = fmt::format("{} usable TLSA records at {}", out.records.size(), qname);
  return out;
}

void lookupDane(const AuthenticatedLookup& lookup, const std::string& host, std::uint16_t port,
                std::function<void(DaneRequirement)> done) {
  // RFC 7672 2.2.2: TLSA records count only for a host whose address records are secure.
  lookup(host, RecordTypeA,
         [lookup, host, port, done = std::move(done)](const Resolver::RawAnswer& address) {
           DaneRequirement out;
           const DnsResult a = resultOf(address, DnsType::A);
           if (a.status == DnsStatus::ServFail || a.status == DnsStatus::Timeout ||
               a.status == DnsStatus::Error) {
             out.kind = DaneRequirement::Kind::Failed;
             out.reason = fmt::format("secure address lookup for {} failed: {}", host, a.error);
             done(std::move(out));
             return;
           }
           if (!authenticated(address)) {
             out.reason = fmt::format("the address records of {} are not DNSSEC-validated", host);
             done(std::move(out));
             return;
           }
           const std::string qname = fmt::format("_{}._tcp.{}", port, host);
           lookup(qname, RecordTypeTlsa,
                  [qname, done = std::move(done)](const Resolver::RawAnswer& tlsa) {
                    done(requirementFromTlsa(qname, tlsa));
                  });
         });
}

} // namespace upesi::dns
