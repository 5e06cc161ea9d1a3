#include "worker/smtp/authentication_results.hpp"

#include <upesi/text.hpp>

#include "common/auth/auth_results.hpp"

#include <algorithm>
#include <array>
#include <vector>

namespace upesi::smtp {
namespace {

std::size_t methodRank(std::string_view method) {
  static constexpr std::array<std::string_view, 5> Order = {"auth", "iprev", "spf", "dkim",
                                                            "dmarc"};
  auto at = std::find(Order.begin(), Order.end(), method);
  return static_cast<std::size_t>(at - Order.begin());
}

std::string textOf(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

std::optional<auth::MethodResult> entryFrom(const nlohmann::json& entry) {
  if (!entry.is_object() || !entry.contains("method") || !entry.contains("result")) {
    return std::nullopt;
  }
  auth::MethodResult result;
  result.method = textOf(entry["method"]);
  result.result = textOf(entry["result"]);
  if (entry.contains("version") && entry["version"].is_number_integer()) {
    result.version = entry["version"].get<int>();
  }
  if (entry.contains("comment")) {
    result.comment = textOf(entry["comment"]);
  }
  if (entry.contains("reason")) {
    result.reason = textOf(entry["reason"]);
  }
  if (entry.contains("properties") && entry["properties"].is_object()) {
    for (const auto& [key, value] : entry["properties"].items()) {
      auto dot = key.find('.');
      if (dot == std::string::npos || dot == 0 || dot + 1 == key.size()) {
        continue;
      }
      result.properties.push_back({key.substr(0, dot), key.substr(dot + 1), textOf(value)});
    }
  }
  return result;
}

void collect(const Results& results, std::vector<auth::MethodResult>& out) {
  const std::string key(AuthResultsKey);
  for (const auto& [plugin, entry] : results.all().items()) {
    if (!entry.is_object() || !entry.contains(key)) {
      continue;
    }
    const auto& list = entry[key];
    for (const auto& item : list.is_array() ? list : nlohmann::json::array({list})) {
      if (auto result = entryFrom(item)) {
        out.push_back(std::move(*result));
      }
    }
  }
}

} // namespace

std::size_t removeForgedAuthResults(mail::Header& header, std::string_view authserv_id) {
  return header.removeIf("Authentication-Results", [authserv_id](const mail::HeaderField& field) {
    auto id = auth::authservId(field.raw_value);
    return id && text::equalsIgnoreCase(*id, authserv_id);
  });
}

std::optional<std::string> authResultsValue(const Results& connection, const Results& transaction,
                                            std::string_view authserv_id) {
  std::vector<auth::MethodResult> results;
  collect(connection, results);
  collect(transaction, results);
  if (results.empty()) {
    return std::nullopt;
  }
  std::stable_sort(results.begin(), results.end(), [](const auto& a, const auto& b) {
    return methodRank(a.method) < methodRank(b.method);
  });
  return auth::buildAuthResults(authserv_id, results);
}

} // namespace upesi::smtp
