#include "common/config/http_config.hpp"

#include <upesi/text.hpp>

#include "common/config/ini_locate.hpp"
#include "common/config/int_keys.hpp"

#include <fmt/format.h>

#include <functional>

namespace upesi::config {
namespace {

std::string asText(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

} // namespace

Result<HttpConfig> readHttpConfig(Config& config) {
  auto ini = config.get("http.ini", ConfigType::Ini, HttpIniBooleans);
  if (!ini) {
    return Error{ini.error()};
  }
  const nlohmann::json main = (*ini)["main"];
  auto where = [&](const char* key) { return iniKeyLocation(config, "http.ini", "main", key); };
  auto has = [&](const char* key) { return main.contains(key) && !main[key].is_null(); };
  HttpConfig out;

  if (has("listen")) {
    auto addresses = parseListenList(asText(main["listen"]));
    if (!addresses) {
      return Error{fmt::format("{}: listen: {}", where("listen"), addresses.error())};
    }
    out.listen = std::move(addresses).value();
  }
  std::string allow = has("allow") ? asText(main["allow"]) : "127.0.0.0/8, ::1";
  for (const auto& item : text::splitList(allow, ", \t")) {
    auto cidr = util::Cidr::parse(item);
    if (!cidr) {
      return Error{fmt::format("{}: allow: \"{}\" is not an IP address or network (a.b.c.d/n)",
                               where("allow"), item)};
    }
    out.allow.push_back(*cidr);
  }
  if (has("token")) {
    out.token = asText(main["token"]);
    // A header value: a token68 or close to it (RFC 6750), nothing that could split a line.
    for (unsigned char c : out.token) {
      if (c <= 0x20 || c >= 0x7F) {
        return Error{
            fmt::format("{}: token must be printable ASCII without spaces", where("token"))};
      }
    }
  }
  out.tls = main.value("tls", false);
  out.metrics = main.value("metrics", true);

  const IntKey numbers[] = {
      {"max_connections", 1, 1000000, [&](long long v) { out.max_connections = unsigned(v); }},
      {"max_target", 256, 1 << 20, [&](long long v) { out.max_target = std::size_t(v); }},
      {"max_header_bytes", 1024, 1 << 24,
       [&](long long v) { out.max_header_bytes = std::size_t(v); }},
      {"max_headers", 8, 10000, [&](long long v) { out.max_headers = std::size_t(v); }},
      {"max_body", 0, 1LL << 32, [&](long long v) { out.max_body = std::size_t(v); }},
      {"request_timeout", 1, 3600, [&](long long v) { out.request_timeout_s = int(v); }},
      {"idle_timeout", 1, 86400, [&](long long v) { out.idle_timeout_s = int(v); }},
      {"max_requests", 1, 1000000, [&](long long v) { out.max_requests = unsigned(v); }},
      {"max_output", 4096, 1LL << 30, [&](long long v) { out.max_output = std::size_t(v); }},
      {"write_timeout", 1, 86400, [&](long long v) { out.write_timeout_s = int(v); }},
      {"websocket_max_message", 125, 1 << 26,
       [&](long long v) { out.websocket_max_message = std::size_t(v); }},
  };
  if (auto read = readIntKeys(main, numbers, where); !read) {
    return Error{read.error()};
  }
  return out;
}

} // namespace upesi::config
