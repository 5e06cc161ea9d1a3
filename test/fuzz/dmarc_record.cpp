// The DMARC record parser and policy evaluation (common/auth/dmarc_record, dmarc_evaluation):
// a TXT string as a domain publishes it at _dmarc.
//
// Input: the TXT string.
//
// Invariants: parsing is deterministic; an invalid record has a reason and default values; a
// valid one has pct 0..100, at most MaxReportUris URIs of each kind, and writes out to text that
// parses to the same record; evaluating a message against it gives pass, fail, none or
// permerror (never temperror: no lookup failed), a disposition no stronger than the policy
// that applies, and an Authentication-Results value whose authserv-id reads back.
#include "common/auth/dmarc_record.hpp"

#include "common/auth/auth_results.hpp"
#include "common/auth/dmarc_evaluation.hpp"
#include "test/fuzz/fuzz_check.hpp"

#include <string>

using namespace upesi::dmarc;

namespace {

const PublicSuffixList& fuzzList() {
  static const PublicSuffixList list = [] {
    auto parsed = PublicSuffixList::parse("com\nuk\nco.uk\n*.ck\n!www.ck\n", "fuzz");
    return parsed.ok() ? std::move(*parsed) : PublicSuffixList();
  }();
  return list;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string txt(upesi::fuzz::asView(data, size));
  const RecordParse parse = parseRecord(txt);
  const RecordParse again = parseRecord(txt);
  FUZZ_CHECK(parse.ok() == again.ok());
  FUZZ_CHECK(parse.error == again.error);
  FUZZ_CHECK(parse.record == again.record);

  const RecordSelection selection = selectRecord({txt, "v=spf1 -all"});
  FUZZ_CHECK((selection.outcome == RecordSelection::Outcome::Found) == isDmarcRecord(txt));

  if (!parse.ok()) {
    FUZZ_CHECK(parse.record == Record{});
  } else {
    const Record& record = parse.record;
    FUZZ_CHECK(record.percent >= 0 && record.percent <= 100);
    FUZZ_CHECK(record.aggregate_uris.size() <= MaxReportUris);
    FUZZ_CHECK(record.failure_uris.size() <= MaxReportUris);
    FUZZ_CHECK(!record.policy_assumed || !record.aggregate_uris.empty());
    const std::string written = writeRecord(record);
    if (written.size() <= MaxRecordLength) {
      const RecordParse reparsed = parseRecord(written);
      FUZZ_CHECK(reparsed.ok());
      FUZZ_CHECK(reparsed.record == record);
    }
  }

  EvaluationInput input;
  input.from_domain = "news.example.com";
  input.at_from.txts = {};
  input.at_organizational = TxtAnswer{TxtAnswer::Status::Answered, {txt}};
  input.from_domain_exists = (size & 1) != 0;
  input.spf.mail_from_domain = "bounce.example.co.uk";
  input.spf.mail_from_result = AuthResult::Pass;
  input.dkim = {{"example.com", "s", (size & 2) != 0 ? AuthResult::Pass : AuthResult::Fail}};
  const Evaluation evaluation =
      evaluate(input, fuzzList(), [size] { return static_cast<int>(size % 100); });
  FUZZ_CHECK(evaluation.result != Result::TempError);
  FUZZ_CHECK(static_cast<int>(evaluation.disposition) <=
             static_cast<int>(evaluation.applied_policy));
  if (evaluation.result != Result::Fail) {
    FUZZ_CHECK(evaluation.disposition == Policy::None);
  }
  FUZZ_CHECK((evaluation.result == Result::Pass || evaluation.result == Result::Fail) ==
             evaluation.record.has_value());
  const std::string value =
      upesi::auth::buildAuthResults("mx.example.net", {evaluation.authResult()});
  const auto id = upesi::auth::authservId(value);
  FUZZ_CHECK(id && *id == "mx.example.net");
  (void)evaluation.reportRow(input);
  return 0;
}
