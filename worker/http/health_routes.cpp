#include "worker/http/health_routes.hpp"

#include "common/metrics/prometheus_text.hpp"

#include <unistd.h>

namespace upesi::worker::http {

void addHealthRoutes(Router& router, Readiness readiness) {
  router.reserve("GET", "/healthz", [](const HttpRequest&, const HttpReplyPtr& reply) {
    reply->send(HttpResponse::text(200, "ok\n"));
  });
  router.reserve("GET", "/readyz",
                 [readiness = std::move(readiness)](const HttpRequest&, const HttpReplyPtr& reply) {
                   std::string problems;
                   if (!readiness.accepting_smtp()) {
                     problems += "not accepting SMTP connections\n";
                   }
                   // access() is one syscall on a directory the worker writes anyway.
                   if (::access(readiness.queue_dir.c_str(), W_OK | X_OK) != 0) {
                     problems += "the queue directory is not writable\n";
                   }
                   reply->send(problems.empty() ? HttpResponse::text(200, "ready\n")
                                                : HttpResponse::text(503, problems));
                 });
}

void addMetricsRoute(Router& router, const metrics::MetricsRegion& region) {
  router.reserve("GET", "/metrics", [&region](const HttpRequest&, const HttpReplyPtr& reply) {
    HttpResponse response{200,
                          {{"Content-Type", std::string(metrics::kPrometheusContentType)}},
                          metrics::renderPrometheus(region)};
    reply->send(std::move(response));
  });
}

} // namespace upesi::worker::http
