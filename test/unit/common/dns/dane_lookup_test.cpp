// What DANE makes of DNS answers: the MX RRset's AD bit, the host's address records', and its
// TLSA records, from raw messages a table of answers hands out.
#include "common/dns/dane_lookup.hpp"

#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using upesi::DnsStatus;
using upesi::dns::AuthenticatedLookup;
using upesi::dns::DaneRequirement;
using upesi::dns::lookupDane;
using upesi::dns::lookupSecureMx;
using upesi::dns::MxPlan;
using upesi::dns::requirementFromTlsa;
using upesi::dns::Resolver;

namespace {

constexpr unsigned TypeA = 1;
constexpr unsigned TypeMx = 15;
constexpr unsigned TypeTlsa = 52;

void appendDane16(std::string& b, unsigned v) {
  b.push_back(static_cast<char>((v >> 8) & 0xFF));
  b.push_back(static_cast<char>(v & 0xFF));
}

std::string encodeDaneName(const std::string& name) {
  std::string out;
  std::size_t start = 0;
  while (start < name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos) {
      dot = name.size();
    }
    out.push_back(static_cast<char>(dot - start));
    out.append(name, start, dot - start);
    start = dot + 1;
  }
  out.push_back('\0');
  return out;
}

struct DaneRr {
  unsigned type;
  std::string rdata;
};

// A response to `name`/`type`: QR RD RA, AD when `authenticated`, the answers owned by the
// question's name.
Resolver::RawAnswer daneResponse(const std::string& name, unsigned type, bool authenticated,
                                 unsigned rcode, const std::vector<DaneRr>& answers = {}) {
  std::string b;
  appendDane16(b, 0x1234);
  appendDane16(b, 0x8180 | (authenticated ? 0x0020 : 0) | rcode);
  appendDane16(b, 1);
  appendDane16(b, static_cast<unsigned>(answers.size()));
  appendDane16(b, 0);
  appendDane16(b, 0);
  b += encodeDaneName(name);
  appendDane16(b, type);
  appendDane16(b, 1);
  for (const auto& rr : answers) {
    appendDane16(b, 0xC00C);
    appendDane16(b, rr.type);
    appendDane16(b, 1);
    appendDane16(b, 0);
    appendDane16(b, 300);
    appendDane16(b, static_cast<unsigned>(rr.rdata.size()));
    b += rr.rdata;
  }
  return Resolver::RawAnswer{DnsStatus::Ok, "", b};
}

DaneRr mxRr(unsigned preference, const std::string& host) {
  std::string rdata;
  appendDane16(rdata, preference);
  return {TypeMx, rdata + encodeDaneName(host)};
}

DaneRr aRr(unsigned char last) {
  return {TypeA, std::string{'\xC0', '\x00', '\x02', static_cast<char>(last)}};
}

DaneRr tlsaRr(unsigned usage, unsigned selector, unsigned matching, std::string data) {
  std::string rdata{static_cast<char>(usage), static_cast<char>(selector),
                    static_cast<char>(matching)};
  return {TypeTlsa, rdata + data};
}

// Answers from a table, in the call (as a cache hit would on a later turn: the code must not
// care); a question not in the table times out. The questions asked are recorded.
struct DaneTable {
  std::map<std::pair<std::string, unsigned>, Resolver::RawAnswer> answers;
  std::vector<std::string> asked;

  AuthenticatedLookup lookup() {
    return [this](const std::string& name, unsigned type, Resolver::RawCallback done) {
      asked.push_back(name);
      auto it = answers.find({name, type});
      if (it == answers.end()) {
        done(Resolver::RawAnswer{DnsStatus::Timeout, "Timeout while contacting DNS servers", {}});
        return;
      }
      done(it->second);
    };
  }
};

DaneRequirement daneOf(DaneTable& table, const std::string& host, std::uint16_t port = 25) {
  std::optional<DaneRequirement> out;
  lookupDane(table.lookup(), host, port, [&out](DaneRequirement r) { out = std::move(r); });
  REQUIRE(out);
  return *out;
}

} // namespace

TEST_CASE("DANE lookup: the MX RRset's plan and whether DNSSEC validated it") {
  DaneTable t;
  t.answers[{"signed.test", TypeMx}] = daneResponse(
      "signed.test", TypeMx, true, 0, {mxRr(20, "mx2.signed.test"), mxRr(10, "mx1.signed.test")});
  t.answers[{"plain.test", TypeMx}] =
      daneResponse("plain.test", TypeMx, false, 0, {mxRr(10, "mx.plain.test")});
  t.answers[{"gone.test", TypeMx}] = daneResponse("gone.test", TypeMx, true, 3);
  t.answers[{"bogus.test", TypeMx}] = daneResponse("bogus.test", TypeMx, false, 2);
  t.answers[{"bare.test", TypeMx}] = daneResponse("bare.test", TypeMx, true, 0);
  auto plan = [&t](const std::string& domain) {
    std::optional<std::pair<MxPlan, bool>> out;
    lookupSecureMx(t.lookup(), domain, [&out](MxPlan p, bool secure) { out.emplace(p, secure); });
    REQUIRE(out);
    return *out;
  };
  auto [signed_plan, signed_secure] = plan("signed.test");
  CHECK(signed_secure);
  REQUIRE((signed_plan.kind == MxPlan::Kind::Hosts));
  REQUIRE(signed_plan.hosts.size() == 2);
  CHECK(signed_plan.hosts[0].exchange == "mx1.signed.test");
  auto [plain_plan, plain_secure] = plan("plain.test");
  CHECK_FALSE(plain_secure);
  CHECK((plain_plan.kind == MxPlan::Kind::Hosts));
  auto [gone_plan, gone_secure] = plan("gone.test");
  CHECK((gone_plan.kind == MxPlan::Kind::NoDomain));    // NXDOMAIN: a bounce, as without DANE
  auto [bogus_plan, bogus_secure] = plan("bogus.test"); // a validating resolver's SERVFAIL
  CHECK((bogus_plan.kind == MxPlan::Kind::TempFail));
  CHECK_FALSE(bogus_secure);
  auto [bare_plan, bare_secure] = plan("bare.test"); // signed proof of no MX: the domain itself
  CHECK((bare_plan.kind == MxPlan::Kind::Implicit));
  CHECK(bare_secure);
  auto [late_plan, late_secure] = plan("nobody.test");
  CHECK((late_plan.kind == MxPlan::Kind::TempFail));
  CHECK_FALSE(late_secure);
}

