#include "plugins/milter/milter_config.hpp"

#include "common/config/ini_values.hpp"
#include "common/milter/negotiation.hpp"

#include <fmt/format.h>

#include <set>

namespace upesi::plugins::milter {

using upesi::milter::MacroStage;
using upesi::milter::splitMacroNames;

namespace {

// The macro keys in MacroStage order.
constexpr std::array<const char*, upesi::milter::MacroStageCount> MacroKeys = {
    "connect_macros", "helo_macros", "mail_macros", "rcpt_macros",
    "data_macros",    "eom_macros",  "eoh_macros"};

// A value as written, without an inline "; comment".
std::string cleanValue(std::string text) {
  if (const auto semicolon = text.find(" ;"); semicolon != std::string::npos) {
    text.resize(semicolon);
  }
  if (const auto semicolon = text.find("\t;"); semicolon != std::string::npos) {
    text.resize(semicolon);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.pop_back();
  }
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.erase(0, 1);
  }
  return text;
}

std::string value(const nlohmann::json& ini, const std::string& section, const std::string& key) {
  return cleanValue(config::iniString(ini, section, key));
}

void readSeconds(const nlohmann::json& ini, const std::string& section, const std::string& key,
                 std::chrono::seconds& out, std::vector<std::string>& problems) {
  const auto text = value(ini, section, key);
  if (text.empty()) {
    return;
  }
  try {
    std::size_t used = 0;
    const long long seconds = std::stoll(text, &used);
    if (used == text.size() && seconds > 0 && seconds <= 86400) {
      out = std::chrono::seconds(seconds);
      return;
    }
  } catch (const std::exception&) {
  }
  problems.push_back(fmt::format("milter.ini [{}] {}: \"{}\" is not a number of seconds (1..86400)",
                                 section, key, text));
}

// Timeouts, default action, protocol and macro lists: what [main] sets for all.
void readSettings(const nlohmann::json& ini, const std::string& section, FilterConfig& filter,
                  std::vector<std::string>& problems) {
  readSeconds(ini, section, "connect_timeout", filter.connect_timeout, problems);
  readSeconds(ini, section, "command_timeout", filter.command_timeout, problems);
  readSeconds(ini, section, "content_timeout", filter.content_timeout, problems);
  if (const auto action = value(ini, section, "default_action"); !action.empty()) {
    if (action == "accept") {
      filter.default_action = DefaultAction::Accept;
    } else if (action == "reject") {
      filter.default_action = DefaultAction::Reject;
    } else if (action == "tempfail") {
      filter.default_action = DefaultAction::Tempfail;
    } else if (action == "quarantine") {
      filter.default_action = DefaultAction::Quarantine;
    } else {
      problems.push_back(fmt::format(
          "milter.ini [{}] default_action: \"{}\" is not accept, reject, tempfail or quarantine",
          section, action));
    }
  }
  if (const auto protocol = value(ini, section, "protocol"); !protocol.empty()) {
    if (protocol.size() == 1 && protocol[0] >= '2' && protocol[0] <= '6') {
      filter.protocol = protocol[0] - '0';
    } else {
      problems.push_back(
          fmt::format("milter.ini [{}] protocol: \"{}\" is not 2..6", section, protocol));
    }
  }
  for (std::size_t stage = 0; stage < MacroKeys.size(); ++stage) {
    const auto& raw = config::iniValue(ini, section, MacroKeys[stage]);
    if (!raw.is_null()) {
      filter.macros[stage] = splitMacroNames(value(ini, section, MacroKeys[stage]));
    }
  }
}

} // namespace

const char* actionName(DefaultAction action) {
  switch (action) {
  case DefaultAction::Accept:
    return "accept";
  case DefaultAction::Reject:
    return "reject";
  case DefaultAction::Tempfail:
    return "tempfail";
  case DefaultAction::Quarantine:
    return "quarantine";
  }
  return "?";
}

MacroLists defaultMacroLists() {
  MacroLists lists;
  auto set = [&lists](MacroStage stage, const char* names) {
    lists[static_cast<std::size_t>(stage)] = splitMacroNames(names);
  };
  set(MacroStage::Connect, "j {daemon_name} {daemon_addr} v _ {client_addr} {client_name} "
                           "{client_port} {if_name} {if_addr}");
  set(MacroStage::Helo, "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}");
  set(MacroStage::Mail,
      "i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}");
  set(MacroStage::Rcpt, "i {rcpt_addr} {rcpt_host} {rcpt_mailer}");
  set(MacroStage::Data, "i");
  set(MacroStage::Eoh, "i");
  set(MacroStage::Eom, "i");
  return lists;
}

const std::vector<std::string>& filterKeys() {
  static const std::vector<std::string> keys = {
      "socket",      "connect_timeout", "command_timeout", "content_timeout", "default_action",
      "protocol",    "connect_macros",  "helo_macros",     "mail_macros",     "rcpt_macros",
      "data_macros", "eoh_macros",      "eom_macros"};
  return keys;
}

MilterConfigReading readMilterConfig(const nlohmann::json& ini) {
  MilterConfigReading reading;
  FilterConfig defaults;
  defaults.macros = defaultMacroLists();
  readSettings(ini, "main", defaults, reading.problems);

  std::set<std::string> seen;
  for (const auto& name : splitMacroNames(value(ini, "main", "milters"))) {
    if (!seen.insert(name).second) {
      reading.problems.push_back(
          fmt::format("milter.ini [main] milters: {} is listed twice; it runs once", name));
      continue;
    }
    if (name == "main" || !ini.is_object() || !ini.contains(name) || !ini[name].is_object()) {
      reading.problems.push_back(
          fmt::format("milter.ini [main] milters: {} has no section [{}]; left out", name, name));
      continue;
    }
    FilterConfig filter = defaults;
    filter.name = name;
    readSettings(ini, name, filter, reading.problems);
    auto socket = parseFilterSocket(value(ini, name, "socket"));
    if (!socket) {
      reading.problems.push_back(
          fmt::format("milter.ini [{}] socket: {}; the filter is left out", name, socket.error()));
      continue;
    }
    filter.socket = std::move(*socket);
    reading.filters.push_back(std::move(filter));
  }
  return reading;
}

} // namespace upesi::plugins::milter
