// The HTTP API under /api/v1/ (bearer token required; never open on allow= alone):
//
//   GET    /api/v1/queue[?limit=N]   the queue as `upesi --qlist --json` lists it (bounded)
//   GET    /api/v1/queue/stats       the counts as `upesi --qstat --json` prints them
//   DELETE /api/v1/queue/ID          one message, as `upesi --qdelete ID`
//   POST   /api/v1/queue/flush       every worker retries its deferred mail now (as SIGHUP)
//   POST   /api/v1/inject            a new message, queued as a plugin's send_email is
//
// Every answer is JSON ({"error": "..."} for errors). Reading or changing the queue directory
// blocks, so it runs on the thread pool and is answered from the after-work callback.
#pragma once

#include "common/plugin/plugin_host.hpp"
#include "worker/http/router.hpp"

#include <uv.h>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>

namespace upesi::worker::http {

struct ApiServices {
  uv_loop_t* loop = nullptr;
  bool token_set = false; ///< http.ini token=: without it the API answers 403
  std::filesystem::path queue_dir;
  std::size_t max_recipients = 1000; ///< smtp.ini's, for inject's "to"
  /// plugin::sendEmail over this process's services (the plugins' path into the queue).
  std::function<void(const Address& from, const std::vector<Address>& to, std::string message,
                     nlohmann::json notes, plugin::ProcessServices::SendEmailDone done)>
      send_email;
  /// Every worker flushes (through the master), or this process's engine with nodes=0.
  std::function<void()> flush_all;
};

void addApiRoutes(Router& router, ApiServices services);

} // namespace upesi::worker::http
