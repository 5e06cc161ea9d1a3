// Values of an ini file as Host::config returns it ({section: {key: value}}), read the way the
// built-in plugins and the config check read their settings: a missing section or key, or a
// value of another type, gives the fallback, never an exception.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <exception>
#include <optional>
#include <string>

namespace upesi::config {

/// ini[section][key], or null.
inline const nlohmann::json& iniValue(const nlohmann::json& ini, const std::string& section,
                                      const std::string& key) {
  static const nlohmann::json none;
  if (!ini.is_object() || !ini.contains(section) || !ini[section].is_object() ||
      !ini[section].contains(key)) {
    return none;
  }
  return ini[section][key];
}

/// A value as written: its text, or the number or boolean it was read as.
inline std::string iniText(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

/// A string (a number as written); `fallback` when absent.
inline std::string iniString(const nlohmann::json& ini, const std::string& section,
                             const std::string& key, const std::string& fallback = {}) {
  const auto& value = iniValue(ini, section, key);
  if (value.is_null()) {
    return fallback;
  }
  return iniText(value);
}

/// A key declared boolean when read; false when absent.
inline bool iniFlag(const nlohmann::json& ini, const std::string& section, const std::string& key) {
  const auto& value = iniValue(ini, section, key);
  return value.is_boolean() && value.get<bool>();
}

/// The same with `fallback` when absent; "true" as text counts too (a file read without its
/// booleans declared).
inline bool iniFlag(const nlohmann::json& ini, const std::string& section, const std::string& key,
                    bool fallback) {
  const auto& value = iniValue(ini, section, key);
  if (value.is_null()) {
    return fallback;
  }
  return value.is_boolean() ? value.get<bool>() : iniText(value) == "true";
}

/// A whole number; nullopt when absent or not a number.
inline std::optional<long long> iniInteger(const nlohmann::json& ini, const std::string& section,
                                           const std::string& key) {
  const auto text = iniString(ini, section, key);
  if (text.empty()) {
    return std::nullopt;
  }
  try {
    std::size_t used = 0;
    long long value = std::stoll(text, &used);
    if (used == text.size()) {
      return value;
    }
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

} // namespace upesi::config
