#include "common/auth/dmarc_record.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace upesi::dmarc;

TEST_CASE("dmarc record: the examples of RFC 7489 appendix B.2") {
  // B.2.1: monitoring only.
  auto monitor = parseRecord("v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com");
  REQUIRE_MESSAGE(monitor.ok(), monitor.error);
  CHECK(monitor.record.policy == Policy::None);
  CHECK_FALSE(monitor.record.subdomain_policy);
  CHECK(monitor.record.dkim_alignment == Alignment::Relaxed);
  CHECK(monitor.record.spf_alignment == Alignment::Relaxed);
  CHECK(monitor.record.percent == 100);
  REQUIRE(monitor.record.aggregate_uris.size() == 1);
  CHECK(monitor.record.aggregate_uris[0].uri == "mailto:dmarc-feedback@example.com");
  CHECK_FALSE(monitor.record.aggregate_uris[0].max_size);
  CHECK(monitor.record.failure_options == std::vector<std::string>{"0"});
  CHECK(monitor.record.report_formats == std::vector<std::string>{"afrf"});
  CHECK(monitor.record.report_interval == 86400);

  // B.2.2: reports to a third party too.
  auto third_party = parseRecord("v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com,"
                                 "mailto:tld-test@thirdparty.example.net");
  REQUIRE(third_party.ok());
  REQUIRE(third_party.record.aggregate_uris.size() == 2);
  CHECK(third_party.record.aggregate_uris[1].uri == "mailto:tld-test@thirdparty.example.net");

  // B.2.3: quarantine a quarter, a size limit on a report URI.
  auto quarter = parseRecord("v=DMARC1; p=quarantine;\r\n"
                             "       rua=mailto:dmarc-feedback@example.com,\r\n"
                             "       mailto:tld-test@thirdparty.example.net!10m;\r\n"
                             "       pct=25");
  REQUIRE_MESSAGE(quarter.ok(), quarter.error);
  CHECK(quarter.record.policy == Policy::Quarantine);
  CHECK(quarter.record.percent == 25);
  REQUIRE(quarter.record.aggregate_uris.size() == 2);
  CHECK(quarter.record.aggregate_uris[1].uri == "mailto:tld-test@thirdparty.example.net");
  CHECK(*quarter.record.aggregate_uris[1].max_size == 10ULL * 1024 * 1024);
  CHECK(quarter.record.aggregate_uris[1].size_text == "10m");

  // B.2.4: failure reports.
  auto failure = parseRecord("v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com; "
                             "ruf=mailto:auth-reports@thirdparty.example.net");
  REQUIRE(failure.ok());
  REQUIRE(failure.record.failure_uris.size() == 1);
  CHECK(failure.record.failure_uris[0].uri == "mailto:auth-reports@thirdparty.example.net");
}

TEST_CASE("dmarc record: every tag, values in any case") {
  auto parse = parseRecord("v=DMARC1; p=REJECT; SP=Quarantine; np=reject; adkim=S; aspf=s; "
                           "pct=0; rua=mailto:a@example.com!5K; ruf=mailto:f@example.com!1; "
                           "fo=1:D:s; rf=AFRF:iodef; ri=3600; x_future=1");
  REQUIRE_MESSAGE(parse.ok(), parse.error);
  const Record& record = parse.record;
  CHECK(record.policy == Policy::Reject);
  CHECK(*record.subdomain_policy == Policy::Quarantine);
  CHECK(*record.nonexistent_policy == Policy::Reject);
  CHECK(record.dkim_alignment == Alignment::Strict);
  CHECK(record.spf_alignment == Alignment::Strict);
  CHECK(record.percent == 0);
  CHECK(*record.aggregate_uris[0].max_size == 5 * 1024);
  CHECK(*record.failure_uris[0].max_size == 1);
  CHECK(record.failure_options == std::vector<std::string>{"1", "d", "s"});
  CHECK(record.report_formats == std::vector<std::string>{"afrf", "iodef"});
  CHECK(record.report_interval == 3600);
  CHECK_FALSE(record.policy_assumed);
  CHECK(writeRecord(record) ==
        "v=DMARC1; p=reject; sp=quarantine; np=reject; adkim=s; aspf=s; pct=0; "
        "rua=mailto:a@example.com!5k; ruf=mailto:f@example.com!1; fo=1:d:s; rf=afrf:iodef; "
        "ri=3600");
  auto again = parseRecord(writeRecord(record));
  REQUIRE(again.ok());
  CHECK(again.record == record);
}

TEST_CASE("dmarc record: v=DMARC1 first and exactly so") {
  CHECK(isDmarcRecord("v=DMARC1"));
  CHECK(isDmarcRecord("v=DMARC1;p=none"));
  CHECK(isDmarcRecord("  v = DMARC1 ; p=none"));
  CHECK(isDmarcRecord("V=DMARC1; p=none"));       // the tag name is case-insensitive ABNF
  CHECK_FALSE(isDmarcRecord("v=dmarc1; p=none")); // the value is %x44 %x4d %x41 %x52 %x43 %x31
  CHECK_FALSE(isDmarcRecord("v=DMARC10; p=none"));
  CHECK_FALSE(isDmarcRecord("v=DMARC1x"));
  CHECK_FALSE(isDmarcRecord("p=none; v=DMARC1"));
  CHECK_FALSE(isDmarcRecord("v=spf1 -all"));
  CHECK_FALSE(isDmarcRecord(""));
  CHECK_FALSE(parseRecord("p=none; v=DMARC1").ok());
  CHECK(parseRecord("v=DMARC1; p=none").ok());
  CHECK(parseRecord("v=DMARC1; p=none;").ok());
}

