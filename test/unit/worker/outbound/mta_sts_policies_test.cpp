// MtaStsPolicies on a real loop, with DNS and the HTTPS fetch answered by tables: fetched once,
// shared by concurrent deliveries, refreshed when the TXT id changes, kept in files across
// instances, bounded in memory.
#include "test/support/temp_dir.hpp"
#include "worker/outbound/mta_sts_policies.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

using upesi::DnsCallback;
using upesi::DnsResult;
using upesi::DnsStatus;
using upesi::DnsType;
using upesi::Error;
using upesi::Result;
using upesi::mta_sts::Mode;
using upesi::outbound::MtaStsPolicies;
using upesi::outbound::StsEntry;
using upesi::test::TempDir;

namespace {

const char* const StsEnforce =
    "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n";
const char* const StsTesting = "version: STSv1\nmode: testing\nmx: *.example.com\nmax_age: 86400\n";

struct StsWorld {
  uv_loop_t loop{};
  std::map<std::string, std::string> txt;      // name -> record ("" : none)
  std::map<std::string, std::string> policies; // domain -> policy text
  int fetches = 0;
  int txt_lookups = 0;

  StsWorld() { uv_loop_init(&loop); }
  ~StsWorld() { uv_loop_close(&loop); }

  MtaStsPolicies make(MtaStsPolicies::Options options = {}) {
    return MtaStsPolicies(
        &loop, std::move(options),
        [this](const std::string& name, DnsType, DnsCallback done) {
          ++txt_lookups;
          DnsResult r;
          auto it = txt.find(name);
          if (it == txt.end() || it->second.empty()) {
            r.status = DnsStatus::NxDomain;
            r.error = "Domain name not found";
          } else {
            r.status = DnsStatus::Ok;
            r.records.push_back({it->second, 0, 300});
          }
          done(r);
        },
        [this](const std::string& domain, std::function<void(Result<std::string>)> done) {
          ++fetches;
          auto it = policies.find(domain);
          if (it == policies.end()) {
            done(Error{"HTTP 404 Not Found"});
            return;
          }
          done(it->second);
        });
  }

  std::shared_ptr<const StsEntry> ask(MtaStsPolicies& p, const std::string& domain,
                                      std::string* note = nullptr) {
    std::shared_ptr<const StsEntry> out;
    bool answered = false;
    p.policyFor(domain, [&](std::shared_ptr<const StsEntry> e, const std::string& n) {
      out = std::move(e);
      answered = true;
      if (note != nullptr) {
        *note = n;
      }
    });
    uv_run(&loop, UV_RUN_DEFAULT);
    REQUIRE(answered);
    return out;
  }
};

} // namespace

TEST_CASE("MTA-STS policies: fetched once, then from memory") {
  StsWorld w;
  w.txt["_mta-sts.example.com"] = "v=STSv1; id=one;";
  w.policies["example.com"] = StsEnforce;
  auto p = w.make();
  auto first = w.ask(p, "example.com");
  REQUIRE(first);
  CHECK((first->policy.mode == Mode::Enforce));
  CHECK(first->id == "one");
  CHECK(w.fetches == 1);
  auto again = w.ask(p, "example.com");
  CHECK(again == first);
  CHECK(w.fetches == 1);
  SUBCASE("no record, a bad record, a policy that cannot be fetched or read: none") {
    std::vector<std::pair<std::string, bool>> failed;
    p.onFetchFailed([&failed](const std::string& domain, bool invalid, const std::string&) {
      failed.emplace_back(domain, invalid);
    });
    CHECK_FALSE(w.ask(p, "none.example"));
    w.txt["_mta-sts.bad.example"] = "v=STSv1; id=a; id=b";
    CHECK_FALSE(w.ask(p, "bad.example"));
    w.txt["_mta-sts.gone.example"] = "v=STSv1; id=a";
    std::string note;
    CHECK_FALSE(w.ask(p, "gone.example", &note));
    CHECK(note.find("404") != std::string::npos);
    w.txt["_mta-sts.junk.example"] = "v=STSv1; id=a";
    w.policies["junk.example"] = "<html>";
    CHECK_FALSE(w.ask(p, "junk.example", &note));
    CHECK(note.find("not valid") != std::string::npos);
    // For TLS reports: the two domains that announce a policy we could not have.
    CHECK(failed == std::vector<std::pair<std::string, bool>>{{"gone.example", false},
                                                              {"junk.example", true}});
  }
}

TEST_CASE("MTA-STS policies: a domain without one is not asked again for a while") {
  StsWorld w;
  auto p = w.make();
  CHECK_FALSE(w.ask(p, "none.example"));
  CHECK_FALSE(w.ask(p, "none.example"));
  CHECK(w.txt_lookups == 1);
  MtaStsPolicies::Options options;
  options.no_policy_for = std::chrono::seconds(0);
  auto eager = w.make(options);
  CHECK_FALSE(w.ask(eager, "none.example"));
  CHECK_FALSE(w.ask(eager, "none.example"));
  CHECK(w.txt_lookups == 3);
}

