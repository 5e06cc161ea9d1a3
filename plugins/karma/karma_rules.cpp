#include "plugins/karma/karma_rules.hpp"

#include <upesi/text.hpp>

#include "common/config/ini_values.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace upesi::plugins::karma {
namespace {

std::optional<double> number(std::string_view text) {
  text = text::trim(text);
  if (!text.empty() && text.front() == '+') {
    text.remove_prefix(1);
  }
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

const nlohmann::json* find(const nlohmann::json& ini, const char* section, const char* key) {
  if (!ini.contains(section) || !ini[section].is_object() || !ini[section].contains(key)) {
    return nullptr;
  }
  return &ini[section][key];
}

void readNumber(const nlohmann::json& ini, const char* section, const char* key, double& out,
                std::vector<std::string>& problems) {
  if (const auto* v = find(ini, section, key)) {
    if (auto n = number(config::iniText(*v))) {
      out = *n;
    } else {
      problems.push_back(
          fmt::format("[{}] {}: \"{}\" is not a number", section, key, config::iniText(*v)));
    }
  }
}

std::vector<std::string> splitFields(const std::string& text) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  while (true) {
    const auto bar = text.find('|', start);
    fields.emplace_back(text::trim(std::string_view(text).substr(
        start, bar == std::string::npos ? std::string::npos : bar - start)));
    if (bar == std::string::npos) {
      return fields;
    }
    start = bar + 1;
  }
}

std::string normalOperator(std::string op) {
  op = text::toLower(op);
  if (op == "eq" || op == "equal") {
    return "equals";
  }
  return op;
}

bool scalarMatches(const std::string& op, const std::string& want, const nlohmann::json& got) {
  if (got.is_array() || got.is_object() || got.is_null()) {
    return false;
  }
  const std::string text = config::iniText(got);
  if (op == "equals") {
    return text == want;
  }
  if (op == "match") {
    return text::toLower(text).find(text::toLower(want)) != std::string::npos;
  }
  auto have = got.is_number() ? std::optional<double>(got.get<double>()) : number(text);
  auto limit = number(want);
  if (!have || !limit) {
    return false;
  }
  return op == "gt" ? *have > *limit : op == "lt" ? *have < *limit : false;
}

} // namespace

const std::vector<std::string>& karmaIniBooleans() {
  static const std::vector<std::string> booleans = {"+skip.private_ip", "+skip.authenticated",
                                                    "+asn.enable"};
  return booleans;
}

KarmaConfig readKarmaConfig(const nlohmann::json& ini) {
  KarmaConfig cfg;
  auto& problems = cfg.problems;
  readNumber(ini, "thresholds", "negative", cfg.negative, problems);
  readNumber(ini, "thresholds", "positive", cfg.positive, problems);
  readNumber(ini, "thresholds", "history_negative", cfg.history_negative, problems);
  if (const auto* hooks = find(ini, "deny", "hooks")) {
    cfg.deny_hooks.clear();
    for (auto item : text::splitList(config::iniText(*hooks), ", ")) {
      cfg.deny_hooks.insert(std::string(item));
    }
  }
  for (auto [key, set] : {std::pair{"plugins", &cfg.deny_exclude_plugins},
                          std::pair{"hooks", &cfg.deny_exclude_hooks}}) {
    if (const auto* list = find(ini, "deny_excludes", key)) {
      set->clear();
      for (auto item : text::splitList(config::iniText(*list), ", ;")) {
        set->insert(std::string(item));
      }
    }
  }
  cfg.asn_enable = config::iniFlag(ini, "asn", "enable", true);
  if (const auto* report_as = find(ini, "asn", "report_as")) {
    cfg.asn_report_as = config::iniText(*report_as);
  }
  if (ini.contains("asn_awards") && ini["asn_awards"].is_object()) {
    for (const auto& [asn, value] : ini["asn_awards"].items()) {
      if (auto n = number(config::iniText(value))) {
        cfg.asn_awards[asn] = *n;
      } else {
        problems.push_back(
            fmt::format("[asn_awards] {}: \"{}\" is not a number", asn, config::iniText(value)));
      }
    }
  }
  if (const auto* message = find(ini, "deny", "message"); message && message->is_string()) {
    cfg.deny_message = message->get<std::string>();
  }
  readNumber(ini, "tarpit", "delay", cfg.tarpit_delay, problems);
  readNumber(ini, "tarpit", "max", cfg.tarpit_max, problems);
  readNumber(ini, "tarpit", "max_msa", cfg.tarpit_max_msa, problems);
  readNumber(ini, "awards", "relaying", cfg.award_relaying, problems);
  readNumber(ini, "awards", "early_talker", cfg.award_early_talker, problems);
  readNumber(ini, "tls", "set", cfg.tls_set, problems);
  readNumber(ini, "tls", "unset", cfg.tls_unset, problems);
  if (ini.contains("spammy_tlds") && ini["spammy_tlds"].is_object()) {
    for (const auto& [tld, value] : ini["spammy_tlds"].items()) {
      if (auto n = number(config::iniText(value))) {
        cfg.spammy_tlds[text::toLower(tld)] = *n;
      } else {
        problems.push_back(
            fmt::format("[spammy_tlds] {}: \"{}\" is not a number", tld, config::iniText(value)));
      }
    }
  }
  if (ini.contains("result_awards") && ini["result_awards"].is_object()) {
    for (const auto& [id, value] : ini["result_awards"].items()) {
      const auto fields = splitFields(config::iniText(value));
      auto award = fields.size() >= 5 ? number(fields[4]) : std::nullopt;
      const std::string op = fields.size() >= 3 ? normalOperator(fields[2]) : std::string();
      const bool known_op =
          op == "equals" || op == "match" || op == "gt" || op == "lt" || op == "length";
      if (!award || !known_op || fields[0].empty() || fields[1].empty()) {
        problems.push_back(fmt::format(
            "[result_awards] {}: \"{}\" is not plugin | property | operator | value | award", id,
            config::iniText(value)));
        continue;
      }
      ResultAward rule{id,
                       fields[0],
                       fields[1],
                       op,
                       fields[3],
                       *award,
                       fields.size() > 5 ? fields[5] : std::string(),
                       fields.size() > 6 ? fields[6] : std::string()};
      cfg.result_awards.push_back(std::move(rule));
    }
  }
  if (const auto* days = find(ini, "main", "expire_days") ? find(ini, "main", "expire_days")
                                                          : find(ini, "redis", "expire_days")) {
    auto n = number(config::iniText(*days));
    if (!n || *n < 1 || *n > 3650) {
      problems.push_back(
          fmt::format("expire_days: \"{}\" is not 1 to 3650", config::iniText(*days)));
    } else {
      cfg.expire_days = static_cast<long long>(*n);
    }
  }
  cfg.skip_private_ip = config::iniFlag(ini, "skip", "private_ip", true);
  cfg.skip_authenticated = config::iniFlag(ini, "skip", "authenticated", true);
  return cfg;
}

