#include "common/auth/dmarc_evaluation.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace upesi::dmarc;
using upesi::auth::buildAuthResults;

namespace {

const PublicSuffixList& testList() {
  static const PublicSuffixList list = [] {
    auto parsed = PublicSuffixList::parse("com\norg\nnet\nuk\nco.uk\nexample\n", "test");
    REQUIRE(parsed.ok());
    return std::move(*parsed);
  }();
  return list;
}

TxtAnswer txt(std::vector<std::string> txts) {
  return {TxtAnswer::Status::Answered, std::move(txts)};
}

TxtAnswer nxdomain() {
  return {TxtAnswer::Status::NxDomain, {}};
}

EvaluationInput message(std::string from, std::string mail_from, AuthResult spf,
                        std::vector<DkimInput> dkim = {}) {
  EvaluationInput input;
  input.from_domain = std::move(from);
  input.spf.mail_from_domain = mail_from;
  input.spf.mail_from_result = spf;
  input.dkim = std::move(dkim);
  input.source_ip = "192.0.2.1";
  input.envelope_from = mail_from;
  return input;
}

int never() {
  FAIL("the draw was not expected");
  return 0;
}

} // namespace

TEST_CASE("dmarc evaluation: the alignment examples of RFC 7489 section 3.1") {
  const PublicSuffixList& list = testList();
  // 3.1.1: d=example.com and From alerts@news.example.com align only in relaxed mode.
  CHECK(aligned("example.com", "news.example.com", Alignment::Relaxed, list));
  CHECK_FALSE(aligned("example.com", "news.example.com", Alignment::Strict, list));
  // ... and d=com never aligns, com being a public suffix.
  CHECK_FALSE(aligned("com", "news.example.com", Alignment::Relaxed, list));
  // 3.1.2: MAIL FROM cbg.bounces.example.com and From payments@example.com.
  CHECK(aligned("cbg.bounces.example.com", "example.com", Alignment::Relaxed, list));
  CHECK_FALSE(aligned("cbg.bounces.example.com", "example.com", Alignment::Strict, list));
  // Case and a trailing dot do not matter; other organizations never align.
  CHECK(aligned("Example.COM.", "example.com", Alignment::Strict, list));
  CHECK_FALSE(aligned("example.net", "example.com", Alignment::Relaxed, list));
  CHECK_FALSE(aligned("example.co.uk", "other.co.uk", Alignment::Relaxed, list));
  CHECK(aligned("a.example.co.uk", "b.example.co.uk", Alignment::Relaxed, list));
  CHECK_FALSE(aligned("", "", Alignment::Strict, list));
}

TEST_CASE("dmarc evaluation: the examples of RFC 7489 appendix B.1") {
  const PublicSuffixList& list = testList();
  const TxtAnswer record = txt({"v=DMARC1; p=reject"});
  // B.1.1: SPF, MAIL FROM and From in the same domain.
  auto same = message("example.com", "example.com", AuthResult::Pass);
  same.at_from = record;
  CHECK(evaluate(same, list, never).result == upesi::dmarc::Result::Pass);
  // B.1.2: MAIL FROM example.com, From child.example.com: relaxed aligned.
  auto child = message("child.example.com", "example.com", AuthResult::Pass);
  child.at_from = txt({});
  child.at_organizational = record;
  CHECK(evaluate(child, list, never).result == upesi::dmarc::Result::Pass);
  // B.1.3: DKIM d=example.com and From example.com / child.example.com.
  auto dkim = message("child.example.com", "other.example", AuthResult::Pass,
                      {{"example.com", "sel", AuthResult::Pass}});
  dkim.at_from = nxdomain();
  dkim.at_organizational = record;
  const Evaluation evaluation = evaluate(dkim, list, never);
  CHECK(evaluation.result == upesi::dmarc::Result::Pass);
  CHECK(evaluation.dkim_aligned);
  CHECK_FALSE(evaluation.spf_aligned);
  CHECK(evaluation.aligned_dkim_domain == "example.com");
  // Strict DKIM alignment fails the same message.
  dkim.at_organizational = txt({"v=DMARC1; p=reject; adkim=s"});
  CHECK(evaluate(dkim, list, [] { return 0; }).result == upesi::dmarc::Result::Fail);
}

