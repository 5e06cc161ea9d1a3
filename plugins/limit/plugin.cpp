// limit: haraka-plugin-limit's limits, counted in Redis so that every node behind the same MX
// or balancer shares them: connections at once and per period per client, recipients per period
// per client, sender, recipient and authenticated user, and the per-connection counts
// (recipients, unrecognized commands, errors). Redis down or slow never holds a client: the
// check lets it through, says so once per outage and counts it
// (upesi_redis_failures_total{plugin="limit"}).
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>
#include <upesi/redis.hpp>

#include "plugins/limit/limit_config.hpp"
#include "plugins/limit/limit_scripts.hpp"
#include "plugins/support/redis_outage.hpp"

#include <fmt/format.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace upesi::plugins::limit {
namespace {

std::optional<double> historyScore(Connection& connection, const History& history) {
  if (!history.enabled) {
    return std::nullopt;
  }
  const auto& results = connection.results().get(history.plugin);
  if (!results.is_object() || !results.contains("history") || !results["history"].is_number()) {
    return std::nullopt;
  }
  return results["history"].get<double>();
}

long long countNote(Connection& connection, const char* key) {
  auto& notes = connection.notes()["limit"];
  if (!notes.is_object()) {
    notes = nlohmann::json::object();
  }
  auto& value = notes[key];
  long long n = value.is_number_integer() ? value.get<long long>() : 0;
  value = ++n;
  return n;
}

} // namespace

class Limit final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    outage_ = std::make_unique<RedisOutage>(host);
    load();
    host.onConfigChange("limit.ini", [this] { load(); });
    // As in Haraka, which sections are on is read at start; their values are re-read live.
    if (cfg_.needsRedis() && host.redis() == nullptr && host.uvLoop() != nullptr) {
      host.log(LogLevel::Error, "no Redis client: the Redis limits are not enforced");
    }
    if (cfg_.concurrency.enabled || cfg_.rate_conn.enabled) {
      registrar.registerHook(
          Hook::Connect,
          [this](Next next, Connection& c, const HookParams&) { onConnect(next, c); }, 0,
          "check_connection");
    }
    if (cfg_.concurrency.enabled) {
      registrar.registerHook(
          Hook::Disconnect,
          [this](Next next, Connection& c, const HookParams&) { onDisconnect(next, c); }, 0,
          "concurrency_release");
    }
    registrar.registerHook(
        Hook::Rcpt, [this](Next next, Connection& c, const HookParams& p) { onRcpt(next, c, p); },
        0, "check_recipient");
    registrar.registerHook(
        Hook::UnrecognizedCommand,
        [this](Next next, Connection& c, const HookParams&) { onUnrecognized(next, c); }, 0,
        "max_unrecognized_commands");
    for (Hook hook : {Hook::Helo, Hook::Ehlo, Hook::Mail, Hook::Data}) {
      registrar.registerHook(
          hook, [this](Next next, Connection& c, const HookParams&) { maxErrors(next, c); }, 0,
          "max_errors");
    }
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"limit.ini", "ini", limitIniBooleans()}};
  }

  void shutdown() override {
    for (auto& [uuid, timer] : renewals_) {
      host_->clearTimeout(timer);
    }
    renewals_.clear();
  }

