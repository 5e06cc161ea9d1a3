#include "plugins/aliases/alias_table.hpp"

#include <doctest/doctest.h>

using namespace upesi::plugins::aliases;

namespace {

AliasTable tableOf(const char* json) {
  std::vector<std::string> problems;
  auto table = AliasTable::fromJson(nlohmann::json::parse(json), problems);
  REQUIRE(problems.empty());
  return table;
}

std::string matched(const AliasTable& table, std::string_view user, std::string_view host) {
  auto match = table.lookup(user, host);
  return match ? match->key : std::string("(none)");
}

} // namespace

TEST_CASE("plugins/aliases: the sub-address prefix ends at the first '-' or '+'") {
  CHECK(subAddressPrefix("test2-testing") == "test2");
  CHECK(subAddressPrefix("test2+a-b") == "test2");
  CHECK(subAddressPrefix("a-b+c") == "a");
  CHECK(subAddressPrefix("plain") == "plain");
  CHECK(subAddressPrefix("-lead") == "");
}

TEST_CASE("plugins/aliases: precedence user@host, user, prefix@host, prefix, @host, *") {
  const char* all = R"({
    "foo-bar@example.com": {"action": "alias", "to": "1"},
    "foo-bar": {"action": "alias", "to": "2"},
    "foo@example.com": {"action": "alias", "to": "3"},
    "foo": {"action": "alias", "to": "4"},
    "@example.com": {"action": "alias", "to": "5"},
    "*": {"action": "alias", "to": "6"}
  })";
  auto table = tableOf(all);
  auto form = [&](std::string_view user, std::string_view host) {
    return std::string(keyFormName(table.lookup(user, host)->form));
  };
  CHECK(matched(table, "foo-bar", "example.com") == "foo-bar@example.com");
  CHECK(form("foo-bar", "example.com") == "user@host");
  // The whole local part at any domain beats its prefix at this domain (Haraka's order).
  CHECK(matched(table, "foo-bar", "other.net") == "foo-bar");
  CHECK(form("foo-bar", "other.net") == "user");
  CHECK(matched(table, "foo+x", "example.com") == "foo@example.com");
  CHECK(form("foo+x", "example.com") == "prefix@host");
  CHECK(matched(table, "foo+x", "other.net") == "foo");
  CHECK(form("foo+x", "other.net") == "prefix");
  CHECK(matched(table, "bar", "example.com") == "@example.com");
  CHECK(form("bar", "example.com") == "@host");
  CHECK(matched(table, "bar", "other.net") == "*");
  CHECK(form("bar", "other.net") == "*");
  // A plain local part: its own user@host and user keys are the prefix forms.
  CHECK(matched(table, "foo", "example.com") == "foo@example.com");
  CHECK(form("foo", "example.com") == "user@host");
  CHECK(matched(table, "foo", "other.net") == "foo");
  // Haraka#1580: user@host wins over @host (no chaining through the domain entry).
  auto issue = tableOf(R"({"foo@example.com": {"action": "alias", "to": "bar@example.com"},
                           "@example.com": {"action": "alias", "to": "foobar@example.com"}})");
  CHECK(matched(issue, "foo", "example.com") == "foo@example.com");
  CHECK(matched(issue, "baz", "example.com") == "@example.com");
  // Haraka#1581: a user prefix wins over @host.
  auto order = tableOf(R"({"@example.com": {"action": "alias", "to": "bar@example.com"},
                           "foo": {"action": "alias", "to": "foo@example.com"}})");
  CHECK(matched(order, "foo-test", "example.com") == "foo");
}

TEST_CASE("plugins/aliases: a sub-address with and without its own entry") {
  auto table = tableOf(R"({"test2": {"action": "drop"},
                           "test2-testing": {"action": "alias", "to": "test@foo.com"}})");
  CHECK(matched(table, "test2-testing", "example.com") == "test2-testing");
  CHECK(matched(table, "test2+testing", "example.com") == "test2");
  CHECK(matched(table, "test2-other", "example.com") == "test2");
  CHECK(matched(table, "test2", "example.com") == "test2");
  CHECK(matched(table, "test20", "example.com") == "(none)");
  // A local part that starts with a separator has no prefix to match.
  auto empty = tableOf(R"({"": {"action": "drop"}})");
  CHECK(matched(empty, "-x", "example.com") == "(none)");
}

TEST_CASE("plugins/aliases: keys and addresses match in any case; no match without an entry") {
  auto table = tableOf(R"({"Sales@Example.COM": {"action": "Drop"}})");
  CHECK(matched(table, "SALES", "example.com") == "sales@example.com");
  CHECK(table.lookup("sales", "EXAMPLE.com")->entry->action == "drop");
  CHECK(matched(table, "sales", "example.org") == "(none)");
  CHECK(matched(tableOf("{}"), "a", "b.c") == "(none)");
}

TEST_CASE("plugins/aliases: entries, actions and targets") {
  std::vector<std::string> problems;
  auto table = AliasTable::fromJson(nlohmann::json::parse(R"({
    "list": {"action": "alias", "to": ["alice@example.com", "bob", 7, ""]},
    "one": {"action": "alias", "to": "carol"},
    "none": {"action": "alias"},
    "odd": {"to": "x"},
    "bad": "drop",
    "DUP": {"action": "drop"}, "dup": {"action": "drop"}
  })"),
                                    problems);
  CHECK(problems.size() == 2);
  CHECK(table.size() == 5);
  auto list = table.lookup("list", "example.net");
  REQUIRE(list);
  CHECK(aliasTargets(*list->entry, "example.net") ==
        std::vector<std::string>{"alice@example.com", "bob@example.net"});
  CHECK(aliasTargets(*table.lookup("one", "h.org")->entry, "h.org") ==
        std::vector<std::string>{"carol@h.org"});
  CHECK_FALSE(table.lookup("none", "h.org")->entry->has_to);
  CHECK(table.lookup("odd", "h.org")->entry->action == "<missing>");

  std::vector<std::string> not_object;
  CHECK(AliasTable::fromJson(nlohmann::json::array(), not_object).size() == 0);
  CHECK(not_object.size() == 1);
}