bool awardMatches(const ResultAward& rule, const nlohmann::json& results) {
  if (!results.is_object() || !results.contains(rule.property)) {
    return false;
  }
  const auto& got = results[rule.property];
  if (rule.op == "length") {
    const auto fields = text::splitList(rule.value, " ");
    if (fields.size() != 2) {
      return false;
    }
    const std::size_t length = got.is_array()    ? got.size()
                               : got.is_string() ? got.get_ref<const std::string&>().size()
                                                 : 0;
    return scalarMatches(std::string(fields[0]) == "eq" ? "equals" : std::string(fields[0]),
                         std::string(fields[1]), nlohmann::json(length));
  }
  if (got.is_array()) {
    for (const auto& item : got) {
      if (scalarMatches(rule.op, rule.value, item)) {
        return true;
      }
    }
    return false;
  }
  return scalarMatches(rule.op, rule.value, got);
}

std::optional<double> spammyTldAward(const KarmaConfig& cfg, const std::string& domain_in) {
  std::string domain = text::toLower(domain_in);
  // Every suffix, from the whole name down to the TLD: the longest listed one counts.
  while (!domain.empty()) {
    if (auto it = cfg.spammy_tlds.find(domain); it != cfg.spammy_tlds.end()) {
      return it->second;
    }
    const auto dot = domain.find('.');
    domain = dot == std::string::npos ? std::string() : domain.substr(dot + 1);
  }
  return std::nullopt;
}

double tarpitDelay(const KarmaConfig& cfg, double score, bool submission) {
  const double max = submission ? cfg.tarpit_max_msa : cfg.tarpit_max;
  double delay = cfg.tarpit_delay > 0 ? cfg.tarpit_delay : (score < 0 ? -score : 0);
  return std::max(0.0, std::min(delay, max));
}

std::optional<std::string> clientAsn(const nlohmann::json& asn_results,
                                     const nlohmann::json& geoip_results) {
  for (const auto* results : {&asn_results, &geoip_results}) {
    if (!results->is_object() || !results->contains("asn")) {
      continue;
    }
    const auto& asn = (*results)["asn"];
    std::string digits;
    if (asn.is_number_unsigned() || (asn.is_number_integer() && asn.get<long long>() > 0)) {
      digits = std::to_string(asn.get<long long>());
    } else if (asn.is_string()) {
      digits = text::trim(asn.get_ref<const std::string&>());
    }
    if (!digits.empty() && digits.size() <= 10 &&
        std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return digits;
    }
  }
  return std::nullopt;
}

std::string denyMessage(const KarmaConfig& cfg, double score, const std::string& uuid) {
  std::string out = cfg.deny_message;
  auto put = [&out](std::string_view name, const std::string& value) {
    for (auto at = out.find(name); at != std::string::npos;
         at = out.find(name, at + value.size())) {
      out.replace(at, name.size(), value);
    }
  };
  put("{score}", fmt::format("{}", score));
  put("{uuid}", uuid);
  return out;
}

} // namespace upesi::plugins::karma
