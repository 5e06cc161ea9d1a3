// TLS reports (RFC 8460): the TXT record, the tallies, the JSON report, gzip and the mail.
#include "common/tls_rpt/report.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>
#include <zlib.h>

using namespace upesi::tls_rpt;

namespace {

std::string gunzip(const std::string& data) {
  z_stream stream{};
  REQUIRE(inflateInit2(&stream, 15 + 16) == Z_OK);
  std::string out(1 << 20, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  inflateEnd(&stream);
  REQUIRE(rc == Z_STREAM_END);
  return out;
}

Tally stsTally() {
  Tally t;
  t.policy = {PolicyType::Sts,
              {"version: STSv1", "mode: enforce", "mx: mx.example.com", "max_age: 86400"},
              {"mx.example.com"}};
  return t;
}

} // namespace

TEST_CASE("TLS-RPT record: the mailto addresses of the one v=TLSRPTv1 record") {
  CHECK(reportAddresses({"v=TLSRPTv1; rua=mailto:reports@example.com"}) ==
        std::vector<std::string>{"reports@example.com"});
  CHECK(reportAddresses({"v=TLSRPTv1;rua=mailto:a@example.com,mailto:b@example.net?subject=x;",
                         "v=spf1 -all"}) ==
        std::vector<std::string>{"a@example.com", "b@example.net"});
  // https rua: valid, but we only mail reports.
  CHECK(reportAddresses({"v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt"}) ==
        std::vector<std::string>{});
  CHECK_FALSE(reportAddresses({}));
  CHECK_FALSE(reportAddresses(
      {"v=TLSRPTv1; rua=mailto:a@x.example", "v=TLSRPTv1; rua=mailto:b@x.example"}));
  CHECK_FALSE(reportAddresses({"v=TLSRPTv1;"}));                       // no rua
  CHECK_FALSE(reportAddresses({"v=TLSRPTv1; rua=ftp://x.example/r"})); // no such scheme
  CHECK_FALSE(reportAddresses({"v=TLSRPTv10; rua=mailto:a@x.example"}));
}

TEST_CASE("TLS-RPT tallies: counts, failure details bounded, merged across processes") {
  Tally a = stsTally();
  a.addSuccess(3);
  Failure expired{ResultType::CertificateExpired, "192.0.2.1", "mx.example.com", "198.51.100.1",
                  "certificate has expired"};
  a.addFailure(expired);
  a.addFailure(expired);
  CHECK(a.failures == 2);
  REQUIRE(a.details.size() == 1);
  CHECK(a.details[0].second == 2);
  for (int i = 0; i < 150; ++i) {
    a.addFailure({ResultType::StarttlsNotSupported, "", "mx" + std::to_string(i), "", ""});
  }
  CHECK(a.failures == 152);
  CHECK(a.details.size() == MaxFailureDetails);

  auto back = tallyFromJson(toJson(a));
  REQUIRE(back);
  CHECK(back->successes == 3);
  CHECK(back->failures == 152);
  CHECK(back->details.size() == MaxFailureDetails);
  CHECK(back->policy.strings == a.policy.strings);

  Tally b = stsTally();
  b.addSuccess(2);
  b.addFailure(expired);
  Tally merged;
  merged.merge(b);
  merged.merge(b);
  CHECK(merged.successes == 4);
  CHECK(merged.failures == 2);
  REQUIRE(merged.details.size() == 1);
  CHECK(merged.details[0].second == 2);
  CHECK(merged.policy.mx == std::vector<std::string>{"mx.example.com"});

  CHECK_FALSE(tallyFromJson(
      nlohmann::json::parse(R"({"policy_type": "x", "successes": 1, "failures": 0})")));
  CHECK_FALSE(tallyFromJson(nlohmann::json::parse("[]")));
}

TEST_CASE("TLS-RPT report: RFC 8460 4.4's fields, gzipped, in a multipart/report mail") {
  Tally t = stsTally();
  t.addSuccess(5);
  t.addFailure({ResultType::CertificateHostMismatch, "", "mx.example.com", "198.51.100.1",
                "hostname mismatch"});
  ReportInfo info{"mail.sender.example", "noreply-tls-reports@mail.sender.example", "r-1",
                  "2026-12-05", "example.com"};
  auto report = nlohmann::json::parse(reportJson(info, {t}));
  CHECK(report["organization-name"] == "mail.sender.example");
  CHECK(report["date-range"]["start-datetime"] == "2026-12-05T00:00:00Z");
  CHECK(report["date-range"]["end-datetime"] == "2026-12-05T23:59:59Z");
  CHECK(report["report-id"] == "r-1");
  const auto& policy = report["policies"][0];
  CHECK(policy["policy"]["policy-type"] == "sts");
  CHECK(policy["policy"]["policy-domain"] == "example.com");
  CHECK(policy["policy"]["mx-host"][0] == "mx.example.com");
  CHECK(policy["summary"]["total-successful-session-count"] == 5);
  CHECK(policy["summary"]["total-failure-session-count"] == 1);
  CHECK(policy["failure-details"][0]["result-type"] == "certificate-host-mismatch");
  CHECK(policy["failure-details"][0]["receiving-ip"] == "198.51.100.1");
  CHECK(policy["failure-details"][0]["failed-session-count"] == 1);
  CHECK_FALSE(policy["failure-details"][0].contains("sending-mta-ip")); // unknown: left out

  auto gz = gzip(reportJson(info, {t}));
  REQUIRE(gz.ok());
  CHECK(gunzip(*gz) == reportJson(info, {t}));

  const std::string mail = reportMessage(info, info.contact, {"tlsrpt@example.com"}, *gz,
                                         "Sat, 05 Dec 2026 00:10:00 +0000", "id@sender");
  CHECK(mail.find("Subject: Report Domain: example.com Submitter: mail.sender.example "
                  "Report-ID: <r-1>\r\n") != std::string::npos);
  CHECK(mail.find("TLS-Report-Domain: example.com\r\n") != std::string::npos);
  CHECK(mail.find("TLS-Report-Submitter: mail.sender.example\r\n") != std::string::npos);
  CHECK(mail.find("multipart/report; report-type=\"tlsrpt\"") != std::string::npos);
  CHECK(mail.find("Content-Type: application/tlsrpt+gzip\r\n") != std::string::npos);
  // submitter!policy-domain!begin!end!id.json.gz, the times in seconds since the epoch.
  CHECK(
      mail.find("filename=\"mail.sender.example!example.com!1796428800!1796515199!r-1.json.gz\"") !=
      std::string::npos);
  CHECK(mail.find("\n.\r\n") == std::string::npos);
}
