#include "common/auth/dmarc_evaluation.hpp"

#include <fmt/format.h>

#include <random>

namespace upesi::dmarc {
namespace {

bool hasDmarcRecord(const TxtAnswer& answer) {
  if (answer.status != TxtAnswer::Status::Answered) {
    return false;
  }
  for (const std::string& txt : answer.txts) {
    if (isDmarcRecord(txt)) {
      return true;
    }
  }
  return false;
}

Policy lowered(Policy policy) {
  switch (policy) {
  case Policy::Reject:
    return Policy::Quarantine;
  case Policy::Quarantine:
  case Policy::None:
    return Policy::None;
  }
  return Policy::None;
}

} // namespace

std::string_view authResultName(AuthResult result) {
  switch (result) {
  case AuthResult::None:
    return "none";
  case AuthResult::Pass:
    return "pass";
  case AuthResult::Fail:
    return "fail";
  case AuthResult::SoftFail:
    return "softfail";
  case AuthResult::Neutral:
    return "neutral";
  case AuthResult::Policy:
    return "policy";
  case AuthResult::TempError:
    return "temperror";
  case AuthResult::PermError:
    return "permerror";
  }
  return "none";
}

std::string_view resultName(Result result) {
  switch (result) {
  case Result::None:
    return "none";
  case Result::Pass:
    return "pass";
  case Result::Fail:
    return "fail";
  case Result::TempError:
    return "temperror";
  case Result::PermError:
    return "permerror";
  }
  return "none";
}

std::string queryName(std::string_view domain) {
  return "_dmarc." + auth::normalizeDomain(domain);
}

std::optional<std::string> fallbackQueryName(std::string_view from_domain, const TxtAnswer& at_from,
                                             const PublicSuffixList& list) {
  if (at_from.status == TxtAnswer::Status::TempError || hasDmarcRecord(at_from)) {
    return std::nullopt;
  }
  const std::string from = auth::normalizeDomain(from_domain);
  const std::string organizational = list.organizationalDomain(from);
  if (organizational.empty() || organizational == from) {
    return std::nullopt;
  }
  return queryName(organizational);
}

bool aligned(std::string_view a, std::string_view b, Alignment mode, const PublicSuffixList& list) {
  const std::string left = auth::normalizeDomain(a);
  const std::string right = auth::normalizeDomain(b);
  if (left.empty() || right.empty()) {
    return false;
  }
  if (mode == Alignment::Strict) {
    return left == right;
  }
  const std::string left_org = list.organizationalDomain(left);
  return !left_org.empty() && left_org == list.organizationalDomain(right);
}

int randomPercent() {
  thread_local std::mt19937 generator{std::random_device{}()};
  return std::uniform_int_distribution<int>(0, 99)(generator);
}

Evaluation evaluate(const EvaluationInput& input, const PublicSuffixList& list,
                    const PercentDraw& draw) {
  Evaluation evaluation;
  evaluation.from_domain = auth::normalizeDomain(input.from_domain);
  evaluation.organizational_domain = list.organizationalDomain(evaluation.from_domain);

  // The SPF identity: MAIL FROM's domain, or HELO's for the null reverse path.
  if (!input.spf.mail_from_domain.empty()) {
    evaluation.spf_domain = auth::normalizeDomain(input.spf.mail_from_domain);
    evaluation.spf_scope = "mfrom";
    evaluation.spf_result = input.spf.mail_from_result;
  } else if (!input.spf.helo_domain.empty()) {
    evaluation.spf_domain = auth::normalizeDomain(input.spf.helo_domain);
    evaluation.spf_scope = "helo";
    evaluation.spf_result = input.spf.helo_result;
  }

  auto finish = [&evaluation](Result result, std::string reason) {
    evaluation.result = result;
    evaluation.reason = std::move(reason);
    return evaluation;
  };
  if (evaluation.organizational_domain.empty()) {
    return finish(Result::PermError, "no From domain");
  }

  // Policy discovery (section 6.6.3).
  const TxtAnswer* answer = &input.at_from;
  std::string policy_domain = evaluation.from_domain;
  if (answer->status == TxtAnswer::Status::TempError) {
    return finish(Result::TempError, "the lookup of " + queryName(policy_domain) + " failed");
  }
  if (!hasDmarcRecord(*answer)) {
    if (evaluation.organizational_domain == evaluation.from_domain) {
      return finish(Result::None, "no DMARC record");
    }
    policy_domain = evaluation.organizational_domain;
    if (!input.at_organizational) {
      return finish(Result::TempError, queryName(policy_domain) + " was not looked up");
    }
    answer = &*input.at_organizational;
    if (answer->status == TxtAnswer::Status::TempError) {
      return finish(Result::TempError, "the lookup of " + queryName(policy_domain) + " failed");
    }
    if (!hasDmarcRecord(*answer)) {
      return finish(Result::None, "no DMARC record");
    }
  }
  const RecordSelection selection = selectRecord(answer->txts);
  if (selection.outcome != RecordSelection::Outcome::Found) {
    return finish(Result::None, "several DMARC records at " + queryName(policy_domain));
  }
  evaluation.policy_domain = policy_domain;
  const RecordParse parse = parseRecord(selection.record);
  if (!parse.ok()) {
    return finish(Result::PermError, fmt::format("an invalid DMARC record at {}: {}",
                                                 queryName(policy_domain), parse.error));
  }
  const Record& record = parse.record;
  evaluation.record = record;

  // The policy for this From domain: p at the domain itself; at the Organizational Domain for
  // a subdomain, np (RFC 9091) when the subdomain does not exist, else sp, else p.
  evaluation.applied_policy = record.policy;
  if (policy_domain != evaluation.from_domain) {
    if (!input.from_domain_exists && record.nonexistent_policy) {
      evaluation.applied_policy = *record.nonexistent_policy;
    } else if (record.subdomain_policy) {
      evaluation.applied_policy = *record.subdomain_policy;
    }
  }

  // Identifier alignment (section 3.1).
  evaluation.spf_aligned =
      evaluation.spf_result == AuthResult::Pass &&
      aligned(evaluation.spf_domain, evaluation.from_domain, record.spf_alignment, list);
  for (const DkimInput& signature : input.dkim) {
    if (signature.result == AuthResult::Pass &&
        aligned(signature.domain, evaluation.from_domain, record.dkim_alignment, list)) {
      evaluation.dkim_aligned = true;
      evaluation.aligned_dkim_domain = auth::normalizeDomain(signature.domain);
      break;
    }
  }
  if (evaluation.spf_aligned || evaluation.dkim_aligned) {
    evaluation.disposition = Policy::None;
    return finish(Result::Pass, {});
  }

  // Section 6.6.4: pct= applies the policy to that share of failing messages; the rest get
  // the next lower policy.
  evaluation.disposition = evaluation.applied_policy;
  if (record.percent < 100 && evaluation.applied_policy != Policy::None) {
    const bool sampled_in = record.percent > 0 && draw && draw() < record.percent;
    if (!sampled_in) {
      evaluation.sampled_out = true;
      evaluation.disposition = lowered(evaluation.applied_policy);
    }
  }
  return finish(Result::Fail, {});
}

auth::MethodResult Evaluation::authResult() const {
  auth::MethodResult entry;
  entry.method = "dmarc";
  entry.result = std::string(resultName(result));
  if (record) {
    entry.comment = fmt::format("p={}", policyName(record->policy));
    if (record->subdomain_policy) {
      entry.comment += fmt::format(" sp={}", policyName(*record->subdomain_policy));
    }
    entry.comment += fmt::format(" dis={}", policyName(disposition));
  }
  if (result == Result::TempError || result == Result::PermError) {
    entry.reason = reason;
  }
  if (!from_domain.empty()) {
    entry.properties.push_back({"header", "from", from_domain});
  }
  return entry;
}

ReportRow Evaluation::reportRow(const EvaluationInput& input) const {
  ReportRow row;
  row.source_ip = input.source_ip;
  row.disposition = disposition;
  row.dkim_pass = dkim_aligned;
  row.spf_pass = spf_aligned;
  if (sampled_out) {
    row.reason = "sampled_out";
  }
  row.header_from = from_domain;
  row.envelope_from = auth::normalizeDomain(input.envelope_from);
  row.envelope_to = auth::normalizeDomain(input.envelope_to);
  for (const DkimInput& signature : input.dkim) {
    row.dkim.push_back(
        {auth::normalizeDomain(signature.domain), signature.selector, signature.result});
  }
  row.spf_domain = spf_domain;
  row.spf_scope = spf_scope;
  row.spf_result = spf_result;
  row.published_domain = policy_domain;
  if (record) {
    row.adkim = record->dkim_alignment;
    row.aspf = record->spf_alignment;
    row.p = record->policy;
    row.sp = record->subdomain_policy.value_or(record->policy);
    row.np = record->nonexistent_policy;
    row.pct = record->percent;
    row.fo.clear();
    for (std::size_t i = 0; i < record->failure_options.size(); ++i) {
      row.fo += (i == 0 ? "" : ":") + record->failure_options[i];
    }
  }
  return row;
}

} // namespace upesi::dmarc
