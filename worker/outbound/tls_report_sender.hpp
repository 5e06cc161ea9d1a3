// TlsReportSender: sends yesterday's TLS reports (RFC 8460). For every day before today that
// TlsReportLog files are kept for, one process (whichever takes the day's lock file first) merges
// what every worker counted, asks each policy domain's `_smtp._tls` TXT record where reports go,
// and queues one report per domain (mailto: addresses only) through send_email, as any message
// of ours; then the day's files are removed. A domain without such a record gets no report.
// A day whose reports could not all be queued is kept, to be tried at the next run.
//
// Threading: the loop thread; the files are read and removed on libuv's thread pool.
#pragma once

#include <upesi/address.hpp>

#include "common/dns/mx_resolver.hpp"

#include <uv.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace upesi::outbound {

class TlsReportSender {
public:
  struct Identity {
    std::string organization; ///< organization-name and the file names' submitter: our name
    std::string from;         ///< the reports' sender address
  };
  /// Queues a message; `done(true)` once it is in the queue.
  using Queue = std::function<void(const Address& from, const std::vector<Address>& to,
                                   std::string message, std::function<void(bool)> done)>;

  TlsReportSender(uv_loop_t* loop, std::filesystem::path dir, dns::DnsLookup lookup, Queue queue,
                  Identity identity);

  /// Sends the reports of the days before `today` ("2026-12-06"); `done(reports queued)`.
  void sendDue(const std::string& today, std::function<void(int)> done = {});

private:
  struct DayJob;
  void sendDays(std::shared_ptr<std::vector<std::shared_ptr<DayJob>>> jobs, std::size_t index,
                std::shared_ptr<int> total, std::function<void(int)> done);
  void sendDomain(std::shared_ptr<DayJob> job, std::size_t index, std::function<void()> then);

  uv_loop_t* loop_;
  std::filesystem::path dir_;
  dns::DnsLookup lookup_;
  Queue queue_;
  Identity identity_;
  bool running_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

public:
  ~TlsReportSender() { *alive_ = false; }
  TlsReportSender(const TlsReportSender&) = delete;
  TlsReportSender& operator=(const TlsReportSender&) = delete;
};

} // namespace upesi::outbound
