#include "plugins/bounce/bounce_validation.hpp"

#include <doctest/doctest.h>

using namespace upesi::plugins::bounce;

namespace {
const std::string Secret = "0123456789abcdef0123456789abcdef";
constexpr std::int64_t Day = 86400;
// Mon, 23 Nov 2026 10:20:07 +0000
constexpr std::int64_t Sent = 1795429207;
const std::string SentDate = "Mon, 23 Nov 2026 10:20:07 +0000";

BounceFields signedFields() {
  BounceFields fields{"a@example.com", SentDate, "<1@example.com>", ""};
  fields.hash = *computeHash("sha256", Secret, fields.from, fields.date, fields.message_id);
  return fields;
}

VerifyOptions at(std::int64_t now) {
  VerifyOptions options;
  options.secret = Secret;
  options.now = now;
  options.rcpt = "a@example.com";
  options.from_address = "mailer-daemon@remote.example";
  return options;
}
} // namespace

TEST_CASE("plugins/bounce: the hash is Haraka's hex HMAC over from:date:message_id") {
  // As node computes it: crypto.createHmac('sha256', 'key').update('a:b:c').digest('hex').
  CHECK(computeHash("sha256", "key", "a", "b", "c") ==
        "f56e385b298bc8abd9e6dc793c141d66c73460ce43a99f90c8388d5bef6a73cd");
  CHECK(computeHash("sha256", "key", "a", "b", "c") == computeHash("SHA256", "key", "a", "b", "c"));
  CHECK(computeHash("sha512", "key", "a", "b", "c")->size() == 128);
  CHECK_FALSE(computeHash("nohash", "key", "a", "b", "c"));
  CHECK(hashInput("  Foo <a@example.com>\r\n\tbar") == "Foo <a@example.com>\tbar");
}

TEST_CASE("plugins/bounce: fields of the original message found in a bounce's text") {
  const std::string text =
      "Reporting-MTA: dns; x\r\n\r\nReceived: from a\r\nFrom: A\r\n <a@b.c>\r\n"
      "date: Mon, 1 Jan 2001 00:00:00 +0000\r\nMessage-ID: <9@b.c>\r\n"
      "X-Haraka-Bounce-Validation: abc\r\nSubject: s\r\n";
  CHECK(extractHeader(text, "From") == "A <a@b.c>");
  CHECK(extractHeader(text, "Date") == "Mon, 1 Jan 2001 00:00:00 +0000");
  CHECK(extractHeader(text, "Message-ID") == "<9@b.c>");
  CHECK(extractHeader(text, HashHeader) == "abc");
  CHECK(extractHeader(text, "Reply-To") == "");
  CHECK(extractHeader("XFrom: x\nFrom:\n", "From") == "");
}

TEST_CASE("plugins/bounce: verdicts on the hash, its age and the whitelist") {
  auto fields = signedFields();
  CHECK(verify(fields, at(Sent + Day)).type == Verdict::Type::Pass);
  CHECK(verify(fields, at(Sent + 6 * Day + Day - 1)).type == Verdict::Type::Pass);
  auto stale = verify(fields, at(Sent + 7 * Day));
  CHECK(stale.type == Verdict::Type::Fail);
  CHECK(stale.value == "bounce_date");
  CHECK(stale.msg == "hash is too old");
  CHECK(stale.reject_on == "hash_date");
  auto no_date_check = at(Sent + 70 * Day);
  no_date_check.check_date = false;
  CHECK(verify(fields, no_date_check).type == Verdict::Type::Pass);

  auto forged = fields;
  forged.hash[0] = forged.hash[0] == 'a' ? 'b' : 'a';
  CHECK(verify(forged, at(Sent)).msg == "hash does not match");
  CHECK(verify(forged, at(Sent)).reject_on == "hash_validation");
  forged.hash += "0";
  CHECK(verify(forged, at(Sent)).msg == "hash length mismatch");
  auto other_secret = at(Sent);
  other_secret.secret = Secret + "x";
  CHECK(verify(fields, other_secret).value == "validate_bounce");

  auto bad_date = fields;
  bad_date.date = "someday";
  bad_date.hash = *computeHash("sha256", Secret, bad_date.from, bad_date.date, bad_date.message_id);
  CHECK(verify(bad_date, at(Sent)).msg == "invalid date header");

  auto partial = fields;
  partial.message_id.clear();
  CHECK(verify(partial, at(Sent)).msg == "missing headers");

  auto unsigned_fields = fields;
  unsigned_fields.hash.clear();
  CHECK(verify(unsigned_fields, at(Sent)).msg == "missing validation hash");
  auto listed = at(Sent);
  listed.whitelist = {{"a@example.com", {"*@remote.example"}}};
  CHECK(verify(unsigned_fields, listed).msg == "whitelisted");
  listed.whitelist = {{"a@example.com", {"Mailer-Daemon@remote.example"}}};
  CHECK(verify(unsigned_fields, listed).type == Verdict::Type::Skip);
  listed.whitelist = {{"b@example.com", {"*@remote.example"}}};
  CHECK(verify(unsigned_fields, listed).type == Verdict::Type::Fail);
  CHECK(verify(BounceFields{}, at(Sent)).msg == "missing all headers");
}

TEST_CASE("plugins/bounce: public addresses after Received, each once, bounded") {
  std::vector<std::string> ips;
  receivedIpsIn("Received: from a (a.example [203.0.113.5])\r\n\tby b\r\n"
                "Received: from c ([IPv6:2001:db8::1]) by d\r\n"
                "Received: from local (localhost [127.0.0.1])\r\n"
                "Received: from lan ([10.1.2.3])\r\n"
                "Received: from again (x [203.0.113.5])\r\n"
                "X-Received: from e ([198.51.100.9])\r\n"
                "Subject: (192.0.2.1)\r\n",
                ips, 10);
  CHECK(ips == std::vector<std::string>{"203.0.113.5", "2001:db8::1"});
  std::vector<std::string> bounded;
  receivedIpsIn("Received: ([203.0.113.1])\nReceived: ([203.0.113.2])\nReceived: ([203.0.113.3])\n",
                bounded, 2);
  CHECK(bounded.size() == 2);
}
