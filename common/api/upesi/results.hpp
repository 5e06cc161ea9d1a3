// Results: what plugins found out about a connection or transaction, for other plugins to read
// (Haraka's haraka-results). Stored per plugin as a JSON object; the keys pass, fail, skip, err
// and msg collect arrays, any other key is set.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace upesi {

class Results {
public:
  /// add("spf", {{"pass", "mfrom"}}) appends "mfrom" to spf.pass; add("karma", {{"score", 3}})
  /// sets karma.score.
  void add(const std::string& plugin, const nlohmann::json& values) {
    auto& entry = entryFor(plugin);
    for (const auto& [key, value] : values.items()) {
      if (isCollected(key)) {
        entry[key].push_back(value);
      } else {
        entry[key] = value;
      }
    }
  }

  /// Adds `by` to a numeric key (created at 0).
  void incr(const std::string& plugin, const std::string& key, double by = 1) {
    auto& entry = entryFor(plugin);
    double now = entry.contains(key) && entry[key].is_number() ? entry[key].get<double>() : 0.0;
    entry[key] = now + by;
  }

  /// The plugin's results, or null if it recorded none.
  const nlohmann::json& get(const std::string& plugin) const {
    static const nlohmann::json none;
    auto it = data_.find(plugin);
    return it == data_.end() ? none : *it;
  }

  /// True if `plugin` has `value` under `key` (in the array, or as the value).
  bool has(const std::string& plugin, const std::string& key, const nlohmann::json& value) const {
    const auto& entry = get(plugin);
    if (!entry.is_object() || !entry.contains(key)) {
      return false;
    }
    const auto& v = entry[key];
    if (v.is_array()) {
      for (const auto& item : v) {
        if (item == value) {
          return true;
        }
      }
      return false;
    }
    return v == value;
  }

  const nlohmann::json& all() const { return data_; }
  void clear() { data_ = nlohmann::json::object(); }

private:
  static bool isCollected(std::string_view key) {
    return key == "pass" || key == "fail" || key == "skip" || key == "err" || key == "msg";
  }
  nlohmann::json& entryFor(const std::string& plugin) {
    auto& entry = data_[plugin];
    if (!entry.is_object()) {
      entry = nlohmann::json::object();
      for (const char* key : {"pass", "fail", "skip", "err", "msg"}) {
        entry[key] = nlohmann::json::array();
      }
    }
    return entry;
  }

  nlohmann::json data_ = nlohmann::json::object();
};

} // namespace upesi
