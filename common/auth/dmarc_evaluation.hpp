// DMARC policy evaluation (RFC 7489 sections 3.1, 6.6 and 6.6.4; np= of RFC 9091): given the
// From domain, the TXT strings at the _dmarc names its caller looked up, and the SPF and DKIM
// results, the DMARC result, the policy that applies and what to do, plus what a plugin writes
// into Authentication-Results and into an aggregate report row. Pure: no DNS here.
//
// Policy discovery takes one or two lookups:
//   1. TXT at queryName(from_domain) ("_dmarc." + the From domain);
//   2. only when fallbackQueryName() returns a name (the first answer held no DMARC record and
//      the Organizational Domain differs): TXT at that name.
#pragma once

#include "common/auth/auth_results.hpp"
#include "common/auth/dmarc_record.hpp"
#include "common/auth/public_suffix.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::dmarc {

using auth::PublicSuffixList;

/// An SPF or DKIM result as its check reported it (RFC 8601 section 2.7); only Pass can align.
enum class AuthResult { None, Pass, Fail, SoftFail, Neutral, Policy, TempError, PermError };
std::string_view authResultName(AuthResult result);

struct SpfInput {
  std::string mail_from_domain; // MAIL FROM's domain; empty for the null reverse path
  AuthResult mail_from_result = AuthResult::None;
  std::string helo_domain; // checked when MAIL FROM is null (RFC 7208 section 2.3)
  AuthResult helo_result = AuthResult::None;
};

struct DkimInput {
  std::string domain;   // d=
  std::string selector; // s=
  AuthResult result = AuthResult::None;
};

/// The answer to one TXT lookup.
struct TxtAnswer {
  enum class Status {
    Answered,  // `txts` (possibly empty: NODATA)
    NxDomain,  // the name does not exist
    TempError, // SERVFAIL, a timeout
  };
  Status status = Status::Answered;
  std::vector<std::string> txts;
};

/// "_dmarc." + `domain` (normalized).
std::string queryName(std::string_view domain);

/// The name of the second lookup: "_dmarc." + the Organizational Domain when the answer at the
/// From domain holds no DMARC record (section 6.6.3 step 3) and that domain differs from the
/// From domain; nullopt when there is nothing more to look up.
std::optional<std::string> fallbackQueryName(std::string_view from_domain, const TxtAnswer& at_from,
                                             const PublicSuffixList& list);

/// Whether `a` and `b` are in alignment (section 3.1): equal (ignoring case and a trailing dot)
/// when strict, with equal Organizational Domains when relaxed.
bool aligned(std::string_view a, std::string_view b, Alignment mode, const PublicSuffixList& list);

struct EvaluationInput {
  std::string from_domain;                    // FromDomain::domain (from_domain.hpp)
  TxtAnswer at_from;                          // the answer at queryName(from_domain)
  std::optional<TxtAnswer> at_organizational; // the answer at fallbackQueryName(), when asked
  /// False when the From domain is known not to exist (NXDOMAIN for A, AAAA and MX): np=.
  bool from_domain_exists = true;
  SpfInput spf;
  std::vector<DkimInput> dkim;
  // For the report row only:
  std::string source_ip;
  std::string envelope_from; // the MAIL FROM domain (or HELO's for the null reverse path)
  std::string envelope_to;   // optional
};

enum class Result { None, Pass, Fail, TempError, PermError };
std::string_view resultName(Result result);

/// One row of an aggregate report (RFC 7489 appendix C, <record>), for one message.
struct ReportRow {
  std::string source_ip;
  unsigned count = 1;
  // policy_evaluated
  Policy disposition = Policy::None;
  bool dkim_pass = false; // an aligned DKIM pass
  bool spf_pass = false;  // an aligned SPF pass
  std::string reason;     // PolicyOverrideType: "sampled_out" or empty
  // identifiers
  std::string header_from;
  std::string envelope_from;
  std::string envelope_to;
  // auth_results
  struct Dkim {
    std::string domain, selector;
    AuthResult result;
  };
  std::vector<Dkim> dkim;
  std::string spf_domain;
  std::string spf_scope; // "mfrom" or "helo"
  AuthResult spf_result = AuthResult::None;
  // policy_published
  std::string published_domain;
  Alignment adkim = Alignment::Relaxed;
  Alignment aspf = Alignment::Relaxed;
  Policy p = Policy::None;
  Policy sp = Policy::None; // p when sp= was not given
  std::optional<Policy> np;
  int pct = 100;
  std::string fo = "0";
};

struct Evaluation {
  Result result = Result::None;
  std::string reason; // why none / temperror / permerror, or empty

  std::string from_domain;           // normalized
  std::string organizational_domain; // of the From domain
  std::string policy_domain;         // where the record was found; empty when none was
  std::optional<Record> record;      // the record used

  Policy applied_policy = Policy::None; // p, sp or np, whichever applies to this From domain
  Policy disposition = Policy::None;    // what to do: none on pass, applied_policy lowered
                                        // one step when sampled out
  bool sampled_out = false;             // pct= left this failing message out
  bool spf_aligned = false;             // SPF passed for an aligned domain
  bool dkim_aligned = false;            // a DKIM signature passed for an aligned domain
  std::string spf_domain;               // the SPF identity used (MAIL FROM's or HELO's)
  std::string spf_scope;                // "mfrom" or "helo"
  AuthResult spf_result = AuthResult::None;
  std::string aligned_dkim_domain; // the first aligned passing d=, when any

  /// The Authentication-Results entry:
  /// dmarc=fail (p=reject sp=none dis=quarantine) header.from=example.com
  auth::MethodResult authResult() const;
  /// The aggregate report row, identifiers and auth results from `input`.
  ReportRow reportRow(const EvaluationInput& input) const;
};

/// Draws a whole number 0..99 for pct= sampling.
using PercentDraw = std::function<int()>;
/// A draw from a per-thread generator seeded by std::random_device.
int randomPercent();

/// Evaluates DMARC for one message. The From domain must be a domain (fromDomain() found it):
/// an empty one gives permerror. Multiple DMARC records at the name used give none (section
/// 6.6.3 step 4); an invalid record (see parseRecord) gives permerror; a lookup error temperror;
/// then pass when SPF or DKIM passed aligned, else fail. `draw` is only called for a failing
/// message whose record has pct < 100.
Evaluation evaluate(const EvaluationInput& input, const PublicSuffixList& list,
                    const PercentDraw& draw = randomPercent);

} // namespace upesi::dmarc
