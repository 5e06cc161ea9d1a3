// dns-list: Haraka's DNS block and allow lists (haraka-plugin-dns-list) with its dns-list.ini,
// plus postscreen's weighted scoring, a per-worker cache of answers, a lookup timeout and
// periodic self-tests of each zone (RFC 5782 section 5).
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include "plugins/dns-list/answer_errors.hpp"
#include "plugins/dns-list/query_name.hpp"
#include "plugins/dns-list/settings.hpp"
#include "plugins/dns-list/verdict.hpp"
#include "plugins/dns-list/verdict_cache.hpp"
#include "plugins/support/answer_deadlines.hpp"
#include "plugins/support/skip_reason.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <set>
#include <string>

namespace upesi::plugins::dns_list {
namespace {

std::uint64_t nowMs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

std::string joined(const std::vector<std::string>& zones) {
  return fmt::format("{}", fmt::join(zones, ", "));
}

ZoneAnswer answerFrom(const DnsResult& result, bool allow_list) {
  ZoneAnswer answer;
  switch (result.status) {
  case DnsStatus::Ok:
    break;
  case DnsStatus::NxDomain:
  case DnsStatus::NoData:
    answer.status = ZoneAnswer::Status::Unlisted;
    return answer;
  case DnsStatus::ServFail:
    answer.error = "SERVFAIL";
    return answer;
  case DnsStatus::Timeout:
    answer.error = "timeout";
    return answer;
  case DnsStatus::Error:
    answer.error = result.error.empty() ? "lookup error" : result.error;
    return answer;
  }
  if (result.records.empty()) {
    answer.status = ZoneAnswer::Status::Unlisted;
    return answer;
  }
  answer.ttl = result.records.front().ttl;
  for (const auto& record : result.records) {
    answer.addresses.push_back(record.value);
    answer.ttl = std::min(answer.ttl, record.ttl);
  }
  if (auto error = answerError(answer.addresses, allow_list)) {
    answer.error = *error;
    answer.addresses.clear();
    return answer;
  }
  answer.status = ZoneAnswer::Status::Listed;
  return answer;
}

// One client's lookups, shared by their callbacks.
struct ClientLookup {
  std::shared_ptr<const Settings> settings;
  std::set<std::string> consulted;
  ZoneAnswers answers;
  std::size_t remaining = 0;
  bool decided = false;
  std::string ip;
};

} // namespace

class DnsList final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    deadlines_.attach(host);
    load();
    host.onConfigChange("dns-list.ini", [this] { load(); });
    registrar.registerHook(
        Hook::Connect,
        [this](Next next, Connection& c, const HookParams&) { checkClient(next, c); }, 0,
        "onConnect");
    auto helo = [this](Next next, Connection& c, const HookParams&) {
      next(settings_->ok_helo && isAllowListed(c) ? Code::Ok : Code::Cont);
    };
    registrar.registerHook(Hook::Helo, helo, 0, "check_dnswl");
    registrar.registerHook(Hook::Ehlo, helo, 0, "check_dnswl");
    registrar.registerHook(
        Hook::Mail,
        [this](Next next, Connection& c, const HookParams& p) { checkMail(next, c, p); }, 0,
        "check_mail");
  }

  void shutdown() override {
    deadlines_.shutdown();
    stopChecks();
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"dns-list.ini", "ini", iniBooleans()}};
  }