TEST_CASE("dmarc record: p= missing or bad (RFC 7489 section 6.6.3 step 5)") {
  auto missing = parseRecord("v=DMARC1");
  CHECK_FALSE(missing.ok());
  CHECK(missing.error == "no valid p= (and no valid rua=)");
  CHECK_FALSE(parseRecord("v=DMARC1; p=bogus").ok());
  CHECK_FALSE(parseRecord("v=DMARC1; p=reject; sp=bogus").ok());
  CHECK_FALSE(parseRecord("v=DMARC1; p=bogus; rua=not a uri").ok());

  auto assumed = parseRecord("v=DMARC1; p=bogus; rua=mailto:r@example.com");
  REQUIRE(assumed.ok());
  CHECK(assumed.record.policy == Policy::None);
  CHECK(assumed.record.policy_assumed);
  CHECK(parseRecord(writeRecord(assumed.record)).record == assumed.record);

  auto bad_sp = parseRecord("v=DMARC1; p=reject; sp=maybe; rua=mailto:r@example.com");
  REQUIRE(bad_sp.ok());
  CHECK(bad_sp.record.policy == Policy::None);
  CHECK_FALSE(bad_sp.record.subdomain_policy);
  CHECK(bad_sp.record.policy_assumed);
}

TEST_CASE("dmarc record: bad optional values fall back to the defaults") {
  auto parse = parseRecord("v=DMARC1; p=reject; adkim=x; aspf=; pct=101; ri=-1; np=never; "
                           "fo=9:z; rf=a b; rua=mailto:a@example.com!10x, bogus, "
                           "https://example.com/r, mailto:b@example.com!99999999999999999999t");
  REQUIRE_MESSAGE(parse.ok(), parse.error);
  CHECK(parse.record.dkim_alignment == Alignment::Relaxed);
  CHECK(parse.record.spf_alignment == Alignment::Relaxed);
  CHECK(parse.record.percent == 100);
  CHECK(parse.record.report_interval == 86400);
  CHECK_FALSE(parse.record.nonexistent_policy);
  CHECK(parse.record.failure_options == std::vector<std::string>{"0"});
  CHECK(parse.record.report_formats == std::vector<std::string>{"afrf"});
  REQUIRE(parse.record.aggregate_uris.size() == 1);
  CHECK(parse.record.aggregate_uris[0].uri == "https://example.com/r");
  CHECK(parseRecord("v=DMARC1; p=reject; pct=abc").record.percent == 100);
  CHECK(parseRecord("v=DMARC1; p=reject; pct=99999999999999999999999").record.percent == 100);
}

TEST_CASE("dmarc record: selecting the record among a name's TXT strings") {
  auto one = selectRecord({"google-site-verification=abc", "v=DMARC1; p=none", "v=spf1 -all"});
  CHECK(one.outcome == RecordSelection::Outcome::Found);
  CHECK(one.record == "v=DMARC1; p=none");
  CHECK(selectRecord({}).outcome == RecordSelection::Outcome::None);
  CHECK(selectRecord({"v=DMARC2; p=none", "x"}).outcome == RecordSelection::Outcome::None);
  auto two = selectRecord({"v=DMARC1; p=none", "v=DMARC1; p=reject"});
  CHECK(two.outcome == RecordSelection::Outcome::Multiple);
  CHECK(two.record.empty());
}

TEST_CASE("dmarc record: hostile input") {
  CHECK_FALSE(parseRecord(std::string(5000, 'v')).ok());
  CHECK(parseRecord("v=DMARC1; p=none; " + std::string(4000, ' ')).ok());
  CHECK_FALSE(parseRecord("v=DMARC1; p=none; " + std::string(4100, ' ')).ok());
  auto repeated = parseRecord("v=DMARC1; p=none; P=reject");
  CHECK_FALSE(repeated.ok());
  CHECK(repeated.error == "the tag p given twice");
  CHECK_FALSE(parseRecord("v=DMARC1; p=none;; pct=5").ok());
  CHECK_FALSE(parseRecord("v=DMARC1; p=none; =x").ok());
  CHECK_FALSE(parseRecord(std::string("v=DMARC1; p=none\0", 17)).ok());
  CHECK_FALSE(parseRecord("v=DMARC1; p=\xc3\xa9").ok());
  std::string many_uris = "v=DMARC1; p=none; rua=";
  for (int i = 0; i < 100; ++i) {
    many_uris += "mailto:a@b.c,";
  }
  auto capped = parseRecord(many_uris);
  REQUIRE(capped.ok());
  CHECK(capped.record.aggregate_uris.size() == MaxReportUris);
  CHECK(parseRecord("v=DMARC1; p=none; rua=mailto:a@b.c!").record.aggregate_uris.empty());
  CHECK(parseRecord("v=DMARC1; p=none; rua=mailto:a@b.c!m").record.aggregate_uris.empty());
  CHECK(parseRecord("v=DMARC1; p=none; rua=:x").record.aggregate_uris.empty());
  CHECK(parseRecord("v=DMARC1; p=none; rua=mailto:").record.aggregate_uris.empty());
}
