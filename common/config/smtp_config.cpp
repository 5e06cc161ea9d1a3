#include "common/config/smtp_config.hpp"

#include "common/config/haraka_aliases.hpp"
#include "common/config/ini_locate.hpp"
#include "common/config/int_keys.hpp"
#include "common/smtp/envelope_params.hpp"
#include "common/util/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <arpa/inet.h>
#include <charconv>
#include <functional>
#include <thread>

namespace upesi::config {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::optional<std::uint16_t> parsePort(std::string_view text) {
  unsigned int port = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || ptr != text.data() + text.size() || port == 0 || port > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(port);
}

// An integer key that must be within [min, max].
Result<int> intKey(const nlohmann::json& section, const char* key, int fallback, int min, int max,
                   const std::string& location) {
  if (!section.contains(key) || section[key].is_null()) {
    return fallback;
  }
  const auto& v = section[key];
  if (!v.is_number_integer() || v.get<long long>() < min || v.get<long long>() > max) {
    return Error{fmt::format("{}: {} must be a whole number from {} to {}, not {}", location, key,
                             min, max, v.dump())};
  }
  return static_cast<int>(v.get<long long>());
}

// One line of reply text: printable, without CR or LF (a reply line of its own).
Result<std::string> textLine(const nlohmann::json& value, const std::string& location,
                             const std::string& name) {
  std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  if (text.empty() || text.size() > 400 ||
      std::any_of(text.begin(), text.end(),
                  [](unsigned char c) { return c < 0x20 || c == 0x7F; })) {
    return Error{
        fmt::format("{}: {} must be text of 1 to 400 printable characters", location, name)};
  }
  return text;
}

template <typename Where, typename Named>
Result<SessionTexts> readTexts(const nlohmann::json& main, Where where, Named named) {
  SessionTexts texts;
  if (main.contains("greeting") && !main["greeting"].is_null()) {
    const auto& v = main["greeting"];
    for (const auto& line : v.is_array() ? v : nlohmann::json::array({v})) {
      auto text = textLine(line, where("greeting"), named("greeting"));
      if (!text) {
        return Error{text.error()};
      }
      texts.greeting.push_back(std::move(text).value());
    }
  }
  for (auto [key, out] : {std::pair{"helo_message", &texts.helo_message},
                          std::pair{"close_message", &texts.close_message}}) {
    if (main.contains(key) && !main[key].is_null()) {
      auto text = textLine(main[key], where(key), named(key));
      if (!text) {
        return Error{text.error()};
      }
      *out = std::move(text).value();
    }
  }
  return texts;
}

} // namespace

std::string ListenAddress::toString() const {
  return ipv6 ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

Result<std::vector<ListenAddress>> parseListenList(std::string_view text) {
  std::vector<ListenAddress> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    auto item = trim(text.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                                        : comma - start));
    if (!item.empty()) {
      auto addr = parseListenAddress(item);
      if (!addr) {
        return Error{addr.error()};
      }
      out.push_back(*addr);
    }
    if (comma == std::string_view::npos) {
      break;
    }
    start = comma + 1;
  }
  return out;
}

Result<ListenAddress> parseListenAddress(std::string_view text) {
  text = trim(text);
  ListenAddress out;
  std::string_view host;
  std::string_view port;
  if (text.empty()) {
    return Error{"empty listen address"};
  }
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) {
      return Error{fmt::format("\"{}\": missing ']'", text)};
    }
    host = text.substr(1, close - 1);
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return Error{fmt::format("\"{}\": expected ':port' after ']'", text)};
      }
      port = rest.substr(1);
    }
    out.ipv6 = true;
  } else if (text.find(':') == std::string_view::npos && text.find('.') == std::string_view::npos) {
    port = text; // a bare port
    host = "::0";
    out.ipv6 = true;
  } else {
    auto colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') != colon) {
      return Error{fmt::format("\"{}\": put IPv6 addresses in brackets: [addr]:port", text)};
    }
    host = text.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = text.substr(colon + 1);
    }
  }
  if (!port.empty()) {
    auto p = parsePort(port);
    if (!p) {
      return Error{fmt::format("\"{}\": port must be 1 to 65535", text)};
    }
    out.port = *p;
  }
  out.host = std::string(host);
  unsigned char buf[16];
  if (::inet_pton(out.ipv6 ? AF_INET6 : AF_INET, out.host.c_str(), buf) != 1) {
    return Error{fmt::format("\"{}\": \"{}\" is not a numeric IP{} address", text, out.host,
                             out.ipv6 ? "v6" : "v4")};
  }
  return out;
}

