#include "common/auth/received_spf.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace upesi::spf;

namespace {

ReceivedSpfFields fields() {
  ReceivedSpfFields f;
  f.receiver = "mx.example.org";
  f.client_ip = "192.0.2.1";
  f.envelope_from = "user@example.com";
  f.helo = "client.example.net";
  f.identity = "mailfrom";
  return f;
}

} // namespace

TEST_CASE("Received-SPF: RFC 7208 section 9.1's pass example, folded") {
  CheckOutcome outcome;
  outcome.result = CheckResult::Pass;
  outcome.domain = "example.com";
  outcome.mechanism = "ip4:192.0.2.0/24";
  CHECK(receivedSpfValue(outcome, fields()) ==
        "pass (mx.example.org: domain of user@example.com designates 192.0.2.1 as permitted "
        "sender)\r\n\treceiver=mx.example.org;\r\n\tclient-ip=192.0.2.1;\r\n\t"
        "envelope-from=\"user@example.com\";\r\n\thelo=client.example.net;\r\n\t"
        "identity=mailfrom;\r\n\tmechanism=\"ip4:192.0.2.0/24\"");
}

TEST_CASE("Received-SPF: a permerror names the problem, quoted, and a comment stays a comment") {
  CheckOutcome outcome;
  outcome.result = CheckResult::PermError;
  outcome.domain = "ex(ample).com";
  outcome.problem = "bad SPF record at example.com: \"ip4:1.2.3\"";
  auto value = receivedSpfValue(outcome, fields());
  CHECK(value.rfind("permerror (mx.example.org: permanent error in processing domain of "
                    "ex\\(ample\\).com)",
                    0) == 0);
  CHECK(value.find("problem=\"bad SPF record at example.com: \\\"ip4:1.2.3\\\"\"") !=
        std::string::npos);
}

TEST_CASE("Received-SPF: values that are dot-atoms stay bare, others are quoted") {
  CHECK(keyValue("mx.example.org") == "mx.example.org");
  CHECK(keyValue("192.0.2.1") == "192.0.2.1");
  CHECK(keyValue("2001:db8::1") == "\"2001:db8::1\"");
  CHECK(keyValue("") == "\"\"");
  CHECK(keyValue(".leading") == "\".leading\"");
  CHECK(keyValue("two..dots") == "\"two..dots\"");
  CHECK(keyValue("line\r\nbreak") == "\"line  break\"");
}

TEST_CASE("Received-SPF: the HELO identity without a sender leaves envelope-from out") {
  CheckOutcome outcome;
  outcome.result = CheckResult::Fail;
  outcome.domain = "client.example.net";
  auto f = fields();
  f.identity = "helo";
  f.envelope_from.clear();
  auto value = receivedSpfValue(outcome, f);
  CHECK(value.rfind("fail (mx.example.org: domain of client.example.net does not designate "
                    "192.0.2.1 as permitted sender)",
                    0) == 0);
  CHECK(value.find("envelope-from") == std::string::npos);
  CHECK(value.find("identity=helo") != std::string::npos);
}
