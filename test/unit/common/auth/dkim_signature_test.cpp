#include "common/auth/dkim_signature.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <string>

using namespace upesi::dkim;

namespace {

const std::string Base = "v=1; a=rsa-sha256; d=example.com; s=sel; h=From:To:Subject;"
                         " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA==";

std::string reasonFor(const std::string& value) {
  return parseSignature(value).permerror;
}

} // namespace

TEST_CASE("dkim signature: the ed25519 signature of RFC 8463 appendix A") {
  const std::string value = " v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
                            " d=football.example.com; i=@football.example.com;\r\n"
                            " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
                            " subject : date : message-id : from : subject : date;\r\n"
                            " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
                            " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
                            " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==";
  const SignatureParse parse = parseSignature(value);
  REQUIRE(parse.ok());
  const Signature& sig = parse.signature;
  CHECK(sig.algorithm == Algorithm::Ed25519Sha256);
  CHECK(sig.header_canon == Canon::Relaxed);
  CHECK(sig.body_canon == Canon::Relaxed);
  CHECK(sig.domain == "football.example.com");
  CHECK(sig.selector == "brisbane");
  CHECK(sig.keyName() == "brisbane._domainkey.football.example.com");
  CHECK(sig.identity == "@football.example.com");
  CHECK(sig.timestamp == 1528637909);
  CHECK_FALSE(sig.expiration);
  CHECK(sig.signed_headers == std::vector<std::string>{"from", "to", "subject", "date",
                                                       "message-id", "from", "subject", "date"});
  CHECK(sig.body_hash.size() == 32);
  CHECK(sig.signature.size() == 64);
  CHECK(sig.b_base64.substr(0, 8) == "/gCrinpc");
  CHECK(sig.value_without_b == " v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
                               " d=football.example.com; i=@football.example.com;\r\n"
                               " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
                               " subject : date : message-id : from : subject : date;\r\n"
                               " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
                               " b=");
}

TEST_CASE("dkim signature: defaults and the b= emptying") {
  const SignatureParse parse = parseSignature(Base);
  REQUIRE(parse.ok());
  CHECK(parse.signature.header_canon == Canon::Simple);
  CHECK(parse.signature.body_canon == Canon::Simple);
  CHECK(parse.signature.identity == "@example.com");
  CHECK(parse.signature.signed_headers == std::vector<std::string>{"from", "to", "subject"});
  CHECK(parseSignature(Base + "; c=relaxed").signature.body_canon == Canon::Simple);
  CHECK(parseSignature(Base + "; c=relaxed").signature.header_canon == Canon::Relaxed);
  CHECK(parseSignature(Base + "; c=simple/relaxed").signature.body_canon == Canon::Relaxed);

  CHECK(withoutSignatureValue("a=1; b=abc ; bh=xyz") == "a=1; b= ; bh=xyz");
  CHECK(withoutSignatureValue("b=ab\r\n cd;bh=x") == "b=;bh=x");
  CHECK(withoutSignatureValue(" b \r\n = ab") == " b \r\n =");
  CHECK(withoutSignatureValue("bh=x; b=") == "bh=x; b=");
}

TEST_CASE("dkim signature: tags with values") {
  auto sig = parseSignature(Base + "; i=user@mail.Example.COM; l=120; t=100; x=200; z=From:a|To:b")
                 .signature;
  CHECK(sig.identity == "user@mail.Example.COM");
  CHECK(sig.body_length == 120);
  CHECK(sig.timestamp == 100);
  CHECK(sig.expiration == 200);
  CHECK(parseSignature(Base + "; q=dns/txt").ok());
  CHECK(parseSignature(Base + "; q=other:dns/txt").ok());
  CHECK(parseSignature(Base + "; unknown=tag").ok());
  // l= of 76 digits is allowed and saturates.
  CHECK(parseSignature(Base + "; l=" + std::string(76, '9')).signature.body_length ==
        std::numeric_limits<std::uint64_t>::max());
}

