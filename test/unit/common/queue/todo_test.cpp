#include <upesi/address.hpp>

#include "common/queue/json_stringify.hpp"
#include "common/queue/todo.hpp"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

using nlohmann::ordered_json;
using upesi::Address;
using upesi::queue::addressFromJson;
using upesi::queue::addressToJson;
using upesi::queue::jsonStringify;
using upesi::queue::Todo;

namespace {

ordered_json haraka(const char* text) {
  return ordered_json::parse(text);
}

Address mailbox(std::string user, std::string host) {
  Address address;
  address.original = "<" + user + "@" + host + ">";
  address.user = std::move(user);
  address.host = host;
  address.original_host = std::move(host);
  return address;
}

} // namespace

TEST_CASE("todo: address to Haraka's object, key order as Haraka writes it") {
  CHECK(jsonStringify(addressToJson(mailbox("b", "example.net"))) ==
        "{\n\t\"original\": \"<b@example.net>\",\n\t\"original_host\": \"example.net\",\n\t"
        "\"host\": \"example.net\",\n\t\"user\": \"b\"\n}");
  Address null_sender;
  null_sender.is_null = true;
  null_sender.original = "<>";
  CHECK(jsonStringify(addressToJson(null_sender)) ==
        "{\n\t\"original\": \"<>\",\n\t\"host\": \"\",\n\t\"user\": \"\"\n}");

  Address utf8;
  utf8.original = "<j\xC3\xB6rg@m\xC3\xBCnchen.example>";
  utf8.user = "j\xC3\xB6rg";
  utf8.host = "xn--mnchen-3ya.example";
  utf8.original_host = "m\xC3\xBCnchen.example";
  utf8.is_utf8 = true;
  const auto json = addressToJson(utf8);
  CHECK(json.dump() == "{\"original\":\"<j\xC3\xB6rg@m\xC3\xBCnchen.example>\",\"original_host\":"
                       "\"m\xC3\xBCnchen.example\",\"host\":\"xn--mnchen-3ya.example\",\"user\":"
                       "\"j\xC3\xB6rg\",\"is_utf8\":true}");
  auto back = addressFromJson(json);
  REQUIRE(back.ok());
  CHECK(*back == utf8);
}

TEST_CASE("todo: an address built by a plugin gets original and original_host") {
  Address address;
  address.user = "john doe";
  address.host = "x.org";
  const auto json = addressToJson(address);
  CHECK(json["original"] == "<\"john doe\"@x.org>");
  CHECK(json["original_host"] == "x.org");
}

TEST_CASE("todo: address from JSON") {
  auto plain = addressFromJson(haraka(
      R"({"original":"<B@Example.NET>","original_host":"Example.NET","host":"example.net","user":"B"})"));
  REQUIRE(plain.ok());
  CHECK(plain->user == "B");
  CHECK(plain->host == "example.net");
  CHECK(plain->original_host == "Example.NET");
  CHECK(plain->original == "<B@Example.NET>");
  CHECK_FALSE(plain->is_null);
  CHECK(plain->format() == "<B@example.net>");

  auto null_sender = addressFromJson(haraka(R"({"original":"<>","user":"","host":""})"));
  REQUIRE(null_sender.ok());
  CHECK(null_sender->is_null);
  CHECK(null_sender->format() == "<>");
  // Older Haraka wrote null for user and host.
  auto null_fields = addressFromJson(haraka(R"({"original":"<>","user":null,"host":null})"));
  REQUIRE(null_fields.ok());
  CHECK(null_fields->is_null);

  // DSN fields ride along in the JSON and do not disturb the address.
  auto with_dsn = addressFromJson(haraka(
      R"({"original":"<b@x.y>","original_host":"x.y","host":"x.y","user":"b","reason":"450 busy",
          "dsn_action":"delayed","dsn_smtp_code":450,"dsn_status":"4.0.0"})"));
  REQUIRE(with_dsn.ok());
  CHECK(with_dsn->address() == "b@x.y");

  // No original_host: the host; no original: the formatted path.
  auto minimal = addressFromJson(haraka(R"({"user":"u","host":"h.example"})"));
  REQUIRE(minimal.ok());
  CHECK(minimal->original_host == "h.example");
  CHECK(minimal->original == "<u@h.example>");

  CHECK_FALSE(addressFromJson(haraka(R"("<a@b>")")).ok());
  CHECK_FALSE(addressFromJson(haraka(R"({"user":1,"host":"h"})")).ok());
  CHECK_FALSE(addressFromJson(haraka(R"({"user":"u","host":"h","is_utf8":"yes"})")).ok());
}