TEST_CASE("DANE lookup: the TLSA records of a host whose addresses are signed") {
  DaneTable t;
  const std::string digest(32, '\x5A');
  t.answers[{"mx.signed.test", TypeA}] = daneResponse("mx.signed.test", TypeA, true, 0, {aRr(1)});
  t.answers[{"_25._tcp.mx.signed.test", TypeTlsa}] =
      daneResponse("_25._tcp.mx.signed.test", TypeTlsa, true, 0,
                   {tlsaRr(3, 1, 1, digest), tlsaRr(1, 1, 1, digest), tlsaRr(2, 0, 1, digest),
                    tlsaRr(3, 1, 9, digest)});
  SUBCASE("DANE-EE and DANE-TA records are used; PKIX usages and unknown types are not") {
    auto r = daneOf(t, "mx.signed.test");
    CHECK((r.kind == DaneRequirement::Kind::Usable));
    REQUIRE(r.records.size() == 2);
    CHECK(r.records[0].usage == 3);
    CHECK(r.records[1].usage == 2);
    CHECK(r.records[0].data == digest);
    CHECK(t.asked == std::vector<std::string>{"mx.signed.test", "_25._tcp.mx.signed.test"});
  }
  SUBCASE("the port is part of the TLSA name") {
    t.answers[{"_2525._tcp.mx.signed.test", TypeTlsa}] =
        daneResponse("_2525._tcp.mx.signed.test", TypeTlsa, true, 3);
    auto r = daneOf(t, "mx.signed.test", 2525);
    CHECK((r.kind == DaneRequirement::Kind::None));
    CHECK(r.reason.find("no TLSA records") != std::string::npos);
  }
  SUBCASE("only unusable records: TLS without authentication") {
    t.answers[{"_25._tcp.mx.signed.test", TypeTlsa}] =
        daneResponse("_25._tcp.mx.signed.test", TypeTlsa, true, 0, {tlsaRr(0, 0, 1, digest)});
    CHECK((daneOf(t, "mx.signed.test").kind == DaneRequirement::Kind::Unusable));
  }
  SUBCASE("address records not validated: no TLSA question at all") {
    t.answers[{"mx.signed.test", TypeA}] =
        daneResponse("mx.signed.test", TypeA, false, 0, {aRr(1)});
    auto r = daneOf(t, "mx.signed.test");
    CHECK((r.kind == DaneRequirement::Kind::None));
    CHECK(t.asked == std::vector<std::string>{"mx.signed.test"});
  }
  SUBCASE("TLSA records not validated are ignored") {
    t.answers[{"_25._tcp.mx.signed.test", TypeTlsa}] =
        daneResponse("_25._tcp.mx.signed.test", TypeTlsa, false, 0, {tlsaRr(3, 1, 1, digest)});
    CHECK((daneOf(t, "mx.signed.test").kind == DaneRequirement::Kind::None));
  }
  SUBCASE("a TLSA question that fails or times out: no connection to that host") {
    t.answers[{"_25._tcp.mx.signed.test", TypeTlsa}] =
        daneResponse("_25._tcp.mx.signed.test", TypeTlsa, false, 2);
    auto r = daneOf(t, "mx.signed.test");
    CHECK((r.kind == DaneRequirement::Kind::Failed));
    CHECK(r.reason.find("SERVFAIL") != std::string::npos);
    t.answers.erase({"_25._tcp.mx.signed.test", TypeTlsa});
    CHECK((daneOf(t, "mx.signed.test").kind == DaneRequirement::Kind::Failed));
  }
  SUBCASE("an address question that fails: no connection either") {
    t.answers.erase({"mx.signed.test", TypeA});
    CHECK((daneOf(t, "mx.signed.test").kind == DaneRequirement::Kind::Failed));
  }
}

TEST_CASE("DANE lookup: a malformed TLSA answer is a failure, never a crash") {
  auto good =
      daneResponse("_25._tcp.mx.test", TypeTlsa, true, 0, {tlsaRr(3, 1, 1, std::string(32, 'a'))});
  for (std::size_t cut = 0; cut < good.message.size(); ++cut) {
    Resolver::RawAnswer truncated = good;
    truncated.message.resize(cut);
    auto r = requirementFromTlsa("_25._tcp.mx.test", truncated);
    CHECK((r.kind == DaneRequirement::Kind::Failed));
  }
  CHECK((requirementFromTlsa("_25._tcp.mx.test", good).kind == DaneRequirement::Kind::Usable));
}
