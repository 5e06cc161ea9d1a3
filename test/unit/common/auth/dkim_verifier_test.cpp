// The verifier over whole messages: RFC 8463 appendix A, messages dkimpy signed
// (fixtures/dkimpy_fixtures.hpp), altered copies of them, and our signer's output.
#include "common/auth/dkim_signer.hpp"
#include "common/auth/dkim_verifier.hpp"
#include "common/util/base64.hpp"
#include "test/unit/common/auth/fixtures/dkimpy_fixtures.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

using namespace upesi::dkim;

namespace {

// RFC 8463 appendix A.
const std::string Rfc8463Message =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    " date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
    " DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
    " dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.  Are you hungry yet?\r\n"
    "\r\n"
    "Joe.\r\n";
const std::string Rfc8463Ed25519Record =
    "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const std::string Rfc8463RsaRecord =
    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR"
    "iGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC"
    "DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3"
    "Ip3G+2kryOTIKT+l/K4w3QIDAQAB";
const std::string Rfc8463RsaPem =
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIICXQIBAAKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQi\n"
    "Y/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqM\n"
    "KrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB\n"
    "AoGAH0cxOhFZDgzXWhDhnAJDw5s4roOXN4OhjiXa8W7Y3rhX3FJqmJSPuC8N9vQm\n"
    "6SVbaLAE4SG5mLMueHlh4KXffEpuLEiNp9Ss3O4YfLiQpbRqE7Tm5SxKjvvQoZZe\n"
    "zHorimOaChRL2it47iuWxzxSiRMv4c+j70GiWdxXnxe4UoECQQDzJB/0U58W7RZy\n"
    "6enGVj2kWF732CoWFZWzi1FicudrBFoy63QwcowpoCazKtvZGMNlPWnC7x/6o8Gc\n"
    "uSe0ga2xAkEA8C7PipPm1/1fTRQvj1o/dDmZp243044ZNyxjg+/OPN0oWCbXIGxy\n"
    "WvmZbXriOWoSALJTjExEgraHEgnXssuk7QJBALl5ICsYMu6hMxO73gnfNayNgPxd\n"
    "WFV6Z7ULnKyV7HSVYF0hgYOHjeYe9gaMtiJYoo0zGN+L3AAtNP9huqkWlzECQE1a\n"
    "licIeVlo1e+qJ6Mgqr0Q7Aa7falZ448ccbSFYEPD6oFxiOl9Y9se9iYHZKKfIcst\n"
    "o7DUw1/hz2Ck4N5JrgUCQQCyKveNvjzkkd8HjYs0SwM0fPjK16//5qDZ2UiDGnOe\n"
    "uEzxBDAr518Z8VFbR41in3W4Y3yCDgQlLlcETrS+zYcL\n"
    "-----END RSA PRIVATE KEY-----\n";

// The Ed25519 private key of appendix A.1 (a raw seed) as PKCS#8 PEM: the fixed DER prefix of
// RFC 8410 then the 32 bytes.
std::string rfc8463Ed25519Pem() {
  std::string der("\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20", 16);
  der += *upesi::base64Decode("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=");
  return "-----BEGIN PRIVATE KEY-----\n" + upesi::base64Encode(der) +
         "\n-----END PRIVATE KEY-----\n";
}

using Dns = std::map<std::string, KeyAnswer>;

KeyAnswer found(std::string txt) {
  return {KeyAnswer::Outcome::Found, {std::move(txt)}};
}

VerifyOptions at(std::int64_t now) {
  VerifyOptions options;
  options.now = [now] { return now; };
  return options;
}

// Feeds `message` in pieces of `chunk` bytes (0: whole), answers the lookups from `dns` (a
// name it lacks is NoRecord), and returns the results.
std::vector<SignatureResult> verify(std::string_view message, const Dns& dns, VerifyOptions options,
                                    std::size_t chunk = 0) {
  Verifier verifier(std::move(options));
  if (chunk == 0) {
    verifier.feed(message);
  } else {
    for (std::size_t i = 0; i < message.size(); i += chunk) {
      verifier.feed(message.substr(i, chunk));
    }
  }
  verifier.finish();
  for (const KeyLookup& lookup : verifier.keyLookups()) {
    auto answer = dns.find(lookup.name);
    verifier.supplyKey(lookup.index, answer == dns.end() ? KeyAnswer{} : answer->second);
  }
  return verifier.results();
}

SignatureResult verifyOne(std::string_view message, const Dns& dns, VerifyOptions options,
                          std::size_t chunk = 0) {
  auto results = verify(message, dns, std::move(options), chunk);
  REQUIRE(results.size() == 1);
  return results[0];
}

const Dns FixtureDns = {
    {"sel2025._domainkey.signer.example", found(std::string(dkimpy_fixtures::RsaKeyRecord))}};
const VerifyOptions FixtureTime = at(dkimpy_fixtures::SignTime + 60);

std::string replaced(std::string_view text, std::string_view from, std::string_view to) {
  std::string out(text);
  std::size_t at = out.find(from);
  REQUIRE(at != std::string::npos);
  out.replace(at, from.size(), to);
  return out;
}

std::string withBareLf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c != '\r') {
      out += c;
    }
  }
  return out;
}

