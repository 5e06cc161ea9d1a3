#include "plugins/greylist/greylist_rules.hpp"

#include <doctest/doctest.h>

using upesi::auth::PublicSuffixList;
using upesi::plugins::greylist::addressListed;
using upesi::plugins::greylist::GreylistConfig;
using upesi::plugins::greylist::hostId;
using upesi::plugins::greylist::networkOf;
using upesi::plugins::greylist::readGreylistConfig;

namespace {

PublicSuffixList greylistSuffixes() {
  auto list = PublicSuffixList::parse("com\nnet\nuk\nco.uk\n", "test list");
  REQUIRE(list.ok());
  return std::move(list).value();
}

nlohmann::json fcrdnsConfirmed(std::initializer_list<const char*> names = {"x"}) {
  nlohmann::json fcrdns = {{"pass", {"fcrdns"}}, {"ptr_names", nlohmann::json::array()}};
  for (const char* name : names) {
    fcrdns["ptr_names"].push_back(name);
  }
  return fcrdns;
}

} // namespace

TEST_CASE("greylist: a host is its network unless a static rDNS name or SPF speaks for it") {
  const auto suffixes = greylistSuffixes();
  GreylistConfig cfg;
  CHECK(networkOf("192.0.2.77") == "192.0.2.0/24");
  CHECK(networkOf("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64");

  auto by_name =
      hostId(cfg, "192.0.2.7", "mta7.out.Example.com.", fcrdnsConfirmed(), std::nullopt, &suffixes);
  CHECK(by_name.id == "out.example.com");
  CHECK(by_name.kind == "rdns");
  // Never shorter than the organizational domain.
  CHECK(
      hostId(cfg, "192.0.2.7", "mx.example.co.uk", fcrdnsConfirmed(), std::nullopt, &suffixes).id ==
      "example.co.uk");
  CHECK(hostId(cfg, "192.0.2.7", "example.com", fcrdnsConfirmed(), std::nullopt, &suffixes).id ==
        "example.com");

  // Names that cannot stand for a host.
  auto network = [&](const std::string& rdns, const nlohmann::json& fcrdns) {
    return hostId(cfg, "192.0.2.7", rdns, fcrdns, std::nullopt, &suffixes).id;
  };
  CHECK(network("", fcrdnsConfirmed()) == "192.0.2.0/24");
  CHECK(network("mta7.example.com", nullptr) == "192.0.2.0/24");
  CHECK(network("mta7.example.com", {{"fail", {"fcrdns"}}}) == "192.0.2.0/24");
  CHECK(network("mta7.example.com", fcrdnsConfirmed({"a", "b"})) == "192.0.2.0/24");
  auto generic = fcrdnsConfirmed();
  generic["generic_rdns"] = true;
  CHECK(network("192-0-2-7.example.com", generic) == "192.0.2.0/24");
  cfg.special_dynamic_domains = {"dyn.example.net"};
  CHECK(network("h1.dyn.example.net", fcrdnsConfirmed()) == "192.0.2.0/24");
  // Without a suffix list the network stands.
  CHECK(hostId(cfg, "192.0.2.7", "mta7.out.example.com", fcrdnsConfirmed(), std::nullopt, nullptr)
            .id == "192.0.2.0/24");

  // SPF, when asked for and passing, wins.
  cfg.spf_domain = true;
  auto spf = hostId(cfg, "192.0.2.7", "mta7.out.example.com", fcrdnsConfirmed(), "Bulk.Example.org",
                    &suffixes);
  CHECK(spf.id == "spf:bulk.example.org");
  CHECK(spf.kind == "spf");
}

TEST_CASE("greylist: greylist.ini, its periods and lists") {
  auto cfg = readGreylistConfig(nlohmann::json::parse(R"({
    "main": {"text": "come back later", "spf_domain": true, "fail_open": false},
    "period": {"black": "2", "grey": "600", "white": "86400"},
    "skip": {"private_ip": false},
    "ip_whitelist": {"192.0.2.0/24": null, "not-an-ip": null},
    "envelope_whitelist": {"Partner.example": null},
    "recipient_whitelist": {"postmaster@example.com": null}
  })"));
  CHECK(cfg.text == "come back later");
  CHECK(cfg.black_s == 2);
  CHECK(cfg.grey_s == 600);
  CHECK(cfg.white_s == 86400);
  CHECK_FALSE(cfg.skip_private_ip);
  CHECK(cfg.spf_domain);
  CHECK_FALSE(cfg.fail_open);
  CHECK(cfg.ip_whitelist.size() == 1);
  CHECK(cfg.problems ==
        std::vector<std::string>{"[ip_whitelist] \"not-an-ip\" is not an address or a CIDR"});
  CHECK(addressListed(cfg.envelope_whitelist, "news@partner.example"));
  CHECK_FALSE(addressListed(cfg.envelope_whitelist, "news@other.example"));
  CHECK(addressListed(cfg.recipient_whitelist, "postmaster@example.com"));
  CHECK_FALSE(addressListed(cfg.recipient_whitelist, "user@example.com"));

  auto defaults = readGreylistConfig(nlohmann::json::object());
  CHECK(defaults.black_s == 850);
  CHECK(defaults.grey_s == 90000);
  CHECK(defaults.white_s == 3024000);
  CHECK(defaults.skip_private_ip);
  CHECK(defaults.fail_open);

  auto backwards = readGreylistConfig(nlohmann::json::parse(R"({"period": {"black": "700",
                                                                           "grey": "600"}})"));
  CHECK(backwards.black_s == 850);
  CHECK(backwards.problems.size() == 1);
}
