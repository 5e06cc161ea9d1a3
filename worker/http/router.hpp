// Router: the HTTP routes and websocket endpoints of one worker — the server's own (/metrics,
// /healthz, /readyz, /api/v1/) and those plugins add in init_http and init_wss.
//
// The server's paths are reserved: a plugin cannot take them over.
//
// Threading: the loop thread.
#pragma once

#include <upesi/http.hpp>

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace upesi::worker::http {

class Router final : public HttpRouter, public WebSocketRegistry {
public:
  // HttpRouter
  void route(std::string_view method, std::string_view path, HttpHandler handler) override;
  void prefix(std::string_view method, std::string_view prefix, HttpHandler handler) override;
  // WebSocketRegistry
  bool endpoint(std::string_view path, WebSocketHandlers handlers) override;

  /// The server's own routes, added before the plugins': reserved from then on.
  void reserve(std::string_view method, std::string_view path, HttpHandler handler);
  void reservePrefix(std::string_view prefix, HttpHandler handler);

  /// Who registers next (for the log lines of a refused or replaced route).
  void setOwner(std::string owner) { owner_ = std::move(owner); }

  struct Match {
    const HttpHandler* handler = nullptr; // null: see status
    int status = 404;                     // 404, or 405 (the path exists for other methods)
    std::vector<std::string> allowed;     // for 405's Allow field
  };
  Match find(std::string_view method, std::string_view path) const;
  const WebSocketHandlers* websocket(std::string_view path) const;

private:
  struct Route {
    std::string method; // "*" for any
    std::string path;
    HttpHandler handler;
    std::string owner;
    bool reserved = false;
  };
  bool reservedPath(std::string_view path) const;
  void add(std::vector<Route>& table, std::string_view method, std::string_view path,
           HttpHandler handler, bool reserved);

  std::vector<Route> exact_;
  std::vector<Route> prefixes_;
  std::map<std::string, std::pair<std::string, WebSocketHandlers>, std::less<>> websockets_;
  std::string owner_ = "server";
};

} // namespace upesi::worker::http
