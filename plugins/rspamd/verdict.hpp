// What rspamd's /checkv2 reply means for the message: the reply read (and refused when it is
// not a scan result), the summary kept in the transaction's results, the SMTP answer for its
// action, and the header values Haraka's plugin writes.
#pragma once

#include <upesi/code.hpp>

#include "plugins/rspamd/settings.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace upesi::plugins::rspamd {

/// A scan result: a JSON object with at least one key that is not a lone "error".
struct ScanReply {
  bool ok = false;
  nlohmann::json data;
  std::string error; ///< why not ok, for the results' err (empty for an empty reply)
};

ScanReply parseReply(std::string_view body);

/// Haraka's summary for the results: symbols as {name: score}, the scalar keys (action,
/// is_skipped, required_score, score), and urls, emails and messages flattened to text.
nlohmann::json summary(const nlohmann::json& data);

/// The answer to data_post for the reply's action (the core adds the codes: 550 5.7.1 and
/// 450 4.7.1, where Haraka's plugin asks for 451): DenySoft for "soft reject" and "greylist"
/// (when soft_reject is enabled), Deny for "reject" (as reject.spam or reject.authenticated
/// say), Cont otherwise. The message is rspamd's smtp_message when allowed, else the configured.
struct Decision {
  Code code = Code::Cont;
  std::string message;
};
Decision decide(const Settings& settings, const nlohmann::json& data, bool authenticated);

/// "[SPAM] %s" with the old subject in place of %s (the first only, as Haraka).
std::string rewrittenSubject(const Settings& settings, const nlohmann::json& data,
                             std::string_view old_subject);

/// A number as JavaScript prints it: 15 for 15.0, 4.6 for 4.6.
std::string jsNumber(const nlohmann::json& value);
/// The spam bar: one `positive` per whole point of score, `negative` per point below zero,
/// `neutral` between -1 and 1.
std::string spamBar(const Settings& settings, double score);
/// "NAME(score) NAME(score)" for the symbols that scored.
std::string symbolReport(const nlohmann::json& symbols);

} // namespace upesi::plugins::rspamd
