// greylist: haraka-plugin-greylist in Redis, so that a retry counts on whichever node it
// reaches. A new (hostid, sender, recipient) tuple is deferred (451 4.7.1) for the black period;
// a retry after it and within the grey period makes the host white for the white period,
// renewed by each mail it sends. Each check and update is one Lua script.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>
#include <upesi/redis.hpp>

#include "plugins/greylist/greylist_rules.hpp"
#include "plugins/support/redis_outage.hpp"

#include <fmt/format.h>

#include <memory>
#include <string>

namespace upesi::plugins::greylist {
namespace {

// KEYS[1] the host's white record, KEYS[2] the tuple's grey record; ARGV black, grey and white
// periods (s). Returns {"white", promoted} or {"black", seconds left}.
constexpr const char* GreylistScript = R"lua(
local now = tonumber(redis.call('TIME')[1])
local black, grey, white = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'tried', 1)
  redis.call('HSET', KEYS[1], 'updated', now)
  redis.call('EXPIRE', KEYS[1], white)
  return {'white', 0}
end
local created = tonumber(redis.call('HGET', KEYS[2], 'created'))
if not created then
  redis.call('HSET', KEYS[2], 'created', now, 'updated', now, 'tried', 1)
  redis.call('EXPIRE', KEYS[2], grey)
  return {'black', black}
end
local tried = redis.call('HINCRBY', KEYS[2], 'tried', 1)
if now - created < black then
  redis.call('HSET', KEYS[2], 'updated', now)
  return {'black', black - (now - created)}
end
redis.call('HSET', KEYS[1], 'first_connect', created, 'whitelisted', now, 'updated', now,
           'tried', 1, 'tried_when_greylisted', tried)
redis.call('EXPIRE', KEYS[1], white)
redis.call('DEL', KEYS[2])
return {'white', 1}
)lua";

bool passedBefore(Transaction& txn, const std::string& plugin) {
  const auto& results = txn.results().get(plugin);
  if (!results.is_object() || !results.contains("pass") || !results["pass"].is_array()) {
    return false;
  }
  for (const auto& item : results["pass"]) {
    if (item == "whitelisted") {
      return true;
    }
  }
  return false;
}

} // namespace

class Greylist final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    outage_ = std::make_unique<RedisOutage>(host);
    load();
    host.onConfigChange("greylist.ini", [this] { load(); });
    auto list = auth::PublicSuffixList::load(std::string(auth::DebianPublicSuffixList));
    if (list) {
      suffixes_ = std::make_unique<auth::PublicSuffixList>(std::move(list).value());
    } else {
      host.log(LogLevel::Warn, "no public suffix list (" + list.error() +
                                   "): hosts are known by their network, not their rDNS");
    }
    registrar.registerHook(
        Hook::RcptOk, [this](Next next, Connection& c, const HookParams& p) { check(next, c, p); },
        0, "check");
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"greylist.ini", "ini", greylistIniBooleans()}};
  }

private:
  void load() {
    cfg_ = readGreylistConfig(host_->config("greylist.ini", "ini", greylistIniBooleans()));
    for (const auto& problem : cfg_.problems) {
      host_->log(LogLevel::Error, "greylist.ini " + problem);
    }
  }

  /// Why this recipient is not greylisted, or "".
  std::string skipReason(Connection& connection, Transaction& txn, const Address& rcpt) const {
    if (connection.relaying() || !connection.authUser().empty()) {
      return "relaying";
    }
    if (cfg_.skip_private_ip && connection.remote().is_private) {
      return "private-ip";
    }
    if (auto ip = util::IpAddress::parse(connection.remote().ip)) {
      for (const auto& cidr : cfg_.ip_whitelist) {
        if (cidr.contains(*ip)) {
          return "config-whitelist(ip)";
        }
      }
    }
    if (addressListed(cfg_.envelope_whitelist, text::toLower(txn.mailFrom().address()))) {
      return "config-whitelist(envelope)";
    }
    if (addressListed(cfg_.recipient_whitelist, text::toLower(rcpt.address()))) {
      return "config-whitelist(recipient)";
    }
    return {};
  }

  std::optional<std::string> spfPassDomain(Transaction& txn) const {
    const auto& spf = txn.results().get("spf");
    if (spf.is_object() && spf.value("scope", "") == "mfrom" && spf.value("result", "") == "Pass" &&
        spf.contains("domain") && spf["domain"].is_string()) {
      return spf["domain"].get<std::string>();
    }
    return std::nullopt;
  }

  void check(Next next, Connection& connection, const HookParams& params) {
    Transaction* txn = connection.transaction();
    if (txn == nullptr || params.address == nullptr) {
      return next();
    }
    const std::string& plugin = host_->pluginName();
    if (auto why = skipReason(connection, *txn, *params.address); !why.empty()) {
      txn->results().add(plugin, {{"skip", why}});
      return next();
    }
    if (passedBefore(*txn, plugin)) {
      return next(); // the host is white: every recipient of this transaction is
    }
    Redis* redis = host_->redis();
    if (redis == nullptr) {
      return next();
    }
    const HostId host =
        hostId(cfg_, connection.remote().ip, connection.remote().host,
               connection.results().get("fcrdns"), spfPassDomain(*txn), suffixes_.get());
    const std::string sender =
        txn->mailFrom().is_null ? "<>" : text::toLower(txn->mailFrom().address());
    const std::string rcpt = text::toLower(params.address->address());
    redis->eval(
        GreylistScript,
        {"greylist:white:" + host.id, fmt::format("greylist:grey:{}:{}:{}", host.id, sender, rcpt)},
        {std::to_string(cfg_.black_s), std::to_string(cfg_.grey_s), std::to_string(cfg_.white_s)},
        [this, next, &connection, host](RedisResult result) {
          if (!next.pending()) {
            return;
          }
          answer(next, connection, host, result);
        });
  }

  void answer(const Next& next, Connection& connection, const HostId& host,
              const RedisResult& result) {
    Transaction* txn = connection.transaction();
    const std::string& plugin = host_->pluginName();
    const auto& reply = result.reply;
    if (!outage_->check(result) || reply.elements.size() != 2 ||
        reply.elements[0].type != RedisValue::Type::Bulk) {
      if (txn != nullptr) {
        txn->results().add(plugin, {{"err", "redis: " + result.why()}});
      }
      if (cfg_.fail_open) {
        return next();
      }
      return next(Code::DenySoft, "451 4.7.1 Backend failure, please try again later");
    }
    if (txn == nullptr) {
      return next();
    }
    txn->results().add(plugin, {{"hostid", host.id}, {"hostid_type", host.kind}});
    if (reply.elements[0].text == "white") {
      txn->results().add(plugin, {{"pass", "whitelisted"}});
      if (reply.elements[1].integer != 0) {
        host_->log(LogLevel::Info, fmt::format("{} passed greylisting", host.id), &connection);
      }
      return next();
    }
    txn->results().add(plugin, {{"fail", "greylisted"}});
    host_->log(LogLevel::Info,
               fmt::format("greylisted {} for {} s more", host.id, reply.elements[1].integer),
               &connection);
    next(Code::DenySoft, "451 4.7.1 " + cfg_.text);
  }

  Host* host_ = nullptr;
  GreylistConfig cfg_;
  std::unique_ptr<auth::PublicSuffixList> suffixes_;
  std::unique_ptr<RedisOutage> outage_;
};

} // namespace upesi::plugins::greylist

std::unique_ptr<upesi::Plugin> upesi_builtin_greylist() {
  return std::make_unique<upesi::plugins::greylist::Greylist>();
}
