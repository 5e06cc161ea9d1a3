// karma: haraka-plugin-karma's reputation engine. It scores each connection from other plugins'
// results ([result_awards]), connection properties ([awards], [tls]) and the envelope sender's
// TLD ([spammy_tlds]), its network ([asn_awards]) and the refusals of other plugins it takes over
// ([deny_excludes] names those it leaves alone); a connection whose score falls below
// [thresholds] negative is refused at the [deny] hooks, and a negative score slows every answer
// ([tarpit]). Each IP's history (its good and bad connections), and its network's, is kept in
// Redis, so a client's record on one node counts on every other; Redis down or slow costs only
// the history (fail open: logged once, counted).
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>
#include <upesi/redis.hpp>

#include "plugins/karma/karma_rules.hpp"
#include "plugins/support/redis_outage.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace upesi::plugins::karma {
namespace {

// KEYS[1] the IP's (or network's) history; ARGV[1] its lifetime (s). Counts this connection and
// returns the history before it: {good, bad, connections}. A new history has all three fields,
// as haraka-plugin-karma writes it.
constexpr const char* ConnectScript = R"lua(
local v = redis.call('HMGET', KEYS[1], 'good', 'bad', 'connections')
redis.call('HSETNX', KEYS[1], 'good', 0)
redis.call('HSETNX', KEYS[1], 'bad', 0)
redis.call('HINCRBY', KEYS[1], 'connections', 1)
redis.call('EXPIRE', KEYS[1], ARGV[1])
return {tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0}
)lua";

// KEYS[1] the IP's (or network's) history; ARGV[1] 'good' or 'bad', ARGV[2] its lifetime (s).
constexpr const char* VerdictScript = R"lua(
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return n
)lua";

constexpr int MinConnectionsForAll = 5; // all_good / all_bad need this much history
constexpr int AsnVerdictAt = 5;         // a network's history counts past this many points
constexpr double TakenOverDenial = -2;  // what a refusal karma took over costs

struct Scored {
  double score = 0;
  bool penalty_box = false;      // its IP's history is below history_negative
  std::set<std::string> applied; // award ids (and property awards) already counted
  std::optional<std::string> asn;
  // The strongest refusal taken over: karma's own refusal is no harder (a DENYSOFT taken over
  // stays a temporary refusal).
  std::optional<Code> taken_over;
};

} // namespace

class Karma final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    outage_ = std::make_unique<RedisOutage>(host);
    load();
    host.onConfigChange("karma.ini", [this] { load(); });
    registrar.registerHook(
        Hook::Connect, [this](Next next, Connection& c, const HookParams&) { onConnect(next, c); },
        0, "connect");
    for (Hook hook : {Hook::Helo, Hook::Ehlo, Hook::Mail, Hook::Rcpt, Hook::Data, Hook::DataPost,
                      Hook::Queue, Hook::QueueOutbound, Hook::UnrecognizedCommand}) {
      registrar.registerHook(
          hook, [this](Next next, Connection& c, const HookParams& p) { onHook(next, c, p); }, 0,
          "score");
    }
    registrar.registerHook(
        Hook::Disconnect,
        [this](Next next, Connection& c, const HookParams&) { onDisconnect(next, c); }, 0,
        "disconnect");
    registrar.registerHook(
        Hook::Deny, [this](Next next, Connection& c, const HookParams& p) { onDeny(next, c, p); },
        0, "take_over_denial");
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"karma.ini", "ini", karmaIniBooleans()}};
  }

