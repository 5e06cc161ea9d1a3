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

namespace {

BounceInput sampleInput() {
  BounceInput in;
  in.me = "mx.test.example";
  in.sender = "alice@client.example";
  in.original_headers = "From: alice@client.example\r\nSubject: hello there\r\n";
  in.subject = "hello there";
  in.original_envelope_id = "UUID.1.1";
  in.arrival_date = "Mon, 23 Nov 2026 09:25:28 +0000";
  in.reason = "Some recipients failed";
  in.recipients.push_back(
      {"bob@example.net", "failed", "5.1.1", "mx.example.net", "550 5.1.1 no such user"});
  in.recipients.push_back(
      {"carol@example.net", "failed", "5.2.2", "mx.example.net", "552 5.2.2 mailbox full"});
  return in;
}

} // namespace

// Haraka's Outbound documentation, "Bounce Messages": from is the original sender, to the
// original recipient (the first, for several), subject the original's subject.
TEST_CASE("bounce: template fields as Haraka documents them") {
  std::string out =
      buildBounce("X-From: {from}\nX-To: {to}\nX-Subject: {subject}\n"
                  "X-Recipients: {recipients}\nX-Reason: {reason}\n\n{extended_reason}",
                  sampleInput());
  CHECK(out.find("X-From: <alice@client.example>\r\n") != std::string::npos);
  CHECK(out.find("X-To: <bob@example.net>\r\n") != std::string::npos);
  CHECK(out.find("X-Subject: hello there\r\n") != std::string::npos);
  CHECK(out.find("X-Recipients: bob@example.net, carol@example.net\r\n") != std::string::npos);
  CHECK(out.find("X-Reason: Some recipients failed\r\n") != std::string::npos);
  CHECK(out.find("bob@example.net: 550 5.1.1 no such user\r\ncarol@example.net: 552 5.2.2 "
                 "mailbox full\r\n") != std::string::npos);
}

TEST_CASE("bounce: the shipped template sends it to the sender and names the subject") {
  std::string out = buildBounce("", sampleInput());
  CHECK(out.find("\r\nTo: <alice@client.example>\r\n") != std::string::npos);
  CHECK(out.find("    \"hello there\"\r\n") != std::string::npos);
}

