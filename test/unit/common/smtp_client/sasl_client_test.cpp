#include "common/smtp_client/sasl_client.hpp"
#include "common/util/base64.hpp"

#include <doctest/doctest.h>

using namespace upesi;
using namespace upesi::smtp_client;

namespace {
// doctest would print a mechanism with toString(), found by ADL, so compare the names.
std::string name(SaslMechanism mechanism) {
  return toString(mechanism);
}
} // namespace

TEST_CASE("sasl_client: AUTH mechanisms from an EHLO line") {
  CHECK(parseAuthMechanisms("PLAIN LOGIN CRAM-MD5") ==
        std::vector<std::string>{"PLAIN", "LOGIN", "CRAM-MD5"});
  CHECK(parseAuthMechanisms("login  plain login ") == std::vector<std::string>{"LOGIN", "PLAIN"});
  CHECK(parseAuthMechanisms("").empty());
  CHECK(parseAuthMechanisms("   ").empty());
  CHECK(parseAuthMechanisms("XOAUTH2") == std::vector<std::string>{"XOAUTH2"});
}

TEST_CASE("sasl_client: the best mechanism offered, CRAM-MD5 > PLAIN > LOGIN") {
  auto best = [](const std::string& line) {
    auto m = chooseSaslMechanism(parseAuthMechanisms(line), "");
    REQUIRE(m.ok());
    return name(*m);
  };
  CHECK(best("LOGIN PLAIN CRAM-MD5") == "CRAM-MD5");
  CHECK(best("LOGIN PLAIN") == "PLAIN");
  CHECK(best("LOGIN XOAUTH2") == "LOGIN");
  CHECK(best("GSSAPI plain") == "PLAIN");

  auto none = chooseSaslMechanism({}, "");
  REQUIRE_FALSE(none.ok());
  CHECK(none.error() == "the server does not offer AUTH");
  auto alien = chooseSaslMechanism({"XOAUTH2", "GSSAPI"}, "");
  REQUIRE_FALSE(alien.ok());
  CHECK(alien.error().find("XOAUTH2 GSSAPI") != std::string::npos);
}

TEST_CASE("sasl_client: a forced mechanism must be offered and known") {
  std::vector<std::string> offered{"PLAIN", "LOGIN", "CRAM-MD5"};
  auto login = chooseSaslMechanism(offered, "login");
  REQUIRE(login.ok());
  CHECK(name(*login) == "LOGIN");
  auto missing = chooseSaslMechanism({"PLAIN"}, "CRAM-MD5");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error() == "the server does not offer AUTH CRAM-MD5");
  CHECK_FALSE(chooseSaslMechanism(offered, "XOAUTH2").ok());
  REQUIRE(saslMechanismFromName("cram-md5").has_value());
  CHECK(name(*saslMechanismFromName("cram-md5")) == "CRAM-MD5");
  CHECK_FALSE(saslMechanismFromName("CRAM-MD55").has_value());
}

TEST_CASE("sasl_client: PLAIN sends everything in the command (RFC 4616)") {
  SaslClient plain(SaslMechanism::Plain, "tim", "tanstaaftanstaaf");
  CHECK(plain.command() ==
        "AUTH PLAIN " + base64Encode(std::string("\0tim\0tanstaaftanstaaf", 21)));
  CHECK(plain.command() == "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
  CHECK_FALSE(plain.respond("").ok()); // nothing more to say
}

TEST_CASE("sasl_client: LOGIN answers the user, then the password, then nothing") {
  SaslClient login(SaslMechanism::Login, "tim", "secret");
  CHECK(login.command() == "AUTH LOGIN");
  auto user = login.respond("VXNlcm5hbWU6"); // "Username:"
  REQUIRE(user.ok());
  CHECK(*user == "dGlt");
  auto pass = login.respond("not even base64!"); // the prompts' text does not matter
  REQUIRE(pass.ok());
  CHECK(*pass == "c2VjcmV0");
  CHECK_FALSE(login.respond("UGFzc3dvcmQ6").ok());
}

TEST_CASE("sasl_client: CRAM-MD5 with RFC 2195's example") {
  SaslClient cram(SaslMechanism::CramMd5, "tim", "tanstaaftanstaaf");
  CHECK(cram.command() == "AUTH CRAM-MD5");
  // The challenge and the response as RFC 2195 §2 shows them on the wire: the response is
  // base64 of "tim b913a602c7eda7a495b4e6e7334d3890".
  auto response = cram.respond("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+");
  REQUIRE(response.ok());
  CHECK(*response == "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
  CHECK(base64Decode(*response) == "tim b913a602c7eda7a495b4e6e7334d3890");
  CHECK_FALSE(cram.respond("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+").ok());
}

TEST_CASE("sasl_client: CRAM-MD5 refuses a challenge that is not base64") {
  for (std::string bad : {"", "<1896.697170952@postoffice>", "PDE4OTY", "====", "PD\r\nE4"}) {
    SaslClient cram(SaslMechanism::CramMd5, "tim", "pw");
    CHECK_FALSE(cram.respond(bad).ok());
  }
  // A long challenge is no trouble: HMAC takes any length.
  SaslClient cram(SaslMechanism::CramMd5, "tim", "pw");
  CHECK(cram.respond(base64Encode(std::string(10000, 'x'))).ok());
}
