#include "worker/outbound/dsn_message.hpp"

#include <doctest/doctest.h>

using namespace upesi::outbound;

TEST_CASE("bounce: RFC 3464 report with the template, the status part and the headers") {
  BounceInput in;
  in.me = "mx.test.example";
  in.sender = "alice@client.example";
  in.original_headers = "From: alice@client.example\r\nSubject: hello\r\n";
  in.subject = "hello";
  in.original_envelope_id = "UUID.1.1";
  in.reason = "Permanent failure";
  in.recipients.push_back(
      {"bob@example.net", "failed", "5.1.1", "mx.example.net", "550 5.1.1 no such user"});
  std::string out = buildBounce("", in);
  CHECK(out.find("To: <alice@client.example>\r\n") != std::string::npos);
  CHECK(out.find("From: Mail Delivery Subsystem <MAILER-DAEMON@mx.test.example>\r\n") !=
        std::string::npos);
  CHECK(out.find("Content-Type: multipart/report; report-type=delivery-status;") !=
        std::string::npos);
  CHECK(out.find("Auto-Submitted: auto-replied\r\n") != std::string::npos);
  CHECK(out.find("Reporting-MTA: dns; mx.test.example\r\n") != std::string::npos);
  CHECK(out.find("Original-Envelope-Id: UUID.1.1\r\n") != std::string::npos);
  CHECK(out.find("Final-Recipient: rfc822; bob@example.net\r\nAction: failed\r\nStatus: "
                 "5.1.1\r\nRemote-MTA: dns; mx.example.net\r\nDiagnostic-Code: smtp; 550 5.1.1 "
                 "no such user\r\n") != std::string::npos);
  CHECK(out.find("Content-Type: text/rfc822-headers\r\n\r\nFrom: alice@client.example\r\n"
                 "Subject: hello\r\n") != std::string::npos);
  CHECK(out.find("bob@example.net: Permanent failure") != std::string::npos);
  // Every line ends in CRLF; no bare LF.
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\n') {
      REQUIRE(i > 0);
      CHECK(out[i - 1] == '\r');
    }
  }
  auto boundary_at = out.find("boundary=\"") + 10;
  std::string boundary = out.substr(boundary_at, out.find('"', boundary_at) - boundary_at);
  CHECK(out.ends_with("--" + boundary + "--\r\n"));
}

TEST_CASE("bounce: header injection through a recipient or reason is flattened") {
  BounceInput in;
  in.me = "mx";
  in.sender = "a@b";
  in.reason = "bad\r\nBcc: victim@x";
  in.recipients.push_back({"x@y\r\nBcc: v@x", "failed", "5.0.0", "", "550\r\nX: y"});
  std::string out = buildBounce("", in);
  CHECK(out.find("\r\nBcc:") == std::string::npos);
  CHECK(out.find("\r\nX: y") == std::string::npos);
}

TEST_CASE("bounce: a final deferral becomes a permanent status") {
  CHECK(permanentStatus("4.4.1") == "5.4.1");
  CHECK(permanentStatus("5.1.1") == "5.1.1");
  CHECK(permanentStatus("") == "");
}