private:
  void load() {
    auto settings = std::make_shared<Settings>(
        readSettings(host_->config("dns-list.ini", "ini", iniBooleans())));
    for (const auto& error : settings->errors) {
      host_->log(LogLevel::Error, error);
    }
    if (settings->stats) {
      host_->log(LogLevel::Warn, "dns-list.ini [stats] enable: Redis statistics are not "
                                 "supported; ignored");
    }
    settings_ = std::move(settings);
    cache_.clear();
    cache_.setMaxEntries(settings_->cache_max_entries);
    startChecks();
  }

  // ---------------------------------------------------------------- zone self-tests

  void startChecks() {
    stopChecks();
    ++check_generation_;
    const auto zones = settings_->allZones();
    const unsigned minutes = settings_->periodic_checks;
    // Under 5 minutes every zone starts enabled (Haraka); otherwise a zone is used once it passed.
    active_.clear();
    if (minutes < 5) {
      active_.insert(zones.begin(), zones.end());
    }
    if (minutes == 0 || host_->uvLoop() == nullptr) {
      return; // no checks, or the master, which serves no clients
    }
    runChecks();
    if (minutes >= 5) {
      host_->log(LogLevel::Info, fmt::format("will re-test list zones every {} minutes", minutes));
      scheduleChecks(minutes * 60ULL * 1000ULL);
    }
  }

  void scheduleChecks(std::uint64_t ms) {
    check_timer_ = host_->setTimeout(ms, [this, ms] {
      check_timer_ = 0;
      runChecks();
      scheduleChecks(ms);
    });
  }

  void stopChecks() {
    if (check_timer_ != 0) {
      host_->clearTimeout(check_timer_);
      check_timer_ = 0;
    }
  }

  void runChecks() {
    for (const auto& zone : settings_->allZones()) {
      checkZone(settings_->zone(zone));
    }
  }

  // RFC 5782 section 5: a list must list 127.0.0.2 and must not list 127.0.0.1.
  void checkZone(const ZoneSettings& zone) {
    const auto generation = check_generation_;
    lookup(zone, "127.0.0.2", [this, zone, generation](ZoneAnswer positive) {
      if (generation != check_generation_) {
        return;
      }
      if (positive.status != ZoneAnswer::Status::Listed) {
        return disableZone(zone, positive.status == ZoneAnswer::Status::Unlisted
                                     ? "does not list 127.0.0.2"
                                     : "127.0.0.2: " + positive.error);
      }
      if (zone.loopback_is_rejected) {
        return enableZone(zone);
      }
      lookup(zone, "127.0.0.1", [this, zone, generation](ZoneAnswer negative) {
        if (generation != check_generation_) {
          return;
        }
        if (negative.status == ZoneAnswer::Status::Unlisted) {
          return enableZone(zone);
        }
        disableZone(zone, negative.status == ZoneAnswer::Status::Listed
                              ? "lists 127.0.0.1"
                              : "127.0.0.1: " + negative.error);
      });
    });
  }

  void enableZone(const ZoneSettings& zone) {
    if (active_.insert(zone.name).second) {
      host_->log(LogLevel::Info,
                 fmt::format("enabling {} zone {}", listTypeName(zone.type), zone.name));
    }
  }

  void disableZone(const ZoneSettings& zone, const std::string& why) {
    if (active_.erase(zone.name) > 0 || !reported_.count(zone.name)) {
      host_->log(LogLevel::Warn,
                 fmt::format("disabling {} zone '{}' {}", listTypeName(zone.type), zone.name, why));
    }
    reported_.insert(zone.name);
  }

  // ---------------------------------------------------------------- lookups

  // Asks `zone` about `ip`; `done` runs once on the loop, by the lookup timeout at the latest,
  // and never after shutdown().
  void lookup(const ZoneSettings& zone, const std::string& ip,
              std::function<void(ZoneAnswer)> done) {
    auto name = queryName(ip, zone.name);
    if (!name) {
      return done(ZoneAnswer{ZoneAnswer::Status::Error, {}, "not an IP address", 0});
    }
    const unsigned seconds = settings_->lookup_timeout;
    auto answer = deadlines_.start(seconds * 1000ULL, [done, seconds] {
      done(ZoneAnswer{
          ZoneAnswer::Status::Error, {}, fmt::format("no answer within {} s", seconds), 0});
    });
    const bool allow_list = zone.type == ListType::Allow;
    host_->dnsQuery(*name, DnsType::A, [answer, done, allow_list](DnsResult result) {
      if (answer->claim()) {
        done(answerFrom(result, allow_list));
      }
    });
  }

  void checkClient(const Next& next, Connection& connection) {
    const auto& name = host_->pluginName();
    const auto& ip = connection.remote().ip;
    if (auto reason = skipReason(settings_->raw, connection); !reason.empty()) {
      connection.results().add(
          name, {{"skip", reason == "private_ip" ? fmt::format("private: {}", ip) : reason}});
      host_->log(LogLevel::Info, connection.results().collate(name), &connection);
      return next();
    }
    auto state = std::make_shared<ClientLookup>();
    state->settings = settings_;
    state->ip = ip;
    const bool ipv6 = isIpv6Client(ip);
    for (const auto& zone : settings_->allZones()) {
      if (active_.count(zone) == 0) {
        continue;
      }
      if (ipv6 && !settings_->zone(zone).ipv6) {
        connection.results().add(name, {{"skip", fmt::format("{}: ipv6 disabled", zone)}});
        continue;
      }
      state->consulted.insert(zone);
    }
    if (state->consulted.empty()) {
      connection.results().add(name, {{"err", "no zones"}});
      host_->log(LogLevel::Info, connection.results().collate(name), &connection);
      return next();
    }
    if (const auto* cached = cache_.find(ip, nowMs())) {
      const bool covers = std::all_of(state->consulted.begin(), state->consulted.end(),
                                      [cached](const std::string& z) { return cached->count(z); });
      if (covers) {
        host_->log(LogLevel::Debug, fmt::format("{}: answers from the cache", ip), &connection);
        state->answers = *cached;
        return act(evaluate(*settings_, state->consulted, state->answers, true), next, connection);
      }
    }
    state->remaining = state->consulted.size();
    Connection* conn = &connection;
    for (const auto& zone : std::set<std::string>(state->consulted)) {
      lookup(settings_->zone(zone), ip, [this, state, zone, next, conn](ZoneAnswer answer) {
        if (answer.status == ZoneAnswer::Status::Error) {
          host_->log(LogLevel::Error, fmt::format("{} lookup error: {}", zone, answer.error));
        }
        state->answers[zone] = std::move(answer);
        --state->remaining;
        progress(state, next, conn);
      });
    }
  }

  void progress(const std::shared_ptr<ClientLookup>& state, const Next& next, Connection* conn) {
    const bool complete = state->remaining == 0;
    if (complete) {
      remember(*state);
    }
    if (state->decided) {
      return;
    }
    if (!next.pending()) {
      state->decided = true; // the client left or the hook timed out: conn is gone
      return;
    }
    auto verdict = evaluate(*state->settings, state->consulted, state->answers, complete);
    if (verdict.decided) {
      state->decided = true;
      act(verdict, next, *conn);
    }
  }

  // Caches the answers when every list answered; for the smallest TTL, capped.
  void remember(const ClientLookup& state) {
    const auto& settings = *state.settings;
    std::uint32_t ttl = settings.cache_max_ttl;
    for (const auto& [zone, answer] : state.answers) {
      if (answer.status == ZoneAnswer::Status::Error) {
        return;
      }
      ttl = std::min<std::uint32_t>(ttl, answer.status == ZoneAnswer::Status::Listed
                                             ? answer.ttl
                                             : settings.cache_unlisted_ttl);
    }
    if (state.settings == settings_) {
      cache_.store(state.ip, state.answers, ttl, nowMs());
    }
  }

  void act(const Verdict& verdict, const Next& next, Connection& connection) {
    const auto& name = host_->pluginName();
    auto& results = connection.results();
    for (const auto& entry : verdict.results) {
      results.add(name, {{entry.key, entry.value}});
    }
    if (verdict.score) {
      results.add(name, {{"score", *verdict.score}});
    }
    // Haraka's emit: the results in one line, for the log reader.
    host_->log(LogLevel::Info, results.collate(name), &connection);
    const auto& ip = connection.remote().ip;
    auto& notes = connection.notes();
    if (verdict.weighted_block) {
      notes["dns_list_weighted"] = {{"zones", verdict.weighted_zones},
                                    {"score", verdict.score.value_or(0)}};
    }
    const auto message = fmt::format("host [{}] is listed on {}", ip, joined(verdict.zones));
    switch (verdict.action) {
    case Verdict::Action::Accept:
      notes["dnswl"] = true;
      return next(Code::Ok);
    case Verdict::Action::Reject:
      if (settings_->reject_at_mail) {
        notes["dns_list_reject"] = message;
        return next();
      }
      return next(Code::Deny, message);
    case Verdict::Action::Defer:
      return next(Code::DenySoft, fmt::format("DNS list lookup failed for {}; try again later",
                                              joined(verdict.zones)));
    case Verdict::Action::Continue:
      break;
    }
    next();
  }

  // ---------------------------------------------------------------- MAIL FROM

  static bool isAllowListed(Connection& connection) {
    const auto& notes = connection.notes();
    return notes.contains("dnswl") && notes["dnswl"] == true;
  }

  void checkMail(const Next& next, Connection& connection, const HookParams& params) {
    const auto& notes = connection.notes();
    const bool listed = notes.contains("dns_list_reject") || notes.contains("dns_list_weighted");
    if (listed || settings_->backscatterer) {
      if (auto reason = skipReason(settings_->raw, connection); !reason.empty()) {
        if (listed) {
          const auto& name = host_->pluginName();
          connection.results().add(name, {{"skip", fmt::format("mail({})", reason)}});
          host_->log(LogLevel::Info, connection.results().collate(name), &connection);
        }
        return next();
      }
    }
    if (notes.contains("dns_list_reject")) {
      return next(Code::Deny, notes["dns_list_reject"].get<std::string>());
    }
    if (notes.contains("dns_list_weighted")) {
      const auto& weighted = notes["dns_list_weighted"];
      const auto message =
          fmt::format("Service unavailable; client [{}] blocked using {}", connection.remote().ip,
                      joined(weighted["zones"].get<std::vector<std::string>>()));
      return next(settings_->weighted.action == WeightedAction::Defer ? Code::DenySoft : Code::Deny,
                  message);
    }
    if (settings_->ok_mail && isAllowListed(connection)) {
      return next(Code::Ok);
    }
    if (settings_->backscatterer) {
      return checkBackscatterer(next, connection, params);
    }
    next();
  }

  // ips.backscatterer.org lists servers that send misdirected bounces: asked for null senders
  // and postmaster only.
  void checkBackscatterer(const Next& next, Connection& connection, const HookParams& params) {
    const Address* from = params.address;
    const bool bounce = from == nullptr || from->is_null || from->user.empty() ||
                        text::toLower(from->user) == "postmaster";
    const auto& ip = connection.remote().ip;
    if (!bounce || (isIpv6Client(ip) && !settings_->backscatterer_ipv6)) {
      return next();
    }
    ZoneSettings zone = settings_->zone("ips.backscatterer.org");
    const std::string host = connection.remote().host;
    lookup(zone, ip, [next, ip, host](ZoneAnswer answer) {
      if (answer.status == ZoneAnswer::Status::Listed && next.pending()) {
        return next(Code::Deny,
                    fmt::format("Host {} [{}] is listed by ips.backscatterer.org", host, ip));
      }
      next();
    });
  }

  Host* host_ = nullptr;
  std::shared_ptr<const Settings> settings_;
  std::set<std::string> active_;
  std::set<std::string> reported_;
  VerdictCache cache_;
  AnswerDeadlines deadlines_;
  std::uint64_t check_timer_ = 0;
  std::uint64_t check_generation_ = 0;
};

} // namespace upesi::plugins::dns_list

std::unique_ptr<upesi::Plugin> upesi_builtin_dns_list() {
  return std::make_unique<upesi::plugins::dns_list::DnsList>();
}
