#include "common/config/outbound_config.hpp"

#include "common/config/ini_locate.hpp"
#include "common/config/int_keys.hpp"

#include <fmt/format.h>

namespace upesi::config {

Result<OutboundConfig> readOutboundConfig(Config& config, const std::filesystem::path& install) {
  auto ini = config.get(
      "outbound.ini", ConfigType::Ini,
      {{"-main.disabled", "-main.always_split", "-main.ipv6_enabled", "-main.local_mx_ok",
        "+main.enable_tls", "-main.pipeline_messages", "-main.deliver_host_list_locally"}});
  if (!ini) {
    return Error{ini.error()};
  }
  const auto& main = (*ini)["main"];
  OutboundConfig out;
  out.disabled = main.value("disabled", false);
  out.always_split = main.value("always_split", false);
  out.ipv6_enabled = main.value("ipv6_enabled", false);
  out.local_mx_ok = main.value("local_mx_ok", false);
  out.deliver_host_list_locally = main.value("deliver_host_list_locally", false);
  out.enable_tls = main.value("enable_tls", true);
  out.pipeline_messages = main.value("pipeline_messages", false);
  auto where = [&](const char* key) { return iniKeyLocation(config, "outbound.ini", "main", key); };
  const IntKey keys[] = {
      {"concurrency_max", 1, 100000, [&](long long v) { out.concurrency_max = unsigned(v); }},
      {"destination_concurrency_max", 0, 100000,
       [&](long long v) { out.destination_concurrency_max = unsigned(v); }},
      {"scheduled_max", 100, 100000000, [&](long long v) { out.scheduled_max = unsigned(v); }},
      {"maxTempFailures", 1, 100, [&](long long v) { out.max_temp_failures = unsigned(v); }},
      {"connect_timeout", 1, 3600, [&](long long v) { out.connect_timeout_s = int(v); }},
      {"greeting_timeout", 1, 3600, [&](long long v) { out.greeting_timeout_s = int(v); }},
      {"pool_timeout", 0, 3600, [&](long long v) { out.pool_timeout_s = int(v); }},
      {"pool_concurrency_max", 0, 1000,
       [&](long long v) { out.pool_concurrency_max = unsigned(v); }},
      {"pool_linger", 0, 3600, [&](long long v) { out.pool_linger_s = int(v); }},
      {"scan_interval", 1, 86400, [&](long long v) { out.scan_interval_s = int(v); }},
      {"bounce_size_limit", 0, 1LL << 30,
       [&](long long v) { out.bounce_size_limit = static_cast<std::uint64_t>(v); }},
  };
  if (auto read = readIntKeys(main, keys, where); !read) {
    return Error{read.error()};
  }
  if (main.contains("temp_fail_intervals") && main["temp_fail_intervals"].is_string()) {
    out.temp_fail_intervals = main["temp_fail_intervals"].get<std::string>();
  }
  if (main.contains("received_header") && main["received_header"].is_string()) {
    out.received_header = main["received_header"].get<std::string>();
  }
  auto queue_dir = config.get("queue_dir", ConfigType::Value);
  if (!queue_dir) {
    return Error{queue_dir.error()};
  }
  if (queue_dir->is_string() && !queue_dir->get<std::string>().empty()) {
    std::filesystem::path p = queue_dir->get<std::string>();
    out.queue_dir = p.is_absolute() ? p : install / p;
  } else {
    out.queue_dir = install / "queue";
  }
  return out;
}

} // namespace upesi::config
