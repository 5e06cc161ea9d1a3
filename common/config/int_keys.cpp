#include "common/config/int_keys.hpp"

#include <fmt/format.h>

namespace upesi::config {

Result<std::monostate> readIntKeys(const nlohmann::json& section, std::span<const IntKey> keys,
                                   const std::function<std::string(const char*)>& where,
                                   const std::function<std::string(const char*)>& named) {
  for (const auto& k : keys) {
    if (!section.contains(k.key) || section[k.key].is_null()) {
      continue;
    }
    const auto& v = section[k.key];
    if (!v.is_number_integer() || v.get<long long>() < k.min || v.get<long long>() > k.max) {
      return Error{fmt::format("{}: {} must be a whole number from {} to {}, not {}", where(k.key),
                               named ? named(k.key) : std::string(k.key), k.min, k.max, v.dump())};
    }
    k.store(v.get<long long>());
  }
  return std::monostate{};
}

} // namespace upesi::config
