#include "common/util/base64.hpp"
#include "worker/smtp/auth_exchange.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using upesi::AuthAttempt;
using upesi::base64Encode;
using upesi::smtp::AuthExchange;
using upesi::smtp::AuthNext;
using upesi::smtp::AuthPrompt;
using upesi::smtp::AuthRefusal;

namespace {

using namespace std::string_literals;

// RFC 2195's example exchange.
const std::string kChallenge = "<1896.697170952@postoffice.reston.mci.net>";
const std::string kCramResponse = base64Encode("tim b913a602c7eda7a495b4e6e7334d3890");

std::string prompt(const AuthNext& next) {
  const auto* p = std::get_if<AuthPrompt>(&next);
  REQUIRE_MESSAGE(p != nullptr, "expected a 334 prompt");
  return p->text;
}

AuthAttempt attempt(AuthNext next) {
  auto* a = std::get_if<AuthAttempt>(&next);
  REQUIRE_MESSAGE(a != nullptr, "expected an attempt to check");
  return std::move(*a);
}

AuthRefusal refusal(const AuthNext& next) {
  const auto* r = std::get_if<AuthRefusal>(&next);
  REQUIRE_MESSAGE(r != nullptr, "expected a refusal");
  return *r;
}

std::string plain(std::string_view authzid, std::string_view user, std::string_view password) {
  return base64Encode(std::string(authzid) + '\0' + std::string(user) + '\0' +
                      std::string(password));
}

} // namespace

TEST_CASE("auth: PLAIN with an initial response finishes at once") {
  AuthExchange exchange;
  auto a = attempt(exchange.start("PLAIN", plain("", "bob", "hunter2"), kChallenge));
  CHECK(a.method == "PLAIN");
  CHECK(a.user == "bob");
  CHECK(a.password == "hunter2");
  CHECK(a.matches("hunter2"));
  CHECK_FALSE(a.matches("hunter"));
  CHECK_FALSE(a.matches("hunter22"));
  CHECK_FALSE(exchange.awaitingResponse());
}

TEST_CASE("auth: PLAIN without an initial response prompts with an empty 334") {
  AuthExchange exchange;
  CHECK(prompt(exchange.start("plain", "", kChallenge)).empty());
  CHECK(exchange.awaitingResponse());
  auto a = attempt(exchange.response(plain("", "bob", "hunter2")));
  CHECK(a.method == "PLAIN");
  CHECK(a.user == "bob");
  CHECK(a.password == "hunter2");
  CHECK_FALSE(exchange.awaitingResponse());
}

TEST_CASE("auth: PLAIN's authorization identity may only be the user") {
  AuthExchange exchange;
  CHECK(attempt(exchange.start("PLAIN", plain("bob", "bob", "pw"), kChallenge)).user == "bob");
  auto proxy = refusal(exchange.start("PLAIN", plain("alice", "bob", "pw"), kChallenge));
  CHECK(proxy.reply.code == 501);
  CHECK(proxy.reply.enhanced == "5.5.2");
  CHECK(proxy.counts_as_error);
  CHECK_FALSE(exchange.awaitingResponse());
}

TEST_CASE("auth: PLAIN responses that are not authzid NUL user NUL password") {
  AuthExchange exchange;
  for (const std::string& decoded : {"bob"s, "\0bob"s, "\0bob\0pw\0"s, "a\0b\0c\0d"s}) {
    CAPTURE(decoded.size());
    auto r = refusal(exchange.start("PLAIN", base64Encode(decoded), kChallenge));
    CHECK(r.reply.code == 501);
    CHECK(r.reply.lines.at(0).rfind("Invalid AUTH string: ", 0) == 0);
  }
  // "=" is the empty response (an empty one would not be a response at all): no NULs either.
  CHECK(refusal(exchange.start("PLAIN", "=", kChallenge)).reply.code == 501);
}

TEST_CASE("auth: PLAIN with empty fields leaves the empty user to the session to fail") {
  AuthExchange exchange;
  auto a = attempt(exchange.start("PLAIN", plain("", "", ""), kChallenge));
  CHECK(a.user.empty());
  CHECK(a.password.empty());
  CHECK(a.matches(""));
  CHECK_FALSE(a.matches("x"));
}

TEST_CASE("auth: LOGIN asks for the user and the password") {
  AuthExchange exchange;
  CHECK(prompt(exchange.start("LOGIN", "", kChallenge)) == "VXNlcm5hbWU6"); // "Username:"
  CHECK(prompt(exchange.response(base64Encode("alice@example.com"))) ==
        "UGFzc3dvcmQ6"); // "Password:"
  CHECK(exchange.awaitingResponse());
  auto a = attempt(exchange.response(base64Encode("s3cret")));
  CHECK(a.method == "LOGIN");
  CHECK(a.user == "alice@example.com");
  CHECK(a.password == "s3cret");
  CHECK(a.matches("s3cret"));
  CHECK_FALSE(exchange.awaitingResponse());
}

