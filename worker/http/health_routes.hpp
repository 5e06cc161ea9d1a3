// GET /metrics, GET /healthz (the process answers: alive) and GET /readyz (it takes mail: the SMTP
// listeners are open and the queue directory is writable), for load balancers and orchestrators.
#pragma once

#include "common/metrics/metrics_region.hpp"
#include "worker/http/router.hpp"

#include <filesystem>
#include <functional>

namespace upesi::worker::http {

struct Readiness {
  std::function<bool()> accepting_smtp; // false once draining
  std::filesystem::path queue_dir;
};

void addHealthRoutes(Router& router, Readiness readiness);

/// GET /metrics: every worker's figures (and those of workers gone), in Prometheus text.
void addMetricsRoute(Router& router, const metrics::MetricsRegion& region);

} // namespace upesi::worker::http
