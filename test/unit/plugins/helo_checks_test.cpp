#include "plugins/helo.checks/helo_rules.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace upesi::plugins::helo_checks;
using upesi::auth::PublicSuffixList;

namespace {

const PublicSuffixList& heloSuffixes() {
  static const PublicSuffixList list = [] {
    auto parsed = PublicSuffixList::parse("com\nnet\nuk\nco.uk\n*.ck\n", "test.dat");
    REQUIRE(parsed.ok());
    return std::move(*parsed);
  }();
  return list;
}

} // namespace

TEST_CASE("plugins/helo.checks: address literals and bare addresses") {
  CHECK(literalAddress("[192.0.2.1]") == "192.0.2.1");
  CHECK(literalAddress("[IPv6:2001:db8::1]") == "2001:db8::1");
  CHECK(literalAddress("[ipv6:2001:db8::1]") == "2001:db8::1");
  CHECK_FALSE(literalAddress("192.0.2.1"));
  CHECK_FALSE(literalAddress("[192.0.2.1"));
  CHECK_FALSE(literalAddress("[192.0.2.256]"));
  CHECK_FALSE(literalAddress("[mail.example.com]"));
  CHECK_FALSE(literalAddress("[]"));

  CHECK(isBareIp("192.0.2.1"));
  CHECK(isBareIp("IPv6:2001:db8::1"));
  CHECK(isBareIp("2001:db8::1"));
  CHECK_FALSE(isBareIp("[192.0.2.1]"));
  CHECK_FALSE(isBareIp("mail.example.com"));
  CHECK_FALSE(isBareIp("192.0.2.1.example.com"));

  CHECK(looksLikeAddress("[192.0.2.1]"));
  CHECK(looksLikeAddress("192.0.2.1"));
  CHECK(looksLikeAddress("[IPv6:::1]"));
  CHECK_FALSE(looksLikeAddress("host.example.com"));
}

TEST_CASE("plugins/helo.checks: valid_hostname") {
  const std::vector<std::string> none;
  CHECK(checkHostname("mail.example.com", heloSuffixes(), none).verdict == HostnameVerdict::Pass);
  CHECK(checkHostname("Mail.Example.CO.UK", heloSuffixes(), none).verdict == HostnameVerdict::Pass);
  CHECK(checkHostname("localhost", heloSuffixes(), none).verdict == HostnameVerdict::NoDot);
  // A public suffix is no host; neither is an unknown TLD.
  CHECK(checkHostname("co.uk", heloSuffixes(), none).verdict == HostnameVerdict::Invalid);
  CHECK(checkHostname("x.ck", heloSuffixes(), none).verdict == HostnameVerdict::Invalid);
  CHECK(checkHostname("host.example.invalid", heloSuffixes(), none).verdict ==
        HostnameVerdict::Invalid);
  CHECK(checkHostname("a..com", heloSuffixes(), none).verdict == HostnameVerdict::Invalid);
  const std::vector<std::string> skip = {"lan", ".corp"};
  auto lan = checkHostname("printer.LAN", heloSuffixes(), skip);
  CHECK(lan.verdict == HostnameVerdict::SkippedTld);
  CHECK(lan.tld == "lan");
  CHECK(checkHostname("dc.office.corp", heloSuffixes(), skip).verdict ==
        HostnameVerdict::SkippedTld);
  CHECK(checkHostname("host.local", heloSuffixes(), skip).verdict == HostnameVerdict::Invalid);
}

TEST_CASE("plugins/helo.checks: big company names") {
  CHECK(bigCompanyAllows("mail-yw1-f170.google.com", "google.com,gmail.com"));
  CHECK(bigCompanyAllows("gmail.com", "google.com, gmail.com"));
  CHECK(bigCompanyAllows("MX.Yahoo.CO.JP", "yahoo.com,yahoo.co.jp"));
  // A name that only ends in the same letters is not the company's.
  CHECK_FALSE(bigCompanyAllows("evilgoogle.com", "google.com"));
  CHECK_FALSE(bigCompanyAllows("google.com.example.net", "google.com"));
  CHECK_FALSE(bigCompanyAllows("", "google.com"));
}

TEST_CASE("plugins/helo.checks: literal_mismatch modes") {
  CHECK(checkLiteral("mail.example.com", "192.0.2.1", 2) == LiteralVerdict::NotLiteral);
  CHECK(checkLiteral("[192.0.2.1]", "192.0.2.1", 1) == LiteralVerdict::Pass);
  CHECK(checkLiteral("[192.0.2.9]", "192.0.2.1", 1) == LiteralVerdict::FailExact);
  CHECK(checkLiteral("[192.0.2.9]", "192.0.2.1", 2) == LiteralVerdict::Pass);
  CHECK(checkLiteral("[198.51.100.1]", "192.0.2.1", 2) == LiteralVerdict::FailNetwork);
  CHECK(checkLiteral("[10.1.2.3]", "192.0.2.1", 2) == LiteralVerdict::FailNetwork);
  CHECK(checkLiteral("[10.1.2.3]", "192.0.2.1", 3) == LiteralVerdict::PassPrivate);
  CHECK(checkLiteral("[198.51.100.1]", "192.0.2.1", 3) == LiteralVerdict::FailNetwork);
  CHECK(checkLiteral("[IPv6:2001:db8::1]", "2001:db8::1", 1) == LiteralVerdict::Pass);
  CHECK(checkLiteral("[IPv6:2001:db8::1]", "2001:db8::1", 2) == LiteralVerdict::FailNetwork);
}

TEST_CASE("plugins/helo.checks: regular expressions from config") {
  auto patterns = HeloPatterns::compile(
      {"# comment", "", "localhost", "(bad", ".*\\.dyn\\..*", "[z-a]", "mail\\d+\\.example\\.com"},
      "config/helo.checks.regexps");
  CHECK(patterns.size() == 3);
  REQUIRE(patterns.errors().size() == 2);
  CHECK(patterns.errors()[0].find("config/helo.checks.regexps line 4") != std::string::npos);
  CHECK(patterns.errors()[1].find("line 6") != std::string::npos);
  CHECK(patterns.matches("localhost"));
  CHECK(patterns.matches("LOCALHOST"));
  CHECK_FALSE(patterns.matches("localhost.example.com")); // the whole name must match
  CHECK(patterns.matches("host-1.dyn.example.net"));
  CHECK(patterns.matches("MAIL42.example.com"));
  CHECK_FALSE(patterns.matches("mail.example.com"));
  CHECK(patterns.matches(std::string(MaxPatternInput + 1, 'a')));
  CHECK_FALSE(HeloPatterns::compile({}, "x").matches("localhost"));
}
