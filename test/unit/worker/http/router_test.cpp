#include "worker/http/router.hpp"

#include <doctest/doctest.h>

#include <string>

using upesi::HttpReplyPtr;
using upesi::HttpRequest;
using upesi::worker::http::Router;

namespace {

// A handler that names itself, to tell which one a match found.
std::string called;
upesi::HttpHandler named(std::string name) {
  return [name](const HttpRequest&, const HttpReplyPtr&) { called = name; };
}

std::string run(const Router& router, std::string_view method, std::string_view path) {
  called.clear();
  auto match = router.find(method, path);
  if (match.handler == nullptr) {
    return std::to_string(match.status);
  }
  (*match.handler)(HttpRequest{}, nullptr);
  return called;
}

} // namespace

TEST_CASE("router: exact paths, prefixes (longest wins), methods and 405") {
  Router router;
  router.route("GET", "/a", named("get a"));
  router.route("post", "/a", named("post a"));
  router.prefix("GET", "/files/", named("files"));
  router.prefix("GET", "/files/big/", named("big files"));
  router.prefix("*", "/any/", named("any"));
  CHECK(run(router, "GET", "/a") == "get a");
  CHECK(run(router, "HEAD", "/a") == "get a"); // GET serves HEAD
  CHECK(run(router, "POST", "/a") == "post a");
  CHECK(run(router, "PUT", "/a") == "405");
  CHECK(router.find("PUT", "/a").allowed == std::vector<std::string>{"GET", "POST"});
  CHECK(run(router, "GET", "/files/x") == "files");
  CHECK(run(router, "GET", "/files/big/x") == "big files");
  CHECK(run(router, "DELETE", "/files/x") == "405");
  CHECK(run(router, "DELETE", "/any/x") == "any");
  CHECK(run(router, "GET", "/b") == "404");
  CHECK(run(router, "GET", "/files") == "404"); // a prefix is a prefix of the path
}

TEST_CASE("router: a later route replaces an earlier one; the server's paths stay its own") {
  Router router;
  router.reserve("GET", "/healthz", named("server health"));
  router.reservePrefix("/api/v1/", named("server api"));
  router.setOwner("plugin");
  router.route("GET", "/healthz", named("plugin health"));
  router.route("GET", "/api/v1/queue", named("plugin queue"));
  router.prefix("GET", "/api/", named("plugin api"));
  router.route("GET", "/mine", named("first"));
  router.route("GET", "/mine", named("second"));
  router.route("GET", "no-slash", named("refused"));
  CHECK(run(router, "GET", "/healthz") == "server health");
  CHECK(run(router, "GET", "/api/v1/queue") == "server api");
  CHECK(run(router, "GET", "/api/v2") == "plugin api");
  CHECK(run(router, "GET", "/mine") == "second");
  CHECK(run(router, "GET", "no-slash") == "404");
}

TEST_CASE("router: one websocket endpoint per path") {
  Router router;
  router.reserve("GET", "/metrics", named("metrics"));
  CHECK(router.endpoint("/watch/ws", {}));
  CHECK_FALSE(router.endpoint("/watch/ws", {}));
  CHECK_FALSE(router.endpoint("/metrics", {}));
  CHECK_FALSE(router.endpoint("relative", {}));
  CHECK(router.endpoint("/other", {}));
  CHECK(router.websocket("/watch/ws") != nullptr);
  CHECK(router.websocket("/watch") == nullptr);
}
