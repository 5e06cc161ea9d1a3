#include <upesi/address.hpp>

#include "common/smtp/address_parser.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

using upesi::Address;
using upesi::smtp::isAddressLiteral;
using upesi::smtp::isDomain;
using upesi::smtp::parsePath;
using upesi::smtp::PathKind;
using upesi::smtp::PathOptions;

namespace {

using namespace std::string_literals;

struct GoodCase {
  std::string text;
  std::string user;
  std::string host;
  std::string formatted;
};

struct BadCase {
  std::string text;
  std::string error;
};

std::string repeat(char c, std::size_t n) {
  return std::string(n, c);
}

} // namespace

TEST_CASE("address: valid forward paths") {
  const std::vector<GoodCase> cases = {
      {"<user@example.com>", "user", "example.com", "<user@example.com>"},
      {"<Foo.Bar@Example.COM>", "Foo.Bar", "example.com", "<Foo.Bar@example.com>"},
      {"<a+tag@sub.example.org>", "a+tag", "sub.example.org", "<a+tag@sub.example.org>"},
      {"<!#$%&'*+-/=?^_`{|}~@x.y>", "!#$%&'*+-/=?^_`{|}~", "x.y", "<!#$%&'*+-/=?^_`{|}~@x.y>"},
      {"<u@localhost>", "u", "localhost", "<u@localhost>"},
      {"<u@a-b.c-d.e>", "u", "a-b.c-d.e", "<u@a-b.c-d.e>"},
      {"<u@123.example>", "u", "123.example", "<u@123.example>"},
      {"<\"john doe\"@x.org>", "john doe", "x.org", "<\"john doe\"@x.org>"},
      {"<\"abc\"@x.org>", "abc", "x.org", "<abc@x.org>"},
      {"<\"a\\\"b\"@x.org>", "a\"b", "x.org", "<\"a\\\"b\"@x.org>"},
      {"<\"a\\\\b\"@x.org>", "a\\b", "x.org", "<\"a\\\\b\"@x.org>"},
      {"<\"a\\xb\"@x.org>", "axb", "x.org", "<axb@x.org>"},
      {"<\"a@b\"@x.org>", "a@b", "x.org", "<\"a@b\"@x.org>"},
      {"<\"a>b\"@x.org>", "a>b", "x.org", "<\"a>b\"@x.org>"},
      {"<\"a..b\"@x.org>", "a..b", "x.org", "<\"a..b\"@x.org>"},
      {"<\"\"@x.org>", "", "x.org", "<\"\"@x.org>"},
      {"<@relay.example:u@x.org>", "u", "x.org", "<u@x.org>"},
      {"<@a.example,@b.example:u@x.org>", "u", "x.org", "<u@x.org>"},
      {"<u@[192.0.2.1]>", "u", "[192.0.2.1]", "<u@[192.0.2.1]>"},
      {"<u@[0.0.0.0]>", "u", "[0.0.0.0]", "<u@[0.0.0.0]>"},
      {"<u@[255.255.255.255]>", "u", "[255.255.255.255]", "<u@[255.255.255.255]>"},
      {"<u@[IPv6:2001:DB8::1]>", "u", "[IPv6:2001:db8::1]", "<u@[IPv6:2001:db8::1]>"},
      {"<u@[ipv6:::1]>", "u", "[IPv6:::1]", "<u@[IPv6:::1]>"},
      {"<u@[IPv6:1:2:3:4:5:6:7:8]>", "u", "[IPv6:1:2:3:4:5:6:7:8]", "<u@[IPv6:1:2:3:4:5:6:7:8]>"},
      {"<u@[IPv6:::ffff:192.0.2.1]>", "u", "[IPv6:::ffff:192.0.2.1]",
       "<u@[IPv6:::ffff:192.0.2.1]>"},
      {"<u@[IPv6:1:2:3:4:5:6:1.2.3.4]>", "u", "[IPv6:1:2:3:4:5:6:1.2.3.4]",
       "<u@[IPv6:1:2:3:4:5:6:1.2.3.4]>"},
      {"<u@[IPv6:fe80::]>", "u", "[IPv6:fe80::]", "<u@[IPv6:fe80::]>"},
      {"<postmaster>", "postmaster", "", "<postmaster>"},
      {"<PostMaster>", "PostMaster", "", "<PostMaster>"},
      {"<abuse>", "abuse", "", "<abuse>"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto r = parsePath(c.text, PathKind::Forward);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error()));
    CHECK(r->user == c.user);
    CHECK(r->host == c.host);
    CHECK(r->format() == c.formatted);
    CHECK(r->original == c.text);
    CHECK_FALSE(r->is_null);
    CHECK_FALSE(r->is_utf8);
  }
}

