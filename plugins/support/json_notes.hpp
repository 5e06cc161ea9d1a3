// Reading notes and config values as JSON, the way Haraka's plugins read JavaScript objects.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace upesi::plugins {

/// JavaScript truthiness: null, false, "", 0 are false; objects and arrays are true.
inline bool truthy(const nlohmann::json& value) {
  switch (value.type()) {
  case nlohmann::json::value_t::null:
  case nlohmann::json::value_t::discarded:
    return false;
  case nlohmann::json::value_t::boolean:
    return value.get<bool>();
  case nlohmann::json::value_t::string:
    return !value.get_ref<const std::string&>().empty();
  case nlohmann::json::value_t::number_integer:
  case nlohmann::json::value_t::number_unsigned:
  case nlohmann::json::value_t::number_float:
    return value.get<double>() != 0.0;
  default:
    return true; // objects and arrays
  }
}

/// object[key], or null when `object` is not an object or has no such key (never throws).
inline const nlohmann::json& member(const nlohmann::json& object, const char* key) {
  static const nlohmann::json none;
  if (!object.is_object()) {
    return none;
  }
  auto it = object.find(key);
  return it == object.end() ? none : *it;
}

} // namespace upesi::plugins