private:
  void load() {
    cfg_ = readKarmaConfig(host_->config("karma.ini", "ini", karmaIniBooleans()));
    for (const auto& problem : cfg_.problems) {
      host_->log(LogLevel::Error, "karma.ini " + problem + " (ignored)");
    }
  }

  const std::string& name() const { return host_->pluginName(); }

  bool skipped(Connection& connection) const {
    const auto& notes = connection.notes();
    if (notes.contains("disable_karma") && notes["disable_karma"] == true) {
      return true;
    }
    if (cfg_.skip_private_ip && connection.remote().is_private) {
      return true;
    }
    return cfg_.skip_authenticated && !connection.authUser().empty();
  }

  Scored& state(Connection& connection) { return scores_[connection.uuid()]; }

  void award(Connection& connection, Scored& s, const std::string& id, double points,
             const std::string& why) {
    if (!s.applied.insert(id).second || points == 0) {
      return;
    }
    s.score += points;
    connection.results().add(name(), {{points > 0 ? "pass" : "fail", why}});
  }

  /// Every award whose condition holds now and that has not been counted yet.
  void score(Connection& connection) {
    Scored& s = state(connection);
    auto* txn = connection.transaction();
    for (const auto& rule : cfg_.result_awards) {
      const bool conn_match = awardMatches(rule, connection.results().get(rule.plugin));
      const bool txn_match = txn != nullptr && awardMatches(rule, txn->results().get(rule.plugin));
      if (conn_match || txn_match) {
        award(connection, s, "result:" + rule.id, rule.award,
              rule.reason.empty()
                  ? fmt::format("{} {} {} {}", rule.plugin, rule.property, rule.op, rule.value)
                  : rule.reason);
      }
    }
    if (connection.relaying()) {
      award(connection, s, "awards:relaying", cfg_.award_relaying, "relaying");
    }
    if (connection.earlyTalker()) {
      award(connection, s, "awards:early_talker", cfg_.award_early_talker, "early_talker");
    }
    if (s.asn) {
      if (auto it = cfg_.asn_awards.find(*s.asn); it != cfg_.asn_awards.end()) {
        award(connection, s, "asn_awards", it->second, "asn_awards");
      }
    }
    if (txn != nullptr) {
      // A client that has come this far without STARTTLS will not use it.
      award(connection, s, connection.tls() ? "tls:set" : "tls:unset",
            connection.tls() ? cfg_.tls_set : cfg_.tls_unset, connection.tls() ? "tls" : "no tls");
      const auto& from = txn->mailFrom();
      if (!from.is_null && !from.host.empty()) {
        if (auto points = spammyTldAward(cfg_, from.host)) {
          award(connection, s, "spammy_tld", *points, "spammy TLD");
        }
      }
    }
    connection.results().add(name(), {{"score", s.score}});
  }

  /// Answers `next` after the tarpit delay.
  void answer(const Next& next, Connection& connection, Code code = Code::Cont,
              std::string message = {}) {
    const double delay = tarpitDelay(cfg_, state(connection).score, isSubmission(connection));
    if (delay <= 0) {
      return next(code, std::move(message));
    }
    host_->setTimeout(static_cast<std::uint64_t>(delay * 1000),
                      [next, code, message] { next(code, message); });
  }

  static bool isSubmission(Connection& connection) {
    return connection.local().port == 587 || connection.local().port == 465;
  }

  void verdict(const Next& next, Connection& connection, Hook hook) {
    score(connection);
    const double value = state(connection).score;
    const bool refused = value < cfg_.negative || state(connection).penalty_box;
    if (refused && cfg_.deny_hooks.count(std::string(toString(hook))) != 0) {
      connection.results().add(name(),
                               {{"fail", "score below " + fmt::format("{}", cfg_.negative)}});
      host_->log(LogLevel::Info, fmt::format("refused at {}: score {}", toString(hook), value),
                 &connection);
      const bool soft = state(connection).taken_over == Code::DenySoft;
      const Code code = hook == Hook::Connect
                            ? (soft ? Code::DenySoftDisconnect : Code::DenyDisconnect)
                            : (soft ? Code::DenySoft : Code::Deny);
      return answer(next, connection, code, denyMessage(cfg_, value, connection.uuid()));
    }
    answer(next, connection);
  }

  void onConnect(Next next, Connection& connection) {
    if (skipped(connection)) {
      connection.results().add(name(), {{"skip", "exempt"}});
      return next();
    }
    Scored& s = state(connection); // scored from here on
    if (cfg_.asn_enable) {
      s.asn = clientAsn(connection.results().get("asn"), connection.results().get("geoip"));
    }
    Redis* redis = host_->redis();
    if (redis == nullptr) {
      return verdict(next, connection, Hook::Connect);
    }
    // The IP's history and its network's, asked at once; the verdict waits for both.
    auto remaining = std::make_shared<int>(s.asn ? 2 : 1);
    auto finish = [this, next, &connection, remaining] {
      if (--*remaining == 0 && next.pending()) {
        verdict(next, connection, Hook::Connect);
      }
    };
    countConnection(historyKey(connection), cfg_.expire_days * 86400,
                    [this, next, &connection, finish](const RedisResult& result) {
                      if (next.pending() && historyIn(result)) {
                        recordHistory(connection, result.reply.elements[0].integer,
                                      result.reply.elements[1].integer,
                                      result.reply.elements[2].integer);
                      }
                      finish();
                    });
    if (s.asn) {
      // A network's history outlives its members' (Haraka keeps it twice as long).
      countConnection(asnKey(*s.asn), cfg_.expire_days * 2 * 86400,
                      [this, next, &connection, finish](const RedisResult& result) {
                        if (next.pending() && historyIn(result)) {
                          recordAsnHistory(connection, result.reply.elements[0].integer,
                                           result.reply.elements[1].integer);
                        }
                        finish();
                      });
    }
  }

  void countConnection(const std::string& key, long long lifetime_s,
                       std::function<void(const RedisResult&)> done) {
    host_->redis()->eval(ConnectScript, {key}, {std::to_string(lifetime_s)},
                         [done = std::move(done)](RedisResult result) { done(result); });
  }

  bool historyIn(const RedisResult& result) {
    return outage_->check(result) && result.reply.elements.size() == 3;
  }

  /// The network's record, under [asn] report_as (karma's own results by default).
  void recordAsnHistory(Connection& connection, long long good, long long bad) {
    const std::string as = cfg_.asn_report_as.empty() ? name() : cfg_.asn_report_as;
    const long long asn_score = good - bad;
    if (asn_score != 0) {
      connection.results().add(as, {{"asn_score", asn_score}});
    }
    if (asn_score < -AsnVerdictAt) {
      connection.results().add(as, {{"fail", "asn:history"}});
    } else if (asn_score > AsnVerdictAt) {
      connection.results().add(as, {{"pass", "asn:history"}});
    }
    if (bad > AsnVerdictAt && good == 0) {
      connection.results().add(as, {{"fail", "asn:all_bad"}});
    }
    if (good > AsnVerdictAt && bad == 0) {
      connection.results().add(as, {{"pass", "asn:all_good"}});
    }
  }

  /// Another plugin's refusal: taken over (the command goes on, the score loses 2 points)
  /// unless [deny_excludes] names its plugin or hook, or karma leaves the client alone.
  void onDeny(Next next, Connection& connection, const HookParams& params) {
    const DenyInfo* deny = params.deny;
    if (deny == nullptr || isOutboundHook(deny->hook) || skipped(connection) ||
        deny->plugin == name() || cfg_.deny_exclude_plugins.count(deny->plugin) != 0 ||
        cfg_.deny_exclude_hooks.count(std::string(toString(deny->hook))) != 0) {
      return next();
    }
    Scored& s = state(connection);
    s.score += TakenOverDenial;
    connection.results().add(name(), {{"msg", "deny: " + deny->plugin}});
    const bool hard = deny->code == Code::Deny || deny->code == Code::DenyDisconnect;
    if (hard) {
      s.taken_over = Code::Deny;
    } else if (s.taken_over != Code::Deny) {
      s.taken_over = Code::DenySoft;
    }
    host_->log(LogLevel::Info,
               fmt::format("took over {} from {} at {}: score {}", toString(deny->code),
                           deny->plugin, toString(deny->hook), s.score),
               &connection);
    next(Code::Ok);
  }

  void recordHistory(Connection& connection, long long good, long long bad, long long total) {
    const long long history = good - bad;
    connection.results().add(
        name(), {{"history", history}, {"good", good}, {"bad", bad}, {"connections", total}});
    if (total > MinConnectionsForAll && history < cfg_.history_negative) {
      state(connection).penalty_box = true; // refused at the deny hooks, whatever it scores
      connection.results().add(name(), {{"fail", "history_negative"}});
    }
    if (total >= MinConnectionsForAll && bad == 0 && good > 0) {
      connection.results().add(name(), {{"pass", "all_good"}});
    } else if (total >= MinConnectionsForAll && good == 0 && bad > 0) {
      connection.results().add(name(), {{"fail", "all_bad"}});
    }
  }

  void onHook(Next next, Connection& connection, const HookParams&) {
    if (scores_.count(connection.uuid()) == 0) {
      return next(); // exempt
    }
    verdict(next, connection, connection.hook());
  }

  void onDisconnect(Next next, Connection& connection) {
    auto it = scores_.find(connection.uuid());
    if (it == scores_.end()) {
      return next();
    }
    score(connection);
    const double value = it->second.score;
    host_->log(LogLevel::Info,
               fmt::format("score {}: {}", value, connection.results().collate(name())),
               &connection);
    const char* field = value > cfg_.positive ? "good" : value < 0 ? "bad" : nullptr;
    Redis* redis = host_->redis();
    if (field != nullptr && redis != nullptr) {
      auto record = [this, redis, field](const std::string& key, long long lifetime_s) {
        redis->eval(VerdictScript, {key}, {field, std::to_string(lifetime_s)},
                    [this](RedisResult result) { outage_->check(result); });
      };
      record(historyKey(connection), cfg_.expire_days * 86400);
      if (it->second.asn) {
        record(asnKey(*it->second.asn), cfg_.expire_days * 2 * 86400);
      }
    }
    scores_.erase(it);
    next();
  }

  static std::string historyKey(Connection& connection) {
    return "karma|" + connection.remote().ip; // haraka-plugin-karma's key
  }

  static std::string asnKey(const std::string& asn) {
    return "as" + asn; // haraka-plugin-karma's key
  }

  Host* host_ = nullptr;
  KarmaConfig cfg_;
  std::unique_ptr<RedisOutage> outage_;
  std::map<std::string, Scored> scores_; // by connection uuid, until its disconnect
};

} // namespace upesi::plugins::karma

std::unique_ptr<upesi::Plugin> upesi_builtin_karma() {
  return std::make_unique<upesi::plugins::karma::Karma>();
}
