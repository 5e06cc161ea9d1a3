// Whole-number keys of an ini section, each within its range: the reading every config reader
// of fixed keys (smtp.ini, outbound.ini, http.ini) does the same way.
#pragma once

#include "common/util/result.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <span>
#include <string>
#include <variant>

namespace upesi::config {

struct IntKey {
  const char* key;
  long long min;
  long long max;
  std::function<void(long long)> store;
};

/// Stores each key of `section` that is set; the first that is not a whole number within its
/// range is an error: "<where(key)>: <named(key)> must be a whole number from MIN to MAX, not
/// VALUE". `named` (how the error calls the key) defaults to the key itself.
Result<std::monostate> readIntKeys(const nlohmann::json& section, std::span<const IntKey> keys,
                                   const std::function<std::string(const char*)>& where,
                                   const std::function<std::string(const char*)>& named = {});

} // namespace upesi::config
