#include "worker/outbound/tls_policy.hpp"

#include <doctest/doctest.h>
#include <openssl/ssl.h>

using upesi::outbound::TlsPolicy;
using upesi::smtp_client::TlsMode;

namespace {

upesi::tls::ContextPtr clientContext() {
  return upesi::tls::ContextPtr(SSL_CTX_new(TLS_client_method()));
}

} // namespace

TEST_CASE("TLS policy: opportunistic by default, SMTPS on 465, off without a context") {
  TlsPolicy policy(clientContext(), {}, {});
  auto o = policy.decide("mx.example.net", "192.0.2.1", 25, "example.net");
  CHECK((o.mode == TlsMode::Opportunistic));
  CHECK(o.context != nullptr);
  CHECK(o.name == "mx.example.net");
  CHECK_FALSE(o.verify);
  CHECK(
      (policy.decide("mx.example.net", "192.0.2.1", 465, "example.net").mode == TlsMode::Implicit));
  TlsPolicy off(nullptr, {}, {});
  CHECK((off.decide("mx.example.net", "192.0.2.1", 25, "example.net").mode == TlsMode::Off));
}

TEST_CASE("TLS policy: force_tls_hosts by MX name, address or domain require verification") {
  TlsPolicy policy(clientContext(), {"MX.Bank.Example", "192.0.2.7", "secure.example"}, {});
  for (auto [exchange, ip, domain] :
       {std::tuple{"mx.bank.example", "192.0.2.1", "bank.example"},
        std::tuple{"mx.other.example", "192.0.2.7", "other.example"},
        std::tuple{"mx.secure.example", "192.0.2.9", "secure.example"}}) {
    auto o = policy.decide(exchange, ip, 25, domain);
    CHECK((o.mode == TlsMode::Required));
    CHECK(o.verify);
  }
  CHECK((policy.decide("mx.bank.example", "192.0.2.1", 465, "bank.example").mode ==
         TlsMode::Implicit));
}

TEST_CASE("TLS policy: no_tls_hosts and a failed handshake mean plain, the latter for a while") {
  TlsPolicy policy(clientContext(), {}, {"old.example"}, true, std::chrono::seconds(60));
  CHECK((policy.decide("mx.old.example", "192.0.2.1", 25, "old.example").mode == TlsMode::Off));
  auto now = TlsPolicy::Clock::now();
  policy.handshakeFailed("mx.broken.example", now);
  CHECK((policy.decide("mx.broken.example", "192.0.2.2", 25, "broken.example", now).mode ==
         TlsMode::Off));
  CHECK((policy
             .decide("mx.broken.example", "192.0.2.2", 25, "broken.example",
                     now + std::chrono::seconds(61))
             .mode == TlsMode::Opportunistic));
}

TEST_CASE("TLS policy: with fallback_to_plain=false a failed handshake is not retried in clear") {
  TlsPolicy policy(clientContext(), {}, {}, false);
  auto now = TlsPolicy::Clock::now();
  CHECK_FALSE(policy.handshakeFailed("mx.broken.example", now));
  CHECK_FALSE(policy.remembersFailure("mx.broken.example", now));
  CHECK((policy.decide("mx.broken.example", "192.0.2.2", 25, "broken.example", now).mode ==
         TlsMode::Opportunistic));
  TlsPolicy fallback(clientContext(), {}, {});
  CHECK(fallback.handshakeFailed("mx.broken.example", now));
  CHECK(fallback.remembersFailure("mx.broken.example", now));
}

TEST_CASE("TLS policy: deciding changes nothing, an expired failure only stops counting") {
  TlsPolicy policy(clientContext(), {}, {}, true, std::chrono::seconds(60));
  auto now = TlsPolicy::Clock::now();
  policy.handshakeFailed("mx.broken.example", now);
  const TlsPolicy& decider = policy;
  auto later = now + std::chrono::seconds(61);
  CHECK((decider.decide("mx.broken.example", "192.0.2.2", 25, "broken.example", later).mode ==
         TlsMode::Opportunistic));
  // The decision after the expiry forgot nothing: an earlier time still sees the failure.
  CHECK(decider.remembersFailure("mx.broken.example", now));
  // A new failure forgets the expired ones.
  policy.handshakeFailed("mx.other.example", later);
  CHECK_FALSE(decider.remembersFailure("mx.broken.example", now));
  CHECK(decider.remembersFailure("mx.other.example", later));
}

