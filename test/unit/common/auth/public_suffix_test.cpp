#include "common/auth/public_suffix.hpp"
#include "common/auth/punycode.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <unistd.h>

using upesi::auth::DebianPublicSuffixList;
using upesi::auth::PublicSuffixList;

namespace {

const PublicSuffixList* debianList() {
  static const std::optional<PublicSuffixList> list = []() -> std::optional<PublicSuffixList> {
    const std::string path(DebianPublicSuffixList);
    if (!std::filesystem::exists(path)) {
      return std::nullopt;
    }
    auto loaded = PublicSuffixList::load(path);
    REQUIRE_MESSAGE(loaded.ok(), loaded.error());
    return std::move(*loaded);
  }();
  return list ? &*list : nullptr;
}

// The PSL project's tests/test_psl.txt: checkPublicSuffix(input, registrable domain or null).
struct Vector {
  const char* input;
  const char* expected; // nullptr: null
};

const Vector psl_vectors[] = {
    // Mixed case.
    {"COM", nullptr},
    {"example.COM", "example.com"},
    {"WwW.example.COM", "example.com"},
    // Leading dot.
    {".com", nullptr},
    {".example", nullptr},
    {".example.com", nullptr},
    {".example.example", nullptr},
    // Unlisted TLD.
    {"example", nullptr},
    {"example.example", "example.example"},
    {"b.example.example", "example.example"},
    {"a.b.example.example", "example.example"},
    // TLD with only 1 rule.
    {"biz", nullptr},
    {"domain.biz", "domain.biz"},
    {"b.domain.biz", "domain.biz"},
    {"a.b.domain.biz", "domain.biz"},
    // TLD with some 2-level rules.
    {"com", nullptr},
    {"example.com", "example.com"},
    {"b.example.com", "example.com"},
    {"a.b.example.com", "example.com"},
    {"uk.com", nullptr},
    {"example.uk.com", "example.uk.com"},
    {"b.example.uk.com", "example.uk.com"},
    {"a.b.example.uk.com", "example.uk.com"},
    {"test.ac", "test.ac"},
    // TLD with only 1 (wildcard) rule.
    {"mm", nullptr},
    {"c.mm", nullptr},
    {"b.c.mm", "b.c.mm"},
    {"a.b.c.mm", "b.c.mm"},
    // More complex TLD.
    {"jp", nullptr},
    {"test.jp", "test.jp"},
    {"www.test.jp", "test.jp"},
    {"ac.jp", nullptr},
    {"test.ac.jp", "test.ac.jp"},
    {"www.test.ac.jp", "test.ac.jp"},
    {"kyoto.jp", nullptr},
    {"test.kyoto.jp", "test.kyoto.jp"},
    {"ide.kyoto.jp", nullptr},
    {"b.ide.kyoto.jp", "b.ide.kyoto.jp"},
    {"a.b.ide.kyoto.jp", "b.ide.kyoto.jp"},
    {"c.kobe.jp", nullptr},
    {"b.c.kobe.jp", "b.c.kobe.jp"},
    {"a.b.c.kobe.jp", "b.c.kobe.jp"},
    {"city.kobe.jp", "city.kobe.jp"},
    {"www.city.kobe.jp", "city.kobe.jp"},
    // TLD with a wildcard rule and exceptions.
    {"ck", nullptr},
    {"test.ck", nullptr},
    {"b.test.ck", "b.test.ck"},
    {"a.b.test.ck", "b.test.ck"},
    {"www.ck", "www.ck"},
    {"www.www.ck", "www.ck"},
    // US K12.
    {"us", nullptr},
    {"test.us", "test.us"},
    {"www.test.us", "test.us"},
    {"ak.us", nullptr},
    {"test.ak.us", "test.ak.us"},
    {"www.test.ak.us", "test.ak.us"},
    {"k12.ak.us", nullptr},
    {"test.k12.ak.us", "test.k12.ak.us"},
    {"www.test.k12.ak.us", "test.k12.ak.us"},
    // IDN labels (U-labels: turned into A-labels before the lookup).
    {"\xe9\xa3\x9f\xe7\x8b\xae.com.cn", "\xe9\xa3\x9f\xe7\x8b\xae.com.cn"},
    {"\xe9\xa3\x9f\xe7\x8b\xae.\xe5\x85\xac\xe5\x8f\xb8.cn",
     "\xe9\xa3\x9f\xe7\x8b\xae.\xe5\x85\xac\xe5\x8f\xb8.cn"},
    {"www.\xe9\xa3\x9f\xe7\x8b\xae.\xe5\x85\xac\xe5\x8f\xb8.cn",
     "\xe9\xa3\x9f\xe7\x8b\xae.\xe5\x85\xac\xe5\x8f\xb8.cn"},
    {"shishi.\xe5\x85\xac\xe5\x8f\xb8.cn", "shishi.\xe5\x85\xac\xe5\x8f\xb8.cn"},
    {"\xe5\x85\xac\xe5\x8f\xb8.cn", nullptr},
    {"\xe9\xa3\x9f\xe7\x8b\xae.\xe4\xb8\xad\xe5\x9b\xbd",
     "\xe9\xa3\x9f\xe7\x8b\xae.\xe4\xb8\xad\xe5\x9b\xbd"},
    {"www.\xe9\xa3\x9f\xe7\x8b\xae.\xe4\xb8\xad\xe5\x9b\xbd",
     "\xe9\xa3\x9f\xe7\x8b\xae.\xe4\xb8\xad\xe5\x9b\xbd"},
    {"shishi.\xe4\xb8\xad\xe5\x9b\xbd", "shishi.\xe4\xb8\xad\xe5\x9b\xbd"},
    {"\xe4\xb8\xad\xe5\x9b\xbd", nullptr},
    // Same as above, but punycoded.
    {"xn--85x722f.com.cn", "xn--85x722f.com.cn"},
    {"xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn"},
    {"www.xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn"},
    {"shishi.xn--55qx5d.cn", "shishi.xn--55qx5d.cn"},
    {"xn--55qx5d.cn", nullptr},
    {"xn--85x722f.xn--fiqs8s", "xn--85x722f.xn--fiqs8s"},
    {"www.xn--85x722f.xn--fiqs8s", "xn--85x722f.xn--fiqs8s"},
    {"shishi.xn--fiqs8s", "shishi.xn--fiqs8s"},
    {"xn--fiqs8s", nullptr},
};

std::filesystem::path tempFile(const std::string& name, const std::string& contents) {
  auto path = std::filesystem::temp_directory_path() /
              ("upesi-psl-" + std::to_string(getpid()) + "-" + name);
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

} // namespace

TEST_CASE("public suffix: the PSL project's checkPublicSuffix vectors, on Debian's list") {
  const PublicSuffixList* list = debianList();
  if (list == nullptr) {
    MESSAGE("skipped: ", DebianPublicSuffixList, " is missing (apt-get install publicsuffix)");
    return;
  }
  CHECK(list->size() > 5000);
  for (const Vector& vector : psl_vectors) {
    CAPTURE(vector.input);
    const auto input = upesi::auth::toALabels(vector.input);
    REQUIRE(input);
    const auto registrable = list->registrableDomain(*input);
    if (vector.expected == nullptr) {
      CHECK_FALSE(registrable);
    } else {
      REQUIRE(registrable);
      CHECK(*registrable == *upesi::auth::toALabels(vector.expected));
    }
  }
}

TEST_CASE("public suffix: organizational domains (RFC 7489 section 3.2), on Debian's list") {
  const PublicSuffixList* list = debianList();
  if (list == nullptr) {
    MESSAGE("skipped: ", DebianPublicSuffixList, " is missing");
    return;
  }
  CHECK(list->organizationalDomain("mail.example.com") == "example.com");
  CHECK(list->organizationalDomain("Alerts.News.Example.COM.") == "example.com");
  CHECK(list->organizationalDomain("example.com") == "example.com");
  CHECK(list->organizationalDomain("a.b.example.co.uk") == "example.co.uk");
  CHECK(list->organizationalDomain("com") == "com"); // a public suffix is its own
  CHECK(list->organizationalDomain("co.uk") == "co.uk");
  CHECK(list->organizationalDomain("nonexistent-tld-for-test") == "nonexistent-tld-for-test");
  CHECK(list->organizationalDomain("x.y.nonexistent-tld-for-test") == "y.nonexistent-tld-for-test");
  // PRIVATE section rules count: blogspot.com and github.io are suffixes there.
  CHECK(list->organizationalDomain("a.user.github.io") == "user.github.io");
  CHECK(list->organizationalDomain("") == "");
  CHECK(list->organizationalDomain(".") == "");
  CHECK(list->organizationalDomain("a..example.com") == "");

  auto icann =
      PublicSuffixList::load(std::string(DebianPublicSuffixList), {.include_private = false});
  REQUIRE(icann.ok());
  CHECK(icann->organizationalDomain("a.user.github.io") == "github.io");
  CHECK(icann->size() < list->size());
}

TEST_CASE("public suffix: a list in text, its rule kinds and sections") {
  auto list = PublicSuffixList::parse("// comment\n"
                                      "// ===BEGIN ICANN DOMAINS===\n"
                                      "com\n"
                                      "  uk   trailing words are ignored\r\n"
                                      "co.uk\n"
                                      "*.ck\n"
                                      "!www.ck\n"
                                      "\xe5\x85\xac\xe5\x8f\xb8.cn\n"
                                      "\n"
                                      "// ===END ICANN DOMAINS===\n"
                                      "// ===BEGIN PRIVATE DOMAINS===\n"
                                      "github.io\n"
                                      "// ===END PRIVATE DOMAINS===\n",
                                      "test.dat");
  REQUIRE_MESSAGE(list.ok(), list.error());
  CHECK(list->size() == 7);
  CHECK(*list->publicSuffix("a.b.co.uk") == "co.uk");
  CHECK(*list->publicSuffix("x.y.ck") == "y.ck");
  CHECK(*list->publicSuffix("www.ck") == "ck");
  CHECK(*list->publicSuffix("a.xn--55qx5d.cn") == "xn--55qx5d.cn");
  CHECK(*list->publicSuffix("a.github.io") == "github.io");
  CHECK(*list->publicSuffix("a.unknown") == "unknown");
  CHECK_FALSE(list->publicSuffix(""));
  CHECK_FALSE(list->publicSuffix("a..com"));
  CHECK(PublicSuffixList().organizationalDomain("a.b.c") == "b.c"); // the default rule alone
  // Which names have a top-level domain the list knows (fcrdns's and helo.checks's valid TLD).
  CHECK(list->hasRuleFor("mail.example.com"));
  CHECK(list->hasRuleFor("COM."));
  CHECK(list->hasRuleFor("x.y.ck"));
  CHECK(list->hasRuleFor("www.ck"));
  CHECK_FALSE(list->hasRuleFor("ck"));
  CHECK_FALSE(list->hasRuleFor("host.invalid"));
  CHECK_FALSE(list->hasRuleFor("a..com"));
  CHECK_FALSE(PublicSuffixList().hasRuleFor("example.com"));
}

TEST_CASE("public suffix: bad files are errors naming the file and the line") {
  auto long_line = PublicSuffixList::parse("com\n" + std::string(256, 'a') + "\n", "list.dat");
  REQUIRE_FALSE(long_line.ok());
  CHECK(long_line.error() == "list.dat:2: a line longer than 255 bytes");
  CHECK(PublicSuffixList::parse(std::string(255, 'a') + "\n", "list.dat").ok());

  auto bad_utf8 = PublicSuffixList::parse("com\n\n\xff.com\n", "list.dat");
  REQUIRE_FALSE(bad_utf8.ok());
  CHECK(bad_utf8.error() == "list.dat:3: not a rule: \xff.com");
  CHECK_FALSE(PublicSuffixList::parse("a..b\n", "x").ok());
  CHECK_FALSE(PublicSuffixList::parse("a.*.b\n", "x").ok());
  CHECK_FALSE(PublicSuffixList::parse("!\n", "x").ok());
  CHECK_FALSE(PublicSuffixList::parse("*.\n", "x").ok());

  auto missing = PublicSuffixList::load("/nonexistent/upesi/list.dat");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error() == "/nonexistent/upesi/list.dat: cannot open");

