#include "worker/http/health_routes.hpp"

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

} // namespace upesi::worker::http
