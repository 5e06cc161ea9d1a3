#include "common/auth/dkim_canon.hpp"
#include "common/util/base64.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace upesi::dkim;

namespace {

std::string bodyHash(Canon canon, std::string_view body,
                     std::optional<std::uint64_t> limit = std::nullopt) {
  BodyHasher hasher(canon, limit);
  hasher.update(body);
  return upesi::base64Encode(hasher.finish());
}

std::string bodyHashByteByByte(Canon canon, std::string_view body) {
  BodyHasher hasher(canon);
  for (char c : body) {
    hasher.update(std::string_view(&c, 1));
  }
  return upesi::base64Encode(hasher.finish());
}

std::string hashOf(std::string_view canonical) {
  return upesi::base64Encode(sha256(canonical));
}

} // namespace

TEST_CASE("dkim canon: the header example of RFC 6376 section 3.4.5") {
  CHECK(canonicalizeHeader(Canon::Relaxed, "A: X\r\n") == "a:X\r\n");
  CHECK(canonicalizeHeader(Canon::Relaxed, "B : Y\t\r\n\tZ  \r\n") == "b:Y Z\r\n");
  CHECK(canonicalizeHeader(Canon::Simple, "A: X\r\n") == "A: X\r\n");
  CHECK(canonicalizeHeader(Canon::Simple, "B : Y\t\r\n\tZ  \r\n") == "B : Y\t\r\n\tZ  \r\n");
  // Without the final CRLF, and folded with a bare LF.
  CHECK(canonicalizeHeader(Canon::Simple, "B : Y\t\n\tZ  ") == "B : Y\t\r\n\tZ  \r\n");
  CHECK(canonicalizeHeader(Canon::Relaxed, "B : Y\t\n\tZ  ") == "b:Y Z\r\n");
  CHECK(canonicalizeHeader(Canon::Relaxed, "Empty:   \r\n") == "empty:\r\n");
  CHECK(canonicalizeHeader(Canon::Relaxed, "Cr: a\rb \r\n c\r") == "cr:a\rb c\r\r\n");
  CHECK(fieldName("Subject \t: x") == "Subject");
  CHECK(fieldName("no colon") == "");
}

TEST_CASE("dkim canon: the body example of RFC 6376 section 3.4.5") {
  const std::string body = " C \r\nD \t E\r\n\r\n\r\n";
  CHECK(bodyHash(Canon::Relaxed, body) == hashOf(" C\r\nD E\r\n"));
  CHECK(bodyHash(Canon::Simple, body) == hashOf(" C \r\nD \t E\r\n"));
  CHECK(bodyHashByteByByte(Canon::Relaxed, body) == hashOf(" C\r\nD E\r\n"));
  CHECK(bodyHashByteByByte(Canon::Simple, body) == hashOf(" C \r\nD \t E\r\n"));
}