  const auto big = tempFile("big.dat", std::string(upesi::auth::MaxPublicSuffixFile + 1, '\n'));
  auto too_big = PublicSuffixList::load(big.string());
  std::filesystem::remove(big);
  REQUIRE_FALSE(too_big.ok());
  CHECK(too_big.error().find("larger than 16777216 bytes") != std::string::npos);

  const auto small = tempFile("small.dat", "com\n*.ck\n");
  auto loaded = PublicSuffixList::load(small.string());
  std::filesystem::remove(small);
  REQUIRE(loaded.ok());
  CHECK(loaded->size() == 2);
}

TEST_CASE("public suffix: hostile domains") {
  auto list = PublicSuffixList::parse("com\n*.ck\n!www.ck\n", "x");
  REQUIRE(list.ok());
  std::string many_labels;
  for (int i = 0; i < 10000; ++i) {
    many_labels += "a.";
  }
  CHECK(list->organizationalDomain(many_labels + "com") == "a.com");
  CHECK(list->organizationalDomain(std::string(100000, 'x')) == std::string(100000, 'x'));
  CHECK(list->organizationalDomain("..") == "");
  CHECK(list->organizationalDomain("com..") == "");
  CHECK(list->organizationalDomain(std::string("a\0b.com", 7)) == std::string("a\0b.com", 7));
  CHECK(list->organizationalDomain("ck") == "ck");
  CHECK(list->organizationalDomain("x.ck") == "x.ck");
  CHECK(list->organizationalDomain("www.ck") == "www.ck");
}