// Signs `message` (CRLF) with our signer.
std::string signWithUs(const SigningKey& key, std::string_view message, SignOptions options) {
  const std::size_t split = message.find("\r\n\r\n");
  REQUIRE(split != std::string_view::npos);
  std::vector<std::string_view> fields;
  std::string_view header = message.substr(0, split + 2);
  while (!header.empty()) {
    std::size_t end = header.find("\r\n");
    while (end + 2 < header.size() && (header[end + 2] == ' ' || header[end + 2] == '\t')) {
      end = header.find("\r\n", end + 2);
    }
    fields.push_back(header.substr(0, end));
    header.remove_prefix(end + 2);
  }
  BodyHasher hasher(options.body_canon, options.body_length);
  hasher.update(message.substr(split + 4));
  const SignResult result = signMessage(key, fields, hasher.finish(), options);
  REQUIRE(result.ok());
  return "DKIM-Signature:" + result.value + "\r\n" + std::string(message);
}

} // namespace

TEST_CASE("dkim verifier: RFC 8463 appendix A, both signatures pass") {
  const Dns dns = {{"brisbane._domainkey.football.example.com", found(Rfc8463Ed25519Record)},
                   {"test._domainkey.football.example.com", found(Rfc8463RsaRecord)}};
  for (std::size_t chunk : {0, 1, 7}) {
    auto results = verify(Rfc8463Message, dns, at(1528637909), chunk);
    REQUIRE(results.size() == 2);
    CHECK(results[0].result == Result::Pass);
    CHECK(results[0].algorithm == "ed25519-sha256");
    CHECK(results[0].header_b == "/gCrinpc");
    CHECK(results[0].domain == "football.example.com");
    CHECK(results[0].selector == "brisbane");
    CHECK(results[0].identity == "@football.example.com");
    CHECK(results[1].result == Result::Pass);
    CHECK(results[1].algorithm == "rsa-sha256");
    CHECK(results[1].header_b == "F45dVWDf");
  }
  // The same message with bare LF line ends.
  auto lf = verify(withBareLf(Rfc8463Message), dns, at(1528637909));
  CHECK(lf[0].result == Result::Pass);
  CHECK(lf[1].result == Result::Pass);
  // A 2048-bit minimum refuses the 1024-bit RSA key.
  VerifyOptions strict = at(1528637909);
  strict.minimum_rsa_bits = 2048;
  auto refused = verify(Rfc8463Message, dns, strict);
  CHECK(refused[0].result == Result::Pass);
  CHECK(refused[1].result == Result::PermError);
}

