#include "common/http/response.hpp"

#include <doctest/doctest.h>

using namespace upesi::http;

TEST_CASE("http response: status line, fields, length, body; HEAD and 204 without a body") {
  Response response = Response::text(404);
  response.header("X-Upesi", "1");
  CHECK(serialize(response, false) ==
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nX-Upesi: 1\r\n"
        "Content-Length: 14\r\n\r\n404 Not Found\n");
  CHECK(serialize(response, true, true) ==
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nX-Upesi: 1\r\n"
        "Content-Length: 14\r\nConnection: close\r\n\r\n");
  Response empty;
  empty.status = 204;
  empty.body = "ignored";
  CHECK(serialize(empty, false) == "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST_CASE("http response: a field with CR, LF or NUL, or a name with ':', is left out") {
  Response response;
  response.header("Location", "/ok");
  response.header("X-Split", "a\r\nSet-Cookie: stolen=1");
  response.header("X-Bare", "a\nb");
  response.header("Bad:Name", "v");
  response.header("", "v");
  response.header("X-Nul", std::string("a\0b", 3));
  const std::string wire = serialize(response, false);
  CHECK(wire == "HTTP/1.1 200 OK\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n");
}