TEST_CASE("dmarc evaluation: policy discovery (RFC 7489 section 6.6.3)") {
  const PublicSuffixList& list = testList();
  CHECK(queryName("Mail.Example.COM.") == "_dmarc.mail.example.com");
  // A record at the From domain: no second lookup.
  CHECK_FALSE(fallbackQueryName("mail.example.com", txt({"v=DMARC1; p=none"}), list));
  // Several records there still end discovery (step 4), without the second lookup.
  CHECK_FALSE(
      fallbackQueryName("mail.example.com", txt({"v=DMARC1; p=none", "v=DMARC1; p=reject"}), list));
  // None there (no TXT, other TXT, or NXDOMAIN): the Organizational Domain's.
  CHECK(*fallbackQueryName("mail.example.com", txt({}), list) == "_dmarc.example.com");
  CHECK(*fallbackQueryName("mail.example.com", txt({"v=spf1 -all"}), list) == "_dmarc.example.com");
  CHECK(*fallbackQueryName("a.b.example.co.uk", nxdomain(), list) == "_dmarc.example.co.uk");
  // The From domain is its own Organizational Domain, or the lookup failed: nothing more.
  CHECK_FALSE(fallbackQueryName("example.com", txt({}), list));
  CHECK_FALSE(fallbackQueryName("mail.example.com", {TxtAnswer::Status::TempError, {}}, list));

  auto input = message("mail.example.com", "bounce.example.net", AuthResult::Pass);
  input.at_from = txt({"v=DMARC1; p=quarantine"});
  input.at_organizational = txt({"v=DMARC1; p=none"}); // not used: the first answer had one
  Evaluation own = evaluate(input, list, [] { return 0; });
  CHECK(own.result == upesi::dmarc::Result::Fail);
  CHECK(own.policy_domain == "mail.example.com");
  CHECK(own.applied_policy == Policy::Quarantine);

  input.at_from = txt({"v=DMARC1; p=none", "v=DMARC1; p=reject"});
  Evaluation several = evaluate(input, list, never);
  CHECK(several.result == upesi::dmarc::Result::None);
  CHECK(several.reason == "several DMARC records at _dmarc.mail.example.com");

  input.at_from = txt({});
  input.at_organizational = txt({});
  CHECK(evaluate(input, list, never).result == upesi::dmarc::Result::None);
  input.at_organizational = nxdomain();
  CHECK(evaluate(input, list, never).result == upesi::dmarc::Result::None);
  input.at_organizational = {TxtAnswer::Status::TempError, {}};
  CHECK(evaluate(input, list, never).result == upesi::dmarc::Result::TempError);
  input.at_organizational.reset();
  CHECK(evaluate(input, list, never).reason == "_dmarc.example.com was not looked up");
  input.at_from = {TxtAnswer::Status::TempError, {}};
  Evaluation temp = evaluate(input, list, never);
  CHECK(temp.result == upesi::dmarc::Result::TempError);
  CHECK(temp.reason == "the lookup of _dmarc.mail.example.com failed");

  input.at_from = txt({"v=DMARC1; p=bogus"});
  Evaluation invalid = evaluate(input, list, never);
  CHECK(invalid.result == upesi::dmarc::Result::PermError);
  CHECK(invalid.reason ==
        "an invalid DMARC record at _dmarc.mail.example.com: no valid p= (and no valid rua=)");
  CHECK(invalid.disposition == Policy::None);

  input.from_domain = "";
  CHECK(evaluate(input, list, never).result == upesi::dmarc::Result::PermError);
}