TEST_CASE("address: fields") {
  auto r = parsePath("<Foo@Example.COM>", PathKind::Reverse);
  REQUIRE(r.ok());
  CHECK(r->original == "<Foo@Example.COM>");
  CHECK(r->original_host == "Example.COM");
  CHECK(r->host == "example.com");
  CHECK(r->user == "Foo");
  CHECK(r->address() == "Foo@example.com");
  CHECK(r->format() == "<Foo@example.com>");

  auto quoted = parsePath("<\"a b\"@x.org>", PathKind::Reverse);
  REQUIRE(quoted.ok());
  CHECK(quoted->address() == "a b@x.org"); // as Haraka: not re-quoted
  CHECK(quoted->format() == "<\"a b\"@x.org>");

  // format() output parses back to the same value.
  auto again = parsePath(quoted->format(), PathKind::Reverse);
  REQUIRE(again.ok());
  CHECK(again->user == quoted->user);
  CHECK(again->host == quoted->host);
}

TEST_CASE("address: null reverse path") {
  auto r = parsePath("<>", PathKind::Reverse);
  REQUIRE(r.ok());
  CHECK(r->is_null);
  CHECK(r->user.empty());
  CHECK(r->host.empty());
  CHECK(r->format() == "<>");
  CHECK(r->address().empty());
  CHECK(r->original == "<>");

  auto strict = parsePath("<>", PathKind::Reverse, PathOptions::strict());
  CHECK(strict.ok());

  auto forward = parsePath("<>", PathKind::Forward);
  REQUIRE_FALSE(forward.ok());
  CHECK(forward.error() == "Null path <> not allowed as a recipient");
}

TEST_CASE("address: local-only names") {
  // postmaster is accepted in both modes as a recipient, never as a sender.
  CHECK(parsePath("<postmaster>", PathKind::Forward, PathOptions::strict()).ok());
  CHECK(parsePath("<POSTMASTER>", PathKind::Forward, PathOptions::strict()).ok());
  CHECK(parsePath("postmaster", PathKind::Forward).ok());
  CHECK_FALSE(parsePath("<postmaster>", PathKind::Reverse).ok());
  CHECK_FALSE(parsePath("<\"postmaster\">", PathKind::Forward).ok());
  CHECK_FALSE(parsePath("<abuse>", PathKind::Forward, PathOptions::strict()).ok());
  auto other = parsePath("<root>", PathKind::Forward);
  REQUIRE_FALSE(other.ok());
  CHECK(other.error() == "Missing domain in address");
  CHECK(parsePath("<postmaster@example.com>", PathKind::Forward, PathOptions::strict()).ok());
}

TEST_CASE("address: missing brackets") {
  auto lenient = parsePath("user@Example.com", PathKind::Reverse);
  REQUIRE(lenient.ok());
  CHECK(lenient->user == "user");
  CHECK(lenient->host == "example.com");
  CHECK(lenient->original == "user@Example.com");
  CHECK(lenient->format() == "<user@example.com>");

  auto strict = parsePath("user@example.com", PathKind::Reverse, PathOptions::strict());
  REQUIRE_FALSE(strict.ok());
  CHECK(strict.error() == "Address must be enclosed in <>");

  PathOptions options;
  options.allow_missing_brackets = false;
  CHECK_FALSE(parsePath("user@example.com", PathKind::Forward, options).ok());
}