TEST_CASE("dkim signer: our signatures of the RFC 8463 data are the RFC's b= values") {
  const std::vector<std::string_view> fields = {
      "From: Joe SixPack <joe@football.example.com>",
      "To: Suzie Q <suzie@shopping.example.net>",
      "Subject: Is dinner ready?",
      "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)",
      "Message-ID: <20030712040037.46341.5F8J@football.example.com>",
  };
  struct Case {
    std::string pem;
    std::string value;
    std::string b;
  };
  const Case cases[] = {
      {rfc8463Ed25519Pem(),
       " v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n d=football.example.com; "
       "i=@football.example.com;\r\n q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n "
       "subject : date : message-id : from : subject : date;\r\n "
       "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n b=",
       "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw=="},
      {Rfc8463RsaPem,
       " v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n d=football.example.com; "
       "i=@football.example.com;\r\n q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n "
       "date : message-id : from : subject : date;\r\n "
       "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n b=",
       "F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tF"
       "OeS9mPYQTnGdaSGsgeefOsk2JzdA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8="},
  };
  for (const Case& c : cases) {
    const SigningKeyLoad load = loadSigningKey(c.pem, "football.example.com", "brisbane");
    REQUIRE(load.ok());
    const std::vector<std::string> names = {"from",       "to",   "subject", "date",
                                            "message-id", "from", "subject", "date"};
    const std::string data =
        signedHeaderData(Canon::Relaxed, fields, names, "DKIM-Signature:" + c.value);
    CHECK(upesi::base64Encode(signData(*load.key, data)) == c.b);
  }
}

TEST_CASE("dkim verifier: messages dkimpy signed pass, whole or byte by byte") {
  for (std::string_view message :
       {dkimpy_fixtures::SignedSimpleSimple, dkimpy_fixtures::SignedRelaxedSimple,
        dkimpy_fixtures::SignedRelaxedRelaxed, dkimpy_fixtures::SignedRelaxedRelaxedLength}) {
    CAPTURE(message.substr(0, 80));
    for (std::size_t chunk : {0, 1, 3, 64}) {
      const SignatureResult result = verifyOne(message, FixtureDns, FixtureTime, chunk);
      CHECK(result.result == Result::Pass);
      CHECK(result.domain == "signer.example");
      CHECK(result.selector == "sel2025");
      CHECK(result.header_b.size() == 8);
    }
  }
  // LF line ends verify as CRLF under relaxed header canonicalization and any body one.
  CHECK(
      verifyOne(withBareLf(dkimpy_fixtures::SignedRelaxedSimple), FixtureDns, FixtureTime).result ==
      Result::Pass);
  CHECK(
      verifyOne(withBareLf(dkimpy_fixtures::SignedSimpleSimple), FixtureDns, FixtureTime).result ==
      Result::Pass);
}

TEST_CASE("dkim verifier: altered messages fail, saying what did not verify") {
  // Body changed.
  auto body = verifyOne(replaced(dkimpy_fixtures::SignedRelaxedRelaxed, "noon", "one"), FixtureDns,
                        FixtureTime);
  CHECK(body.result == Result::Fail);
  CHECK(body.reason == "body hash did not verify");
  // Body whitespace changed: relaxed does not care, simple does.
  CHECK(verifyOne(replaced(dkimpy_fixtures::SignedRelaxedRelaxed, "at   noon", "at noon"),
                  FixtureDns, FixtureTime)
            .result == Result::Pass);
  CHECK(verifyOne(replaced(dkimpy_fixtures::SignedSimpleSimple, "at   noon", "at noon"), FixtureDns,
                  FixtureTime)
            .result == Result::Fail);
  // A signed header changed.
  auto header = verifyOne(replaced(dkimpy_fixtures::SignedRelaxedRelaxed, "Lunch", "Dinner"),
                          FixtureDns, FixtureTime);
  CHECK(header.result == Result::Fail);
  CHECK(header.reason == "signature did not verify");
  // Header folding changed: relaxed does not care, simple does.
  CHECK(verifyOne(replaced(dkimpy_fixtures::SignedRelaxedRelaxed, "on\r\n\tFriday", "on Friday"),
                  FixtureDns, FixtureTime)
            .result == Result::Pass);
  CHECK(verifyOne(replaced(dkimpy_fixtures::SignedSimpleSimple, "on\r\n\tFriday", "on Friday"),
                  FixtureDns, FixtureTime)
            .result == Result::Fail);
  // An unsigned header field added changes nothing.
  CHECK(verifyOne("X-Added: yes\r\n" + std::string(dkimpy_fixtures::SignedRelaxedRelaxed),
                  FixtureDns, FixtureTime)
            .result == Result::Pass);
}