private:
  void load() {
    cfg_ = readLimitConfig(host_->config("limit.ini", "ini", limitIniBooleans()));
    for (const auto& problem : cfg_.problems) {
      host_->log(LogLevel::Error, "limit.ini " + problem + " (ignored)");
    }
  }

  /// DENYSOFT (or DENYSOFTDISCONNECT) after tarpit_delay, as Haraka's penalize.
  void penalize(Next next, Connection& connection, bool disconnect, std::string why,
                std::string fail) {
    connection.results().add(host_->pluginName(), {{"fail", std::move(fail)}});
    const Code code = disconnect ? Code::DenySoftDisconnect : Code::DenySoft;
    if (cfg_.tarpit_delay_s <= 0) {
      return next(code, why);
    }
    host_->log(LogLevel::Info, fmt::format("tarpitting for {} s", cfg_.tarpit_delay_s),
               &connection);
    host_->setTimeout(static_cast<std::uint64_t>(cfg_.tarpit_delay_s) * 1000,
                      [next, code, why] { next(code, why); });
  }

  /// A window check-and-add; `done(over)`; Redis trouble counts as not over.
  void slide(const std::string& key, const RateSpec& spec, const std::string& event,
             std::function<void(bool over, long long count)> done) {
    Redis* redis = host_->redis();
    if (redis == nullptr || spec.limit == 0) {
      return done(false, 0);
    }
    redis->eval(SlidingWindowScript, {key},
                {std::to_string(spec.window_s * 1000), std::to_string(spec.limit), event},
                [this, done](RedisResult result) {
                  if (!outage_->check(result) || result.reply.elements.size() != 2) {
                    return done(false, 0);
                  }
                  done(result.reply.elements[1].integer != 0, result.reply.elements[0].integer);
                });
  }

  // Renewed three times a lease: one late renewal does not drop a live connection.
  std::uint64_t renewMs() const {
    return static_cast<std::uint64_t>(cfg_.concurrency_lease_s) * 1000 / 3;
  }

  std::string eventName(Connection& connection) {
    return fmt::format("{}:{}", connection.uuid(), ++events_);
  }

  // ------------------------------------------------------------------------------ connect

  void onConnect(Next next, Connection& connection) {
    auto remaining = std::make_shared<int>(2);
    auto refusal = std::make_shared<std::pair<std::string, std::string>>();
    auto finish = [this, next, &connection, remaining, refusal] {
      if (--*remaining > 0 || !next.pending()) {
        return; // the client may be gone: `connection` with it
      }
      if (!refusal->first.empty()) {
        return penalize(next, connection, true, refusal->first, refusal->second);
      }
      next();
    };
    checkConcurrency(next, connection, [refusal, finish](bool over) {
      if (over) {
        *refusal = {"Too many concurrent connections", "concurrency.max"};
      }
      finish();
    });
    checkConnectionRate(next, connection, [refusal, finish](bool over) {
      if (over && refusal->first.empty()) {
        *refusal = {"connection rate limit exceeded", "rate_conn"};
      }
      finish();
    });
  }

  std::string concurrencyKey(Connection& connection) const {
    return "limit:concurrency:" + connection.remote().ip;
  }

  void checkConcurrency(const Next& next, Connection& connection, std::function<void(bool)> done) {
    Redis* redis = host_->redis();
    if (!cfg_.concurrency.enabled || redis == nullptr) {
      return done(false);
    }
    long long max = cfg_.concurrency.max;
    if (auto spec = historyLimit(cfg_.concurrency.history,
                                 historyScore(connection, cfg_.concurrency.history))) {
      max = spec->limit;
    }
    const std::string key = concurrencyKey(connection);
    const std::string uuid = connection.uuid();
    renewEntry(key, uuid,
               [this, next, key, max, uuid, done, &connection](std::optional<long long> count) {
                 if (!next.pending()) {
                   // Gone before Redis answered (its disconnect hook found nothing to release).
                   if (Redis* r = host_->redis(); r != nullptr && count) {
                     r->command({"ZREM", key, uuid},
                                [this](RedisResult result) { outage_->check(result); });
                   }
                   return done(false);
                 }
                 if (!count) {
                   return done(false);
                 }
                 connection.results().add(host_->pluginName(),
                                          {{"concurrent", fmt::format("{}/{}", *count, max)}});
                 // Renewed while the connection lasts; removed at disconnect.
                 renewals_[uuid] =
                     host_->setTimeout(renewMs(), [this, key, uuid] { renewLater(key, uuid); });
                 done(max > 0 && *count > max);
               });
  }

  void renewEntry(const std::string& key, const std::string& uuid,
                  std::function<void(std::optional<long long>)> done) {
    Redis* redis = host_->redis();
    if (redis == nullptr) {
      return done(std::nullopt);
    }
    redis->eval(ConcurrencyScript, {key}, {uuid, std::to_string(cfg_.concurrency_lease_s * 1000LL)},
                [this, done](RedisResult result) {
                  if (!outage_->check(result) || result.reply.type != RedisValue::Type::Integer) {
                    return done(std::nullopt);
                  }
                  done(result.reply.integer);
                });
  }

  void renewLater(const std::string& key, const std::string& uuid) {
    if (renewals_.count(uuid) == 0) {
      return;
    }
    renewEntry(key, uuid, [](std::optional<long long>) {});
    renewals_[uuid] = host_->setTimeout(renewMs(), [this, key, uuid] { renewLater(key, uuid); });
  }

  void onDisconnect(Next next, Connection& connection) {
    auto it = renewals_.find(connection.uuid());
    if (it == renewals_.end()) {
      return next();
    }
    host_->clearTimeout(it->second);
    renewals_.erase(it);
    if (Redis* redis = host_->redis()) {
      redis->command({"ZREM", concurrencyKey(connection), connection.uuid()},
                     [this](RedisResult result) { outage_->check(result); });
    }
    next();
  }

  void checkConnectionRate(const Next& next, Connection& connection,
                           std::function<void(bool)> done) {
    if (!cfg_.rate_conn.enabled) {
      return done(false);
    }
    auto match = cfg_.rate_conn.forClient(connection.remote().ip, connection.remote().host,
                                          historyScore(connection, cfg_.rate_conn.history));
    if (!match) {
      return done(false);
    }
    slide("limit:rate_conn:" + match->key, match->spec, eventName(connection),
          [this, next, done, &connection, spec = match->spec](bool over, long long count) {
            if (!next.pending()) {
              return done(false);
            }
            connection.results().add(
                host_->pluginName(),
                {{"rate_conn", fmt::format("{}/{}/{}s", count, spec.limit, spec.window_s)}});
            done(over);
          });
  }

  // --------------------------------------------------------------------------------- rcpt

  void onRcpt(Next next, Connection& connection, const HookParams& params) {
    if (cfg_.recipients.enabled) {
      long long max =
          connection.relaying() && cfg_.max_relaying > 0 ? cfg_.max_relaying : cfg_.recipients.max;
      if (auto spec = historyLimit(cfg_.recipients.history,
                                   historyScore(connection, cfg_.recipients.history))) {
        max = spec->limit;
      }
      if (max > 0 && countNote(connection, "rcpts") > max) {
        return penalize(next, connection, false, "Too many recipient attempts", "recipients.max");
      }
    }
    struct Check {
      std::string key;
      RateSpec spec;
      const char* why;
      const char* fail;
    };
    std::vector<Check> checks;
    auto add = [&checks](const char* section, std::optional<RateMatch> match, const char* why) {
      if (match && match->spec.limit > 0) {
        checks.push_back(
            {fmt::format("limit:{}:{}", section, match->key), match->spec, why, section});
      }
    };
    auto* txn = connection.transaction();
    const Address* rcpt = params.address;
    if (cfg_.rate_rcpt_host.enabled) {
      add("rate_rcpt_host",
          cfg_.rate_rcpt_host.forClient(connection.remote().ip, connection.remote().host,
                                        historyScore(connection, cfg_.rate_rcpt_host.history)),
          "recipient rate limit exceeded");
    }
    if (cfg_.rate_rcpt_sender.enabled && txn != nullptr && !txn->mailFrom().is_null) {
      add("rate_rcpt_sender", cfg_.rate_rcpt_sender.forAddress(txn->mailFrom().address()),
          "rate limit exceeded");
    }
    if (cfg_.rate_rcpt_sender.enabled && !connection.authUser().empty()) {
      // The authenticated user counts as a sender of its own (Haraka#1224).
      add("rate_rcpt_user", cfg_.rate_rcpt_sender.forAddress(connection.authUser()),
          "rate limit exceeded");
    }
    if (cfg_.rate_rcpt.enabled && rcpt != nullptr) {
      add("rate_rcpt", cfg_.rate_rcpt.forAddress(rcpt->address()), "rate limit exceeded");
    }
    if (cfg_.rate_rcpt_null.enabled && rcpt != nullptr && txn != nullptr &&
        txn->mailFrom().is_null) {
      add("rate_rcpt_null", cfg_.rate_rcpt_null.forAddress(rcpt->address()),
          "null sender rate limit exceeded");
    }
    if (checks.empty()) {
      return next();
    }
    auto remaining = std::make_shared<std::size_t>(checks.size());
    auto refusal = std::make_shared<std::pair<std::string, std::string>>();
    for (const auto& check : checks) {
      slide(check.key, check.spec, eventName(connection),
            [this, next, &connection, remaining, refusal, why = std::string(check.why),
             fail = std::string(check.fail)](bool over, long long) {
              if (over && refusal->first.empty()) {
                *refusal = {why, fail};
              }
              if (--*remaining > 0 || !next.pending()) {
                return;
              }
              if (!refusal->first.empty()) {
                return penalize(next, connection, false, refusal->first, refusal->second);
              }
              next();
            });
    }
  }

  // ---------------------------------------------------------------- per-connection counts

  void onUnrecognized(Next next, Connection& connection) {
    if (!cfg_.unrecognized_commands.enabled || cfg_.unrecognized_commands.max <= 0) {
      return next();
    }
    if (countNote(connection, "unrecognized") <= cfg_.unrecognized_commands.max) {
      return next();
    }
    penalize(next, connection, true, "Too many unrecognized commands", "unrec_cmds.max");
  }

  void maxErrors(Next next, Connection& connection) {
    if (!cfg_.errors.enabled || cfg_.errors.max <= 0 ||
        connection.errorCount() <= static_cast<unsigned long long>(cfg_.errors.max)) {
      return next();
    }
    penalize(next, connection, true, "Too many errors", "errors.max");
  }

  Host* host_ = nullptr;
  LimitConfig cfg_;
  std::unique_ptr<RedisOutage> outage_;
  std::map<std::string, std::uint64_t> renewals_; // connection uuid -> its renewal timer
  std::uint64_t events_ = 0;
};

} // namespace upesi::plugins::limit

std::unique_ptr<upesi::Plugin> upesi_builtin_limit() {
  return std::make_unique<upesi::plugins::limit::Limit>();
}
