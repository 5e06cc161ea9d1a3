// SmtpServer: the listeners of one process and the sessions they accepted, with the
// per-process connection limits (in all, and per client IP).
//
// Threading: the loop thread.
#pragma once

#include "common/config/smtp_config.hpp"
#include "common/metrics/cached_handle.hpp"
#include "common/util/result.hpp"
#include "common/util/uv_handle.hpp"
#include "worker/smtp/session.hpp"

#include <uv.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <variant>
#include <vector>

namespace upesi::worker {

class SmtpServer {
public:
  SmtpServer(uv_loop_t* loop, smtp::SessionEnvironment environment);
  ~SmtpServer();
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  /// Binds and listens on `address`.
  Result<std::monostate> listen(const config::ListenAddress& address);
  /// Listens on an already bound socket inherited from the master.
  Result<std::monostate> adopt(int fd);

  /// Stops accepting; sessions go on.
  void stopAccepting();
  bool accepting() const { return !listeners_.empty(); }
  /// Graceful end: stop accepting, let sessions finish on their own for up to `grace`; then
  /// 421 at each one's next command boundary, and after `grace` more, close what is left.
  /// `done` runs once, when no session is left.
  void drain(std::chrono::seconds grace, std::function<void()> done);
  /// Asks every session to finish (421 at its next command boundary).
  void shutdownSessions();
  std::size_t sessionCount() const { return sessions_.size(); }
  /// Called whenever the last session has gone (for graceful stop).
  void onIdle(std::function<void()> callback) { on_idle_ = std::move(callback); }

  smtp::SessionEnvironment& environment() { return env_; }

private:
  static void onConnection(uv_stream_t* server, int status);
  static void onReap(uv_idle_t* idle);
  void accept(uv_stream_t* server);
  void sessionClosed(smtp::Session* session);
  /// Counts a proxied session under its client's address; false if that is one too many.
  bool clientKnown(smtp::Session* session, const std::string& ip);
  void addListener(UvHandle<uv_tcp_t> tcp);

  struct Listener {
    UvHandle<uv_tcp_t> tcp;
    std::string name; // "ip:port" of its socket, the connections_total label
    metrics::CachedHandle<metrics::Counter> connections;
  };

  uv_loop_t* loop_;
  smtp::SessionEnvironment env_;
  std::vector<Listener> listeners_;
  std::unordered_map<smtp::Session*, std::unique_ptr<smtp::Session>> sessions_;
  std::unordered_map<smtp::Session*, std::string> session_ip_; // its per-IP key (client_key.hpp)
  std::unordered_map<std::string, unsigned> per_ip_;
  std::vector<smtp::Session*> closed_;
  UvHandle<uv_idle_t> reaper_;
  std::function<void()> on_idle_;
  UvHandle<uv_timer_t> drain_timer_;
  int drain_stage_ = 0;
  std::chrono::seconds drain_grace_{0};
};

} // namespace upesi::worker