TEST_CASE("dmarc evaluation: p, sp and np") {
  const PublicSuffixList& list = testList();
  auto input = message("sub.example.com", "example.net", AuthResult::Pass);
  input.at_from = nxdomain();
  input.at_organizational = txt({"v=DMARC1; p=reject; sp=quarantine; np=none"});
  CHECK(evaluate(input, list, never).applied_policy == Policy::Quarantine);
  input.from_domain_exists = false;
  Evaluation np = evaluate(input, list, never);
  CHECK(np.applied_policy == Policy::None);
  CHECK(np.disposition == Policy::None);
  CHECK(np.result == upesi::dmarc::Result::Fail);
  input.at_organizational = txt({"v=DMARC1; p=reject; sp=quarantine"});
  CHECK(evaluate(input, list, never).applied_policy == Policy::Quarantine); // no np: sp
  input.at_organizational = txt({"v=DMARC1; p=reject"});
  CHECK(evaluate(input, list, never).applied_policy == Policy::Reject); // no sp: p

  // At the Organizational Domain itself, p applies whatever sp and np say.
  auto top = message("example.com", "example.net", AuthResult::Pass);
  top.at_from = txt({"v=DMARC1; p=reject; sp=none; np=none"});
  top.from_domain_exists = false;
  Evaluation at_top = evaluate(top, list, never);
  CHECK(at_top.applied_policy == Policy::Reject);
  CHECK(at_top.disposition == Policy::Reject);
}

TEST_CASE("dmarc evaluation: pct sampling (RFC 7489 section 6.6.4)") {
  const PublicSuffixList& list = testList();
  auto input = message("example.com", "example.net", AuthResult::Pass);
  input.at_from = txt({"v=DMARC1; p=reject; pct=25"});
  Evaluation in = evaluate(input, list, [] { return 24; });
  CHECK(in.disposition == Policy::Reject);
  CHECK_FALSE(in.sampled_out);
  Evaluation out = evaluate(input, list, [] { return 25; });
  CHECK(out.disposition == Policy::Quarantine);
  CHECK(out.sampled_out);
  CHECK(out.result == upesi::dmarc::Result::Fail);
  CHECK(out.reportRow(input).reason == "sampled_out");

  input.at_from = txt({"v=DMARC1; p=quarantine; pct=0"});
  Evaluation zero = evaluate(input, list, never);
  CHECK(zero.disposition == Policy::None);
  CHECK(zero.sampled_out);

  input.at_from = txt({"v=DMARC1; p=none; pct=10"});
  CHECK(evaluate(input, list, never).disposition == Policy::None);
  input.at_from = txt({"v=DMARC1; p=reject"});
  CHECK(evaluate(input, list, never).disposition == Policy::Reject);

  // A passing message is never sampled.
  auto passing = message("example.com", "example.com", AuthResult::Pass);
  passing.at_from = txt({"v=DMARC1; p=reject; pct=50"});
  CHECK(evaluate(passing, list, never).disposition == Policy::None);
  // The default draw stays in range.
  for (int i = 0; i < 1000; ++i) {
    const int draw = randomPercent();
    REQUIRE(draw >= 0);
    REQUIRE(draw <= 99);
  }
}

TEST_CASE("dmarc evaluation: which SPF identity counts") {
  const PublicSuffixList& list = testList();
  auto input = message("example.com", "", AuthResult::None);
  input.at_from = txt({"v=DMARC1; p=reject; aspf=s"});
  input.spf.helo_domain = "example.com";
  input.spf.helo_result = AuthResult::Pass;
  Evaluation helo = evaluate(input, list, never);
  CHECK(helo.result == upesi::dmarc::Result::Pass);
  CHECK(helo.spf_scope == "helo");
  // With a MAIL FROM, HELO's result does not count.
  input.spf.mail_from_domain = "example.com";
  input.spf.mail_from_result = AuthResult::SoftFail;
  Evaluation mfrom = evaluate(input, list, [] { return 0; });
  CHECK(mfrom.result == upesi::dmarc::Result::Fail);
  CHECK(mfrom.spf_scope == "mfrom");
  CHECK(mfrom.spf_result == AuthResult::SoftFail);
  // Only pass aligns, for DKIM too.
  input.dkim = {{"example.com", "s", AuthResult::Fail}, {"example.com", "t", AuthResult::Neutral}};
  CHECK(evaluate(input, list, [] { return 0; }).result == upesi::dmarc::Result::Fail);
  input.dkim.push_back({"EXAMPLE.com.", "u", AuthResult::Pass});
  CHECK(evaluate(input, list, never).result == upesi::dmarc::Result::Pass);
}