TEST_CASE("dkim verifier: key outcomes") {
  const std::string_view message = dkimpy_fixtures::SignedRelaxedRelaxed;
  const std::string name = "sel2025._domainkey.signer.example";
  auto wrong = verifyOne(message, {{name, found(std::string(dkimpy_fixtures::OtherKeyRecord))}},
                         FixtureTime);
  CHECK(wrong.result == Result::Fail);
  CHECK(wrong.reason == "signature did not verify");
  auto revoked = verifyOne(message, {{name, found("v=DKIM1; k=rsa; p=")}}, FixtureTime);
  CHECK(revoked.result == Result::PermError);
  CHECK(revoked.reason == "key revoked");
  auto none = verifyOne(message, {}, FixtureTime);
  CHECK(none.result == Result::PermError);
  CHECK(none.reason == "no key");
  auto temp =
      verifyOne(message, {{name, KeyAnswer{KeyAnswer::Outcome::TempFail, {}}}}, FixtureTime);
  CHECK(temp.result == Result::TempError);
  auto mismatch = verifyOne(message, {{name, found(Rfc8463Ed25519Record)}}, FixtureTime);
  CHECK(mismatch.result == Result::PermError);
  CHECK(mismatch.reason == "key type k=ed25519 does not match a=rsa-sha256");
  auto garbage = verifyOne(message, {{name, found("v=spf1 -all")}}, FixtureTime);
  CHECK(garbage.result == Result::PermError);
  auto testing = verifyOne(
      message, {{name, found(std::string(dkimpy_fixtures::RsaKeyRecord) + "; t=y")}}, FixtureTime);
  CHECK(testing.result == Result::Pass);
  CHECK(testing.testing);
  // Several TXT records: the one that is a key record is used.
  KeyAnswer several{KeyAnswer::Outcome::Found,
                    {"google-site-verification=abc", std::string(dkimpy_fixtures::RsaKeyRecord)}};
  CHECK(verifyOne(message, {{name, several}}, FixtureTime).result == Result::Pass);
  // A 512-bit key is refused (RFC 8301).
  auto small =
      verifyOne(dkimpy_fixtures::SignedWithSmallKey,
                {{name, found(std::string(dkimpy_fixtures::SmallKeyRecord))}}, FixtureTime);
  CHECK(small.result == Result::PermError);
  CHECK(small.reason == "RSA key of 512 bits, under the minimum 1024");
}

TEST_CASE("dkim verifier: l= with an appended body, and the body_length option") {
  const std::string appended =
      std::string(dkimpy_fixtures::SignedRelaxedRelaxedLength) + "Appended by a list.\r\n";
  CHECK(verifyOne(appended, FixtureDns, FixtureTime).result == Result::Pass);
  VerifyOptions refuse = FixtureTime;
  refuse.body_length = BodyLengthPolicy::Refuse;
  auto policy = verifyOne(appended, FixtureDns, refuse);
  CHECK(policy.result == Result::Policy);
  CHECK(policy.domain == "signer.example");
  // The body cut short of l=.
  auto cut = verifyOne(replaced(dkimpy_fixtures::SignedRelaxedRelaxedLength, "Alice\r\n", ""),
                       FixtureDns, FixtureTime);
  CHECK(cut.result == Result::PermError);
  CHECK(cut.reason.find("longer than the body") != std::string::npos);
  // An l= of 76 digits is no body's length.
  auto huge = verifyOne(
      replaced(dkimpy_fixtures::SignedRelaxedRelaxedLength, "l=", "l=" + std::string(70, '9')),
      FixtureDns, FixtureTime);
  CHECK(huge.result == Result::PermError);
  CHECK(huge.reason.find("longer than the body") != std::string::npos);
}

TEST_CASE("dkim verifier: t= in the future and expired x= are permerrors (RFC 6376 6.1.1)") {
  auto early = verifyOne(dkimpy_fixtures::SignedRelaxedRelaxed, FixtureDns,
                         at(dkimpy_fixtures::SignTime - 3600));
  CHECK(early.result == Result::PermError);
  CHECK(early.reason == "signature timestamp in the future");
  // Within the allowed skew.
  CHECK(verifyOne(dkimpy_fixtures::SignedRelaxedRelaxed, FixtureDns,
                  at(dkimpy_fixtures::SignTime - 100))
            .result == Result::Pass);

  const SigningKeyLoad load =
      loadSigningKey(dkimpy_fixtures::RsaKeyPem, "signer.example", "sel2025");
  REQUIRE(load.ok());
  SignOptions options;
  options.timestamp = 1000000;
  options.expiration = 1000000 + 86400;
  const std::string unsigned_message(dkimpy_fixtures::SignedRelaxedRelaxed.substr(
      dkimpy_fixtures::SignedRelaxedRelaxed.find("\r\nFrom:") + 2));
  const std::string signed_message = signWithUs(*load.key, unsigned_message, options);
  CHECK(verifyOne(signed_message, FixtureDns, at(1000000 + 3600)).result == Result::Pass);
  auto expired = verifyOne(signed_message, FixtureDns, at(1000000 + 2 * 86400));
  CHECK(expired.result == Result::PermError);
  CHECK(expired.reason == "signature expired");
}

