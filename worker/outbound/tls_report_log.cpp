#include "worker/outbound/tls_report_log.hpp"

#include "common/log/logger.hpp"
#include "common/util/clock.hpp"
#include "common/util/thread_pool.hpp"

#include <fmt/format.h>

#include <ctime>
#include <fstream>
#include <unistd.h>
#include <vector>

namespace upesi::outbound {

tls_rpt::ResultType resultTypeOf(smtp_client::TlsFailure failure, const std::string& verify_error,
                                 bool dane) {
  using smtp_client::TlsFailure;
  using tls_rpt::ResultType;
  switch (failure) {
  case TlsFailure::StarttlsMissing:
    return ResultType::StarttlsNotSupported;
  case TlsFailure::TlsaMismatch:
    return ResultType::TlsaInvalid;
  case TlsFailure::CertificateInvalid:
    if (dane) {
      return ResultType::TlsaInvalid;
    }
    if (verify_error.find("hostname mismatch") != std::string::npos) {
      return ResultType::CertificateHostMismatch;
    }
    if (verify_error.find("expired") != std::string::npos) {
      return ResultType::CertificateExpired;
    }
    return ResultType::CertificateNotTrusted;
  case TlsFailure::Handshake:
  case TlsFailure::None:
    break;
  }
  return ResultType::ValidationFailure;
}

TlsReportLog::TlsReportLog(uv_loop_t* loop, std::filesystem::path dir, std::size_t max_domains)
    : loop_(loop), dir_(std::move(dir)), max_domains_(max_domains) {}

std::string TlsReportLog::dayOf(std::int64_t epoch_ms) {
  const std::time_t seconds = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", &tm);
  return text;
}

tls_rpt::Tally* TlsReportLog::tallyFor(const std::string& domain,
                                       const tls_rpt::PolicyInfo& policy) {
  const std::string day = dayOf(epochMs());
  // Days before this one were flushed already: only today is kept.
  std::erase_if(days_, [&day, this](const auto& entry) {
    return entry.first != day &&
           std::none_of(dirty_.begin(), dirty_.end(),
                        [&entry](const auto& d) { return d.first == entry.first; });
  });
  auto& domains = days_[day];
  if (!domains.contains(domain) && domains.size() >= max_domains_) {
    if (!warned_full_) {
      warned_full_ = true;
      log::warn({}, "TLS reports: {} policy domains counted today, the most kept: {} is not",
                max_domains_, domain);
    }
    return nullptr;
  }
  dirty_.emplace(day, domain);
  auto& tally = domains[domain][policy.type];
  // The policy as last seen: a refreshed MTA-STS policy replaces the one before.
  tally.policy = policy;
  return &tally;
}

void TlsReportLog::success(const std::string& domain, const tls_rpt::PolicyInfo& policy) {
  if (auto* tally = tallyFor(domain, policy)) {
    tally->addSuccess();
  }
}

void TlsReportLog::failure(const std::string& domain, const tls_rpt::PolicyInfo& policy,
                           const tls_rpt::Failure& failure) {
  if (auto* tally = tallyFor(domain, policy)) {
    tally->addFailure(failure);
  }
}

const std::map<tls_rpt::PolicyType, tls_rpt::Tally>*
TlsReportLog::tallies(const std::string& day, const std::string& domain) const {
  auto d = days_.find(day);
  if (d == days_.end()) {
    return nullptr;
  }
  auto t = d->second.find(domain);
  return t == d->second.end() ? nullptr : &t->second;
}

void TlsReportLog::flush(std::function<void()> done) {
  struct File {
    std::filesystem::path path;
    std::string text;
  };
  auto files = std::make_shared<std::vector<File>>();
  const int pid = ::getpid();
  for (const auto& [day, domain] : dirty_) {
    nlohmann::json tallies = nlohmann::json::array();
    for (const auto& [type, tally] : days_[day][domain]) {
      tallies.push_back(tls_rpt::toJson(tally));
    }
    files->push_back({dir_ / day / fmt::format("{}.{}.json", domain, pid),
                      nlohmann::json{{"domain", domain}, {"tallies", tallies}}.dump()});
  }
  dirty_.clear();
  if (files->empty()) {
    if (done) {
      done();
    }
    return;
  }
  auto errors = std::make_shared<std::vector<std::string>>();
  runOnThreadPool(
      loop_,
      [files, errors] {
        for (const auto& file : *files) {
          std::error_code ec;
          std::filesystem::create_directories(file.path.parent_path(), ec);
          const std::string temp = file.path.string() + ".tmp";
          {
            std::ofstream out(temp, std::ios::binary | std::ios::trunc);
            out << file.text;
            if (!out.flush()) {
              errors->push_back(fmt::format("{}: cannot write", temp));
              continue;
            }
          }
          std::filesystem::rename(temp, file.path, ec);
          if (ec) {
            errors->push_back(fmt::format("{}: {}", file.path.string(), ec.message()));
          }
        }
      },
      [errors, done = std::move(done)] {
        for (const auto& error : *errors) {
          log::warn({}, "TLS reports: {}", error);
        }
        if (done) {
          done();
        }
      });
}

} // namespace upesi::outbound
