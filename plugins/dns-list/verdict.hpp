// From the lists' answers about a client to what the plugin does and records: Haraka's
// per-zone rules (block, allow, karma; search=first or all), then the weighted score.
#pragma once

#include "plugins/dns-list/settings.hpp"
#include "plugins/dns-list/zone_answer.hpp"

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace upesi::plugins::dns_list {

struct ResultEntry {
  std::string key; ///< pass, fail, msg, err or skip
  std::string value;
};

struct Verdict {
  enum class Action {
    Continue, ///< nothing to say
    Accept,   ///< on an allow list: OK, and helo/mail may be accepted (ok_helo, ok_mail)
    Reject,   ///< listed on a rejecting block list
    Defer,    ///< a lookup failed and defer_on_error is set
  };
  bool decided = false; ///< false: wait for more answers
  Action action = Action::Continue;
  std::vector<std::string> zones; ///< the zones the reply names
  std::vector<ResultEntry> results;
  std::optional<long long> score;          ///< weighted mode
  bool weighted_block = false;             ///< score at or above the threshold
  std::vector<std::string> weighted_zones; ///< the listing entries with a positive weight
};

/// Evaluates the answers so far. `consulted`: the zones asked about this client; a zone
/// missing from `answers` has not answered yet, or never will when `complete`.
Verdict evaluate(const Settings& settings, const std::set<std::string>& consulted,
                 const ZoneAnswers& answers, bool complete);

} // namespace upesi::plugins::dns_list
