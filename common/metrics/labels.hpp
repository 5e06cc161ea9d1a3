// Label text for series keys: callers build labels with labelPair, so a plugin name or a
// domain from the network cannot break the exposition format.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>

namespace upesi::metrics {

/// `value` escaped for a label value: \ as \\, " as \", newline as \n, and each byte of
/// invalid UTF-8 as U+FFFD (the format is UTF-8).
std::string escapeLabelValue(std::string_view value);

/// `name="value"`, the value escaped. Join pairs with ',': labelPair("a", x) + ',' + ...
std::string labelPair(std::string_view name, std::string_view value);

/// True if `labels` is `name="value"` pairs joined by commas, names distinct and valid, values
/// escaped as labelPair does, valid UTF-8, and no "le" or "__" name (Prometheus's own): text
/// that renders as it is.
bool wellFormedLabels(std::string_view labels);

/// Keeps a label's cardinality bounded per process: the first `limit` distinct values are
/// admitted as they are, every later one is `other`.
class BoundedLabel {
public:
  explicit BoundedLabel(std::size_t limit, std::string other = "other");

  /// `value` if admitted (now or before), else the `other` value; valid while this lives.
  std::string_view admit(std::string_view value);

private:
  std::size_t limit_;
  std::string other_;
  std::unordered_set<std::string> admitted_;
};

} // namespace upesi::metrics
