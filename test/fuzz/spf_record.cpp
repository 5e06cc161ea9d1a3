// The SPF record parser and macro expander (common/auth/spf_record, spf_macro): a TXT string
// as a domain publishes it, with every domain-spec expanded for a fixed client.
//
// Input: the TXT string.
//
// Invariants: parsing is deterministic; a failure has a reason and no terms; a record that
// parsed writes out to text that parses to the same terms; every domain-spec expands to at most
// 253 bytes, or fails with a reason.
#include "common/auth/spf_record.hpp"

#include "common/auth/spf_macro.hpp"
#include "test/fuzz/fuzz_check.hpp"

#include <string>

using namespace upesi::spf;

namespace {

MacroInputs fixedInputs(bool v6) {
  MacroInputs inputs;
  inputs.sender = "strong-bad@email.example.com";
  inputs.local_part = "strong-bad";
  inputs.sender_domain = "email.example.com";
  inputs.domain = "a-rather-long-label-for-the-current-domain.email.example.com";
  inputs.client_ip = v6 ? "2001:db8::cb01" : "192.0.2.3";
  inputs.validated_name = "mx.example.org";
  inputs.helo = "mx.example.org";
  inputs.receiver = "mx.example.net";
  inputs.timestamp = 1764900000;
  return inputs;
}

void checkExpansion(const std::string& spec) {
  for (bool v6 : {false, true}) {
    const MacroExpansion expansion = expandMacros(spec, fixedInputs(v6), MacroContext::DomainSpec);
    FUZZ_CHECK(expansion.ok()); // the parser checked the syntax; the inputs are good
    FUZZ_CHECK(expansion.text.size() <= MaxDomainLength);
    const MacroExpansion again = expandMacros(spec, fixedInputs(v6), MacroContext::DomainSpec);
    FUZZ_CHECK(again.text == expansion.text);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view txt = upesi::fuzz::asView(data, size);
  const RecordParse parse = parseRecord(txt);
  const RecordParse again = parseRecord(txt);
  FUZZ_CHECK(parse.ok() == again.ok());
  FUZZ_CHECK(parse.permerror == again.permerror);
  FUZZ_CHECK(parse.record == again.record);

  // The input as an explanation text or a domain-spec on its own: never a crash, bounded.
  const MacroExpansion explanation =
      expandMacros(txt, fixedInputs(true), MacroContext::Explanation);
  FUZZ_CHECK(explanation.ok() || explanation.text.empty());
  const MacroExpansion as_domain = expandMacros(txt, fixedInputs(false), MacroContext::DomainSpec);
  FUZZ_CHECK(as_domain.text.size() <= MaxDomainLength);
  FUZZ_CHECK(as_domain.ok() || as_domain.text.empty());

  if (!parse.ok()) {
    FUZZ_CHECK(parse.record == Record{});
    return 0;
  }
  const Record& record = parse.record;
  FUZZ_CHECK(record.mechanisms.size() + record.unknown_modifiers.size() <= MaxTerms);
  for (const Mechanism& mechanism : record.mechanisms) {
    if (!mechanism.domain_spec.empty()) {
      checkExpansion(mechanism.domain_spec);
    }
  }
  if (record.redirect) {
    checkExpansion(*record.redirect);
  }
  if (record.explanation) {
    checkExpansion(*record.explanation);
  }

  const std::string written = writeRecord(record);
  FUZZ_CHECK(isSpfRecord(written));
  if (written.size() <= MaxRecordLength) { // an IPv6 network may write out longer
    const RecordParse reparsed = parseRecord(written);
    FUZZ_CHECK(reparsed.ok());
    FUZZ_CHECK(reparsed.record == record);
  }
  return 0;
}