TEST_CASE("address: UTF-8") {
  auto local = parsePath("<José@example.com>", PathKind::Forward);
  REQUIRE(local.ok());
  CHECK(local->is_utf8);
  CHECK(local->user == "José");
  CHECK(local->format() == "<José@example.com>");

  auto domain = parsePath("<user@bücher.Example>", PathKind::Forward);
  REQUIRE(domain.ok());
  CHECK(domain->is_utf8);
  CHECK(domain->host == "bücher.example");

  auto quoted = parsePath("<\"δοκιμή test\"@παράδειγμα.δοκιμή>", PathKind::Forward);
  REQUIRE(quoted.ok());
  CHECK(quoted->is_utf8);
  CHECK(quoted->user == "δοκιμή test");

  auto ascii = parsePath("<user@example.com>", PathKind::Forward);
  REQUIRE(ascii.ok());
  CHECK_FALSE(ascii->is_utf8);
}

TEST_CASE("address: invalid paths") {
  const std::vector<BadCase> cases = {
      {"", "Empty address"},
      {"<", "Unbalanced angle brackets in address"},
      {">", "Unbalanced angle brackets in address"},
      {"<user@example.com", "Unbalanced angle brackets in address"},
      {"user@example.com>", "Unbalanced angle brackets in address"},
      {"<<user@example.com>>", "Unbalanced angle brackets in address"},
      {"<user@exa>mple.com>", "Unbalanced angle brackets in address"},
      {"<user<@example.com>", "Unbalanced angle brackets in address"},
      {"<@>", "Invalid source route in address"},
      {"<@example.com>", "Invalid source route in address"},
      {"<@a.example:>", "Missing mailbox after source route"},
      {"<@a.example,b.example:u@x.org>", "Invalid source route in address"},
      {"<@a.example,:u@x.org>", "Invalid source route in address"},
      {"<@-bad.example:u@x.org>", "Invalid source route in address"},
      {"<@[1.2.3.4]:u@x.org>", "Invalid source route in address"},
      {"<@example.com", "Unbalanced angle brackets in address"},
      {"<user>", "Missing domain in address"},
      {"<user@>", "Missing domain in address"},
      {"<@example.com:user@>", "Missing domain in address"},
      {"<@x.org>", "Invalid source route in address"},
      {"<.user@x.org>", "Invalid local part in address"},
      {"<user.@x.org>", "Invalid local part in address"},
      {"<us..er@x.org>", "Invalid local part in address"},
      {"<us er@x.org>", "Invalid local part in address"},
      {"<us(er@x.org>", "Invalid local part in address"},
      {"<us,er@x.org>", "Invalid local part in address"},
      {"<us[er@x.org>", "Invalid local part in address"},
      {"<us\\er@x.org>", "Invalid local part in address"},
      {"<\"user@x.org>", "Unterminated quoted string in local part"},
      {"<\"user\\\">", "Unterminated quoted string in local part"},
      {"<\"a\"b@x.org>", "Invalid local part in address"},
      {"<\"a\"\"b\"@x.org>", "Invalid local part in address"},
      {"<a\"b\"@x.org>", "Invalid local part in address"},
      {"<\"a\\é\"@x.org>", "Invalid quoted-pair in local part"},
      {"<a@b@x.org>", "Invalid domain in address"},
      {"<user@-x.org>", "Invalid domain in address"},
      {"<user@x-.org>", "Invalid domain in address"},
      {"<user@x..org>", "Invalid domain in address"},
      {"<user@.x.org>", "Invalid domain in address"},
      {"<user@x.org.>", "Invalid domain in address"},
      {"<user@x_y.org>", "Invalid domain in address"},
      {"<user@x y.org>", "Invalid domain in address"},
      {"<user@x.org >", "Invalid domain in address"},
      {"< user@x.org>", "Invalid local part in address"},
      {"<user@\"x\".org>", "Invalid domain in address"},
      {"<user@[1.2.3.4>", "Invalid address literal in address"},
      {"<user@1.2.3.4]>", "Invalid domain in address"},
      {"<user@[]>", "Invalid address literal in address"},
      {"<user@[1.2.3]>", "Invalid address literal in address"},
      {"<user@[1.2.3.4.5]>", "Invalid address literal in address"},
      {"<user@[256.1.1.1]>", "Invalid address literal in address"},
      {"<user@[1.2.3.1000]>", "Invalid address literal in address"},
      {"<user@[1..2.3]>", "Invalid address literal in address"},
      {"<user@[1.2.3.4.]>", "Invalid address literal in address"},
      {"<user@[-1.2.3.4]>", "Invalid address literal in address"},
      {"<user@[example.com]>", "Invalid address literal in address"},
      {"<user@[IPv6:]>", "Invalid address literal in address"},
      {"<user@[IPv6:1:2:3:4:5:6:7]>", "Invalid address literal in address"},
      {"<user@[IPv6:1:2:3:4:5:6:7:8:9]>", "Invalid address literal in address"},
      {"<user@[IPv6:1::2::3]>", "Invalid address literal in address"},
      {"<user@[IPv6::::1]>", "Invalid address literal in address"},
      {"<user@[IPv6:12345::1]>", "Invalid address literal in address"},
      {"<user@[IPv6:g::1]>", "Invalid address literal in address"},
      {"<user@[IPv6:1:2:3:4:5:6:7::8]>", "Invalid address literal in address"},
      {"<user@[IPv6:1.2.3.4::]>", "Invalid address literal in address"},
      {"<user@[IPv6:::1.2.3]>", "Invalid address literal in address"},
      {"<user@[IPv6:1:2:3:4:5:6:7:1.2.3.4]>", "Invalid address literal in address"},
      {"<user@[IPv6::1]>", "Invalid address literal in address"},
      {"<user@[IPv6:1:]>", "Invalid address literal in address"},
      {"<user@[IPv6:[::1]]>", "Invalid address literal in address"},
      {"<user@[IPv4:1.2.3.4]>", "Invalid address literal in address"},
      {"<user@[x-tag:foo]>", "Invalid address literal in address"},
      {"<user@[IPv6:::1]x>", "Invalid address literal in address"},
      {"<postmaster@>", "Missing domain in address"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto r = parsePath(c.text, PathKind::Forward);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == c.error);
  }
}

