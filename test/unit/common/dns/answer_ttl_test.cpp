// Reading an answer's lifetime from raw DNS messages, hostile ones included.
#include "common/dns/answer_ttl.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

using upesi::dns::answerTtl;

namespace {

using Bytes = std::vector<unsigned char>;

void put16(Bytes& b, unsigned v) {
  b.push_back(static_cast<unsigned char>(v >> 8));
  b.push_back(static_cast<unsigned char>(v));
}

void put32(Bytes& b, std::uint32_t v) {
  put16(b, v >> 16);
  put16(b, v & 0xFFFF);
}

// A message about "a.test": the header, the question, then records added by the caller.
Bytes message(unsigned rcode, unsigned answers, unsigned authorities) {
  Bytes b;
  put16(b, 0x1234);
  put16(b, 0x8180 | rcode);
  put16(b, 1);
  put16(b, answers);
  put16(b, authorities);
  put16(b, 0);
  const Bytes name = {1, 'a', 4, 't', 'e', 's', 't', 0};
  b.insert(b.end(), name.begin(), name.end());
  put16(b, 1); // A
  put16(b, 1); // IN
  return b;
}

void addA(Bytes& b, std::uint32_t ttl) {
  put16(b, 0xC00C); // the question's name
  put16(b, 1);
  put16(b, 1);
  put32(b, ttl);
  put16(b, 4);
  const Bytes address = {127, 0, 0, 2};
  b.insert(b.end(), address.begin(), address.end());
}

void addSoa(Bytes& b, std::uint32_t ttl, std::uint32_t minimum) {
  put16(b, 0xC00E); // "test"
  put16(b, 6);
  put16(b, 1);
  put32(b, ttl);
  put16(b, 2 + 2 + 20);
  put16(b, 0xC00E); // mname
  put16(b, 0xC00E); // rname
  for (std::uint32_t v : {1U, 3600U, 600U, 86400U}) {
    put32(b, v);
  }
  put32(b, minimum);
}

std::optional<std::uint32_t> ttlOf(const Bytes& b) {
  return answerTtl(b.data(), static_cast<int>(b.size()));
}

} // namespace

TEST_CASE("answer ttl: the smallest TTL of the answer section") {
  auto b = message(0, 2, 0);
  addA(b, 300);
  addA(b, 60);
  CHECK(ttlOf(b) == 60U);
}

TEST_CASE("answer ttl: a negative answer holds for the SOA's TTL or MINIMUM, whichever is less") {
  auto nx = message(3, 0, 1);
  addSoa(nx, 3600, 120);
  CHECK(ttlOf(nx) == 120U);
  auto nodata = message(0, 0, 1);
  addSoa(nodata, 30, 900);
  CHECK(ttlOf(nodata) == 30U);
  CHECK_FALSE(ttlOf(message(3, 0, 0))); // no SOA: no lifetime
}

TEST_CASE("answer ttl: a TTL with the top bit set reads as zero (RFC 2181 section 8)") {
  auto b = message(0, 1, 0);
  addA(b, 0x80000001U);
  CHECK(ttlOf(b) == 0U);
}

TEST_CASE("answer ttl: truncated or malformed messages have none") {
  auto b = message(0, 1, 0);
  addA(b, 300);
  for (std::size_t cut = 0; cut < b.size(); ++cut) {
    Bytes part(b.begin(), b.begin() + static_cast<long>(cut));
    CHECK_FALSE(ttlOf(part));
  }
  CHECK_FALSE(answerTtl(nullptr, 0));
  auto lying = message(0, 5, 0); // five answers announced, one present
  addA(lying, 300);
  CHECK_FALSE(ttlOf(lying));
  auto reserved = message(0, 1, 0);
  reserved.push_back(0x80); // a reserved label type
  CHECK_FALSE(ttlOf(reserved));
}
