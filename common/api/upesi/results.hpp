// Results: what plugins found out about a connection or transaction, for other plugins to read
// (Haraka's haraka-results). Stored per plugin as a JSON object; the keys pass, fail, skip, err
// and msg collect arrays, any other key is set (add), appended to (push) or counted (incr).
//
// This is where a plugin records its verdicts: other plugins (karma, headers, logs) read them
// here, never from its private notes.
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

  /// Appends to an array under each key, whatever its name: push("dnsbl", {{"zones", "zen"}}).
  /// A key that held a single value keeps it as the array's first item.
  void push(const std::string& plugin, const nlohmann::json& values) {
    auto& entry = entryFor(plugin);
    for (const auto& [key, value] : values.items()) {
      auto& list = entry[key];
      if (!list.is_array()) {
        list = list.is_null() ? nlohmann::json::array() : nlohmann::json::array({list});
      }
      list.push_back(value);
    }
  }

  /// A one-line summary of the plugin's results for logs, e.g.
  /// "score: 3; pass: mfrom, helo; fail: dkim": other keys first, then pass, fail, msg, err
  /// and skip; empty lists and keys starting with '_' are left out. A string under "human"
  /// replaces the summary. "" if the plugin recorded nothing.
  std::string collate(const std::string& plugin) const {
    const auto& entry = get(plugin);
    if (!entry.is_object()) {
      return {};
    }
    if (auto human = entry.find("human"); human != entry.end() && human->is_string()) {
      return human->get<std::string>();
    }
    std::string out;
    auto append = [&out](const std::string& key, const nlohmann::json& value) {
      if (value.is_array() && value.empty()) {
        return;
      }
      out += out.empty() ? "" : "; ";
      out += key + ": ";
      if (!value.is_array()) {
        out += text(value);
        return;
      }
      for (std::size_t i = 0; i < value.size(); ++i) {
        out += (i == 0 ? "" : ", ") + text(value[i]);
      }
    };
    for (const auto& [key, value] : entry.items()) {
      if (!isCollected(key) && key != "human" && key.rfind('_', 0) != 0) {
        append(key, value);
      }
    }
    for (const char* key : {"pass", "fail", "msg", "err", "skip"}) {
      if (entry.contains(key)) {
        append(key, entry[key]);
      }
    }
    return out;
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
  static std::string text(const nlohmann::json& value) {
    return value.is_string() ? value.get<std::string>() : value.dump();
  }
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
