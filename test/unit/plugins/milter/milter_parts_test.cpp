// The milter plugin's pure parts: socket notation, milter.ini, header splitting, ESMTP args.
#include "plugins/milter/filter_socket.hpp"
#include "plugins/milter/header_fields.hpp"
#include "plugins/milter/milter_config.hpp"
#include "plugins/milter/modifications.hpp"

#include <doctest/doctest.h>

using namespace upesi::plugins::milter;

TEST_CASE("milter socket: Postfix and Sendmail notations") {
  auto inet = parseFilterSocket("inet:127.0.0.1:8891");
  REQUIRE(inet);
  CHECK(inet->ip == "127.0.0.1");
  CHECK(inet->port == 8891);
  CHECK_FALSE(inet->unix_path);

  auto sendmail = parseFilterSocket("inet:8891@127.0.0.1");
  REQUIRE(sendmail);
  CHECK(sendmail->ip == "127.0.0.1");
  CHECK(sendmail->port == 8891);

  auto six = parseFilterSocket("inet6:[::1]:11332");
  REQUIRE(six);
  CHECK(six->ip == "::1");
  CHECK(six->port == 11332);

  CHECK(parseFilterSocket("inet:localhost:25")->ip == "127.0.0.1");
  auto unix_socket = parseFilterSocket(" unix:/run/milter.sock ");
  REQUIRE(unix_socket);
  CHECK(unix_socket->unix_path);
  CHECK(unix_socket->path == "/run/milter.sock");
  CHECK(parseFilterSocket("local:/x")->unix_path);
}

TEST_CASE("milter socket: what does not parse") {
  for (const char* bad : {"", "127.0.0.1:25", "inet:127.0.0.1", "inet:127.0.0.1:0",
                          "inet:127.0.0.1:65536", "inet:127.0.0.1:x", "inet:milter.example:25",
                          "inet6:[::1:25", "unix:", "tcp:127.0.0.1:25"}) {
    CAPTURE(bad);
    CHECK_FALSE(parseFilterSocket(bad));
  }
}

TEST_CASE("milter config: defaults, overrides, problems") {
  nlohmann::json ini = {
      {"main",
       {{"milters", "one, two,three, missing, one"},
        {"command_timeout", "10 ; seconds"},
        {"default_action", "accept"}}},
      {"one", {{"socket", "inet:127.0.0.1:1"}, {"default_action", "reject"}, {"protocol", "2"}}},
      {"two",
       {{"socket", "inet:127.0.0.1:2"},
        {"connect_timeout", "nope"},
        {"protocol", "9"},
        {"mail_macros", "i {mail_addr}"}}},
      {"three", {{"socket", "bogus"}}}};
  auto reading = readMilterConfig(ini);
  REQUIRE(reading.filters.size() == 2);
  const auto& one = reading.filters[0];
  CHECK(one.name == "one");
  CHECK(one.default_action == DefaultAction::Reject);
  CHECK(one.protocol == 2);
  CHECK(one.command_timeout == std::chrono::seconds(10));
  CHECK(one.content_timeout == std::chrono::seconds(300));
  const auto& two = reading.filters[1];
  CHECK(two.default_action == DefaultAction::Accept);
  CHECK(two.protocol == 6);
  CHECK(two.connect_timeout == std::chrono::seconds(30));
  CHECK(two.macros[2] == std::vector<std::string>{"i", "{mail_addr}"});
  CHECK(two.macros[0] == defaultMacroLists()[0]);
  CHECK(reading.problems.size() == 5); // nope, 9, bogus socket, missing section, listed twice
}

TEST_CASE("milter config: none listed is no filter") {
  CHECK(readMilterConfig(nlohmann::json::object()).filters.empty());
  CHECK(readMilterConfig(nlohmann::json::object()).problems.empty());
}

TEST_CASE("milter header fields: names, values with folding, the body") {
  auto split = splitMessage("Subject: hi\r\nX-Long: a\r\n\tb\r\nFrom:x@y\r\n\r\nbody\r\n");
  REQUIRE(split.fields.size() == 3);
  CHECK(split.fields[0].name == "Subject");
  CHECK(split.fields[0].value == " hi");
  CHECK(split.fields[1].value == " a\n\tb");
  CHECK(split.fields[2].value == "x@y");
  CHECK(split.body == "body\r\n");
  CHECK(headerValueForFilter(" hi", false) == "hi");
  CHECK(headerValueForFilter(" hi", true) == " hi");

  CHECK(splitMessage("Subject: x\r\n").body.empty());
  auto no_header = splitMessage("not a header line\r\nmore\r\n");
  CHECK(no_header.fields.empty());
  CHECK(no_header.body == "not a header line\r\nmore\r\n");
}

TEST_CASE("milter ESMTP arguments") {
  auto params = parseEsmtpArgs("size=10  BODY=8BITMIME SMTPUTF8");
  REQUIRE(params.size() == 3);
  CHECK(params[0] == std::pair<std::string, std::string>{"SIZE", "10"});
  CHECK(params[1].first == "BODY");
  CHECK(params[2] == std::pair<std::string, std::string>{"SMTPUTF8", ""});
  CHECK(parseEsmtpArgs("").empty());
}
