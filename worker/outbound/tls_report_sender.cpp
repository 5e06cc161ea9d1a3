#include "worker/outbound/tls_report_sender.hpp"

#include "common/log/logger.hpp"
#include "common/smtp/address_parser.hpp"
#include "common/tls_rpt/report.hpp"
#include "common/util/text.hpp"
#include "common/util/thread_pool.hpp"
#include "worker/smtp/uuid.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/file.h>
#include <unistd.h>

namespace upesi::outbound {

namespace {

bool isDayName(const std::string& name) {
  return name.size() == 10 && name[4] == '-' && name[7] == '-' &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return c == '-' || std::isdigit(static_cast<unsigned char>(c));
         });
}

std::optional<Address> addressOf(const std::string& text) {
  auto parsed = smtp::parsePath("<" + text + ">", smtp::PathKind::Forward);
  if (!parsed) {
    return std::nullopt;
  }
  return *parsed;
}

} // namespace

struct TlsReportSender::DayJob {
  std::string day;
  std::filesystem::path dir;
  int lock_fd = -1; ///< flock held while the day is sent
  std::map<std::string, std::map<tls_rpt::PolicyType, tls_rpt::Tally>> domains;
  std::vector<std::string> order; ///< domains left to send
  int queued = 0;
  bool failed = false;

  ~DayJob() {
    if (lock_fd >= 0) {
      ::close(lock_fd);
    }
  }
};

TlsReportSender::TlsReportSender(uv_loop_t* loop, std::filesystem::path dir, dns::DnsLookup lookup,
                                 Queue queue, Identity identity)
    : loop_(loop), dir_(std::move(dir)), lookup_(std::move(lookup)), queue_(std::move(queue)),
      identity_(std::move(identity)) {}

void TlsReportSender::sendDue(const std::string& today, std::function<void(int)> done) {
  if (running_) {
    if (done) {
      done(0);
    }
    return;
  }
  running_ = true;
  auto jobs = std::make_shared<std::vector<std::shared_ptr<DayJob>>>();
  const auto dir = dir_;
  runOnThreadPool(
      loop_,
      [jobs, dir, today] {
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
          const std::string day = entry.path().filename().string();
          if (!entry.is_directory(ec) || !isDayName(day) || day >= today) {
            continue;
          }
          auto job = std::make_shared<DayJob>();
          job->day = day;
          job->dir = entry.path();
          // One sender per day: the others (workers, a restarted one) find it locked and go on.
          job->lock_fd =
              ::open((entry.path() / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
          if (job->lock_fd < 0 || ::flock(job->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            continue;
          }
          for (const auto& file : std::filesystem::directory_iterator(entry.path(), ec)) {
            if (file.path().extension() != ".json") {
              continue;
            }
            std::ifstream in(file.path(), std::ios::binary);
            std::stringstream text;
            text << in.rdbuf();
            auto json = nlohmann::json::parse(text.str(), nullptr, false);
            if (!json.is_object() || !json.contains("domain") || !json["domain"].is_string() ||
                !json.contains("tallies") || !json["tallies"].is_array()) {
              continue;
            }
            auto& merged = job->domains[text::toLower(json["domain"].get<std::string>())];
            for (const auto& t : json["tallies"]) {
              if (auto tally = tls_rpt::tallyFromJson(t)) {
                merged[tally->policy.type].merge(*tally);
              }
            }
          }
          for (const auto& [domain, tallies] : job->domains) {
            job->order.push_back(domain);
          }
          jobs->push_back(std::move(job));
        }
      },
      [this, alive = alive_, jobs, done = std::move(done)] {
        if (!*alive) {
          return;
        }
        auto total = std::make_shared<int>(0);
        sendDays(jobs, 0, total, done);
      });
}

void TlsReportSender::sendDays(std::shared_ptr<std::vector<std::shared_ptr<DayJob>>> jobs,
                               std::size_t index, std::shared_ptr<int> total,
                               std::function<void(int)> done) {
  if (index >= jobs->size()) {
    running_ = false;
    if (done) {
      done(*total);
    }
    return;
  }
  auto job = (*jobs)[index];
  sendDomain(job, 0, [this, alive = alive_, jobs, index, total, done, job] {
    if (!*alive) {
      return;
    }
    *total += job->queued;
    if (job->failed) {
      log::warn({}, "TLS reports of {}: not all queued; the day is kept for the next run",
                job->day);
      sendDays(jobs, index + 1, total, done);
      return;
    }
    runOnThreadPool(
        loop_,
        [job] {
          std::error_code ec;
          std::filesystem::remove_all(job->dir, ec);
        },
        [this, alive, jobs, index, total, done, job] {
          if (!*alive) {
            return;
          }
          log::info({}, "TLS reports of {}: {} queued, {} policy domains", job->day, job->queued,
                    job->domains.size());
          sendDays(jobs, index + 1, total, done);
        });
  });
}

void TlsReportSender::sendDomain(std::shared_ptr<DayJob> job, std::size_t index,
                                 std::function<void()> then) {
  if (index >= job->order.size()) {
    then();
    return;
  }
  const std::string domain = job->order[index];
  auto next = [this, alive = alive_, job, index, then] {
    if (*alive) {
      sendDomain(job, index + 1, then);
    }
  };
  lookup_("_smtp._tls." + domain, DnsType::Txt,
          [this, alive = alive_, job, domain, next](DnsResult answer) {
            if (!*alive) {
              return;
            }
            std::vector<std::string> texts;
            for (const auto& record : answer.records) {
              texts.push_back(record.value);
            }
            auto rua =
                answer.status == DnsStatus::Ok ? tls_rpt::reportAddresses(texts) : std::nullopt;
            std::vector<Address> to;
            for (const auto& text : rua.value_or(std::vector<std::string>{})) {
              if (auto address = addressOf(text)) {
                to.push_back(std::move(*address));
              }
            }
            if (to.empty()) {
              log::debug({}, "TLS reports of {}: {} asks for none", job->day, domain);
              next();
              return;
            }
            std::vector<tls_rpt::Tally> tallies;
            for (const auto& [type, tally] : job->domains[domain]) {
              tallies.push_back(tally);
            }
            tls_rpt::ReportInfo info;
            info.organization = identity_.organization;
            info.contact = identity_.from;
            info.report_id = fmt::format("{}.{}.{}", job->day, domain, smtp::newUuid());
            info.day = job->day;
            info.domain = domain;
            auto gzipped = tls_rpt::gzip(tls_rpt::reportJson(info, tallies));
            auto from = addressOf(identity_.from);
            if (!gzipped || !from) {
              log::error({}, "TLS report of {} for {}: {}", job->day, domain,
                         gzipped ? "bad sender address " + identity_.from : gzipped.error());
              job->failed = true;
              next();
              return;
            }
            std::vector<std::string> recipients;
            for (const auto& a : to) {
              recipients.push_back(a.address());
            }
            std::string message =
                tls_rpt::reportMessage(info, identity_.from, recipients, *gzipped, rfc5322Now(),
                                       fmt::format("{}@{}", smtp::newUuid(), info.organization));
            queue_(*from, to, std::move(message), [job, domain, next](bool ok) {
              if (ok) {
                ++job->queued;
              } else {
                job->failed = true;
              }
              next();
            });
          });
}

} // namespace upesi::outbound
