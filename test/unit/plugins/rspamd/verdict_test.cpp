// rspamd.ini readRspamdSettings with Haraka's defaults, and rspamd's replies turned into results,
// answers and header values, hostile replies included.
#include "common/config/ini_parser.hpp"
#include "plugins/rspamd/settings.hpp"
#include "plugins/rspamd/verdict.hpp"

#include <doctest/doctest.h>

using namespace upesi::plugins::rspamd;
using upesi::Code;

namespace {

Settings readRspamdSettings(const char* text) {
  auto ini =
      upesi::config::parseIni(text, "rspamd.ini", upesi::config::parseBooleanDecls(iniBooleans()));
  REQUIRE(ini.ok());
  return readSettings(ini.value());
}

nlohmann::json reply(const char* text) {
  auto parsed = parseReply(text);
  REQUIRE(parsed.ok);
  return parsed.data;
}

} // namespace

TEST_CASE("plugins/rspamd: Haraka's defaults without a file") {
  auto s = readRspamdSettings("");
  CHECK(s.host == "localhost");
  CHECK(s.port == 11333);
  CHECK(s.path == "/checkv2");
  CHECK(s.timeout == 29);
  CHECK(s.add_headers == AddHeaders::Sometimes);
  CHECK(s.reject_spam);
  CHECK_FALSE(s.reject_authenticated);
  CHECK(s.soft_reject_enabled);
  CHECK(s.smtp_message_enabled);
  CHECK(s.rewrite_subject_enabled);
  CHECK(s.rmilter_headers_enabled);
  CHECK(s.dkim_enabled);
  CHECK_FALSE(s.defer_error);
  CHECK_FALSE(s.defer_timeout);
  CHECK_FALSE(s.check_local_ip);
  CHECK(s.reject_message == "Detected as spam");
  CHECK(s.soft_reject_message == "Deferred by policy");
  CHECK(s.fixed_headers.empty());
  CHECK(s.errors.empty());
}

TEST_CASE("plugins/rspamd: request settings become fixed fields; bad values keep defaults") {
  auto s = readRspamdSettings(
      "port=99999\ntimeout=abc\nadd_headers=often\nmax_size=-1\nalways_add_headers=true\n"
      "[request]\nflags=groups, milter\nmilter=true\nzstd=true\npass_all=true\n"
      "settings_id=uribl\n[auth]\nbasic_user=u\nbasic_pass=p\n"
      "[request_headers]\nMTA-Tag=outbound\n");
  CHECK(s.port == 11333);
  CHECK(s.max_size == 10 * 1024 * 1024);
  CHECK(s.add_headers == AddHeaders::Sometimes);
  CHECK(s.errors.size() == 3);
  using Field = std::pair<std::string, std::string>;
  const std::vector<Field> expected = {{"Settings-ID", "uribl"},
                                       {"Pass", "all"},
                                       {"Flags", "groups,milter,zstd"},
                                       {"Authorization", "Basic dTpw"},
                                       {"MTA-Tag", "outbound"}};
  CHECK(s.fixed_headers == expected);
  CHECK(readRspamdSettings("always_add_headers=true\n").add_headers == AddHeaders::Always);
}

TEST_CASE("plugins/rspamd: replies that are not scan results") {
  CHECK_FALSE(parseReply("").ok);
  CHECK(parseReply("").error.empty());
  CHECK(parseReply("{not json").error.find("parse failure") == 0);
  CHECK(parseReply("[1,2]").error.find("parse failure") == 0);
  CHECK_FALSE(parseReply("{}").ok);
  CHECK(parseReply("{\"error\":\"bad request\"}").error == "bad request");
  CHECK(parseReply(std::string(100000, '[')).error.find("parse failure") == 0);
}

TEST_CASE("plugins/rspamd: the summary keeps what Haraka keeps") {
  auto data = reply(R"({"is_skipped":false,"score":4.6,"required_score":15.0,"action":"no action",
    "symbols":{"A":{"name":"A","score":1.5},"B":{"name":"B","score":0},"C":"junk"},
    "urls":["x.test","y.test"],"messages":{"smtp_message":"hi"},"milter":{"x":1}})");
  auto clean = summary(data);
  CHECK(clean["symbols"] == nlohmann::json({{"A", 1.5}, {"B", 0}}));
  CHECK(clean["score"] == 4.6);
  CHECK(clean["action"] == "no action");
  CHECK(clean["is_skipped"] == false);
  CHECK(clean["urls"] == "x.test,y.test");
  CHECK(clean["messages"] == "smtp_message : hi");
  CHECK_FALSE(clean.contains("milter"));
  CHECK(symbolReport(data["symbols"]) == "A(1.5)");
}

TEST_CASE("plugins/rspamd: actions become answers") {
  const auto s = readRspamdSettings("");
  auto gtube = reply(R"({"action":"reject","messages":{"smtp_message":"Gtube pattern"}})");
  auto d = decide(s, gtube, false);
  CHECK((d.code == Code::Deny));
  CHECK(d.message == "Gtube pattern");
  CHECK((decide(s, gtube, true).code == Code::Cont)); // authenticated: reject.authenticated
  CHECK((decide(readRspamdSettings("[reject]\nauthenticated=true\n"), gtube, true).code ==
         Code::Deny));
  CHECK((decide(readRspamdSettings("[reject]\nspam=false\n"), gtube, false).code == Code::Cont));
  auto plain =
      decide(readRspamdSettings("[smtp_message]\nenabled=false\n[reject]\nmessage=No thanks\n"),
             gtube, false);
  CHECK(plain.message == "No thanks");

  auto soft = decide(s, reply(R"({"action":"soft reject"})"), false);
  CHECK((soft.code == Code::DenySoft));
  CHECK(soft.message == "Deferred by policy");
  CHECK((decide(s, reply(R"({"action":"greylist"})"), false).code == Code::DenySoft));
  CHECK((decide(readRspamdSettings("[soft_reject]\nenabled=false\n"),
                reply(R"({"action":"greylist"})"), false)
             .code == Code::Cont));
  CHECK((decide(s, reply(R"({"action":"add header"})"), false).code == Code::Cont));
  CHECK((decide(s, reply(R"({"action":["reject"]})"), false).code == Code::Cont));
}

TEST_CASE("plugins/rspamd: subject, score and spam bar as Haraka writes them") {
  const auto s = readRspamdSettings("");
  CHECK(rewrittenSubject(s, reply(R"({"a":1})"), "hello") == "[SPAM] hello");
  CHECK(rewrittenSubject(s, reply(R"({"subject":"*** %s ***"})"), "hi") == "*** hi ***");
  CHECK(jsNumber(15.0) == "15");
  CHECK(jsNumber(4.6) == "4.6");
  CHECK(jsNumber(-2.0) == "-2");
  CHECK(spamBar(s, 4.6) == "++++");
  CHECK(spamBar(s, -2.5) == "--");
  CHECK(spamBar(s, 0.5) == "/");
  CHECK(spamBar(s, 1e300).size() == 100);
}
