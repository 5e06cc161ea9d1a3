#include "common/tls/tls_config.hpp"
#include "test/support/temp_dir.hpp"

#include <doctest/doctest.h>

using upesi::config::Config;
using upesi::test::TempDir;
using upesi::tls::OutboundTlsLevel;
using upesi::tls::readTlsConfig;

namespace {

struct TlsInstall {
  TempDir dir;
  Config config{dir.path() / "config", dir.path() / "defaults"};
  void write(std::string_view text) { dir.write("config/tls.ini", std::string(text)); }
};

} // namespace

TEST_CASE("tls.ini [outbound.policy]: a level per destination domain, as Postfix's policy maps") {
  TlsInstall install;
  SUBCASE("none given: no entries") {
    auto tls = readTlsConfig(install.config);
    REQUIRE(tls.ok());
    CHECK(tls->outbound_policy.empty());
  }
  SUBCASE("every level, keys in lower case, a leading dot kept for subdomains") {
    install.write("[outbound.policy]\nold.example = none\nbank.EXAMPLE = Secure\n"
                  ".corp.example = verify\npartner.example = encrypt\nlist.example = may\n");
    auto tls = readTlsConfig(install.config);
    REQUIRE(tls.ok());
    const auto& p = tls->outbound_policy;
    REQUIRE(p.size() == 5);
    CHECK((p.at("old.example") == OutboundTlsLevel::None));
    CHECK((p.at("bank.example") == OutboundTlsLevel::Secure));
    CHECK((p.at(".corp.example") == OutboundTlsLevel::Verify));
    CHECK((p.at("partner.example") == OutboundTlsLevel::Encrypt));
    CHECK((p.at("list.example") == OutboundTlsLevel::May));
  }
  SUBCASE("a level Postfix does not know is an error at its line") {
    install.write("[outbound]\nfallback_to_plain=true\n[outbound.policy]\nok.example = may\n"
                  "bank.example = strict\n");
    auto tls = readTlsConfig(install.config);
    REQUIRE_FALSE(tls.ok());
    CHECK(tls.error().find("tls.ini:5") != std::string::npos);
    CHECK(tls.error().find("strict") != std::string::npos);
    CHECK(tls.error().find("none, may, dane, encrypt, verify or secure") != std::string::npos);
  }
  SUBCASE("a key that is no domain name is an error at its line") {
    install.write("[outbound.policy]\nbank_example.com = secure\n");
    auto tls = readTlsConfig(install.config);
    REQUIRE_FALSE(tls.ok());
    CHECK(tls.error().find("tls.ini:2") != std::string::npos);
    CHECK(tls.error().find("not a domain name") != std::string::npos);
  }
}

TEST_CASE("tls.ini [outbound] dane: opportunistic by default, off, or an error at its line") {
  TlsInstall install;
  SUBCASE("unset: opportunistic") {
    auto tls = readTlsConfig(install.config);
    REQUIRE(tls.ok());
    CHECK(tls->outbound_dane);
  }
  SUBCASE("off, and a dane level per domain") {
    install.write("[outbound]\ndane=off\n[outbound.policy]\nsigned.example = dane\n");
    auto tls = readTlsConfig(install.config);
    REQUIRE(tls.ok());
    CHECK_FALSE(tls->outbound_dane);
    CHECK((tls->outbound_policy.at("signed.example") == OutboundTlsLevel::Dane));
  }
  SUBCASE("anything else") {
    install.write("[outbound]\nfallback_to_plain=true\ndane=mandatory\n");
    auto tls = readTlsConfig(install.config);
    REQUIRE_FALSE(tls.ok());
    CHECK(tls.error().find("tls.ini:3") != std::string::npos);
    CHECK(tls.error().find("opportunistic or off") != std::string::npos);
  }
}