Result<SmtpConfig> readSmtpConfig(Config& config) {
  auto ini = config.get("smtp.ini", ConfigType::Ini, SmtpIniBooleans);
  if (!ini) {
    return Error{ini.error()};
  }
  auto aliases = readHarakaAliases(config);
  if (!aliases) {
    return Error{aliases.error()};
  }
  nlohmann::json main = (*ini)["main"];
  for (const auto& [key, aliased] : aliases->smtp) {
    main[key] = aliased.value;
  }
  auto where = [&](const char* key) {
    auto it = aliases->smtp.find(key);
    return it != aliases->smtp.end() ? it->second.location
                                     : iniKeyLocation(config, "smtp.ini", "main", key);
  };
  // How an error calls the key: by its Haraka name when the value came from there.
  auto named = [&](const char* key) {
    auto it = aliases->smtp.find(key);
    return it != aliases->smtp.end() ? fmt::format("{} (smtp.ini {})", it->second.haraka_name, key)
                                     : std::string(key);
  };
  SmtpConfig out;

  std::string listen = "[::0]:25";
  if (main.contains("listen") && main["listen"].is_string()) {
    listen = main["listen"].get<std::string>();
  } else if (main.contains("listen") && !main["listen"].is_null()) {
    listen = main["listen"].dump();
  }
  auto addresses = parseListenList(listen);
  if (!addresses) {
    return Error{fmt::format("{}: listen: {}", where("listen"), addresses.error())};
  }
  out.listen = std::move(addresses).value();
  if (out.listen.empty()) {
    return Error{fmt::format("{}: listen: no address to listen on", where("listen"))};
  }

  if (main.contains("nodes") && main["nodes"].is_string()) {
    if (main["nodes"].get<std::string>() != "cpus") {
      return Error{fmt::format("{}: nodes must be a number or \"cpus\", not \"{}\"", where("nodes"),
                               main["nodes"].get<std::string>())};
    }
    out.nodes = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  } else {
    auto nodes = intKey(main, "nodes", 1, 0, 1024, where("nodes"));
    if (!nodes) {
      return Error{nodes.error()};
    }
    out.nodes = *nodes;
  }
  auto pool = intKey(main, "thread_pool_size", 32, 1, 1024, where("thread_pool_size"));
  if (!pool) {
    return Error{pool.error()};
  }
  out.thread_pool_size = *pool;
  auto& limits = out.limits;
  const IntKey int_limits[] = {
      {"inactivity_timeout", 1, 86400, [&](long long v) { limits.inactivity_timeout_s = int(v); }},
      {"data_timeout", 1, 86400, [&](long long v) { limits.data_timeout_s = int(v); }},
      {"proxy_timeout", 1, 3600, [&](long long v) { limits.proxy_timeout_s = int(v); }},
      {"max_line_length", 512, 65536,
       [&](long long v) { limits.max_line_length = std::size_t(v); }},
      {"max_data_line_length", 80, 1048576,
       [&](long long v) { limits.max_data_line_length = std::size_t(v); }},
      {"max_message_size", 1024, 1LL << 40,
       [&](long long v) { limits.max_message_size = std::uint64_t(v); }},
      {"max_recipients", 1, 100000, [&](long long v) { limits.max_recipients = unsigned(v); }},
      {"max_unrecognized_commands", 1, 100000,
       [&](long long v) { limits.max_unrecognized_commands = unsigned(v); }},
      {"max_errors", 1, 100000, [&](long long v) { limits.max_errors = unsigned(v); }},
      {"max_connections", 1, 10000000, [&](long long v) { limits.max_connections = unsigned(v); }},
      {"max_connections_per_ip", 1, 10000000,
       [&](long long v) { limits.max_connections_per_ip = unsigned(v); }},
      {"max_received_headers", 1, 10000,
       [&](long long v) { limits.max_received_headers = unsigned(v); }},
      {"spool_after", -1, 1LL << 40, [&](long long v) { limits.spool_after = v; }},
      {"max_auth_failures", 1, 1000, [&](long long v) { limits.max_auth_failures = unsigned(v); }},
      {"max_auth_failures_per_ip", 1, 1000000,
       [&](long long v) { limits.max_auth_failures_per_ip = unsigned(v); }},
      {"auth_failure_window", 1, 86400,
       [&](long long v) { limits.auth_failure_window_s = int(v); }},
      {"auth_failure_delay", 0, 60, [&](long long v) { limits.auth_failure_delay_s = int(v); }},
      {"max_output_buffer", 4096, 1LL << 30,
       [&](long long v) { limits.max_output_buffer = std::size_t(v); }},
      {"write_timeout", 1, 86400, [&](long long v) { limits.write_timeout_s = int(v); }},
      {"command_timeout", 1, 86400, [&](long long v) { limits.command_timeout_s = int(v); }},
      {"max_data_time", 1, 604800, [&](long long v) { limits.max_data_time_s = int(v); }},
      {"min_data_rate", 1, 1LL << 30, [&](long long v) { limits.min_data_rate = unsigned(v); }},
      {"min_data_rate_window", 1, 86400,
       [&](long long v) { limits.min_data_rate_window_s = int(v); }},
      {"ipv6_client_prefix", 1, 128, [&](long long v) { limits.ipv6_client_prefix = unsigned(v); }},
  };
  if (auto read = readIntKeys(main, int_limits, where, named); !read) {
    return Error{read.error()};
  }
  for (const char* key : {"fold_long_data_lines", "normalise_bare_line_endings",
                          "allow_nul_in_data", "auth_requires_tls"}) {
    if (main.contains(key) && !main[key].is_boolean()) {
      return Error{fmt::format("{}: {} must be true or false", where(key), key)};
    }
  }
  limits.fold_long_data_lines = main.value("fold_long_data_lines", false);
  limits.normalise_bare_line_endings = main.value("normalise_bare_line_endings", false);
  limits.allow_nul_in_data = main.value("allow_nul_in_data", false);
  limits.auth_requires_tls = main.value("auth_requires_tls", true);
  if (main.contains("spool_dir") && main["spool_dir"].is_string()) {
    limits.spool_dir = main["spool_dir"].get<std::string>();
  }
  if (auto texts = readTexts(main, where, named); !texts) {
    return Error{texts.error()};
  } else {
    out.texts = std::move(texts).value();
  }
  if (main.contains("mt_priority") && !main["mt_priority"].is_null()) {
    const auto& v = main["mt_priority"];
    std::string policy = v.is_string() ? v.get<std::string>() : v.dump();
    if (!policy.empty() && !smtp::isMtPriorityPolicy(policy)) {
      return Error{fmt::format("{}: mt_priority must be MIXER, STANAG4406, NSEP or empty, not {}",
                               where("mt_priority"), policy)};
    }
    limits.mt_priority = std::move(policy);
  }
  auto force = intKey(main, "force_shutdown_timeout", 30, 1, 3600, where("force_shutdown_timeout"));
  if (!force) {
    return Error{force.error()};
  }
  out.force_shutdown_timeout_s = *force;
  auto smtps = intKey(main, "smtps_port", 465, 0, 65535, where("smtps_port"));
  if (!smtps) {
    return Error{smtps.error()};
  }
  out.smtps_port = static_cast<std::uint16_t>(*smtps);
  if (main.contains("submission_ports") && !main["submission_ports"].is_null()) {
    out.submission_ports.clear();
    const auto& v = main["submission_ports"];
    std::string text = v.is_string() ? v.get<std::string>() : v.dump();
    for (const auto& item : text::splitList(text)) {
      char* end = nullptr;
      long port = std::strtol(item.c_str(), &end, 10);
      if (*end != '\0' || port < 1 || port > 65535) {
        return Error{fmt::format("{}: submission_ports must list port numbers, not \"{}\"",
                                 where("submission_ports"), item)};
      }
      out.submission_ports.push_back(static_cast<std::uint16_t>(port));
    }
  }
  if (main.contains("pid_file") && main["pid_file"].is_string()) {
    out.pid_file = main["pid_file"].get<std::string>();
  }
  if (main.contains("maildrop_dir") && main["maildrop_dir"].is_string()) {
    out.maildrop_dir = main["maildrop_dir"].get<std::string>();
    if (!out.maildrop_dir.empty() && out.maildrop_dir.front() != '/') {
      return Error{fmt::format("{}: maildrop_dir must be an absolute path, not \"{}\"",
                               where("maildrop_dir"), out.maildrop_dir)};
    }
  }
  if (main.contains("state_dir") && main["state_dir"].is_string()) {
    out.state_dir = main["state_dir"].get<std::string>();
    if (!out.state_dir.empty() && out.state_dir.front() != '/') {
      return Error{fmt::format("{}: state_dir must be an absolute path, not \"{}\"",
                               where("state_dir"), out.state_dir)};
    }
  }
  if (main.contains("user") && !main["user"].is_null()) {
    out.user = main["user"].is_string() ? main["user"].get<std::string>() : main["user"].dump();
  }
  if (main.contains("group") && !main["group"].is_null()) {
    out.group = main["group"].is_string() ? main["group"].get<std::string>() : main["group"].dump();
  }
  auto proxy = readProxyTrust(config);
  if (!proxy) {
    return Error{proxy.error()};
  }
  out.proxy = std::move(proxy).value();
  return out;
}

} // namespace upesi::config
