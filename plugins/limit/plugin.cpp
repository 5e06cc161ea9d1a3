// limit: haraka-plugin-limit's limits, counted in Redis so that every node behind the same MX
// or balancer shares them: connections at once and per period per client, recipients per period
// per client, sender, recipient and authenticated user, the per-connection counts (recipients,
// unrecognized commands, errors), and deliveries at once and per period per destination domain.
// Redis down or slow never holds a client or a delivery: the check lets it through, says so
// once per outage and counts it (upesi_redis_failures_total{plugin="limit"}).
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/outbound.hpp>
#include <upesi/plugin.hpp>
#include <upesi/redis.hpp>
#include <upesi/text.hpp>

#include "plugins/limit/leases.hpp"
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
    leases_ = std::make_unique<Leases>(host, *outage_);
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
    if (cfg_.outbound.enabled || cfg_.rate_outbound.enabled) {
      registrar.registerHook(
          Hook::SendEmail,
          [this](Next next, Connection&, const HookParams& p) { onSendEmail(next, *p.hmail); }, 0,
          "outbound_limits");
    }
    if (cfg_.outbound.enabled) {
      // Whichever ends the attempt (a partial delivery has delivered and deferred) releases it.
      for (Hook hook : {Hook::Delivered, Hook::Deferred, Hook::Bounce}) {
        registrar.registerHook(
            hook,
            [this](Next next, Connection&, const HookParams& p) {
              leases_->release(outboundKey(p.hmail->domain()), p.hmail->uuid());
              next();
            },
            0, "outbound_release");
      }
    }
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"limit.ini", "ini", limitIniBooleans()}};
  }

  void shutdown() override { leases_->stopRenewing(); }

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
    if (!cfg_.concurrency.enabled) {
      return done(false);
    }
    long long max = cfg_.concurrency.max;
    if (auto spec = historyLimit(cfg_.concurrency.history,
                                 historyScore(connection, cfg_.concurrency.history))) {
      max = spec->limit;
    }
    const std::string key = concurrencyKey(connection);
    const std::string uuid = connection.uuid();
    const long long life_s = cfg_.concurrency_lease_s;
    leases_->take(
        key, uuid, life_s,
        [this, next, key, max, uuid, life_s, done, &connection](std::optional<long long> count) {
          if (!next.pending()) {
            // Gone before Redis answered (its disconnect hook found nothing to
            // release).
            if (count) {
              leases_->drop(key, uuid);
            }
            return done(false);
          }
          if (!count) {
            return done(false);
          }
          connection.results().add(host_->pluginName(),
                                   {{"concurrent", fmt::format("{}/{}", *count, max)}});
          // Renewed while the connection lasts; removed at disconnect.
          leases_->keep(key, uuid, life_s);
          done(max > 0 && *count > max);
        });
  }

  void onDisconnect(Next next, Connection& connection) {
    leases_->release(concurrencyKey(connection), connection.uuid());
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

  // ------------------------------------------------------------------------------ outbound

  static std::string outboundKey(const std::string& domain) {
    return "limit:outbound:" + text::toLower(domain);
  }

  /// send_email: [outbound] first (its entry can be given back), then [rate_outbound]; a
  /// message over either waits (DELAY) and is asked again then.
  void onSendEmail(Next next, HMail& hmail) {
    const long long max = cfg_.outbound.enabled ? cfg_.outbound.maxFor(hmail.domain()) : 0;
    if (max <= 0) {
      return checkOutboundRate(next, hmail, nullptr);
    }
    const std::string key = outboundKey(hmail.domain());
    const std::string uuid = hmail.uuid();
    const long long life_s = cfg_.outbound.lease_s;
    leases_->take(key, uuid, life_s,
                  [this, next, &hmail, key, uuid, max, life_s](std::optional<long long> count) {
                    if (!next.pending()) {
                      return;
                    }
                    if (!count) {
                      return next(); // Redis trouble: deliver
                    }
                    if (*count > max) {
                      leases_->drop(key, uuid);
                      host_->log(LogLevel::Info,
                                 fmt::format("{} deliveries to {} at once (limit {}): waiting "
                                             "{} s",
                                             *count - 1, hmail.domain(), max,
                                             cfg_.outbound.delay_s));
                      return next(Code::Delay, std::to_string(cfg_.outbound.delay_s));
                    }
                    leases_->keep(key, uuid, life_s);
                    checkOutboundRate(next, hmail, &key);
                  });
  }

  /// `held`: the [outbound] entry this delivery holds, given back if the rate refuses it.
  void checkOutboundRate(const Next& next, HMail& hmail, const std::string* held) {
    std::optional<RateMatch> match;
    if (cfg_.rate_outbound.enabled) {
      match = cfg_.rate_outbound.forDomain(hmail.domain());
    }
    if (!match || match->spec.limit <= 0) {
      return next();
    }
    std::optional<std::string> lease;
    if (held != nullptr) {
      lease = *held;
    }
    slide("limit:rate_outbound:" + match->key, match->spec,
          fmt::format("{}:{}", hmail.uuid(), ++events_),
          [this, next, lease, uuid = hmail.uuid(), domain = hmail.domain(),
           spec = match->spec](bool over, long long) {
            if (!next.pending()) {
              return;
            }
            if (!over) {
              return next();
            }
            if (lease) {
              leases_->release(*lease, uuid);
            }
            host_->log(LogLevel::Info,
                       fmt::format("deliveries to {} over {} per {} s: waiting {} s", domain,
                                   spec.limit, spec.window_s, spec.window_s));
            next(Code::Delay, std::to_string(spec.window_s));
          });
  }

  Host* host_ = nullptr;
  LimitConfig cfg_;
  std::unique_ptr<RedisOutage> outage_;
  std::unique_ptr<Leases> leases_;
  std::uint64_t events_ = 0;
};

} // namespace upesi::plugins::limit

std::unique_ptr<upesi::Plugin> upesi_builtin_limit() {
  return std::make_unique<upesi::plugins::limit::Limit>();
}