TEST_CASE("dkim signer: what we sign, we verify, in every canonicalization") {
  const std::string_view fixture = dkimpy_fixtures::SignedRelaxedRelaxed;
  const std::string message(fixture.substr(fixture.find("\r\nFrom:") + 2));
  const SigningKeyLoad rsa =
      loadSigningKey(dkimpy_fixtures::RsaKeyPem, "Signer.Example", "sel2025");
  REQUIRE(rsa.ok());
  const SigningKeyLoad ed = loadSigningKey(rfc8463Ed25519Pem(), "signer.example", "ed");
  REQUIRE(ed.ok());
  CHECK(ed.key->algorithm == Algorithm::Ed25519Sha256);
  Dns dns = FixtureDns;
  dns["ed._domainkey.signer.example"] = found(Rfc8463Ed25519Record);
  for (const SigningKey& key : {*rsa.key, *ed.key}) {
    for (Canon header : {Canon::Simple, Canon::Relaxed}) {
      for (Canon body : {Canon::Simple, Canon::Relaxed}) {
        SignOptions options;
        options.header_canon = header;
        options.body_canon = body;
        options.timestamp = dkimpy_fixtures::SignTime;
        options.identity = "alice@mail.signer.example";
        const std::string signed_message = signWithUs(key, message, options);
        CAPTURE(signed_message);
        const SignatureResult result = verifyOne(signed_message, dns, FixtureTime, 5);
        CHECK(result.result == Result::Pass);
        CHECK(result.identity == "alice@mail.signer.example");
        // Folded at about 76 columns.
        std::size_t line_start = 0;
        for (std::size_t end = signed_message.find("\r\n"); end < signed_message.find("From:");
             end = signed_message.find("\r\n", line_start)) {
          CHECK(end - line_start <= 78);
          line_start = end + 2;
        }
        // Oversigned From: a From added on top breaks it.
        CHECK(
            verifyOne("From: mallory@evil.example\r\n" + signed_message, dns, FixtureTime).result ==
            Result::Fail);
      }
    }
  }
  // With l=.
  SignOptions limited;
  limited.body_length = 20;
  const std::string with_length = signWithUs(*rsa.key, message, limited);
  CHECK(with_length.find("l=20;") != std::string::npos);
  CHECK(verifyOne(with_length + "more", dns, FixtureTime).result == Result::Pass);
}

