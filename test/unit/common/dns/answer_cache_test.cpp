// The per-worker cache of DNS answers: lifetimes, limits, what is never kept.
#include "common/dns/answer_cache.hpp"

#include <doctest/doctest.h>

using namespace upesi;
using dns::AnswerCache;
using dns::AnswerCacheLimits;

namespace {

DnsResult answer(std::string value, std::uint32_t ttl = 300) {
  DnsResult r;
  r.status = DnsStatus::Ok;
  r.records.push_back({std::move(value), 0, ttl});
  return r;
}

DnsResult status(DnsStatus s) {
  DnsResult r;
  r.status = s;
  return r;
}

} // namespace

TEST_CASE("answer cache: kept for its TTL, the records' TTLs lowered by their age") {
  AnswerCache cache(AnswerCacheLimits{});
  cache.store(DnsType::A, "Mx.Example.Test.", answer("192.0.2.1"), 300, 1000);
  auto hit = cache.find(DnsType::A, "mx.example.test", 61'000);
  REQUIRE(hit);
  CHECK(hit->records.at(0).value == "192.0.2.1");
  CHECK(hit->records.at(0).ttl == 240);
  CHECK_FALSE(cache.find(DnsType::Aaaa, "mx.example.test", 61'000)); // another type
  CHECK_FALSE(cache.find(DnsType::A, "mx.example.test", 301'000));   // expired
  CHECK(cache.size() == 0);
}

TEST_CASE("answer cache: lifetimes are cut to the limits, zero keeps nothing") {
  AnswerCacheLimits limits;
  limits.max_ttl_s = 10;
  limits.max_negative_ttl_s = 2;
  AnswerCache cache(limits);
  cache.store(DnsType::Mx, "a.test", answer("10 mx.a.test"), 86400, 0);
  CHECK(cache.find(DnsType::Mx, "a.test", 9'999));
  CHECK_FALSE(cache.find(DnsType::Mx, "a.test", 10'000));
  cache.store(DnsType::Mx, "gone.test", status(DnsStatus::NxDomain), 3600, 0);
  CHECK(cache.find(DnsType::Mx, "gone.test", 1'999)->status == DnsStatus::NxDomain);
  CHECK_FALSE(cache.find(DnsType::Mx, "gone.test", 2'000));
  cache.store(DnsType::A, "zero.test", answer("192.0.2.2"), 0, 0);
  CHECK_FALSE(cache.find(DnsType::A, "zero.test", 0));
}

TEST_CASE("answer cache: failures and oversized answers are never kept") {
  AnswerCache cache(AnswerCacheLimits{});
  for (auto s : {DnsStatus::ServFail, DnsStatus::Timeout, DnsStatus::Error}) {
    cache.store(DnsType::A, "fail.test", status(s), 300, 0);
    CHECK_FALSE(cache.find(DnsType::A, "fail.test", 0));
  }
  cache.store(DnsType::Txt, "big.test", answer(std::string(8000, 'x')), 300, 0);
  CHECK_FALSE(cache.find(DnsType::Txt, "big.test", 0));
}

TEST_CASE("answer cache: bounded, the least recently used leaves first; size 0 is off") {
  AnswerCacheLimits limits;
  limits.max_entries = 2;
  AnswerCache cache(limits);
  cache.store(DnsType::A, "one.test", answer("192.0.2.1"), 300, 0);
  cache.store(DnsType::A, "two.test", answer("192.0.2.2"), 300, 0);
  CHECK(cache.find(DnsType::A, "one.test", 1)); // one is now the most recent
  cache.store(DnsType::A, "three.test", answer("192.0.2.3"), 300, 2);
  CHECK(cache.size() == 2);
  CHECK(cache.find(DnsType::A, "one.test", 3));
  CHECK_FALSE(cache.find(DnsType::A, "two.test", 3));
  CHECK(cache.find(DnsType::A, "three.test", 3));
  cache.store(DnsType::A, "three.test", answer("192.0.2.33"), 300, 4); // replaced in place
  CHECK(cache.size() == 2);
  CHECK(cache.find(DnsType::A, "three.test", 5)->records.at(0).value == "192.0.2.33");

  AnswerCache off(AnswerCacheLimits{0});
  off.store(DnsType::A, "one.test", answer("192.0.2.1"), 300, 0);
  CHECK_FALSE(off.enabled());
  CHECK_FALSE(off.find(DnsType::A, "one.test", 0));
}
