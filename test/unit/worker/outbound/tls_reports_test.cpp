// TLS report counts written by each process and yesterday's reports sent once, on a real loop
// with DNS and the queue answered by tables.
#include "common/util/clock.hpp"
#include "test/support/temp_dir.hpp"
#include "worker/outbound/tls_report_log.hpp"
#include "worker/outbound/tls_report_sender.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using upesi::Address;
using upesi::DnsCallback;
using upesi::DnsResult;
using upesi::DnsStatus;
using upesi::DnsType;
using upesi::outbound::TlsReportLog;
using upesi::outbound::TlsReportSender;
using upesi::test::TempDir;
namespace tls_rpt = upesi::tls_rpt;

namespace {

struct ReportWorld {
  uv_loop_t loop{};
  TempDir dir;
  std::map<std::string, std::string> txt;
  struct Sent {
    std::vector<std::string> to;
    std::string message;
  };
  std::vector<Sent> sent;

  ReportWorld() { uv_loop_init(&loop); }
  ~ReportWorld() { uv_loop_close(&loop); }

  TlsReportSender sender() {
    return TlsReportSender(
        &loop, dir.path() / "tls-rpt",
        [this](const std::string& name, DnsType, DnsCallback done) {
          DnsResult r;
          auto it = txt.find(name);
          r.status = it == txt.end() ? DnsStatus::NxDomain : DnsStatus::Ok;
          if (it != txt.end()) {
            r.records.push_back({it->second, 0, 300});
          }
          done(r);
        },
        [this](const Address&, const std::vector<Address>& to, std::string message,
               std::function<void(bool)> done) {
          Sent s;
          for (const auto& a : to) {
            s.to.push_back(a.address());
          }
          s.message = std::move(message);
          sent.push_back(std::move(s));
          done(true);
        },
        TlsReportSender::Identity{"mail.sender.example", "noreply-tls-reports@sender.example"});
  }
};

tls_rpt::PolicyInfo sts() {
  return {tls_rpt::PolicyType::Sts, {"version: STSv1", "mode: enforce"}, {"mx.example.com"}};
}

} // namespace

TEST_CASE("TLS reports: counts of today in a file per domain and process") {
  ReportWorld w;
  TlsReportLog log(&w.loop, w.dir.path() / "tls-rpt");
  log.success("example.com", sts());
  log.success("example.com", sts());
  log.failure("example.com", sts(),
              {tls_rpt::ResultType::StarttlsNotSupported, "", "mx.example.com", "192.0.2.1", ""});
  const std::string today = TlsReportLog::dayOf(upesi::epochMs());
  auto* tallies = log.tallies(today, "example.com");
  REQUIRE(tallies != nullptr);
  CHECK(tallies->at(tls_rpt::PolicyType::Sts).successes == 2);
  bool flushed = false;
  log.flush([&flushed] { flushed = true; });
  uv_run(&w.loop, UV_RUN_DEFAULT);
  CHECK(flushed);
  const auto file =
      w.dir.path() / "tls-rpt" / today / ("example.com." + std::to_string(::getpid()) + ".json");
  REQUIRE(std::filesystem::exists(file));
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  auto json = nlohmann::json::parse(text.str());
  CHECK(json["domain"] == "example.com");
  CHECK(json["tallies"][0]["successes"] == 2);
  CHECK(json["tallies"][0]["failures"] == 1);
}

TEST_CASE("TLS reports: yesterday's counts of every process merged, sent once, then removed") {
  ReportWorld w;
  const std::string yesterday = "2026-12-05";
  // Two processes' files for example.com, one for quiet.example (which asks for no report).
  auto write = [&w, &yesterday](const std::string& domain, int pid, std::uint64_t successes) {
    tls_rpt::Tally t;
    t.policy = sts();
    t.addSuccess(successes);
    w.dir.write("tls-rpt/" + yesterday + "/" + domain + "." + std::to_string(pid) + ".json",
                nlohmann::json{{"domain", domain}, {"tallies", {tls_rpt::toJson(t)}}}.dump());
  };
  write("example.com", 100, 4);
  write("example.com", 200, 6);
  write("quiet.example", 100, 1);
  w.dir.write("tls-rpt/2026-12-06/example.com.100.json", "{}"); // today's: not yet
  w.txt["_smtp._tls.example.com"] = "v=TLSRPTv1; rua=mailto:tlsrpt@example.com";
  auto sender = w.sender();
  int queued = -1;
  sender.sendDue("2026-12-06", [&queued](int n) { queued = n; });
  uv_run(&w.loop, UV_RUN_DEFAULT);
  CHECK(queued == 1);
  REQUIRE(w.sent.size() == 1);
  CHECK(w.sent[0].to == std::vector<std::string>{"tlsrpt@example.com"});
  CHECK(w.sent[0].message.find("TLS-Report-Domain: example.com") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(w.dir.path() / "tls-rpt" / yesterday));
  CHECK(std::filesystem::exists(w.dir.path() / "tls-rpt" / "2026-12-06"));
  // Nothing left to send the next time.
  sender.sendDue("2026-12-06", [&queued](int n) { queued = n; });
  uv_run(&w.loop, UV_RUN_DEFAULT);
  CHECK(queued == 0);
  CHECK(w.sent.size() == 1);
}

TEST_CASE("TLS reports: the result type of a failed session") {
  using tls_rpt::ResultType;
  using upesi::outbound::resultTypeOf;
  using upesi::smtp_client::TlsFailure;
  CHECK((resultTypeOf(TlsFailure::StarttlsMissing, "", false) == ResultType::StarttlsNotSupported));
  CHECK((resultTypeOf(TlsFailure::TlsaMismatch, "", true) == ResultType::TlsaInvalid));
  CHECK((resultTypeOf(TlsFailure::CertificateInvalid, "hostname mismatch", false) ==
         ResultType::CertificateHostMismatch));
  CHECK((resultTypeOf(TlsFailure::CertificateInvalid, "certificate has expired", false) ==
         ResultType::CertificateExpired));
  CHECK((resultTypeOf(TlsFailure::CertificateInvalid, "self-signed certificate", false) ==
         ResultType::CertificateNotTrusted));
  CHECK((resultTypeOf(TlsFailure::Handshake, "", false) == ResultType::ValidationFailure));
}