TEST_CASE("dkim signer: options and key errors") {
  const SigningKeyLoad rsa = loadSigningKey(dkimpy_fixtures::RsaKeyPem, "signer.example", "s");
  REQUIRE(rsa.ok());
  const std::vector<std::string_view> no_from = {"To: x@example.com"};
  CHECK(signMessage(*rsa.key, no_from, std::string(32, 'x'), {}).error ==
        "the message has no From field");
  SignOptions outside;
  outside.identity = "a@other.example";
  CHECK(signMessage(*rsa.key, {"From: a@b"}, std::string(32, 'x'), outside).error.find("not in") !=
        std::string::npos);
  const SigningKeyLoad bad_domain = loadSigningKey(dkimpy_fixtures::RsaKeyPem, "bad domain", "s");
  REQUIRE(bad_domain.ok());
  CHECK(signMessage(*bad_domain.key, {"From: a@b"}, std::string(32, 'x'), {})
            .error.find("would not parse: d= is not a domain name") != std::string::npos);
  // Each present instance signed, bottom-up; names not present left out; From oversigned.
  SignOptions options;
  options.headers = {"From", "Received", "X-Missing"};
  const SignResult two =
      signMessage(*rsa.key, {"Received: a", "Received: b", "From: x@signer.example"},
                  std::string(32, 'x'), options);
  REQUIRE(two.ok());
  CHECK(two.value.find("h=from:received:received:from;") != std::string::npos);

  CHECK(loadSigningKey("", "d", "s").error.find("unreadable") == 0);
  CHECK(loadSigningKey("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "d", "s")
            .error.find("unreadable") == 0);
  const std::string public_pem = "-----BEGIN PUBLIC KEY-----\n"
                                 "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
                                 "-----END PUBLIC KEY-----\n";
  CHECK(loadSigningKey(public_pem, "d", "s").error.find("not a private key") == 0);
  CHECK(loadSigningKey(Rfc8463RsaPem, "d", "s").ok()); // 1024 bits: the minimum
  CHECK(loadSigningKey(Rfc8463RsaPem, "d", "s", 2048).error.find("RSA key of 1024 bits") == 0);
  CHECK(loadSigningKey("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED "
                       "PRIVATE KEY-----\n",
                       "d", "s")
            .error == "the private key is encrypted");
}

TEST_CASE("dkim verifier: unsigned, too many signatures, malformed, header too large") {
  auto none = verifyOne("From: a@b\r\nSubject: x\r\n\r\nbody\r\n", {}, FixtureTime);
  CHECK(none.result == Result::None);
  CHECK(verifyOne("", {}, FixtureTime).result == Result::None);
  CHECK(verifyOne("\r\n\r\n", {}, FixtureTime).result == Result::None);
  CHECK(verifyOne("From: a@b", {}, FixtureTime).result == Result::None);

  std::string many;
  for (int i = 0; i < 10; ++i) {
    many += "DKIM-Signature: v=1; a=rsa-sha1; d=x.example; s=s; h=from; bh=AAAA; b=AAAA\r\n";
  }
  Verifier verifier(FixtureTime);
  verifier.feed(many + std::string(dkimpy_fixtures::SignedRelaxedRelaxed));
  verifier.finish();
  CHECK(verifier.results().size() == MaxVerifiedSignatures);
  CHECK(verifier.results()[0].result == Result::PermError);
  CHECK(verifier.results()[0].domain == "x.example");
  CHECK(verifier.results()[0].reason == "algorithm rsa-sha1 is not allowed (RFC 8301)");
  REQUIRE(verifier.notes().size() == 1);
  CHECK(verifier.notes()[0] == "3 DKIM-Signature fields past the first 8 ignored");
  CHECK(verifier.keyLookups().empty());

  std::string huge = std::string(dkimpy_fixtures::SignedRelaxedRelaxed);
  huge.insert(0, "X-Big: " + std::string(MaxHeaderBytes, 'a') + "\r\n");
  auto large = verifyOne(huge, FixtureDns, FixtureTime, 4096);
  CHECK(large.result == Result::PermError);
  CHECK(large.reason == "header too large");
}

TEST_CASE("dkim verifier: hostile messages never crash") {
  const std::string_view base = dkimpy_fixtures::SignedRelaxedRelaxed;
  std::vector<std::string> inputs = {
      "DKIM-Signature:",
      "DKIM-Signature: \xff\xfe\r\n\r\n",
      "DKIM-Signature\r\n\r\n",
      " continuation first\r\nDKIM-Signature: v=1\r\n\r\n",
      "\r\r\r\n\n\n",
      std::string(base.substr(0, 200)),
      std::string(base.substr(0, base.find("\r\n\r\n"))),
  };
  for (std::size_t cut = 0; cut < base.size(); cut += 37) {
    inputs.push_back(std::string(base.substr(0, cut)));
  }
  for (const std::string& input : inputs) {
    for (std::size_t chunk : {0, 1}) {
      auto results = verify(input, FixtureDns, FixtureTime, chunk);
      CHECK_FALSE(results.empty());
      // Splitting never changes the answer.
      auto whole = verify(input, FixtureDns, FixtureTime);
      REQUIRE(whole.size() == results.size());
      for (std::size_t i = 0; i < whole.size(); ++i) {
        CHECK(whole[i].result == results[i].result);
        CHECK(whole[i].reason == results[i].reason);
      }
    }
  }
}
