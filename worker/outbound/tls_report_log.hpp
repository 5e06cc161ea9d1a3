// TlsReportLog: what this process saw of each DANE or MTA-STS policy domain today, for TLS
// reports (RFC 8460): sessions that went through under the policy, and failures by result
// type. Every `flush` (a minute, and at a flush of the queue) the day's tallies that changed
// are written to <dir>/<day>/<domain>.<pid>.json, replaced whole, so that the process that
// sends the reports (TlsReportSender) merges what every worker saw, and nothing counted is lost
// to a restart beyond the last minute.
//
// Bounded: at most `max_domains` domains a day; a domain past that is not counted (logged once).
//
// Threading: the loop thread; files are written on libuv's thread pool.
#pragma once

#include "common/smtp_client/smtp_client.hpp"
#include "common/tls_rpt/report.hpp"

#include <uv.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace upesi::outbound {

/// The result type (RFC 8460 4.3) of a session the client gave up on: `dane` when TLSA records
/// ruled it, `verify_error` OpenSSL's text for a certificate that did not verify.
tls_rpt::ResultType resultTypeOf(smtp_client::TlsFailure failure, const std::string& verify_error,
                                 bool dane);

class TlsReportLog {
public:
  TlsReportLog(uv_loop_t* loop, std::filesystem::path dir, std::size_t max_domains = 10000);

  void success(const std::string& domain, const tls_rpt::PolicyInfo& policy);
  void failure(const std::string& domain, const tls_rpt::PolicyInfo& policy,
               const tls_rpt::Failure& failure);

  /// Writes what changed since the last flush; `done` once the files are written.
  void flush(std::function<void()> done = {});

  /// "2026-12-05" for a time in ms since the epoch (UTC).
  static std::string dayOf(std::int64_t epoch_ms);

  /// The tallies of `day` for `domain`, for tests.
  const std::map<tls_rpt::PolicyType, tls_rpt::Tally>* tallies(const std::string& day,
                                                               const std::string& domain) const;

private:
  using DomainTallies = std::map<tls_rpt::PolicyType, tls_rpt::Tally>;
  tls_rpt::Tally* tallyFor(const std::string& domain, const tls_rpt::PolicyInfo& policy);

  uv_loop_t* loop_;
  std::filesystem::path dir_;
  std::size_t max_domains_;
  std::map<std::string, std::map<std::string, DomainTallies>> days_; // day -> domain -> tallies
  std::set<std::pair<std::string, std::string>> dirty_;              // (day, domain)
  bool warned_full_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

public:
  ~TlsReportLog() { *alive_ = false; }
  TlsReportLog(const TlsReportLog&) = delete;
  TlsReportLog& operator=(const TlsReportLog&) = delete;
};

} // namespace upesi::outbound
