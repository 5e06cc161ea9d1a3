// karma.ini, as haraka-plugin-karma reads it, and the scoring of other plugins' results.
//
//   [thresholds] negative (-8): below it a connection is refused at the [deny] hooks;
//                positive (2): above it the connection counts as good in the IP's history;
//                history_negative (-3)
//   [deny] hooks, message ("{score}" and "{uuid}" are filled in)
//   [tarpit] delay (0: by score), max, max_msa (on submission ports)
//   [awards] relaying, early_talker: points for those connection properties
//   [tls] set, unset: points for a client that did or did not use TLS
//   [spammy_tlds] tld = points, for the envelope sender's domain (multi-label: sa.com=-3)
//   [result_awards] id = plugin | property | operator | value | award | reason | remedy
//   [redis] expire_days (60): how long an IP's history outlives its last connection
//   [skip] private_ip (true), authenticated (true): connections karma leaves alone
//   [deny_excludes] plugins, hooks: whose refusals stand; every other plugin's DENY or DENYSOFT
//                is taken over (the command goes on) and costs 2 points
//   [asn] enable (true), report_as: the history of the client's network (AS number from an
//                `asn` or `geoip` plugin's results) in Redis, as for its IP
//   [asn_awards] asn = points, for a client in that network
//
// Operators: equals (eq, equal), match (contains, case-insensitive; no regular expressions),
// gt, lt (numbers), length (value "gt N", "lt N" or "eq N": an array's or string's length). A
// property holding an array matches when one of its items does.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace upesi::plugins::karma {

struct ResultAward {
  std::string id;
  std::string plugin;
  std::string property;
  std::string op;
  std::string value;
  double award = 0;
  std::string reason;
  std::string remedy;
};

struct KarmaConfig {
  double negative = -8;
  double positive = 2;
  double history_negative = -3;
  std::set<std::string> deny_hooks{"unrecognized_command", "data", "data_post", "queue",
                                   "queue_outbound"};
  std::string deny_message = "very bad karma score: {score}";
  double tarpit_delay = 0; // 0: by score
  double tarpit_max = 5;
  double tarpit_max_msa = 1;
  double award_relaying = 0;
  double award_early_talker = 0;
  double tls_set = 0;
  double tls_unset = 0;
  std::map<std::string, double> spammy_tlds; // lower-case suffix -> points
  std::vector<ResultAward> result_awards;
  long long expire_days = 60;
  std::set<std::string> deny_exclude_plugins{"access",      "attachment", "clamd",  "headers",
                                             "helo.checks", "limit",      "rspamd", "spamassassin",
                                             "send_email",  "tls"};
  // Haraka lists rcpt only; a recipient refused at rcpt_ok (greylist) stands here too.
  std::set<std::string> deny_exclude_hooks{"rcpt", "rcpt_ok", "queue", "queue_outbound"};
  bool asn_enable = true;
  std::string asn_report_as;                // empty: karma's own results
  std::map<std::string, double> asn_awards; // AS number -> points
  bool skip_private_ip = true;
  bool skip_authenticated = true;
  std::vector<std::string> problems;
};

const std::vector<std::string>& karmaIniBooleans();

KarmaConfig readKarmaConfig(const nlohmann::json& ini);

/// Whether `rule` matches the results a plugin recorded (a JSON object, or null).
bool awardMatches(const ResultAward& rule, const nlohmann::json& results);

/// The points for `domain` (the envelope sender's), the longest listed suffix's; nullopt if none.
std::optional<double> spammyTldAward(const KarmaConfig& cfg, const std::string& domain);

/// Seconds to hold each answer: the static delay, else one per point below zero, at most max.
double tarpitDelay(const KarmaConfig& cfg, double score, bool submission);

/// The AS number another plugin found for the client (`asn`'s results, else `geoip`'s, field
/// "asn", a number or digits), or nullopt.
std::optional<std::string> clientAsn(const nlohmann::json& asn_results,
                                     const nlohmann::json& geoip_results);

/// The deny message with {score} and {uuid} filled in.
std::string denyMessage(const KarmaConfig& cfg, double score, const std::string& uuid);

} // namespace upesi::plugins::karma
