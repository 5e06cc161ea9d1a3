#include "plugins/rspamd/settings.hpp"

#include <upesi/text.hpp>

#include "common/config/ini_values.hpp"
#include "common/util/base64.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

namespace upesi::plugins::rspamd {

using config::iniInteger;
using config::iniString;
using config::iniValue;

const std::vector<std::string>& iniBooleans() {
  static const std::vector<std::string> booleans = {"-check.authenticated",
                                                    "+dkim.enabled",
                                                    "-check.private_ip",
                                                    "-check.local_ip",
                                                    "-check.relay",
                                                    "+reject.spam",
                                                    "-reject.authenticated",
                                                    "+rewrite_subject.enabled",
                                                    "+rmilter_headers.enabled",
                                                    "+soft_reject.enabled",
                                                    "+smtp_message.enabled",
                                                    "-defer.error",
                                                    "-defer.timeout",
                                                    "-request.pass_all",
                                                    "-request.body_block",
                                                    "-request.groups",
                                                    "-request.milter",
                                                    "-request.no_log",
                                                    "-request.profile",
                                                    "-request.skip",
                                                    "-request.skip_process",
                                                    "-request.zstd",
                                                    "-request.ext_urls",
                                                    "-request.raw",
                                                    "+tls.reject_unauthorized",
                                                    "-main.always_add_headers"};
  return booleans;
}

namespace {

// A declared boolean, with its default where the file does not set it (Haraka's booleans
// hold their default even in a section the file lacks).
bool iniFlag(const nlohmann::json& ini, const std::string& section, const std::string& key) {
  const auto& value = iniValue(ini, section, key);
  if (value.is_boolean()) {
    return value.get<bool>();
  }
  const std::string declared = section + "." + key;
  for (const auto& spec : iniBooleans()) {
    if (spec.substr(1) == declared) {
      return spec[0] == '+';
    }
  }
  return false;
}

// Rspamd's Flags field: [request] flags, then each boolean flag that is on, once each.
std::string requestFlags(const nlohmann::json& ini) {
  std::vector<std::string> flags;
  auto add = [&flags](std::string flag) {
    if (!flag.empty() && std::find(flags.begin(), flags.end(), flag) == flags.end()) {
      flags.push_back(std::move(flag));
    }
  };
  for (auto flag : text::splitList(iniString(ini, "request", "flags"), ",")) {
    add(std::string(text::trim(flag)));
  }
  for (const char* flag : {"body_block", "ext_urls", "groups", "milter", "no_log", "profile",
                           "skip", "skip_process", "zstd"}) {
    if (iniFlag(ini, "request", flag)) {
      add(flag);
    }
  }
  std::string joined;
  for (const auto& flag : flags) {
    joined += (joined.empty() ? "" : ",") + flag;
  }
  return joined;
}

void fixedHeaders(const nlohmann::json& ini, Settings& s) {
  auto& out = s.fixed_headers;
  auto add = [&out](std::string name, std::string value) {
    if (!value.empty()) {
      out.emplace_back(std::move(name), std::move(value));
    }
  };
  add("Settings-ID", iniString(ini, "request", "settings_id"));
  add("Settings", iniString(ini, "request", "settings"));
  if (iniFlag(ini, "request", "pass_all")) {
    add("Pass", "all");
  }
  if (iniFlag(ini, "request", "raw")) {
    add("Raw", "yes");
  }
  add("Flags", requestFlags(ini));
  add("URL-Format", iniString(ini, "request", "url_format"));

  if (auto user = iniString(ini, "auth", "basic_user"); !user.empty()) {
    add("Authorization",
        "Basic " + base64Encode(user + ":" + iniString(ini, "auth", "basic_pass")));
  }
  if (auto name = iniString(ini, "auth", "header"); !name.empty()) {
    std::string value = iniString(ini, "auth", "value");
    if (auto env = iniString(ini, "auth", "value_env"); !env.empty()) {
      if (const char* from_env = std::getenv(env.c_str())) {
        value = from_env;
      }
    }
    add(name, value);
  }
  const auto& custom = ini.is_object() && ini.contains("request_headers")
                           ? ini["request_headers"]
                           : nlohmann::json::object();
  if (custom.is_object()) {
    for (const auto& [name, value] : custom.items()) {
      add(name, value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
}

} // namespace

Settings readSettings(const nlohmann::json& ini) {
  Settings s;
  s.host = iniString(ini, "main", "host", s.host);
  if (auto port = iniInteger(ini, "main", "port")) {
    if (*port > 0 && *port < 65536) {
      s.port = static_cast<std::uint16_t>(*port);
    } else {
      s.errors.push_back(fmt::format("[main] port={} is not a TCP port; using {}", *port, s.port));
    }
  }
  s.path = iniString(ini, "main", "path", s.path);
  s.scheme = text::toLower(iniString(ini, "main", "scheme", s.scheme));
  s.unix_socket = iniString(ini, "main", "unix_socket");
  if (auto timeout = iniInteger(ini, "main", "timeout")) {
    if (*timeout > 0) {
      s.timeout = static_cast<unsigned>(*timeout);
    } else {
      s.errors.push_back(fmt::format("[main] timeout={} is not a number of seconds; using {}",
                                     *timeout, s.timeout));
    }
  }
  if (auto max_size = iniInteger(ini, "main", "max_size")) {
    if (*max_size > 0) {
      s.max_size = static_cast<std::uint64_t>(*max_size);
    } else {
      s.errors.push_back(fmt::format("[main] max_size={} is not a size in bytes; using {}",
                                     *max_size, s.max_size));
    }
  }
  const std::string add =
      iniString(ini, "main", "add_headers",
                iniFlag(ini, "main", "always_add_headers") ? "always" : "sometimes");
  if (add == "always") {
    s.add_headers = AddHeaders::Always;
  } else if (add == "never") {
    s.add_headers = AddHeaders::Never;
  } else if (add != "sometimes") {
    s.errors.push_back(fmt::format(
        "[main] add_headers={} is not always, never or sometimes; using sometimes", add));
  }
  s.subject = iniString(ini, "main", "subject", s.subject);

  s.check_authenticated = iniFlag(ini, "check", "authenticated");
  s.check_relay = iniFlag(ini, "check", "relay");
  s.check_private_ip = iniFlag(ini, "check", "private_ip");
  s.check_local_ip = iniFlag(ini, "check", "local_ip");

  s.reject_spam = iniFlag(ini, "reject", "spam");
  s.reject_authenticated = iniFlag(ini, "reject", "authenticated");
  s.reject_message = iniString(ini, "reject", "message", s.reject_message);
  s.soft_reject_enabled = iniFlag(ini, "soft_reject", "enabled");
  s.soft_reject_message = iniString(ini, "soft_reject", "message", s.soft_reject_message);
  s.smtp_message_enabled = iniFlag(ini, "smtp_message", "enabled");
  s.rewrite_subject_enabled = iniFlag(ini, "rewrite_subject", "enabled");
  s.rmilter_headers_enabled = iniFlag(ini, "rmilter_headers", "enabled");
  s.dkim_enabled = iniFlag(ini, "dkim", "enabled");
  s.defer_error = iniFlag(ini, "defer", "error");
  s.defer_timeout = iniFlag(ini, "defer", "timeout");

  s.header_bar = iniString(ini, "header", "bar");
  s.header_report = iniString(ini, "header", "report");
  s.header_score = iniString(ini, "header", "score");
  s.spambar_positive = iniString(ini, "spambar", "positive", s.spambar_positive);
  s.spambar_negative = iniString(ini, "spambar", "negative", s.spambar_negative);
  s.spambar_neutral = iniString(ini, "spambar", "neutral", s.spambar_neutral);

  fixedHeaders(ini, s);
  return s;
}

} // namespace upesi::plugins::rspamd
