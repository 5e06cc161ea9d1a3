// Test helper: a fresh metrics region installed as the process's for one test, and a disabled
// Metrics again at its end. Declare it before the objects under test, so that they, and the
// handles they keep, are gone before the region is.
#pragma once

#include "common/metrics/metrics.hpp"
#include "common/metrics/prometheus_text.hpp"
#include "test/unit/common/metrics/family_lines.hpp"

#include <memory>
#include <sstream>
#include <string>
#include <string_view>

namespace upesi::test {

struct InstalledMetrics {
  std::shared_ptr<metrics::MetricsRegion> region = metrics::test::makeRegion();

  InstalledMetrics() { metrics::installMetrics(metrics::Metrics(region, 1)); }
  ~InstalledMetrics() { metrics::installMetrics(metrics::Metrics()); }
  InstalledMetrics(const InstalledMetrics&) = delete;
  InstalledMetrics& operator=(const InstalledMetrics&) = delete;

  /// The value of the sample `series` (name and labels as rendered), or "" if there is none.
  std::string value(std::string_view series) const {
    std::istringstream in(metrics::renderPrometheus(*region));
    for (std::string line; std::getline(in, line);) {
      if (line.size() > series.size() && line.starts_with(series) && line[series.size()] == ' ') {
        return line.substr(series.size() + 1);
      }
    }
    return {};
  }

  /// Every sample line of the family `name`, HELP and TYPE left out.
  std::string samples(std::string_view name) const {
    std::istringstream in(metrics::test::familyLines(metrics::renderPrometheus(*region), name));
    std::string out;
    for (std::string line; std::getline(in, line);) {
      if (!line.starts_with("#")) {
        out += line + '\n';
      }
    }
    return out;
  }
};

} // namespace upesi::test