TEST_CASE("MTA-STS policies: deliveries asking at once share one fetch") {
  StsWorld w;
  w.txt["_mta-sts.example.com"] = "v=STSv1; id=one;";
  w.policies["example.com"] = StsTesting;
  TempDir dir; // a cache file makes the first answer wait for the thread pool
  MtaStsPolicies::Options options;
  options.cache_dir = dir.path() / "mta-sts";
  auto p = w.make(options);
  int answers = 0;
  for (int i = 0; i < 5; ++i) {
    p.policyFor("example.com", [&answers](std::shared_ptr<const StsEntry> e, const std::string&) {
      CHECK(e);
      ++answers;
    });
  }
  uv_run(&w.loop, UV_RUN_DEFAULT);
  CHECK(answers == 5);
  CHECK(w.fetches == 1);
}

TEST_CASE(
    "MTA-STS policies: a new id is fetched in the background, the old policy used meanwhile") {
  StsWorld w;
  w.txt["_mta-sts.example.com"] = "v=STSv1; id=one;";
  w.policies["example.com"] = StsEnforce;
  MtaStsPolicies::Options options;
  options.recheck = std::chrono::seconds(0);
  auto p = w.make(options);
  REQUIRE(w.ask(p, "example.com")->id == "one");
  w.txt["_mta-sts.example.com"] = "v=STSv1; id=two;";
  w.policies["example.com"] = StsTesting;
  auto during = w.ask(p, "example.com"); // answers with the cached one, then refreshes
  CHECK(during->id == "one");
  CHECK(w.fetches == 2);
  auto after = w.ask(p, "example.com");
  CHECK(after->id == "two");
  CHECK((after->policy.mode == Mode::Testing));
  SUBCASE("a record that disappears does not withdraw a policy before it expires") {
    w.txt.erase("_mta-sts.example.com");
    w.ask(p, "example.com");
    CHECK(w.ask(p, "example.com")->id == "two");
  }
}

TEST_CASE("MTA-STS policies: the cache file serves a new instance (a restart, another worker)") {
  StsWorld w;
  TempDir dir;
  MtaStsPolicies::Options options;
  options.cache_dir = dir.path() / "mta-sts";
  w.txt["_mta-sts.example.com"] = "v=STSv1; id=one;";
  w.policies["example.com"] = StsEnforce;
  {
    auto p = w.make(options);
    REQUIRE(w.ask(p, "example.com"));
  }
  CHECK(std::filesystem::exists(options.cache_dir / "example.com.json"));
  w.policies.clear(); // the web server is down now
  auto restarted = w.make(options);
  std::string note;
  auto entry = w.ask(restarted, "example.com", &note);
  REQUIRE(entry);
  CHECK(note == "cache file");
  CHECK((entry->policy.mode == Mode::Enforce));
  CHECK(w.fetches == 1);
  SUBCASE("a file that is not a cache entry is no policy") {
    dir.write("mta-sts/other.example.json", "{\"domain\": \"other.example\", \"id\": 1}");
    auto p = w.make(options);
    CHECK_FALSE(w.ask(p, "other.example"));
  }
}

TEST_CASE("MTA-STS policies: memory holds at most max_domains") {
  StsWorld w;
  MtaStsPolicies::Options options;
  options.max_domains = 3;
  auto p = w.make(options);
  for (int i = 0; i < 10; ++i) {
    const std::string domain = "d" + std::to_string(i) + ".example";
    w.txt["_mta-sts." + domain] = "v=STSv1; id=x;";
    w.policies[domain] = StsEnforce;
    REQUIRE(w.ask(p, domain));
    CHECK(p.size() <= 3);
  }
  CHECK(p.size() == 3);
}

TEST_CASE("MTA-STS policies: a cache entry as JSON and back") {
  StsEntry e;
  e.domain = "example.com";
  e.id = "abc";
  e.text = StsEnforce;
  e.fetched_ms = 1700000000000;
  auto back = upesi::outbound::stsEntryFromJson(upesi::outbound::stsEntryToJson(e));
  REQUIRE(back);
  CHECK(back->domain == "example.com");
  CHECK(back->id == "abc");
  CHECK(back->fetched_ms == 1700000000000);
  CHECK(back->policy.mx == std::vector<std::string>{"mx.example.com"});
  CHECK(back->expired(1700000000000 + 86400 * 1000));
  CHECK_FALSE(back->expired(1700000000000 + 86399 * 1000));
  CHECK_FALSE(upesi::outbound::stsEntryFromJson("not json"));
}
