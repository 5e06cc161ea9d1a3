#include "common/smtp/sasl_server.hpp"

#include <doctest/doctest.h>

using namespace upesi::smtp;

TEST_CASE("PLAIN: authzid NUL user NUL password") {
  auto c = parsePlainResponse(std::string("\0tim\0tanstaaf", 13));
  REQUIRE(c.ok());
  CHECK(c->user == "tim");
  CHECK(c->password == "tanstaaf");
  auto same = parsePlainResponse(std::string("tim\0tim\0pw", 10));
  REQUIRE(same.ok());
  CHECK(same->password == "pw");
}

TEST_CASE("PLAIN: malformed responses and proxy authorization are refused") {
  CHECK_FALSE(parsePlainResponse("timtanstaaf").ok());
  CHECK_FALSE(parsePlainResponse(std::string("\0tim", 4)).ok());
  CHECK_FALSE(parsePlainResponse(std::string("\0tim\0pw\0x", 9)).ok());
  CHECK_FALSE(parsePlainResponse(std::string("admin\0tim\0pw", 12)).ok());
}

TEST_CASE("CRAM-MD5: RFC 2195's example") {
  const std::string challenge = "<1896.697170952@postoffice.reston.mci.net>";
  CHECK(cramMd5Digest(challenge, "tanstaaftanstaaf") == "b913a602c7eda7a495b4e6e7334d3890");
  auto c = parseCramMd5Response("tim b913a602c7eda7a495b4e6e7334d3890");
  REQUIRE(c.ok());
  CHECK(c->user == "tim");
  CHECK(c->digest == "b913a602c7eda7a495b4e6e7334d3890");
  auto upper = parseCramMd5Response("tim B913A602C7EDA7A495B4E6E7334D3890");
  REQUIRE(upper.ok());
  CHECK(upper->digest == c->digest);
}

TEST_CASE("CRAM-MD5: malformed responses") {
  CHECK_FALSE(parseCramMd5Response("tim").ok());
  CHECK_FALSE(parseCramMd5Response(" b913a602c7eda7a495b4e6e7334d3890").ok());
  CHECK_FALSE(parseCramMd5Response("tim b913a602c7eda7a495b4e6e7334d389").ok());
  CHECK_FALSE(parseCramMd5Response("tim g913a602c7eda7a495b4e6e7334d3890").ok());
}

TEST_CASE("CRAM-MD5 challenges differ and name the host") {
  auto a = cramMd5Challenge("mx.example");
  auto b = cramMd5Challenge("mx.example");
  CHECK(a != b);
  CHECK(a.front() == '<');
  CHECK(a.find("@mx.example>") != std::string::npos);
}

TEST_CASE("constant-time comparison") {
  CHECK(constantTimeEquals("secret", "secret"));
  CHECK_FALSE(constantTimeEquals("secret", "secreT"));
  CHECK_FALSE(constantTimeEquals("secret", "secret2"));
  CHECK(constantTimeEquals("", ""));
}
