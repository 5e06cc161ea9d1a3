#include "plugins/aliases/alias_table.hpp"

#include "common/util/text.hpp"

#include <fmt/format.h>

namespace upesi::plugins::aliases {

std::string_view keyFormName(KeyForm form) {
  switch (form) {
  case KeyForm::Address:
    return "user@host";
  case KeyForm::User:
    return "user";
  case KeyForm::PrefixAtHost:
    return "prefix@host";
  case KeyForm::Prefix:
    return "prefix";
  case KeyForm::AtHost:
    return "@host";
  case KeyForm::Wildcard:
    return "*";
  }
  return "";
}

std::string_view subAddressPrefix(std::string_view user) {
  return user.substr(0, user.find_first_of("-+"));
}

AliasTable AliasTable::fromJson(const nlohmann::json& json, std::vector<std::string>& problems) {
  AliasTable table;
  if (!json.is_object()) {
    if (!json.is_null()) {
      problems.push_back("aliases.json is not a JSON object");
    }
    return table;
  }
  for (const auto& [key, value] : json.items()) {
    if (!value.is_object()) {
      problems.push_back(fmt::format("alias {} is not an object: skipped", key));
      continue;
    }
    AliasEntry entry;
    auto action = value.find("action");
    entry.action = action != value.end() && action->is_string()
                       ? text::toLower(action->get<std::string>())
                       : std::string("<missing>");
    auto to = value.find("to");
    if (to != value.end()) {
      if (to->is_string()) {
        entry.to.push_back(to->get<std::string>());
      } else if (to->is_array()) {
        for (const auto& target : *to) {
          if (target.is_string() && !target.get_ref<const std::string&>().empty()) {
            entry.to.push_back(target.get<std::string>());
          }
        }
      }
      entry.has_to = !entry.to.empty();
    }
    auto [it, added] = table.entries_.emplace(text::toLower(key), std::move(entry));
    if (!added) {
      problems.push_back(
          fmt::format("alias {} repeats {} in another case: skipped", key, it->first));
    }
  }
  return table;
}

std::optional<AliasMatch> AliasTable::lookup(std::string_view user, std::string_view host) const {
  const std::string lower_user = text::toLower(std::string(user));
  const std::string lower_host = text::toLower(std::string(host));
  const std::string prefix(subAddressPrefix(lower_user));
  auto find = [this](const std::string& key, KeyForm form) -> std::optional<AliasMatch> {
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      return std::nullopt;
    }
    return AliasMatch{it->first, form, &it->second};
  };
  std::optional<AliasMatch> match;
  const std::string at_host = "@" + lower_host;
  if (!lower_host.empty() && (match = find(lower_user + at_host, KeyForm::Address))) {
    return match;
  }
  if ((match = find(lower_user, KeyForm::User))) {
    return match;
  }
  // An empty prefix (a local part starting with '-' or '+') names no user.
  if (!prefix.empty()) {
    if (!lower_host.empty() && (match = find(prefix + at_host, KeyForm::PrefixAtHost))) {
      return match;
    }
    if ((match = find(prefix, KeyForm::Prefix))) {
      return match;
    }
  }
  if (!lower_host.empty() && (match = find(at_host, KeyForm::AtHost))) {
    return match;
  }
  return find("*", KeyForm::Wildcard);
}

std::vector<std::string> aliasTargets(const AliasEntry& entry, std::string_view host) {
  std::vector<std::string> targets;
  targets.reserve(entry.to.size());
  for (const auto& target : entry.to) {
    if (target.find('@') == std::string::npos && !host.empty()) {
      targets.push_back(fmt::format("{}@{}", target, host));
    } else {
      targets.push_back(target);
    }
  }
  return targets;
}

} // namespace upesi::plugins::aliases