TEST_CASE("TLS policy: [outbound.policy] levels per destination, over the host lists") {
  using upesi::tls::OutboundTlsLevel;
  TlsPolicy policy(clientContext(), {"forced.example"}, {"old.example"}, true,
                   std::chrono::seconds(60));
  policy.setDestinationPolicy({{"forced.example", OutboundTlsLevel::None},
                               {"old.example", OutboundTlsLevel::Encrypt},
                               {"bank.example", OutboundTlsLevel::Secure},
                               {".corp.example", OutboundTlsLevel::Verify},
                               {"list.example", OutboundTlsLevel::May}});
  SUBCASE("none and encrypt win over force_tls_hosts and no_tls_hosts") {
    CHECK((policy.decide("mx.forced.example", "192.0.2.1", 25, "forced.example").mode ==
           TlsMode::Off));
    auto o = policy.decide("mx.old.example", "192.0.2.2", 25, "old.example");
    CHECK((o.mode == TlsMode::Required));
    CHECK_FALSE(o.verify);
  }
  SUBCASE("verify: the MX host's name; subdomains through the dotted entry, case aside") {
    auto o = policy.decide("mx.eu.corp.example", "192.0.2.3", 25, "EU.Corp.Example");
    CHECK((o.mode == TlsMode::Required));
    CHECK(o.verify);
    CHECK(o.name == "mx.eu.corp.example");
    CHECK(o.match_names.empty());
    // The dotted entry is for subdomains only.
    CHECK((policy.decide("mx.corp.example", "192.0.2.3", 25, "corp.example").mode ==
           TlsMode::Opportunistic));
  }
  SUBCASE("secure: the domain or a subdomain of it, SMTPS on 465") {
    auto o = policy.decide("mx1.bank.example", "192.0.2.4", 25, "bank.example");
    CHECK((o.mode == TlsMode::Required));
    CHECK(o.verify);
    CHECK(o.name == "mx1.bank.example"); // still the SNI
    CHECK(o.match_names == std::vector<std::string>{"bank.example", ".bank.example"});
    CHECK((policy.decide("mx1.bank.example", "192.0.2.4", 465, "bank.example").mode ==
           TlsMode::Implicit));
  }
  SUBCASE("a failed handshake sends a may destination in clear for a while, never one above") {
    auto now = TlsPolicy::Clock::now();
    REQUIRE(policy.handshakeFailed("mx.list.example", now));
    REQUIRE(policy.handshakeFailed("mx.old.example", now));
    CHECK((policy.decide("mx.list.example", "192.0.2.5", 25, "list.example", now).mode ==
           TlsMode::Off));
    CHECK((policy.decide("mx.old.example", "192.0.2.2", 25, "old.example", now).mode ==
           TlsMode::Required));
  }
  SUBCASE("without TLS at all (enable_tls=false) a destination above may still demands it") {
    TlsPolicy off(nullptr, {}, {});
    off.setDestinationPolicy(
        {{"bank.example", OutboundTlsLevel::Secure}, {"list.example", OutboundTlsLevel::May}});
    auto o = off.decide("mx.bank.example", "192.0.2.4", 25, "bank.example");
    CHECK((o.mode == TlsMode::Required)); // the client refuses to connect without a context
    CHECK(o.context == nullptr);
    CHECK((off.decide("mx.list.example", "192.0.2.5", 25, "list.example").mode == TlsMode::Off));
  }
}

TEST_CASE("TLS policy: DANE where the TLSA records say so, over every other rule") {
  using upesi::dns::DaneRequirement;
  using upesi::tls::OutboundTlsLevel;
  TlsPolicy policy(clientContext(), {}, {"plain.example"}, true, std::chrono::seconds(60));
  policy.setDestinationPolicy({{"bank.example", OutboundTlsLevel::Secure},
                               {"list.example", OutboundTlsLevel::May},
                               {"signed.example", OutboundTlsLevel::Dane}});
  DaneRequirement usable;
  usable.kind = DaneRequirement::Kind::Usable;
  usable.records.push_back({3, 1, 1, std::string(32, 'x')});
  DaneRequirement unusable;
  unusable.kind = DaneRequirement::Kind::Unusable;
  DaneRequirement none;
  SUBCASE("who looks for TLSA records: dane=opportunistic without a level, or the dane level") {
    CHECK_FALSE(policy.wantsDane("other.example")); // dane=off
    CHECK(policy.wantsDane("signed.example"));
    policy.setDane(true);
    CHECK(policy.wantsDane("other.example"));
    CHECK(policy.wantsDane("signed.example"));
    CHECK_FALSE(policy.wantsDane("bank.example")); // a level of its own, as Postfix's maps
    CHECK_FALSE(policy.wantsDane("list.example"));
    TlsPolicy off(nullptr, {}, {});
    off.setDane(true);
    CHECK_FALSE(off.wantsDane("other.example")); // enable_tls=false
  }
  SUBCASE("usable records: TLS matching them, even for a host that failed or is on no_tls_hosts") {
    auto now = TlsPolicy::Clock::now();
    REQUIRE(policy.handshakeFailed("mx.plain.example", now));
    auto o = policy.decide("mx.plain.example", "192.0.2.9", 25, "plain.example", now, &usable);
    CHECK((o.mode == TlsMode::Required));
    CHECK(o.verify);
    CHECK(o.tlsa == usable.records);
    CHECK(o.name == "mx.plain.example");
    CHECK(TlsPolicy::describe(o, &usable) == "dane");
  }
  SUBCASE("records none of which is usable: TLS, unauthenticated") {
    auto o = policy.decide("mx.other.example", "192.0.2.9", 25, "other.example",
                           TlsPolicy::Clock::now(), &unusable);
    CHECK((o.mode == TlsMode::Required));
    CHECK_FALSE(o.verify);
    CHECK(o.tlsa.empty());
    CHECK(TlsPolicy::describe(o, &unusable) == "dane-encrypt");
  }
  SUBCASE("no TLSA records: the level the domain has, `may` for the dane level") {
    auto o = policy.decide("mx.signed.example", "192.0.2.9", 25, "signed.example",
                           TlsPolicy::Clock::now(), &none);
    CHECK((o.mode == TlsMode::Opportunistic));
    CHECK(TlsPolicy::describe(o, &none) == "may");
    auto b = policy.decide("mx.bank.example", "192.0.2.9", 25, "bank.example");
    CHECK(TlsPolicy::describe(b, nullptr) == "secure");
    CHECK(TlsPolicy::describe(policy.decide("mx.plain.example", "192.0.2.9", 25, "plain.example"),
                              nullptr) == "none");
  }
}