TEST_CASE("todo: fromJson / toJson keep everything, in Haraka's key order") {
  const auto json = haraka(R"({
    "queue_time": 1795418587971,
    "domain": "example.net",
    "later_key": {"kept": [1, 2]},
    "rcpt_to": [{"original":"<b@example.net>","original_host":"example.net","host":"example.net",
                 "user":"b","dsn_action":"delayed","dsn_smtp_code":450}],
    "mail_from": {"original":"<>","host":"","user":""},
    "notes": {"skip_plugins": [], "z": 1, "a": 2},
    "uuid": "A-B.1",
    "force_tls": true,
    "another": null
  })");
  auto todo = Todo::fromJson(json);
  REQUIRE(todo.ok());
  CHECK(todo->queue_time == 1795418587971);
  CHECK(todo->domain == "example.net");
  REQUIRE(todo->rcpt_to.size() == 1);
  CHECK(todo->rcpt_to[0]["dsn_smtp_code"] == 450);
  CHECK(todo->mail_from["original"] == "<>");
  CHECK(todo->notes.dump() == R"({"skip_plugins":[],"z":1,"a":2})");
  CHECK(todo->uuid == "A-B.1");
  CHECK(todo->force_tls);
  CHECK(todo->extra.dump() == R"({"later_key":{"kept":[1,2]},"another":null})");

  const auto out = todo->toJson();
  CHECK(
      out.dump() ==
      R"({"queue_time":1795418587971,"domain":"example.net","rcpt_to":[{"original":"<b@example.net>","original_host":"example.net","host":"example.net","user":"b","dsn_action":"delayed","dsn_smtp_code":450}],"mail_from":{"original":"<>","host":"","user":""},"notes":{"skip_plugins":[],"z":1,"a":2},"uuid":"A-B.1","force_tls":true,"later_key":{"kept":[1,2]},"another":null})");
  auto again = Todo::fromJson(out);
  REQUIRE(again.ok());
  CHECK((*again == *todo));
}

TEST_CASE("todo: optional keys get Haraka's defaults") {
  auto todo = Todo::fromJson(
      haraka(R"({"queue_time":1.0e12,"domain":"d","rcpt_to":[],"mail_from":{"original":"<>"}})"));
  REQUIRE(todo.ok());
  CHECK(todo->queue_time == 1000000000000);
  CHECK(todo->notes == ordered_json::object());
  CHECK(todo->uuid.empty());
  CHECK_FALSE(todo->force_tls);
}

TEST_CASE("todo: wrong types are errors naming the key") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"([])", "not a JSON object"},
      {R"({"domain":"d","rcpt_to":[],"mail_from":{}})", "queue_time"},
      {R"({"queue_time":"1","domain":"d","rcpt_to":[],"mail_from":{}})", "queue_time"},
      {R"({"queue_time":1,"rcpt_to":[],"mail_from":{}})", "domain"},
      {R"({"queue_time":1,"domain":"d","rcpt_to":{},"mail_from":{}})", "rcpt_to"},
      {R"({"queue_time":1,"domain":"d","rcpt_to":["<a@b>"],"mail_from":{}})", "rcpt_to"},
      {R"({"queue_time":1,"domain":"d","rcpt_to":[]})", "mail_from"},
      {R"({"queue_time":1,"domain":"d","rcpt_to":[],"mail_from":{},"notes":[]})", "notes"},
      {R"({"queue_time":1,"domain":"d","rcpt_to":[],"mail_from":{},"uuid":5})", "uuid"},
      {R"({"queue_time":1,"domain":"d","rcpt_to":[],"mail_from":{},"force_tls":0})", "force_tls"},
  };
  for (const auto& [text, key] : cases) {
    CAPTURE(text);
    auto todo = Todo::fromJson(haraka(text.c_str()));
    REQUIRE_FALSE(todo.ok());
    CHECK(todo.error().find(key) != std::string::npos);
  }
}

// Found by test/fuzz/queue_file: a float queue_time past int64 was converted anyway, which is
// undefined behaviour (UBSan: "1.79543e+44 is outside the range of representable values").
TEST_CASE("todo: a queue_time out of int64's range is an error") {
  for (const char* time : {"1e300", "-1.8e19", "9.3e18"}) {
    CAPTURE(time);
    const std::string text =
        std::string(R"({"queue_time":)") + time + R"(,"domain":"d","rcpt_to":[],"mail_from":{}})";
    auto todo = Todo::fromJson(haraka(text.c_str()));
    REQUIRE_FALSE(todo.ok());
    CHECK(todo.error().find("queue_time") != std::string::npos);
  }
  auto truncated = Todo::fromJson(
      haraka(R"({"queue_time":1795418587971.9,"domain":"d","rcpt_to":[],"mail_from":{}})"));
  REQUIRE(truncated.ok());
  CHECK(truncated->queue_time == 1795418587971);
}

