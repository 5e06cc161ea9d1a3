#include <upesi/results.hpp>

#include <doctest/doctest.h>

using upesi::Results;

TEST_CASE("results: push appends under any key, as haraka-results' push") {
  Results r;
  // haraka-results' README: push(plugin, {dns_recs: 'name1'}), then 'name2'.
  r.push("dnsbl", {{"dns_recs", "name1"}});
  r.push("dnsbl", {{"dns_recs", "name2"}});
  CHECK(r.get("dnsbl")["dns_recs"] == nlohmann::json::array({"name1", "name2"}));
  CHECK(r.has("dnsbl", "dns_recs", "name2"));
  // A key that add() set to one value becomes a list that keeps it.
  r.add("dnsbl", {{"zone", "zen"}});
  r.push("dnsbl", {{"zone", "bl"}});
  CHECK(r.get("dnsbl")["zone"] == nlohmann::json::array({"zen", "bl"}));
  // The verdict lists behave as with add().
  r.push("dnsbl", {{"fail", "zen"}});
  CHECK(r.has("dnsbl", "fail", "zen"));
}

TEST_CASE("results: collate summarises a plugin's results on one line") {
  Results r;
  CHECK(r.collate("spf").empty());
  r.add("spf", {{"pass", "mfrom"}});
  r.add("spf", {{"pass", "helo"}, {"msg", "softfail for helo"}});
  r.add("spf", {{"fail", "dkim"}});
  r.add("spf", {{"score", 3}, {"_private", "hidden"}});
  CHECK(r.collate("spf") == "score: 3; pass: mfrom, helo; fail: dkim; msg: softfail for helo");
  r.add("spf", {{"err", "timeout"}, {"skip", "relay"}});
  CHECK(r.collate("spf") ==
        "score: 3; pass: mfrom, helo; fail: dkim; msg: softfail for helo; err: timeout; "
        "skip: relay");
  r.add("spf", {{"human", "all good"}});
  CHECK(r.collate("spf") == "all good");
  CHECK(r.collate("other").empty());
}