// Haraka's own config/outbound.bounce_message: header lines, an empty line, the text; Haraka
// adds the multipart/report structure around it.
TEST_CASE("bounce: a template written for Haraka gets the MIME structure Haraka adds") {
  const std::string haraka = "Received: (Haraka {pid} invoked for bounce); {date}\n"
                             "Date: {date}\n"
                             "From: MAILER-DAEMON@{me}\n"
                             "To: {from}\n"
                             "Auto-Submitted: auto-replied\n"
                             "Subject: failure notice\n"
                             "Message-Id: {msgid}\n"
                             "\n"
                             "Hi. This is the Haraka Mailer program at {me}.\n"
                             "I'm afraid I wasn't able to deliver your message\n"
                             "    \"{subject}\"\n"
                             "to the following addresses.\n"
                             "\n"
                             "Intended Recipients: {recipients}\n"
                             "Failure Reason: {reason}\n";
  std::string out = buildBounce(haraka, sampleInput());
  auto header_end = out.find("\r\n\r\n");
  REQUIRE(header_end != std::string::npos);
  std::string header = out.substr(0, header_end + 2);
  CHECK(header.find("To: <alice@client.example>\r\n") != std::string::npos);
  CHECK(header.find("Subject: failure notice\r\n") != std::string::npos);
  CHECK(header.find("MIME-Version: 1.0\r\n") != std::string::npos);
  CHECK(header.find("Content-Type: multipart/report; report-type=delivery-status;\r\n"
                    "    boundary=\"") != std::string::npos);
  auto msgid = header.find("Message-Id: <");
  REQUIRE(msgid != std::string::npos);
  CHECK(header.find("@mx.test.example>\r\n", msgid) != std::string::npos);
  auto boundary_at = header.find("boundary=\"") + 10;
  std::string boundary = header.substr(boundary_at, header.find('"', boundary_at) - boundary_at);
  CHECK(out.find("\r\n--" + boundary +
                 "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                 "Hi. This is the Haraka Mailer program at mx.test.example.\r\n") !=
        std::string::npos);
  CHECK(out.find("    \"hello there\"\r\n") != std::string::npos);
  CHECK(out.find("\r\n--" + boundary + "\r\nContent-Type: message/delivery-status\r\n") !=
        std::string::npos);
  CHECK(out.ends_with("--" + boundary + "--\r\n"));
}

// RFC 3464 section 2.2: Original-Envelope-Id, Reporting-MTA, then Arrival-Date.
TEST_CASE("bounce: per-message fields in RFC 3464 order, with the arrival date") {
  std::string out = buildBounce("", sampleInput());
  CHECK(out.find("Content-Type: message/delivery-status\r\n\r\n"
                 "Original-Envelope-Id: UUID.1.1\r\n"
                 "Reporting-MTA: dns; mx.test.example\r\n"
                 "Arrival-Date: Mon, 23 Nov 2026 09:25:28 +0000\r\n\r\n"
                 "Final-Recipient: rfc822; bob@example.net\r\n") != std::string::npos);
}

TEST_CASE("bounce: the whole original as message/rfc822 when it is given") {
  BounceInput in = sampleInput();
  in.original_message = "From: alice@client.example\r\nSubject: hello there\r\n\r\nthe body\r\n"
                        ".a line with a dot\r\n";
  std::string out = buildBounce("", in);
  CHECK(out.find("Content-Type: message/rfc822\r\n\r\nFrom: alice@client.example\r\nSubject: "
                 "hello there\r\n\r\nthe body\r\n.a line with a dot\r\n\r\n--") !=
        std::string::npos);
  CHECK(out.find("text/rfc822-headers") == std::string::npos);
  in.original_message.clear();
  out = buildBounce("", in);
  CHECK(out.find("Content-Type: text/rfc822-headers\r\n\r\nFrom: alice@client.example\r\n") !=
        std::string::npos);
  CHECK(out.find("the body") == std::string::npos);
}

TEST_CASE("bounce: a value is never read as a template field") {
  BounceInput in = sampleInput();
  in.subject = "{reason} {from} {boundary";
  std::string out = buildBounce("S: {subject}\n\nbody {unknown}\n", in);
  CHECK(out.find("S: {reason} {from} {boundary\r\n") != std::string::npos);
  CHECK(out.find("body {unknown}\r\n") != std::string::npos);
}

TEST_CASE("bounce: the queue file's dot-stuffing is undone for the returned message") {
  CHECK(unstuffDots("a\r\n..b\r\n...\r\n.\r\nx..y\r\n") == "a\r\n.b\r\n..\r\n.\r\nx..y\r\n");
  CHECK(unstuffDots("..first\r\n") == ".first\r\n");
}

TEST_CASE("bounce: ORCPT is the recipient's Original-Recipient, before its Final-Recipient") {
  BounceInput in;
  in.me = "mx.test.example";
  in.sender = "alice@client.example";
  in.original_envelope_id = "QQ314159";
  FailedRecipient r{"bob@example.net", "failed", "5.1.1", "", "550 no"};
  r.original_recipient = "rfc822;Bob+x@example.net\r\nX-Injected: 1";
  in.recipients.push_back(r);
  std::string out = buildBounce("", in);
  CHECK(out.find("Original-Envelope-Id: QQ314159\r\n") != std::string::npos);
  CHECK(out.find("\r\nOriginal-Recipient: rfc822;Bob+x@example.net  X-Injected: 1\r\n"
                 "Final-Recipient: rfc822; bob@example.net\r\nAction: failed\r\n") !=
        std::string::npos);
}

TEST_CASE("success notice: relayed or delivered, 2.0.0, the original's header alone") {
  BounceInput in;
  in.me = "mx.test.example";
  in.sender = "alice@client.example";
  in.original_headers = "From: alice@client.example\r\nSubject: hello\r\n";
  in.subject = "hello";
  in.original_envelope_id = "ENV-1";
  in.arrival_date = "Fri, 04 Dec 2026 17:00:00 +0000";
  in.original_message = "From: x\r\n\r\nsecret body\r\n"; // never returned in a success notice
  FailedRecipient r{"bob@example.net", "relayed", "2.0.0", "mx.example.net", "250 2.0.0 Ok"};
  r.original_recipient = "rfc822;bob@example.net";
  in.recipients.push_back(r);
  std::string out = buildSuccessNotice(in);
  CHECK(out.find("To: <alice@client.example>\r\n") != std::string::npos);
  CHECK(out.find("Subject: Successful Mail Delivery Report\r\n") != std::string::npos);
  CHECK(out.find("Content-Type: multipart/report; report-type=delivery-status;") !=
        std::string::npos);
  CHECK(out.find("Original-Envelope-Id: ENV-1\r\nReporting-MTA: dns; mx.test.example\r\n"
                 "Arrival-Date: Fri, 04 Dec 2026 17:00:00 +0000\r\n") != std::string::npos);
  CHECK(out.find("Original-Recipient: rfc822;bob@example.net\r\nFinal-Recipient: rfc822; "
                 "bob@example.net\r\nAction: relayed\r\nStatus: 2.0.0\r\nRemote-MTA: dns; "
                 "mx.example.net\r\n") != std::string::npos);
  CHECK(out.find("Content-Type: text/rfc822-headers\r\n\r\nFrom: alice@client.example\r\n"
                 "Subject: hello\r\n") != std::string::npos);
  CHECK(out.find("secret body") == std::string::npos);
  CHECK(out.find("Action: failed") == std::string::npos);
  auto boundary_at = out.find("boundary=\"") + 10;
  std::string boundary = out.substr(boundary_at, out.find('"', boundary_at) - boundary_at);
  CHECK(out.ends_with("--" + boundary + "--\r\n"));
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\n') {
      REQUIRE(i > 0);
      CHECK(out[i - 1] == '\r');
    }
  }
}
