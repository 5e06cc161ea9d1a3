#include "plugins/support/forward_config.hpp"
#include "test/support/fake_connection.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace upesi;
using namespace upesi::plugins;
using namespace upesi::test;

namespace {

const ForwardKind Smtp{"smtp_forward.ini", false, "", 25};
const ForwardKind Lmtp{"lmtp.ini", true, "127.0.0.1", 24};

ForwardConfigReading readForward(const char* ini, const ForwardKind& kind = Smtp) {
  return readForwardConfig(nlohmann::json::parse(ini), kind);
}

std::string problems(const ForwardConfigReading& reading) {
  std::string out;
  for (const auto& p : reading.problems) {
    out += out.empty() ? p : "\n" + p;
  }
  return out;
}

/// An address whose host was not lower-cased, as a plugin may have rewritten it.
Address mixedCase(std::string user, std::string host) {
  Address a = makeAddress(std::move(user), host);
  a.host = host;
  return a;
}

} // namespace

TEST_CASE("plugins/support/forward_config: defaults come from the kind") {
  for (const char* ini :
       {"null", "[]", "\"text\"", "{}", R"({"main": "not a section"})", R"({"main": {}})"}) {
    CAPTURE(ini);
    const auto smtp = readForward(ini);
    CHECK(smtp.problems.empty());
    CHECK(smtp.config.main.host == "");
    CHECK(smtp.config.main.port == 25);
    CHECK(smtp.config.main.enable_outbound);
    CHECK(smtp.config.main.connect_timeout == std::chrono::seconds(30));
    CHECK(smtp.config.main.command_timeout == std::chrono::seconds(30));
    CHECK(smtp.config.main.section == "main");
    CHECK(smtp.config.domains.empty());
    CHECK_FALSE(smtp.config.select_by_sender);
    const auto lmtp = readForward(ini, Lmtp);
    CHECK(lmtp.config.main.host == "127.0.0.1");
    CHECK(lmtp.config.main.port == 24);
  }
}

TEST_CASE("plugins/support/forward_config: host is any scalar, as text") {
  struct Case {
    const char* host;
    std::string want;
  };
  for (const Case& c :
       {Case{R"("mx.example")", "mx.example"}, Case{R"("")", ""}, Case{"42", "42"},
        Case{"true", "true"}, Case{"null", ""}, Case{"2.5", ""}, Case{"[]", ""}, Case{"{}", ""}}) {
    CAPTURE(c.host);
    const auto reading =
        readForward(("{\"main\": {\"host\": " + std::string(c.host) + "}}").c_str(), Lmtp);
    CHECK(reading.problems.empty());
    CHECK(reading.config.main.host == c.want);
  }
}

TEST_CASE("plugins/support/forward_config: port is 1..65535, anything else is a problem") {
  struct Case {
    const char* port;
    int want; // 0: refused, the default stays
  };
  for (const Case& c : {
           Case{R"("2525")", 2525},
           Case{"2525", 2525},
           Case{R"("1")", 1},
           Case{R"("65535")", 65535},
           Case{R"("000000587")", 587},
           Case{R"("0")", 0},
           Case{"0", 0},
           Case{R"("65536")", 0},
           Case{"70000", 0},
           Case{R"("-1")", 0},
           Case{"-1", 0},
           Case{"18446744073709551615", 0},
           Case{R"("25a")", 0},
           Case{R"(" 25")", 0},
           Case{R"("")", 0},
           Case{R"("1234567890")", 0},
           Case{"25.5", 0},
           Case{"1e300", 0},
           Case{"true", 0},
           Case{"null", 0},
           Case{"[25]", 0},
           Case{R"({"port": 25})", 0},
       }) {
    CAPTURE(c.port);
    const auto reading =
        readForward(("{\"main\": {\"port\": " + std::string(c.port) + "}}").c_str(), Lmtp);
    if (c.want == 0) {
      CHECK(problems(reading) == "[main] port: not a port number");
      CHECK(reading.config.main.port == 24);
    } else {
      CHECK(reading.problems.empty());
      CHECK(reading.config.main.port == c.want);
    }
  }
}

