#include "worker/smtp/authentication_results.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace upesi;
using upesi::smtp::authResultsValue;
using upesi::smtp::removeForgedAuthResults;

TEST_CASE("authentication results: inbound fields claiming our authserv-id are removed") {
  auto header = mail::Header::parse(
      "Authentication-Results: MX.example.org; spf=pass smtp.mailfrom=a@example.com\r\n"
      "Authentication-Results: (comment) mx.example.org (another)\r\n"
      " ; dkim=pass header.d=example.com\r\n"
      "Authentication-Results: \"mx.example.org\" 1; none\r\n"
      "Authentication-Results: relay.example.net; spf=fail smtp.mailfrom=a@example.com\r\n"
      "Authentication-Results: mx.example.org.evil; dmarc=pass\r\n"
      "Subject: hi\r\n");
  CHECK(removeForgedAuthResults(header, "mx.example.org") == 3);
  CHECK(header.getAll("Authentication-Results") ==
        std::vector<std::string>{"relay.example.net; spf=fail smtp.mailfrom=a@example.com",
                                 "mx.example.org.evil; dmarc=pass"});
  CHECK(header.get("Subject") == "hi");
}

TEST_CASE("authentication results: one field from the recorded entries, in method order") {
  Results connection;
  Results transaction;
  CHECK_FALSE(authResultsValue(connection, transaction, "mx.example.org"));
  transaction.push("dmarc", {{"auth_results",
                              {{"method", "dmarc"},
                               {"result", "pass"},
                               {"comment", "p=reject dis=none"},
                               {"properties", {{"header.from", "example.com"}}}}}});
  transaction.push("spf", {{"auth_results",
                            {{"method", "spf"},
                             {"result", "pass"},
                             {"properties", {{"smtp.mailfrom", "a@example.com"}}}}}});
  connection.push(
      "auth",
      {{"auth_results",
        {{"method", "auth"}, {"result", "pass"}, {"properties", {{"smtp.auth", "alice"}}}}}});
  transaction.push("dkim",
                   {{"auth_results",
                     {{"method", "dkim"},
                      {"result", "fail"},
                      {"reason", "body hash did not verify"},
                      {"properties", {{"header.d", "example.com"}, {"header.s", "sel"}}}}}});
  transaction.push("broken", {{"auth_results", "not an object"}});
  auto value = authResultsValue(connection, transaction, "mx.example.org");
  REQUIRE(value);
  std::string unfolded;
  for (char c : *value) {
    if (c != '\r' && c != '\n') {
      unfolded += c == '\t' ? ' ' : c;
    }
  }
  auto at = [&unfolded](const char* text) { return unfolded.find(text); };
  CHECK(unfolded.rfind("mx.example.org;", 0) == 0);
  CHECK(at("auth=pass smtp.auth=alice") < at("spf=pass smtp.mailfrom=a@example.com"));
  CHECK(at("spf=pass") < at("dkim=fail"));
  CHECK(at("dkim=fail reason=\"body hash did not verify\"") != std::string::npos);
  CHECK(at("header.d=example.com") < at("dmarc=pass"));
  CHECK(at("dmarc=pass (p=reject dis=none) header.from=example.com") != std::string::npos);
  CHECK(at("broken") == std::string::npos);
}