TEST_CASE("auth: LOGIN with the user as initial response asks for the password only") {
  AuthExchange exchange;
  CHECK(prompt(exchange.start("LOGIN", base64Encode("bob"), kChallenge)) == "UGFzc3dvcmQ6");
  auto a = attempt(exchange.response(base64Encode("hunter2")));
  CHECK(a.user == "bob");
  CHECK(a.password == "hunter2");
}

TEST_CASE("auth: LOGIN's empty responses give an empty user and password") {
  AuthExchange exchange;
  CHECK(prompt(exchange.start("LOGIN", "", kChallenge)) == "VXNlcm5hbWU6");
  CHECK(prompt(exchange.response("=")) == "UGFzc3dvcmQ6");
  auto a = attempt(exchange.response("="));
  CHECK(a.user.empty());
  CHECK(a.password.empty());
}

TEST_CASE("auth: NUL bytes in LOGIN fields are kept, not cut off") {
  AuthExchange exchange;
  CHECK(prompt(exchange.start("LOGIN", "", kChallenge)) == "VXNlcm5hbWU6");
  CHECK(prompt(exchange.response(base64Encode("bob\0admin"s))) == "UGFzc3dvcmQ6");
  auto a = attempt(exchange.response(base64Encode("pw\0"s)));
  CHECK(a.user == "bob\0admin"s);
  CHECK(a.password == "pw\0"s);
  CHECK_FALSE(a.matches("pw"));
  CHECK(a.matches("pw\0"s));
}

TEST_CASE("auth: CRAM-MD5 sends the challenge and checks the digest against it") {
  AuthExchange exchange;
  CHECK(prompt(exchange.start("CRAM-MD5", "", kChallenge)) == base64Encode(kChallenge));
  auto a = attempt(exchange.response(kCramResponse));
  CHECK(a.method == "CRAM-MD5");
  CHECK(a.user == "tim");
  CHECK(a.password.empty());
  CHECK(a.matches("tanstaaftanstaaf"));
  CHECK_FALSE(a.matches("tanstaaf"));
  CHECK_FALSE(exchange.awaitingResponse());
}

TEST_CASE("auth: a CRAM-MD5 digest is checked against this exchange's challenge only") {
  AuthExchange exchange;
  CHECK(prompt(exchange.start("CRAM-MD5", "", "<other.1@mx.example>")) ==
        base64Encode("<other.1@mx.example>"));
  auto a = attempt(exchange.response(kCramResponse));
  CHECK_FALSE(a.matches("tanstaaftanstaaf"));
}

TEST_CASE("auth: CRAM-MD5 refuses an initial response and malformed answers") {
  AuthExchange exchange;
  auto initial = refusal(exchange.start("CRAM-MD5", base64Encode("x"), kChallenge));
  CHECK(initial.reply.code == 501);
  CHECK(initial.reply.enhanced == "5.5.4");
  CHECK_FALSE(exchange.awaitingResponse());
  for (const std::string& decoded :
       {"tim"s, " b913a602c7eda7a495b4e6e7334d3890"s, "tim b913a602c7eda7a495b4e6e7334d389"s,
        "tim b913a602c7eda7a495b4e6e7334d3890aa"s, "tim z913a602c7eda7a495b4e6e7334d3890"s,
        "tim b913a602c7eda7a495b4e6e7334d3890\0"s, ""s}) {
    CAPTURE(decoded);
    CHECK(prompt(exchange.start("CRAM-MD5", "", kChallenge)) == base64Encode(kChallenge));
    auto r = refusal(exchange.response(base64Encode(decoded)));
    CHECK(r.reply.code == 501);
    CHECK(r.counts_as_error);
    CHECK_FALSE(exchange.awaitingResponse());
  }
}

TEST_CASE("auth: an unknown mechanism is refused with 504") {
  AuthExchange exchange;
  for (std::string_view mechanism : {"GSSAPI", "XOAUTH2", "", "PLAIN2", "PLAI"}) {
    CAPTURE(mechanism);
    auto r = refusal(exchange.start(mechanism, "", kChallenge));
    CHECK(r.reply.code == 504);
    CHECK(r.reply.enhanced == "5.5.4");
    CHECK_FALSE(exchange.awaitingResponse());
  }
}