TEST_CASE("plugins/support/forward_config: timeouts are 1..3600 seconds") {
  struct Case {
    const char* value;
    int want; // 0: refused, 30 s stays
  };
  for (const char* key : {"connect_timeout", "command_timeout"}) {
    for (const Case& c : {Case{R"("5")", 5}, Case{"1", 1}, Case{"3600", 3600}, Case{"3601", 0},
                          Case{"0", 0}, Case{R"("-5")", 0}, Case{R"("5s")", 0}, Case{R"("")", 0},
                          Case{"2.5", 0}, Case{"false", 0}, Case{"{}", 0}}) {
      CAPTURE(key);
      CAPTURE(c.value);
      const std::string ini =
          "{\"main\": {\"" + std::string(key) + "\": " + std::string(c.value) + "}}";
      const auto reading = readForward(ini.c_str());
      const auto& route = reading.config.main;
      const auto& got =
          std::string(key) == "connect_timeout" ? route.connect_timeout : route.command_timeout;
      const auto& other =
          std::string(key) == "connect_timeout" ? route.command_timeout : route.connect_timeout;
      CHECK(other == std::chrono::seconds(30));
      if (c.want == 0) {
        CHECK(problems(reading) == "[main] " + std::string(key) + ": not a number of seconds");
        CHECK(got == std::chrono::seconds(30));
      } else {
        CHECK(reading.problems.empty());
        CHECK(got == std::chrono::seconds(c.want));
      }
    }
  }
}

TEST_CASE("plugins/support/forward_config: enable_outbound is Haraka's truthiness") {
  struct Case {
    const char* value;
    bool want;
  };
  for (const Case& c :
       {Case{"true", true}, Case{"false", false}, Case{R"("yes")", true}, Case{R"("ON")", true},
        Case{R"("Enabled")", true}, Case{R"("ok")", true}, Case{R"("1")", true}, Case{"1", true},
        Case{R"("no")", false}, Case{R"("off")", false}, Case{R"("0")", false}, Case{"0", false},
        Case{"2", false}, Case{R"("maybe")", false}}) {
    CAPTURE(c.value);
    const auto reading =
        readForward(("{\"main\": {\"enable_outbound\": " + std::string(c.value) + "}}").c_str());
    CHECK(reading.problems.empty());
    CHECK(reading.config.main.enable_outbound == c.want);
  }
  // A value that is no word keeps what the route had: [main]'s, for a domain.
  for (const char* no_word : {R"("")", "null", "2.5", "[]", "{}"}) {
    CAPTURE(no_word);
    const std::string ini =
        R"({"main": {"enable_outbound": false}, "d.example": {"enable_outbound": )" +
        std::string(no_word) + "}}";
    const auto reading = readForward(ini.c_str());
    CHECK(reading.problems.empty());
    CHECK_FALSE(reading.config.domains.at("d.example").enable_outbound);
    CHECK(readForward(("{\"main\": {\"enable_outbound\": " + std::string(no_word) + "}}").c_str())
              .config.main.enable_outbound);
  }
}

