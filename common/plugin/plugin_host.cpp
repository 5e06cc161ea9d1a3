#include "common/plugin/plugin_host.hpp"

#include <upesi/connection.hpp>

#include "common/config/formats.hpp"
#include "common/dns/resolver.hpp"
#include "common/log/escape.hpp"
#include "common/log/logger.hpp"
#include "common/plugin/redis_service.hpp"
#include "common/plugin/send_email.hpp"
#include "common/redis/redis_config.hpp"
#include "common/util/thread_pool.hpp"

namespace upesi::plugin {

PluginHost::~PluginHost() = default;

Redis* PluginHost::redis() {
  if (redis_) {
    return redis_.get();
  }
  if (services_.loop == nullptr || services_.redis_failed) {
    return nullptr;
  }
  if (!services_.redis) {
    auto settings = redis::readRedisConfig(config_);
    if (!settings) {
      services_.redis_failed = true;
      log::error({"", name_}, "no Redis: {}", settings.error());
      return nullptr;
    }
    services_.redis = std::make_shared<RedisService>(services_.loop, std::move(*settings));
  }
  redis_ = std::make_unique<PluginRedis>(services_.redis, name_);
  return redis_.get();
}

nlohmann::json PluginHost::config(const std::string& name, std::string_view type,
                                  const std::vector<std::string>& booleans) {
  auto parsed_type = config::configTypeFromString(type);
  if (!parsed_type) {
    log::error({"", name_}, "unknown config type \"{}\" for {}", log::escaped(type), name);
    return nullptr;
  }
  auto value = config_.get(name, *parsed_type, {booleans, configLayers(name)});
  if (!value) {
    log::error({"", name_}, "{}", value.error());
    auto empty = config::emptyConfig(*parsed_type);
    if (*parsed_type == config::ConfigType::Ini) {
      config::applyBooleanDefaults(empty, config::parseBooleanDecls(booleans));
    }
    return empty;
  }
  return *value;
}

std::vector<std::filesystem::path> PluginHost::configLayers(const std::string& name) const {
  auto pluginDefaults = [this](const std::string& plugin) {
    return install_dir_ / "plugins" / plugin / "config";
  };
  std::vector<std::filesystem::path> layers;
  const auto relative = std::filesystem::path(name).lexically_normal();
  if (relative.is_absolute() || relative.empty() || *relative.begin() == "..") {
    return layers; // Config refuses or takes it as is
  }
  if (!base_.empty() && name.starts_with(name_ + ".")) {
    const std::string base_name = base_ + name.substr(name_.size());
    if (auto base_file = config_.resolve(base_name)) {
      if (!config_.defaultsDir().empty()) {
        layers.push_back(config_.defaultsDir() / base_name);
      }
      layers.push_back(pluginDefaults(base_) / base_name);
      layers.push_back(*base_file);
    }
  }
  layers.push_back(pluginDefaults(name_) / relative);
  return layers;
}

void PluginHost::onConfigChange(const std::string& name, std::function<void()> callback) {
  config_.onChange(name, [cb = std::move(callback)](const std::string&) { cb(); });
}

void PluginHost::log(LogLevel level, std::string_view message, const Connection* connection) {
  auto& logger = log::Logger::instance();
  if (!logger.enabled(level)) {
    return;
  }
  std::string_view uuid;
  if (connection != nullptr) {
    auto* txn = const_cast<Connection*>(connection)->transaction();
    uuid = txn != nullptr ? std::string_view(txn->uuid()) : std::string_view(connection->uuid());
  }
  logger.write(level, {uuid, name_}, message);
}

std::uint64_t PluginHost::setTimeout(std::uint64_t ms, std::function<void()> fn) {
  if (services_.loop == nullptr) {
    log::error({"", name_}, "setTimeout called outside a worker: no loop runs here");
    return 0;
  }
  const std::uint64_t id = next_timer_id_++;
  auto& timer = timers_[id];
  timer = std::make_unique<LoopTimer>(services_.loop);
  timer->start(ms, [this, id, fn = std::move(fn)]() {
    auto fire = fn; // the timer is destroyed below, and the lambda with it
    timers_.erase(id);
    try {
      fire();
    } catch (const std::exception& e) {
      log::crit({"", name_}, "timer callback threw: {}", e.what());
    }
  });
  return id;
}

void PluginHost::clearTimeout(std::uint64_t id) {
  timers_.erase(id);
}

void PluginHost::dnsQuery(const std::string& name, DnsType type, DnsCallback callback) {
  if (services_.resolver == nullptr) {
    callback(DnsResult{DnsStatus::Error, "no resolver in this process", {}});
    return;
  }
  services_.resolver->query(name, type, std::move(callback));
}

void PluginHost::dnsReverse(const std::string& ip, DnsCallback callback) {
  if (services_.resolver == nullptr) {
    callback(DnsResult{DnsStatus::Error, "no resolver in this process", {}});
    return;
  }
  services_.resolver->reverse(ip, std::move(callback));
}

void PluginHost::sendEmail(const Address& from, const std::vector<Address>& to,
                           std::string contents,
                           std::function<void(bool queued, const std::string& text)> done,
                           const SendEmailOptions& options) {
  plugin::sendEmail(
      services_, from, to, std::move(contents),
      [done = std::move(done)](Code code, const std::string& text,
                               const std::vector<std::string>&) {
        if (done) {
          done(code == Code::Ok, text);
        }
      },
      options);
}

void PluginHost::runInThreadPool(std::function<void()> work, std::function<void()> done) {
  runOnThreadPool(services_.loop, std::move(work), std::move(done));
}

} // namespace upesi::plugin
