// SMTP TLS Reporting (RFC 8460): what a sender counts per policy domain and day (sessions that
// went through under a DANE or MTA-STS policy, and those that failed, by result type), the
// `_smtp._tls` TXT record that says where reports go, and the report itself: its JSON, gzipped,
// in a multipart/report mail (RFC 8460 5.3).
#pragma once

#include "common/util/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::tls_rpt {

enum class PolicyType { Tlsa, Sts };
const char* toString(PolicyType type);

/// RFC 8460 4.3's result types, those a sender can see.
enum class ResultType {
  StarttlsNotSupported,
  CertificateHostMismatch,
  CertificateExpired,
  CertificateNotTrusted,
  ValidationFailure,
  TlsaInvalid,
  DnssecInvalid,
  StsPolicyFetchError,
  StsPolicyInvalid,
};
const char* toString(ResultType type);

struct Failure {
  ResultType type = ResultType::ValidationFailure;
  std::string sending_ip;   ///< ours, when known
  std::string receiving_mx; ///< the MX host name
  std::string receiving_ip;
  std::string reason; ///< failure-reason-code: free text (a verify error, an HTTP status)
};

/// The policy a tally is about.
struct PolicyInfo {
  PolicyType type = PolicyType::Sts;
  std::vector<std::string> strings; ///< policy-string: the policy's lines, or the TLSA records
  std::vector<std::string> mx;      ///< mx-host: an MTA-STS policy's patterns
};

/// One policy domain, one policy, one day: what one process saw, or all of them merged.
struct Tally {
  PolicyInfo policy;
  std::uint64_t successes = 0;
  std::uint64_t failures = 0;
  /// failure-details, each with its count; at most MaxFailureDetails kinds (the rest count in
  /// `failures` alone).
  std::vector<std::pair<Failure, std::uint64_t>> details;

  void addSuccess(std::uint64_t n = 1) { successes += n; }
  void addFailure(const Failure& failure, std::uint64_t n = 1);
  void merge(const Tally& other);
};

constexpr std::size_t MaxFailureDetails = 100;

/// A tally as the per-process file keeps it, and back (nullopt: not one).
nlohmann::json toJson(const Tally& tally);
std::optional<Tally> tallyFromJson(const nlohmann::json& json);

/// The `mailto:` addresses of the one "v=TLSRPTv1" record among a name's TXT records (https
/// ones are left out), or nullopt: none, several, or a malformed one.
std::optional<std::vector<std::string>> reportAddresses(const std::vector<std::string>& txt);

struct ReportInfo {
  std::string organization; ///< organization-name: our host name
  std::string contact;      ///< contact-info: an address of ours
  std::string report_id;
  std::string day;    ///< "2026-12-05" (UTC)
  std::string domain; ///< the policy domain
};

/// The report (RFC 8460 4.4) of one policy domain for one day, from the merged tallies.
std::string reportJson(const ReportInfo& info, const std::vector<Tally>& tallies);

/// `data` in gzip format (RFC 1952).
Result<std::string> gzip(std::string_view data);

/// The report mail: multipart/report; report-type="tlsrpt", a short text part and the
/// gzipped JSON as application/tlsrpt+gzip, named as RFC 8460 5.3 says; CRLF line ends.
std::string reportMessage(const ReportInfo& info, const std::string& from,
                          const std::vector<std::string>& to, const std::string& gzipped,
                          const std::string& date, const std::string& message_id);

} // namespace upesi::tls_rpt