TEST_CASE("plugins/support/forward_config: domain_selector is rcpt_to or mail_from") {
  struct Case {
    const char* value;
    bool by_sender;
    std::string problem;
  };
  for (const Case& c : {
           Case{R"("rcpt_to")", false, ""},
           Case{R"("RCPT_TO")", false, ""},
           Case{R"("mail_from")", true, ""},
           Case{R"("Mail_From")", true, ""},
           Case{R"("sender")", false,
                "[main] domain_selector: 'sender' is neither rcpt_to nor "
                "mail_from"},
           Case{R"(" mail_from")", false,
                "[main] domain_selector: ' mail_from' is neither rcpt_to nor mail_from"},
           Case{R"("")", false, "[main] domain_selector: '' is neither rcpt_to nor mail_from"},
           Case{"7", false, "[main] domain_selector: '7' is neither rcpt_to nor mail_from"},
           Case{"[]", false, "[main] domain_selector: '' is neither rcpt_to nor mail_from"},
       }) {
    CAPTURE(c.value);
    const auto reading =
        readForward(("{\"main\": {\"domain_selector\": " + std::string(c.value) + "}}").c_str());
    CHECK(reading.config.select_by_sender == c.by_sender);
    CHECK(problems(reading) == c.problem);
  }
  // Only [main] chooses; in a domain section the key means nothing.
  const auto reading = readForward(R"({"d.example": {"domain_selector": "mail_from"}})");
  CHECK(reading.problems.empty());
  CHECK_FALSE(reading.config.select_by_sender);
}

TEST_CASE("plugins/support/forward_config: a domain section inherits [main] and overrides it") {
  const auto reading = readForward(R"({
    "main": {"host": "mx.example", "port": "2525", "enable_outbound": false,
             "connect_timeout": "7", "command_timeout": "8"},
    "Other.Example": {"port": "2626", "command_timeout": "99"},
    "bad.example": {"host": "bad.mx", "port": "99999", "connect_timeout": "x"},
    "not_a_section": "value"
  })");
  CHECK(problems(reading) == "[bad.example] port: not a port number\n"
                             "[bad.example] connect_timeout: not a number of seconds");
  REQUIRE(reading.config.domains.size() == 2);
  const auto& other = reading.config.domains.at("other.example");
  CHECK(other.section == "other.example");
  CHECK(other.host == "mx.example");
  CHECK(other.port == 2626);
  CHECK_FALSE(other.enable_outbound);
  CHECK(other.connect_timeout == std::chrono::seconds(7));
  CHECK(other.command_timeout == std::chrono::seconds(99));
  const auto& bad = reading.config.domains.at("bad.example");
  CHECK(bad.host == "bad.mx");
  CHECK(bad.port == 2525);
  CHECK(bad.connect_timeout == std::chrono::seconds(7));
  CHECK(reading.config.main.port == 2525);
  CHECK(reading.config.main.section == "main");
}

TEST_CASE("plugins/support/forward_config: the route of a transaction") {
  const auto by_rcpt =
      readForward(R"({"main": {"host": "main.mx"}, "Other.Example": {"host": "o.mx"},
                                "client.example": {"host": "c.mx"}})")
          .config;
  auto by_sender = by_rcpt;
  by_sender.select_by_sender = true;
  struct Case {
    const ForwardConfig* config;
    Address sender;
    std::vector<Address> rcpts;
    std::string want;
  };
  const std::vector<Case> cases = {
      {&by_rcpt, makeAddress("a", "client.example"), {mixedCase("b", "OTHER.example")}, "o.mx"},
      {&by_rcpt,
       makeAddress("a", "client.example"),
       {makeAddress("b", "example.com"), makeAddress("c", "other.example")},
       "main.mx"},
      {&by_rcpt, makeAddress("a", "client.example"), {}, "main.mx"},
      {&by_sender, mixedCase("a", "Client.Example"), {makeAddress("b", "other.example")}, "c.mx"},
      {&by_sender,
       makeAddress("a", "elsewhere.example"),
       {makeAddress("b", "other.example")},
       "main.mx"},
      {&by_sender, nullAddress(), {makeAddress("b", "other.example")}, "main.mx"},
  };
  for (const auto& c : cases) {
    FakeTransaction txn("uuid");
    txn.mail_from = c.sender;
    txn.rcpt_to = c.rcpts;
    CAPTURE(c.sender.original);
    CHECK(selectRoute(*c.config, txn).host == c.want);
  }
}