TEST_CASE("auth: \"*\" cancels at every prompt, not counted as an error") {
  for (std::string_view mechanism : {"PLAIN", "LOGIN", "CRAM-MD5"}) {
    CAPTURE(mechanism);
    AuthExchange exchange;
    prompt(exchange.start(mechanism, "", kChallenge));
    auto r = refusal(exchange.response("*"));
    CHECK(r.reply.code == 501);
    CHECK(r.reply.enhanced == "5.0.0");
    CHECK_FALSE(r.counts_as_error);
    CHECK_FALSE(exchange.awaitingResponse());
  }
  AuthExchange login;
  prompt(login.start("LOGIN", "", kChallenge));
  prompt(login.response(base64Encode("bob")));
  CHECK_FALSE(refusal(login.response("*")).counts_as_error);
  CHECK_FALSE(login.awaitingResponse());
}

TEST_CASE("auth: a response that is not base64 ends the exchange with 501") {
  for (std::string_view bad : {"not*base64", "Ym9i!", "====", "Ym9", "Ym9i\r", " Ym9i", "**"}) {
    CAPTURE(bad);
    AuthExchange exchange;
    CHECK(prompt(exchange.start("LOGIN", "", kChallenge)) == "VXNlcm5hbWU6");
    auto r = refusal(exchange.response(bad));
    CHECK(r.reply.code == 501);
    CHECK(r.reply.enhanced == "5.5.2");
    CHECK(r.counts_as_error);
    CHECK_FALSE(exchange.awaitingResponse());
  }
  AuthExchange initial;
  CHECK(refusal(initial.start("PLAIN", "not*base64", kChallenge)).reply.code == 501);
  CHECK_FALSE(initial.awaitingResponse());
}

TEST_CASE("auth: a response with no exchange running is out of sequence") {
  AuthExchange exchange;
  auto r = refusal(exchange.response(base64Encode("bob")));
  CHECK(r.reply.code == 503);
  attempt(exchange.start("PLAIN", plain("", "bob", "pw"), kChallenge));
  CHECK(refusal(exchange.response(plain("", "bob", "pw"))).reply.code == 503);
}

TEST_CASE("auth: a new AUTH forgets the exchange before it") {
  AuthExchange exchange;
  prompt(exchange.start("LOGIN", "", kChallenge));
  prompt(exchange.response(base64Encode("mallory")));
  prompt(exchange.start("LOGIN", "", kChallenge));
  prompt(exchange.response(base64Encode("bob")));
  CHECK(attempt(exchange.response(base64Encode("pw"))).user == "bob");
  prompt(exchange.start("CRAM-MD5", "", kChallenge));
  CHECK(attempt(exchange.start("PLAIN", plain("", "bob", "pw"), "")).method == "PLAIN");
  CHECK(refusal(exchange.response(kCramResponse)).reply.code == 503);
}

TEST_CASE("auth: response lines may be 12288 octets, more than a command") {
  AuthExchange exchange;
  CHECK(exchange.lineLimit(512) == 512);
  prompt(exchange.start("PLAIN", "", kChallenge));
  CHECK(exchange.lineLimit(512) == AuthExchange::kMaxResponseLine);
  CHECK(exchange.lineLimit(20000) == 20000);
  attempt(exchange.response(plain("", "bob", "pw")));
  CHECK(exchange.lineLimit(512) == 512);
}

TEST_CASE("auth: an over-long response ends the exchange and is dropped to its line end") {
  AuthExchange exchange;
  prompt(exchange.start("PLAIN", "", kChallenge));
  CHECK_FALSE(exchange.skippingLine());
  CHECK(exchange.skipLine("AAAA\r\n") == 0);

  auto r = exchange.responseTooLong();
  CHECK(r.reply.code == 500);
  CHECK(r.reply.enhanced == "5.5.6");
  CHECK(r.counts_as_error);
  CHECK_FALSE(exchange.awaitingResponse());
  CHECK(exchange.lineLimit(512) == 512);

  // The rest arrives in pieces; its end and what follows come together.
  CHECK(exchange.skippingLine());
  CHECK(exchange.skipLine(std::string(5000, 'A')) == 5000);
  CHECK(exchange.skippingLine());
  CHECK(exchange.skipLine("") == 0);
  CHECK(exchange.skippingLine());
  CHECK(exchange.skipLine("AA\r") == 3);
  CHECK(exchange.skippingLine());
  CHECK(exchange.skipLine("\nNOOP\r\n") == 1);
  CHECK_FALSE(exchange.skippingLine());
  CHECK(exchange.skipLine("NOOP\r\n") == 0);
}
