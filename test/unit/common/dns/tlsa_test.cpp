// TLSA answers and the authenticated query, from raw DNS messages, hostile ones included.
#include "common/dns/tlsa.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

using upesi::dns::authenticatedAndRcode;
using upesi::dns::authenticatedQuery;
using upesi::dns::parseTlsaAnswer;
using upesi::dns::TlsaRecord;

namespace {

using Bytes = std::vector<unsigned char>;

void putTlsa16(Bytes& b, unsigned v) {
  b.push_back(static_cast<unsigned char>(v >> 8));
  b.push_back(static_cast<unsigned char>(v));
}

void putTlsa32(Bytes& b, std::uint32_t v) {
  putTlsa16(b, v >> 16);
  putTlsa16(b, v & 0xFFFF);
}

// An answer about "_25._tcp.mx.test" (the name at offset 12), flags QR RD RA (+AD), then the
// caller's records.
Bytes answer(bool authenticated, unsigned rcode, unsigned answers) {
  Bytes b;
  putTlsa16(b, 0x4242);
  putTlsa16(b, 0x8180 | (authenticated ? 0x0020 : 0) | rcode);
  putTlsa16(b, 1);
  putTlsa16(b, answers);
  putTlsa16(b, 0);
  putTlsa16(b, 0);
  const Bytes name = {3, '_', '2', '5', 4,   '_', 't', 'c', 'p',
                      2, 'm', 'x', 4,   't', 'e', 's', 't', 0};
  b.insert(b.end(), name.begin(), name.end());
  putTlsa16(b, 52);
  putTlsa16(b, 1);
  return b;
}

void addTlsa(Bytes& b, std::uint32_t ttl, unsigned usage, unsigned selector, unsigned matching,
             const Bytes& data) {
  putTlsa16(b, 0xC00C);
  putTlsa16(b, 52);
  putTlsa16(b, 1);
  putTlsa32(b, ttl);
  putTlsa16(b, static_cast<unsigned>(3 + data.size()));
  b.push_back(static_cast<unsigned char>(usage));
  b.push_back(static_cast<unsigned char>(selector));
  b.push_back(static_cast<unsigned char>(matching));
  b.insert(b.end(), data.begin(), data.end());
}

void addCname(Bytes& b, std::uint32_t ttl) {
  putTlsa16(b, 0xC00C);
  putTlsa16(b, 5);
  putTlsa16(b, 1);
  putTlsa32(b, ttl);
  putTlsa16(b, 2);
  putTlsa16(b, 0xC015); // "mx.test"
}

} // namespace

TEST_CASE("TLSA answers: records, the smallest TTL and the AD bit") {
  Bytes m = answer(true, 0, 3);
  addCname(m, 900);
  addTlsa(m, 3600, 3, 1, 1, Bytes(32, 0xAB));
  addTlsa(m, 300, 2, 0, 2, Bytes{1, 2, 3});
  auto a = parseTlsaAnswer(m.data(), static_cast<int>(m.size()));
  REQUIRE(a.has_value());
  CHECK(a->authenticated);
  CHECK(a->rcode == 0);
  REQUIRE(a->records.size() == 2);
  CHECK(a->records[0] == TlsaRecord{3, 1, 1, std::string(32, '\xAB')});
  CHECK(a->records[1] == TlsaRecord{2, 0, 2, std::string("\x01\x02\x03", 3)});
  CHECK(a->ttl == 300);

  Bytes insecure = answer(false, 0, 1);
  addTlsa(insecure, 60, 3, 1, 1, Bytes(32, 1));
  auto b = parseTlsaAnswer(insecure.data(), static_cast<int>(insecure.size()));
  REQUIRE(b.has_value());
  CHECK_FALSE(b->authenticated);
  CHECK(authenticatedAndRcode(m.data(), static_cast<int>(m.size())) == std::pair{true, 0U});

  Bytes nx = answer(true, 3, 0);
  auto c = parseTlsaAnswer(nx.data(), static_cast<int>(nx.size()));
  REQUIRE(c.has_value());
  CHECK(c->rcode == 3);
  CHECK(c->records.empty());
}

TEST_CASE("TLSA answers: a malformed message is refused, never read past its end") {
  Bytes m = answer(true, 0, 1);
  addTlsa(m, 3600, 3, 1, 1, Bytes(32, 7));
  for (std::size_t cut = 0; cut < m.size(); ++cut) {
    Bytes shorter(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(cut));
    CHECK_FALSE(parseTlsaAnswer(shorter.data(), static_cast<int>(shorter.size())).has_value());
  }
  Bytes tiny = answer(true, 0, 1);
  addTlsa(tiny, 3600, 3, 1, 1, {});
  tiny.resize(tiny.size() - 1); // rdlength 3 claimed, 2 given
  CHECK_FALSE(parseTlsaAnswer(tiny.data(), static_cast<int>(tiny.size())).has_value());
  Bytes stub = answer(true, 0, 1);
  putTlsa16(stub, 0xC00C);
  putTlsa16(stub, 52);
  putTlsa16(stub, 1);
  putTlsa32(stub, 60);
  putTlsa16(stub, 2); // too short for usage, selector and matching type
  stub.push_back(3);
  stub.push_back(1);
  CHECK_FALSE(parseTlsaAnswer(stub.data(), static_cast<int>(stub.size())).has_value());
  CHECK_FALSE(parseTlsaAnswer(nullptr, 0).has_value());
}

TEST_CASE("the authenticated query: RD and AD, the name in labels, EDNS0 with DO") {
  auto q = authenticatedQuery("_25._tcp.mx.test.", 52, 0x0102);
  REQUIRE(q.ok());
  const std::string expected = std::string("\x01\x02\x01\x20\x00\x01\x00\x00\x00\x00\x00\x01", 12) +
                               std::string("\x03_25\x04_tcp\x02mx\x04test\x00", 18) +
                               std::string("\x00\x34\x00\x01", 4) +
                               std::string("\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x00", 11);
  CHECK(*q == expected);
  CHECK_FALSE(authenticatedQuery("", 52).ok());
  CHECK_FALSE(authenticatedQuery("a..test", 52).ok());
  CHECK_FALSE(authenticatedQuery(std::string(64, 'a') + ".test", 52).ok());
}