TEST_CASE("dkim canon: empty bodies, as dkimpy and OpenDKIM hash them") {
  // simple: an empty body is one CRLF; relaxed: nothing (RFC 6376 errata 1384/3193).
  CHECK(bodyHash(Canon::Simple, "") == "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
  CHECK(bodyHash(Canon::Simple, "\r\n\r\n\r\n") == "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
  CHECK(bodyHash(Canon::Relaxed, "") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  CHECK(bodyHash(Canon::Relaxed, "\r\n \t \r\n\r\n") ==
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  // A line of whitespace is kept by simple, not by relaxed.
  CHECK(bodyHash(Canon::Simple, "  \r\n") == hashOf("  \r\n"));
}

TEST_CASE("dkim canon: a last line without CRLF gets one; whitespace inside lines") {
  CHECK(bodyHash(Canon::Simple, "abc") == hashOf("abc\r\n"));
  CHECK(bodyHash(Canon::Relaxed, "abc  \t") == hashOf("abc\r\n"));
  CHECK(bodyHash(Canon::Relaxed, "\t a\t\tb  c \r\n") == hashOf(" a b c\r\n"));
  CHECK(bodyHash(Canon::Simple, "a\r\n\r\nb\r\n\r\n") == hashOf("a\r\n\r\nb\r\n"));
  CHECK(bodyHash(Canon::Relaxed, "a\r\n  \r\nb\r\n") == hashOf("a\r\n\r\nb\r\n"));
}

TEST_CASE("dkim canon: a bare LF is a line end, so mixed LF/CRLF hashes as CRLF (Haraka#2594)") {
  const std::string crlf = "line one\r\n\r\nline  two \r\nthree\r\n\r\n";
  const std::string mixed = "line one\n\r\nline  two \nthree\n\n";
  for (Canon canon : {Canon::Simple, Canon::Relaxed}) {
    CHECK(bodyHash(canon, mixed) == bodyHash(canon, crlf));
    CHECK(bodyHashByteByByte(canon, mixed) == bodyHash(canon, crlf));
  }
  // A bare CR is an ordinary byte.
  CHECK(bodyHash(Canon::Simple, "a\rb\r\n") == hashOf("a\rb\r\n"));
  CHECK(bodyHash(Canon::Simple, "a\r") == hashOf("a\r\r\n"));
}

TEST_CASE("dkim canon: l= limits the hashed bytes; the length counts them all") {
  BodyHasher hasher(Canon::Simple, 6);
  hasher.update("abc\r\ndef\r\n");
  CHECK(upesi::base64Encode(hasher.finish()) == hashOf("abc\r\nd"));
  CHECK(hasher.canonicalLength() == 10);
  CHECK(bodyHash(Canon::Relaxed, "abc\r\n", 0) == hashOf(""));
  CHECK(bodyHash(Canon::Relaxed, "abc\r\n", 1000) == hashOf("abc\r\n"));
}

TEST_CASE("dkim canon: a million empty lines are counted, not kept") {
  BodyHasher hasher(Canon::Simple);
  const std::string lines(2 * 1000, '\n');
  for (int i = 0; i < 500; ++i) {
    hasher.update(lines);
  }
  CHECK(hasher.canonicalLength() == 0);
  hasher.update("x");
  CHECK(hasher.canonicalLength() == 2 * 1000 * 500 * 2 + 1);
  hasher.update("\n");
  for (int i = 0; i < 500; ++i) {
    hasher.update(lines);
  }
  hasher.finish();
  CHECK(hasher.canonicalLength() == 2 * 1000 * 500 * 2 + 3);
}

TEST_CASE("dkim canon: any chunking gives the same hash") {
  const std::string body = "a  b\t\r\n\r\n c\n\r\r\n \r\n\r\nend  \r\n\r\n\n";
  for (Canon canon : {Canon::Simple, Canon::Relaxed}) {
    const std::string whole = bodyHash(canon, body);
    for (std::size_t size = 1; size <= body.size(); ++size) {
      BodyHasher hasher(canon);
      for (std::size_t at = 0; at < body.size(); at += size) {
        hasher.update(std::string_view(body).substr(at, size));
      }
      CHECK(upesi::base64Encode(hasher.finish()) == whole);
    }
  }
}

TEST_CASE("dkim canon: the signed header data selects instances bottom-up") {
  const std::vector<std::string_view> fields = {"From: first", "To: t", "from: second",
                                                "Subject: s"};
  const std::vector<std::string> names = {"from", "from", "from", "subject", "cc"};
  CHECK(signedHeaderData(Canon::Relaxed, fields, names, "DKIM-Signature: v=1; b=") ==
        "from:second\r\nfrom:first\r\nsubject:s\r\ndkim-signature:v=1; b=");
  CHECK(signedHeaderData(Canon::Simple, fields, {"from"}, "DKIM-Signature: v=1; b= \r\n") ==
        "from: second\r\nDKIM-Signature: v=1; b= ");
}

namespace {

// The body canonicalizations written the way dkimpy writes them, on the whole body at once.
std::string referenceBody(Canon canon, std::string body) {
  std::string crlf; // bare LF to CRLF
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r')) {
      crlf += '\r';
    }
    crlf += body[i];
  }
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = crlf.find("\r\n", start)) != std::string::npos; start = end + 2) {
    lines.push_back(crlf.substr(start, end - start));
  }
  if (start < crlf.size()) {
    lines.push_back(crlf.substr(start)); // a last line without CRLF
  }
  if (canon == Canon::Relaxed) {
    for (std::string& line : lines) {
      std::string out;
      bool space = false;
      for (char c : line) {
        if (c == ' ' || c == '\t') {
          space = true;
          continue;
        }
        if (space) {
          out += ' ';
        }
        space = false;
        out += c;
      }
      line = out;
    }
  }
  while (!lines.empty() && lines.back().empty()) {
    lines.pop_back();
  }
  std::string out;
  for (const std::string& line : lines) {
    out += line + "\r\n";
  }
  return out.empty() && canon == Canon::Simple ? "\r\n" : out;
}

} // namespace

TEST_CASE("dkim canon: the streaming hasher agrees with a whole-body reference") {
  const char alphabet[] = {'a', 'b', ' ', '\t', '\r', '\n'};
  std::uint32_t seed = 12345;
  auto next = [&seed](std::uint32_t bound) {
    seed = seed * 1103515245U + 12345U;
    return (seed >> 16) % bound;
  };
  for (int round = 0; round < 2000; ++round) {
    std::string body;
    const std::uint32_t length = next(40);
    for (std::uint32_t i = 0; i < length; ++i) {
      body += alphabet[next(sizeof alphabet)];
    }
    for (Canon canon : {Canon::Simple, Canon::Relaxed}) {
      const std::string expected = referenceBody(canon, body);
      const std::uint64_t limit = next(static_cast<std::uint32_t>(expected.size()) + 1);
      BodyHasher hasher(canon, round % 2 == 0 ? std::nullopt : std::optional(limit));
      for (std::size_t at = 0; at < body.size();) {
        const std::size_t piece = 1 + next(5);
        hasher.update(std::string_view(body).substr(at, piece));
        at += piece;
      }
      CAPTURE(body);
      CHECK(upesi::base64Encode(hasher.finish()) ==
            hashOf(round % 2 == 0 ? expected : expected.substr(0, limit)));
      CHECK(hasher.canonicalLength() == expected.size());
    }
  }
}