TEST_CASE("dkim signature: every error is a permerror naming what is wrong") {
  CHECK(reasonFor("v=1; a=rsa-sha1; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA") ==
        "algorithm rsa-sha1 is not allowed (RFC 8301)");
  CHECK(reasonFor(Base + "; a=x").find("twice") != std::string::npos);
  CHECK(reasonFor("a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA") ==
        "signature has no v= tag");
  CHECK(reasonFor("v=2; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA")
            .find("version") != std::string::npos);
  CHECK(reasonFor("v=1; a=rsa-sha512; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA")
            .find("unknown algorithm") != std::string::npos);
  CHECK(reasonFor(Base + "; c=fancy").find("canonicalization") != std::string::npos);
  CHECK(reasonFor(Base + "; c=relaxed/fancy").find("canonicalization") != std::string::npos);
  CHECK(reasonFor("v=1; a=rsa-sha256; d=example.com; s=sel; h=to:subject; bh=AAAA; b=AAAA") ==
        "h= does not include from");
  CHECK(reasonFor("v=1; a=rsa-sha256; d=example.com; s=sel; h=from::to; bh=AAAA; b=AAAA") ==
        "h= has an empty header name");
  CHECK(reasonFor(Base + "; i=user@example.org").find("not d=") != std::string::npos);
  CHECK(reasonFor(Base + "; i=user@badexample.com").find("not d=") != std::string::npos);
  CHECK(reasonFor(Base + "; i=nobody") == "i= has no '@'");
  CHECK(reasonFor(Base + "; l=-1") == "l= is not a number");
  CHECK(reasonFor(Base + "; l=" + std::string(77, '1')) == "l= has more than 76 digits");
  CHECK(reasonFor(Base + "; q=http").find("dns/txt") != std::string::npos);
  CHECK(reasonFor(Base + "; t=200; x=100") == "x= is before t=");
  CHECK(reasonFor(Base + "; t=soon") == "t= is not a timestamp");
  CHECK(reasonFor(Base + "; x=" + std::string(30, '9')) == "x= is not a timestamp");
  CHECK(reasonFor("v=1; a=rsa-sha256; d=example..com; s=sel; h=from; bh=AAAA; b=AAAA")
            .find("d= is not a domain") != std::string::npos);
  CHECK(reasonFor("v=1; a=rsa-sha256; d=example.com; s=se/l; h=from; bh=AAAA; b=AAAA")
            .find("s= is not a selector") != std::string::npos);
}

TEST_CASE("dkim signature: hostile values never crash and are permerrors") {
  const std::string bh = "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=";
  const std::string head = "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; ";
  CHECK(reasonFor(head + bh + "; b=dGVzd") == "b= is not valid base64"); // truncated
  CHECK(reasonFor(head + bh + "; b=") == "b= is empty");
  CHECK(reasonFor(head + "bh=2jUSOH9Nh; b=dGVzdA==") == "bh= is not valid base64");
  CHECK(reasonFor(head + "bh=dGVzdA==; b=dGVzdA==") == "bh= is not a SHA-256 digest");
  CHECK(reasonFor(head + bh + "; b=dGVz\xc3\xa9").find("printable") != std::string::npos);
  CHECK_FALSE(parseSignature("").ok());
  CHECK_FALSE(parseSignature(";;;;").ok());
  CHECK_FALSE(parseSignature("=").ok());
  CHECK_FALSE(parseSignature(std::string(100000, 'a')).ok());
  CHECK_FALSE(parseSignature(std::string("v=1\0; a=x", 9)).ok());
  std::string many = head + bh + "; b=dGVzdA==";
  many.replace(many.find("h=from"), 6, "h=from" + std::string(300 * 5, ':'));
  CHECK_FALSE(parseSignature(many).ok());
  std::string long_h = "v=1; a=rsa-sha256; d=example.com; s=sel; h=from";
  for (int i = 0; i < 300; ++i) {
    long_h += ":to";
  }
  CHECK(reasonFor(long_h + "; " + bh + "; b=dGVzdA==").find("more than 256") != std::string::npos);
  // A failed parse leaves nothing behind.
  CHECK(parseSignature(head + bh + "; b=%%%").signature.domain.empty());
}

TEST_CASE("dkim signature: subdomains") {
  CHECK(isSameOrSubdomain("example.com", "example.com"));
  CHECK(isSameOrSubdomain("Mail.Example.com", "example.COM"));
  CHECK_FALSE(isSameOrSubdomain("badexample.com", "example.com"));
  CHECK_FALSE(isSameOrSubdomain("com", "example.com"));
  CHECK_FALSE(isSameOrSubdomain("example.com", ""));
}