TEST_CASE("todo: DSN, REQUIRETLS and MT-PRIORITY are first-class keys, written when set") {
  const auto json = haraka(R"({
    "queue_time": 1795418587971,
    "domain": "example.net",
    "rcpt_to": [{"original":"<b@example.net>","original_host":"example.net","host":"example.net",
                 "user":"b","dsn_notify":"SUCCESS,FAILURE","dsn_orcpt":"rfc822;B+x@example.net"}],
    "mail_from": {"original":"<a@example.com>","original_host":"example.com",
                  "host":"example.com","user":"a"},
    "notes": {},
    "uuid": "A-B.1",
    "force_tls": false,
    "dsn_ret": "HDRS",
    "dsn_envid": "QQ 314159",
    "requiretls": true,
    "mt_priority": -3
  })");
  auto todo = Todo::fromJson(json);
  REQUIRE(todo.ok());
  CHECK(todo->dsn_ret == upesi::DsnReturn::Headers);
  CHECK(todo->dsn_envid == "QQ 314159");
  CHECK(todo->requiretls);
  CHECK(todo->mt_priority == -3);
  CHECK(todo->extra.empty());
  const auto rcpt = upesi::queue::rcptOptionsFromJson(todo->rcpt_to.at(0));
  CHECK(rcpt.notify.success);
  CHECK(rcpt.notify.failure);
  CHECK_FALSE(rcpt.notify.delay);
  CHECK(rcpt.orcpt_type == "rfc822");
  CHECK(rcpt.orcpt_address == "B+x@example.net");

  const auto out = todo->toJson();
  CHECK(out.dump() == json.dump()); // same keys, same order
  auto again = Todo::fromJson(out);
  REQUIRE(again.ok());
  CHECK((*again == *todo));
}

TEST_CASE("todo: a file Haraka wrote has none of them, and one without them is Haraka's") {
  auto todo = Todo::fromJson(haraka(
      R"({"queue_time":1,"domain":"d","rcpt_to":[{"original":"<b@d>","host":"d","user":"b",
          "dsn_action":"failed"}],"mail_from":{"original":"<>"},"notes":{},"uuid":"u",
          "force_tls":false})"));
  REQUIRE(todo.ok());
  CHECK(todo->dsn_ret == upesi::DsnReturn::Unset);
  CHECK(todo->dsn_envid.empty());
  CHECK_FALSE(todo->requiretls);
  CHECK_FALSE(todo->mt_priority.has_value());
  const auto rcpt = upesi::queue::rcptOptionsFromJson(todo->rcpt_to.at(0));
  CHECK((rcpt == upesi::RcptOptions{}));
  CHECK(
      todo->toJson().dump() ==
      R"({"queue_time":1,"domain":"d","rcpt_to":[{"original":"<b@d>","host":"d","user":"b","dsn_action":"failed"}],"mail_from":{"original":"<>"},"notes":{},"uuid":"u","force_tls":false})");
}

TEST_CASE("todo: recipient options set and cleared on the address object") {
  auto json = addressToJson(mailbox("b", "example.net"));
  upesi::RcptOptions options;
  options.notify.given = true;
  options.notify.never = true;
  options.orcpt_type = "rfc822";
  options.orcpt_address = "x=y@example.net";
  upesi::queue::setRcptOptions(json, options);
  CHECK(json["dsn_notify"] == "NEVER");
  CHECK(json["dsn_orcpt"] == "rfc822;x=y@example.net");
  CHECK((upesi::queue::rcptOptionsFromJson(json) == options));
  upesi::queue::setRcptOptions(json, {});
  CHECK_FALSE(json.contains("dsn_notify"));
  CHECK_FALSE(json.contains("dsn_orcpt"));
  // Unreadable values count as not given, never as an error that strands the file.
  auto odd = haraka(R"({"user":"b","host":"d","dsn_notify":"NEVER,SUCCESS","dsn_orcpt":5})");
  CHECK((upesi::queue::rcptOptionsFromJson(odd) == upesi::RcptOptions{}));
}

TEST_CASE("todo: bad DSN, REQUIRETLS or MT-PRIORITY values are errors naming the key") {
  const std::string base = R"({"queue_time":1,"domain":"d","rcpt_to":[],"mail_from":{},)";
  for (const auto& [extra, key] : std::vector<std::pair<std::string, std::string>>{
           {R"("dsn_ret":"ALL"})", "dsn_ret"},
           {R"("dsn_ret":1})", "dsn_ret"},
           {R"("dsn_envid":[]})", "dsn_envid"},
           {R"("requiretls":"yes"})", "requiretls"},
           {R"("mt_priority":10})", "mt_priority"},
           {R"("mt_priority":18446744073709551615})", "mt_priority"},
           {R"("mt_priority":-10})", "mt_priority"},
           {R"("mt_priority":1.5})", "mt_priority"},
           {R"("mt_priority":"1"})", "mt_priority"},
       }) {
    CAPTURE(extra);
    auto todo = Todo::fromJson(haraka((base + extra).c_str()));
    REQUIRE_FALSE(todo.ok());
    CHECK(todo.error().find(key) != std::string::npos);
  }
}