TEST_CASE("dmarc evaluation: the Authentication-Results entry and the report row") {
  const PublicSuffixList& list = testList();
  auto input = message("news.example.com", "bounces.example.com", AuthResult::Pass,
                       {{"example.org", "s1", AuthResult::Pass}});
  input.at_from = txt({});
  input.at_organizational = txt({"v=DMARC1; p=reject; sp=quarantine; aspf=s; pct=50; fo=1:d; "
                                 "rua=mailto:d@example.com"});
  Evaluation evaluation = evaluate(input, list, [] { return 10; });
  REQUIRE(evaluation.result == upesi::dmarc::Result::Fail);
  CHECK(buildAuthResults("mx.example.net", {evaluation.authResult()}, 0) ==
        "mx.example.net; dmarc=fail (p=reject sp=quarantine dis=quarantine)\r\n"
        "\theader.from=news.example.com");

  const ReportRow row = evaluation.reportRow(input);
  CHECK(row.source_ip == "192.0.2.1");
  CHECK(row.count == 1);
  CHECK(row.disposition == Policy::Quarantine);
  CHECK_FALSE(row.dkim_pass);
  CHECK_FALSE(row.spf_pass);
  CHECK(row.reason.empty());
  CHECK(row.header_from == "news.example.com");
  CHECK(row.envelope_from == "bounces.example.com");
  REQUIRE(row.dkim.size() == 1);
  CHECK(row.dkim[0].domain == "example.org");
  CHECK(row.dkim[0].selector == "s1");
  CHECK(row.dkim[0].result == AuthResult::Pass);
  CHECK(row.spf_domain == "bounces.example.com");
  CHECK(row.spf_scope == "mfrom");
  CHECK(row.spf_result == AuthResult::Pass);
  CHECK(row.published_domain == "example.com");
  CHECK(row.adkim == Alignment::Relaxed);
  CHECK(row.aspf == Alignment::Strict);
  CHECK(row.p == Policy::Reject);
  CHECK(row.sp == Policy::Quarantine);
  CHECK(row.pct == 50);
  CHECK(row.fo == "1:d");

  auto passing = message("example.com", "example.com", AuthResult::Pass);
  passing.at_from = txt({"v=DMARC1; p=reject"});
  CHECK(buildAuthResults("mx", {evaluate(passing, list, never).authResult()}, 0) ==
        "mx; dmarc=pass (p=reject dis=none) header.from=example.com");
  passing.at_from = txt({});
  CHECK(buildAuthResults("mx", {evaluate(passing, list, never).authResult()}, 0) ==
        "mx; dmarc=none header.from=example.com");
  passing.at_from = {TxtAnswer::Status::TempError, {}};
  CHECK(buildAuthResults("mx", {evaluate(passing, list, never).authResult()}, 0) ==
        "mx; dmarc=temperror reason=\"the lookup of _dmarc.example.com failed\"\r\n"
        "\theader.from=example.com");
}

