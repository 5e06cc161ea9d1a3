#include "worker/http/router.hpp"

#include "common/log/logger.hpp"

#include <algorithm>

namespace upesi::worker::http {
namespace {

bool methodMatches(const std::string& route_method, std::string_view method) {
  return route_method == "*" || route_method == method ||
         (route_method == "GET" && method == "HEAD");
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return out;
}

} // namespace

bool Router::reservedPath(std::string_view path) const {
  auto taken = [path](const Route& r) { return r.reserved && r.path == path; };
  if (std::any_of(exact_.begin(), exact_.end(), taken)) {
    return true;
  }
  return std::any_of(prefixes_.begin(), prefixes_.end(), [path](const Route& r) {
    return r.reserved && path.substr(0, r.path.size()) == r.path;
  });
}

void Router::add(std::vector<Route>& table, std::string_view method, std::string_view path,
                 HttpHandler handler, bool reserved) {
  const std::string verb = upper(method);
  if (path.empty() || path.front() != '/' || !handler) {
    log::error({"", owner_}, "HTTP route \"{} {}\" refused: a path starts with '/'", verb, path);
    return;
  }
  if (!reserved && reservedPath(path)) {
    log::error({"", owner_}, "HTTP route \"{} {}\" refused: the server serves that path", verb,
               path);
    return;
  }
  for (auto& route : table) {
    if (route.method == verb && route.path == path) {
      log::warn({"", owner_}, "HTTP route \"{} {}\" replaces {}'s", verb, path, route.owner);
      route.handler = std::move(handler);
      route.owner = owner_;
      return;
    }
  }
  table.push_back(Route{verb, std::string(path), std::move(handler), owner_, reserved});
}

void Router::route(std::string_view method, std::string_view path, HttpHandler handler) {
  add(exact_, method, path, std::move(handler), false);
}

void Router::prefix(std::string_view method, std::string_view prefix, HttpHandler handler) {
  add(prefixes_, method, prefix, std::move(handler), false);
}

void Router::reserve(std::string_view method, std::string_view path, HttpHandler handler) {
  add(exact_, method, path, std::move(handler), true);
}

void Router::reservePrefix(std::string_view prefix, HttpHandler handler) {
  add(prefixes_, "*", prefix, std::move(handler), true);
}

bool Router::endpoint(std::string_view path, WebSocketHandlers handlers) {
  if (path.empty() || path.front() != '/' || reservedPath(path)) {
    log::error({"", owner_}, "websocket endpoint \"{}\" refused: not a path this server gives",
               path);
    return false;
  }
  auto it = websockets_.find(path);
  if (it != websockets_.end()) {
    log::error({"", owner_}, "websocket endpoint \"{}\" refused: {} serves it", path,
               it->second.first);
    return false;
  }
  websockets_.emplace(std::string(path), std::pair{owner_, std::move(handlers)});
  return true;
}

Router::Match Router::find(std::string_view method, std::string_view path) const {
  Match match;
  auto consider = [&](const Route& route) {
    if (methodMatches(route.method, method)) {
      match.handler = &route.handler;
      return true;
    }
    match.status = 405;
    match.allowed.push_back(route.method);
    return false;
  };
  for (const auto& route : exact_) {
    if (route.path == path && consider(route)) {
      return match;
    }
  }
  if (match.status == 405) {
    return match; // an exact path wins over any prefix, whatever the method
  }
  const Route* best = nullptr;
  for (const auto& route : prefixes_) {
    if (path.substr(0, route.path.size()) == route.path && methodMatches(route.method, method) &&
        (best == nullptr || route.path.size() > best->path.size())) {
      best = &route;
    }
  }
  if (best != nullptr) {
    match.handler = &best->handler;
    match.status = 200;
    return match;
  }
  for (const auto& route : prefixes_) {
    if (path.substr(0, route.path.size()) == route.path) {
      match.status = 405;
      match.allowed.push_back(route.method);
    }
  }
  return match;
}

const WebSocketHandlers* Router::websocket(std::string_view path) const {
  auto it = websockets_.find(path);
  return it == websockets_.end() ? nullptr : &it->second.second;
}

} // namespace upesi::worker::http