TEST_CASE("address: control characters and broken UTF-8") {
  const std::vector<BadCase> cases = {
      {"<us\0er@x.org>"s, "NUL byte in address"},
      {"\0"s, "NUL byte in address"},
      {"<user@x.org>\0"s, "NUL byte in address"},
      {"<\"a\0b\"@x.org>"s, "NUL byte in address"},
      {"<user@x.org>\r\nRSET", "CR or LF in address"},
      {"<user\r@x.org>", "CR or LF in address"},
      {"<user@x\n.org>", "CR or LF in address"},
      {"<\"a\rb\"@x.org>", "CR or LF in address"},
      {"<user\t@x.org>", "Control character in address"},
      {"<\"a\tb\"@x.org>", "Control character in address"},
      {"<user@x.org\x7f>", "Control character in address"},
      {"<user\x1b@x.org>", "Control character in address"},
      {"<\"a\\\x01\"@x.org>", "Control character in address"},
      {"<us\xff"
       "er@x.org>",
       "Invalid UTF-8 in address"},
      {"<user@x\xc3.org>", "Invalid UTF-8 in address"},                     // truncated sequence
      {"<\xc0\xaf@x.org>", "Invalid UTF-8 in address"},                     // overlong '/'
      {"<\xed\xa0\x80@x.org>", "Invalid UTF-8 in address"},                 // surrogate
      {"<\xf4\x90\x80\x80@x.org>", "Invalid UTF-8 in address"},             // past U+10FFFF
      {"<\"\x80\"@x.org>", "Invalid UTF-8 in address"},                     // lone continuation
      {"<u@[IPv6:\xe2\x80\x8b::1]>", "Invalid address literal in address"}, // valid but not hex
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto r = parsePath(c.text, PathKind::Forward);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == c.error);
  }
}

