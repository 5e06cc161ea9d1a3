// The region's series as Prometheus text exposition format (version 0.0.4), the same whichever
// process renders it.
#pragma once

#include "common/metrics/metrics_region.hpp"

#include <string>
#include <string_view>

namespace upesi::metrics {

inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

/// Every metric in definition order with # HELP and # TYPE, its series sorted by labels:
/// counters and histograms summed over all slots (the retired and the live), gauges over the
/// live slots only. Histograms as cumulative _bucket{le=...} lines with +Inf, _sum in seconds and
/// _count. A metric without labels always has its sample (0 before any); a labelled metric's
/// overflow series shows once it holds something.
std::string renderPrometheus(const MetricsRegion& region);

/// HELP text escaped: \ as \\, newline as \n.
std::string escapeHelp(std::string_view help);

} // namespace upesi::metrics