// The same messages given to python3-authheaders' dmarc_per_from (with a dnsfunc serving these
// records, and the Debian list for its Organizational Domains) gave these results and policies.
TEST_CASE("dmarc evaluation: verdicts that python3-authheaders agrees with") {
  struct Case {
    const char* name; // where the record is
    const char* record;
    const char* from;
    const char* mail_from;
    AuthResult spf;
    const char* d; // nullptr: no signature
    AuthResult dkim;
    upesi::dmarc::Result result;
    Policy policy;
  };
  const Case cases[] = {
      {"example.com", "v=DMARC1; p=reject", "example.com", "example.com", AuthResult::Pass, nullptr,
       AuthResult::None, upesi::dmarc::Result::Pass, Policy::Reject},
      {"example.com", "v=DMARC1; p=reject", "child.example.com", "example.com", AuthResult::Pass,
       nullptr, AuthResult::None, upesi::dmarc::Result::Pass, Policy::Reject},
      {"example.com", "v=DMARC1; p=reject; adkim=s", "child.example.com", "other.example",
       AuthResult::Pass, "example.com", AuthResult::Pass, upesi::dmarc::Result::Fail,
       Policy::Reject},
      {"example.com", "v=DMARC1; p=reject", "child.example.com", "other.example", AuthResult::Pass,
       "example.com", AuthResult::Pass, upesi::dmarc::Result::Pass, Policy::Reject},
      {"example.com", "v=DMARC1; p=reject; sp=quarantine", "news.example.com", "bounce.example.net",
       AuthResult::Pass, "example.org", AuthResult::Pass, upesi::dmarc::Result::Fail,
       Policy::Quarantine},
      {"example.com", "v=DMARC1; p=reject; aspf=s", "example.com", "cbg.bounces.example.com",
       AuthResult::Pass, nullptr, AuthResult::None, upesi::dmarc::Result::Fail, Policy::Reject},
      {"example.com", "v=DMARC1; p=reject", "example.com", "cbg.bounces.example.com",
       AuthResult::Pass, nullptr, AuthResult::None, upesi::dmarc::Result::Pass, Policy::Reject},
      {"example.co.uk", "v=DMARC1; p=quarantine", "a.example.co.uk", "other.co.uk",
       AuthResult::Pass, nullptr, AuthResult::None, upesi::dmarc::Result::Fail, Policy::Quarantine},
      {"example.co.uk", "v=DMARC1; p=quarantine", "a.example.co.uk", "b.example.co.uk",
       AuthResult::Pass, nullptr, AuthResult::None, upesi::dmarc::Result::Pass, Policy::Quarantine},
      {"example.com", "v=DMARC1; p=reject", "example.com", "example.com", AuthResult::SoftFail,
       "example.com", AuthResult::Fail, upesi::dmarc::Result::Fail, Policy::Reject},
  };
  const std::string path(upesi::auth::DebianPublicSuffixList);
  auto debian = PublicSuffixList::load(path);
  if (!debian.ok()) {
    MESSAGE("skipped: ", debian.error());
    return;
  }
  for (const Case& c : cases) {
    CAPTURE(c.from);
    CAPTURE(c.record);
    EvaluationInput input = message(c.from, c.mail_from, c.spf);
    if (c.d != nullptr) {
      input.dkim = {{c.d, "sel", c.dkim}};
    }
    const TxtAnswer answer = txt({c.record});
    if (std::string(c.name) == c.from) {
      input.at_from = answer;
    } else {
      input.at_from = nxdomain();
      input.at_organizational = answer;
    }
    const Evaluation evaluation = evaluate(input, *debian, [] { return 0; });
    CHECK(evaluation.result == c.result);
    CHECK(evaluation.applied_policy == c.policy);
  }
  // A name with a record of its own is used before its Organizational Domain's.
  EvaluationInput own = message("mail.example.com", "bounce.example.net", AuthResult::Pass);
  own.at_from = txt({"v=DMARC1; p=quarantine"});
  own.at_organizational = txt({"v=DMARC1; p=none"});
  const Evaluation evaluation = evaluate(own, *debian, [] { return 0; });
  CHECK(evaluation.result == upesi::dmarc::Result::Fail);
  CHECK(evaluation.applied_policy == Policy::Quarantine);
  // No record anywhere: none.
  EvaluationInput nothing = message("example.com", "example.com", AuthResult::Pass);
  nothing.at_from = nxdomain();
  CHECK(evaluate(nothing, *debian, never).result == upesi::dmarc::Result::None);
  // Organizational Domains as its get_org_domain gives them.
  CHECK(debian->organizationalDomain("a.user.github.io") == "user.github.io");
  CHECK(debian->organizationalDomain("www.city.kobe.jp") == "city.kobe.jp");
  CHECK(debian->organizationalDomain("b.test.ck") == "b.test.ck");
  CHECK(debian->organizationalDomain("mail.example.co.uk") == "example.co.uk");
  CHECK(debian->organizationalDomain("xn--85x722f.xn--55qx5d.cn") == "xn--85x722f.xn--55qx5d.cn");
  CHECK(debian->organizationalDomain("com") == "com");
}