TEST_CASE("address: length limits") {
  const std::string local64 = repeat('a', 64);
  const std::string local65 = repeat('a', 65);
  CHECK(parsePath("<" + local64 + "@x.org>", PathKind::Forward).ok());

  auto long_local = parsePath("<" + local65 + "@x.org>", PathKind::Forward);
  REQUIRE_FALSE(long_local.ok());
  CHECK(long_local.error() == "Local part too long (max 64)");

  // The limit counts the local part as written, quotes included.
  auto quoted = parsePath("<\"" + repeat('a', 63) + "\"@x.org>", PathKind::Forward);
  REQUIRE_FALSE(quoted.ok());
  CHECK(quoted.error() == "Local part too long (max 64)");

  const std::string label63 = repeat('b', 63);
  CHECK(parsePath("<u@" + label63 + ".org>", PathKind::Forward).ok());
  auto long_label = parsePath("<u@" + repeat('b', 64) + ".org>", PathKind::Forward);
  REQUIRE_FALSE(long_label.ok());
  CHECK(long_label.error() == "Domain label too long (max 63)");

  // 4 × 63 + 3 dots = 255 octets: a valid domain, and a path of 2 + 1 + 1 + 255 = 259 octets.
  const std::string domain255 = label63 + "." + label63 + "." + label63 + "." + label63;
  REQUIRE(domain255.size() == 255);
  CHECK(isDomain(domain255));
  auto long_path = parsePath("<u@" + domain255 + ">", PathKind::Forward);
  REQUIRE_FALSE(long_path.ok());
  CHECK(long_path.error() == "Path too long (max 256)");

  auto long_domain = parsePath("<u@" + domain255 + "c>", PathKind::Forward);
  REQUIRE_FALSE(long_domain.ok());
  CHECK(long_domain.error() == "Domain too long (max 255)");

  // Exactly 256 octets passes: "<" + 64 + "@" + 189 + ">" = 256.
  const std::string domain189 = label63 + "." + label63 + "." + repeat('c', 61);
  REQUIRE(domain189.size() == 189);
  const std::string path256 = "<" + local64 + "@" + domain189 + ">";
  REQUIRE(path256.size() == 256);
  CHECK(parsePath(path256, PathKind::Forward).ok());
  auto path257 = parsePath("<" + local64 + "@" + domain189 + "d>", PathKind::Forward);
  REQUIRE_FALSE(path257.ok());
  CHECK(path257.error() == "Path too long (max 256)");

  // Without brackets the limit still counts them.
  const std::string bare255 = local64 + "@" + domain189 + "d";
  REQUIRE(bare255.size() == 255);
  auto bare = parsePath(bare255, PathKind::Forward);
  REQUIRE_FALSE(bare.ok());
  CHECK(bare.error() == "Path too long (max 256)");

  // A source route counts toward the path, also before a bare <postmaster>.
  auto routed_postmaster =
      parsePath("<@" + domain189 + ",@" + domain189 + ":postmaster>", PathKind::Forward);
  REQUIRE_FALSE(routed_postmaster.ok());
  CHECK(routed_postmaster.error() == "Path too long (max 256)");
  CHECK(parsePath("<@relay.example:postmaster>", PathKind::Forward).ok());

  auto routed = parsePath("<@" + domain189 + ":" + local64 + "@x.org>", PathKind::Forward);
  REQUIRE_FALSE(routed.ok());
  CHECK(routed.error() == "Path too long (max 256)");
}

TEST_CASE("address: huge and degenerate inputs") {
  const std::string huge = repeat('a', 10000);
  const std::vector<std::string> inputs = {
      "<" + huge + "@x.org>",
      "<u@" + huge + ">",
      "<u@" + huge + ".org>",
      "<" + huge + ">",
      "<" + repeat('<', 10000) + ">",
      repeat('<', 10000),
      repeat('>', 10000),
      "<\"" + repeat('\\', 10000) + "\"@x.org>",
      "<\"" + repeat('"', 10000) + "@x.org>",
      "<" + repeat('@', 10000) + ">",
      "<" + repeat('.', 10000) + "@x.org>",
      "<u@" + repeat('.', 10000) + ">",
      "<@" + repeat(',', 10000) + ":u@x.org>",
      "<u@[" + repeat(':', 10000) + "]>",
      "<u@[IPv6:" + repeat('f', 10000) + "]>",
      "<u@[" + repeat('1', 10000) + "]>",
      "<" + repeat('\xff', 10000) + "@x.org>",
      std::string(10000, '\0'),
      "<\"" + huge + "\"@x.org>",
  };
  for (const auto& input : inputs) {
    CAPTURE(input.substr(0, 20));
    CHECK_FALSE(parsePath(input, PathKind::Forward).ok());
    CHECK_FALSE(parsePath(input, PathKind::Reverse, PathOptions::strict()).ok());
  }
  CHECK(parsePath("<" + huge + "@x.org>", PathKind::Forward).error() ==
        "Local part too long (max 64)");
  CHECK(parsePath("<u@" + huge + ".org>", PathKind::Forward).error() ==
        "Domain too long (max 255)");
}

