// Test helpers: one metric family's lines out of a whole rendering, and a region to write in.
#pragma once

#include "common/metrics/metrics.hpp"
#include "common/metrics/metrics_region.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <sstream>
#include <string>
#include <string_view>

namespace upesi::metrics::test {

/// The lines of family `name` (HELP, TYPE, samples, _bucket/_sum/_count), in order, each
/// ending in '\n'.
inline std::string familyLines(const std::string& text, std::string_view name) {
  std::istringstream in(text);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    std::string_view rest = line;
    if (rest.starts_with("# HELP ") || rest.starts_with("# TYPE ")) {
      rest.remove_prefix(7);
    }
    if (!rest.starts_with(name)) {
      continue;
    }
    rest.remove_prefix(name.size());
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (rest.starts_with(suffix)) {
        rest.remove_prefix(suffix.size());
        break;
      }
    }
    if (!rest.empty() && (rest[0] == ' ' || rest[0] == '{')) {
      out += line;
      out += '\n';
    }
  }
  return out;
}

inline std::shared_ptr<MetricsRegion> makeRegion(MetricsRegion::Sizing sizing = {.slots = 3}) {
  std::string error;
  auto region = MetricsRegion::create(sizing, error);
  REQUIRE_MESSAGE(region.has_value(), error);
  return std::make_shared<MetricsRegion>(std::move(*region));
}

} // namespace upesi::metrics::test