TEST_CASE("address: isDomain and isAddressLiteral") {
  CHECK(isDomain("example.com"));
  CHECK(isDomain("x"));
  CHECK(isDomain("1-2.x3"));
  CHECK_FALSE(isDomain(""));
  CHECK_FALSE(isDomain("."));
  CHECK_FALSE(isDomain("a..b"));
  CHECK_FALSE(isDomain("-a.b"));
  CHECK_FALSE(isDomain("a.b-"));
  CHECK_FALSE(isDomain("bücher.example"));
  CHECK(isDomain("bücher.example", true));
  CHECK_FALSE(isDomain("[1.2.3.4]"));

  CHECK(isAddressLiteral("[1.2.3.4]"));
  CHECK(isAddressLiteral("[01.002.3.4]"));
  CHECK(isAddressLiteral("[IPv6:::]"));
  CHECK(isAddressLiteral("[IPV6:2001:db8:0:0:0:0:0:1]"));
  CHECK_FALSE(isAddressLiteral("1.2.3.4"));
  CHECK_FALSE(isAddressLiteral("[1.2.3.4"));
  CHECK_FALSE(isAddressLiteral("["));
  CHECK_FALSE(isAddressLiteral("[]"));
  CHECK_FALSE(isAddressLiteral("[0001.2.3.4]"));
  CHECK_FALSE(isAddressLiteral("[IPv6:1.2.3.4]"));
}

TEST_CASE("address: Address value type") {
  Address a;
  a.user = "a b";
  a.host = "x.org";
  CHECK(a.format() == "<\"a b\"@x.org>");
  CHECK(a.address() == "a b@x.org");

  a.user = "quote\"back\\slash";
  CHECK(a.format() == "<\"quote\\\"back\\\\slash\"@x.org>");

  a.user = "";
  CHECK(a.format() == "<\"\"@x.org>");

  a.user = "postmaster";
  a.host = "";
  CHECK(a.format() == "<postmaster>");
  CHECK(a.address() == "postmaster");

  Address null_path;
  null_path.is_null = true;
  CHECK(null_path.format() == "<>");

  CHECK_FALSE(Address::localPartNeedsQuotes("a.b"));
  CHECK_FALSE(Address::localPartNeedsQuotes("José"));
  CHECK(Address::localPartNeedsQuotes(".a"));
  CHECK(Address::localPartNeedsQuotes("a."));
  CHECK(Address::localPartNeedsQuotes("a..b"));
  CHECK(Address::localPartNeedsQuotes("a b"));
  CHECK(Address::localPartNeedsQuotes("a@b"));
  CHECK(Address::localPartNeedsQuotes(""));

  auto x = parsePath("<a@x.org>", PathKind::Forward);
  auto y = parsePath("<a@x.org>", PathKind::Forward);
  REQUIRE(x.ok());
  REQUIRE(y.ok());
  CHECK(*x == *y);
}

TEST_CASE("address: random input never crashes, and format() parses back") {
  // A fixed seed keeps the test deterministic; the alphabet leans on the grammar's delimiters.
  using namespace std::string_view_literals;
  static constexpr std::string_view Alphabet =
      "aaaabbbbcccc.@@@<>\"\\[]:,- \0\r\x7f\xc3\xa9\xffIPv6019"sv;
  std::mt19937 random(20261123);
  std::uniform_int_distribution<std::size_t> pick(0, Alphabet.size() - 1);
  std::uniform_int_distribution<std::size_t> length(0, 20);
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    const std::size_t n = length(random);
    for (std::size_t j = 0; j < n; ++j) {
      text += Alphabet[pick(random)];
    }
    if (i % 2 == 0) {
      text = "<" + text + ">";
    }
    for (const auto kind : {PathKind::Reverse, PathKind::Forward}) {
      auto r = parsePath(text, kind);
      if (!r.ok()) {
        CHECK_FALSE(r.error().empty());
        continue;
      }
      ++parsed;
      CAPTURE(text);
      auto again = parsePath(r->format(), kind, PathOptions::strict());
      REQUIRE(again.ok());
      CHECK(again->user == r->user);
      CHECK(again->host == r->host);
      CHECK(again->is_null == r->is_null);
      CHECK(again->format() == r->format());
    }
  }
  CHECK(parsed > 100);
}
