#include "common/auth/public_suffix.hpp"
#include "plugins/access/access_lists.hpp"
#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>

using namespace upesi;
using namespace upesi::test;
using namespace upesi::plugins::access;

namespace {

constexpr const char* Psl = "// test list\ncom\nco.uk\n*.ck\n!www.ck\n";

OrgDomainOf orgDomains() {
  auto list = std::make_shared<auth::PublicSuffixList>(
      std::move(*auth::PublicSuffixList::parse(Psl, "test list")));
  return [list](std::string_view name) { return list->organizationalDomain(name); };
}

struct Setup {
  PluginHarness h{"access"};
  FakeConnection c;

  explicit Setup(const std::string& ini = "", std::map<std::string, std::string> lists = {}) {
    h.host.writeConfig("psl.dat", Psl);
    h.host.writeConfig("access.ini", "[main]\npublic_suffix_list=" +
                                         (h.host.installDir() / "config" / "psl.dat").string() +
                                         "\n" + ini);
    for (const auto& [name, text] : lists) {
      h.host.writeConfig(name, text);
    }
    h.load();
  }
  static std::string said(const std::shared_ptr<Answer>& a) {
    if (a->calls != 1) {
      return "unanswered";
    }
    return a->text().empty() ? a->name() : a->name() + " " + a->text();
  }
  std::string connect(std::string ip, std::string host, std::size_t index = 0) {
    c.remote_endpoint.ip = std::move(ip);
    c.remote_endpoint.host = std::move(host);
    return said(h.call(Hook::Connect, c, {}, index));
  }
  std::string helo(std::string_view name, std::size_t index = 0) {
    HookParams params;
    params.host = name;
    return said(h.call(Hook::Helo, c, params, index));
  }
  std::string mail(const std::string& user, const std::string& domain, std::size_t index = 0) {
    auto from = makeAddress(user, domain);
    c.begin(from);
    HookParams params;
    params.address = &from;
    return said(h.call(Hook::Mail, c, params, index));
  }
  std::string rcpt(const std::string& user, const std::string& domain, std::size_t index = 0) {
    auto to = makeAddress(user, domain);
    HookParams params;
    params.address = &to;
    return said(h.call(Hook::Rcpt, c, params, index));
  }
  bool connResult(const char* key, const char* value) {
    return c.results().has("access", key, value);
  }
  bool txnResult(const char* key, const char* value) {
    return c.txn().results().has("access", key, value);
  }
};

} // namespace

TEST_CASE("plugins/access: exact lists ignore case") {
  ExactList list({"Spam@Example.COM", "host.example.net"}, 100);
  CHECK(list.contains("spam@example.com"));
  CHECK(list.contains("HOST.example.net"));
  CHECK_FALSE(list.contains("example.net"));
  CHECK_FALSE(list.contains(""));
  CHECK(ExactList({"a", "b", "c"}, 2).size() == 2);
}

TEST_CASE("plugins/access: regexes are anchored, case-insensitive, and bad ones are reported") {
  std::vector<RegexList::Problem> problems;
  RegexList list({".*@spam\\.example", "(unclosed", "mail[0-9]+\\.example\\.net", "a|b"}, 100,
                 problems);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].index == 1);
  CHECK(list.size() == 3);
  CHECK(list.match("User@SPAM.example") != nullptr);
  CHECK(*list.match("x@spam.example") == ".*@spam\\.example");
  CHECK(list.match("x@spam.example.org") == nullptr); // anchored at the end
  CHECK(list.match("mail12.example.net") != nullptr);
  CHECK(list.match("xmail12.example.net") == nullptr); // and at the start
  CHECK(list.match("a") != nullptr);                   // alternatives anchored as a whole
  CHECK(list.match("ab") == nullptr);
  CHECK(lineOf("# comment\n\n  (unclosed  \nnext\n", "(unclosed") == 3);
  CHECK(lineOf("a\nb", "c") == 0);
}

TEST_CASE("plugins/access: access.domains by organizational domain, whitelist winning") {
  DomainList domains({"mail.spam.com", "!friend@spam.com", "!ok.spam.com", "evil.co.uk",
                      "whole@address.com", "bad.example.test"},
                     orgDomains(), 100);
  using V = DomainList::Verdict;
  CHECK(domains.check("", "spam.com", "spam.com") == V::Blacklisted);
  CHECK(domains.check("someone@x.spam.com", "x.spam.com", "spam.com") == V::Blacklisted);
  CHECK(domains.check("friend@spam.com", "spam.com", "spam.com") == V::Whitelisted);
  CHECK(domains.check("", "ok.spam.com", "spam.com") == V::Whitelisted);
  CHECK(domains.check("", "a.evil.co.uk", "evil.co.uk") == V::Blacklisted);
  CHECK(domains.check("", "co.uk", "co.uk") == V::Unlisted);
  CHECK(domains.check("", "example.test", "example.test") == V::Blacklisted); // unknown suffix
  CHECK(domains.check("", "other.com", "other.com") == V::Unlisted);
  CHECK(domains.checkOrgDomain("spam.com") == V::Blacklisted);
  CHECK(domains.checkOrgDomain("other.com") == V::Unlisted);
}

TEST_CASE("plugins/access: connect lists match the IP and the rDNS name; whitelist first") {
  Setup s("", {{"connect.rdns_access.blacklist", "192.0.2.66\nBad.Example.com\n"},
               {"connect.rdns_access.blacklist_regex", ".*\\.dyn\\.example\\.net\n"},
               {"connect.rdns_access.whitelist", "good.dyn.example.net\n"},
               {"connect.rdns_access.whitelist_regex", "192\\.0\\.2\\.7[0-9]\n"}});
  CHECK(s.connect("192.0.2.66", "x.example.org") ==
        "DENYDISCONNECT x.example.org [192.0.2.66] You are not allowed to connect");
  CHECK(s.connResult("fail", "connect.rdns_access.blacklist"));
  CHECK(s.connect("192.0.2.5", "bad.example.com").rfind("DENYDISCONNECT", 0) == 0);
  CHECK(s.connect("192.0.2.5", "h1.dyn.example.net").rfind("DENYDISCONNECT", 0) == 0);
  CHECK(s.connResult("fail", "connect.rdns_access.blacklist_regex"));
  CHECK(s.connect("192.0.2.5", "good.dyn.example.net") == "CONT");
  CHECK(s.connResult("pass", "connect.rdns_access.whitelist"));
  CHECK(s.connect("192.0.2.71", "bad.example.com") == "CONT");
  CHECK(s.connResult("pass", "connect.rdns_access.whitelist_regex"));
  CHECK(s.connect("192.0.2.5", "fine.example.org") == "CONT");
  CHECK(s.connResult("msg", "unlisted(conn)"));
}

TEST_CASE("plugins/access: sender and recipient lists, deny_msg and rcpt accept") {
  Setup s("[deny_msg]\nmail=may not send\n[rcpt]\naccept=true\n",
          {{"mail_from.access.blacklist", "spammer@example.com\n"},
           {"mail_from.access.blacklist_regex", ".*@bulk\\.example\\.com\n"},
           {"mail_from.access.whitelist_regex", "boss@bulk\\.example\\.com\n"},
           {"rcpt_to.access.blacklist", "nobody@example.org\n"},
           {"rcpt_to.access.blacklist_regex", "old-.*@example\\.org\n"},
           {"rcpt_to.access.whitelist", "postmaster@example.org\n"},
           {"rcpt_to.access.ini", "[general]\ndeny_msg=is gone\n"}});
  CHECK(s.mail("Spammer", "example.com") == "DENY Spammer@example.com may not send");
  CHECK(s.txnResult("fail", "mail_from.access.blacklist"));
  CHECK(s.mail("anyone", "bulk.example.com") == "DENY anyone@bulk.example.com may not send");
  CHECK(s.mail("boss", "bulk.example.com") == "CONT");
  CHECK(s.txnResult("pass", "mail_from.access.whitelist_regex"));
  CHECK(s.mail("someone", "example.com") == "CONT");
  CHECK(s.txnResult("msg", "unlisted(mail)"));
  CHECK(s.rcpt("nobody", "example.org") == "DENY nobody@example.org is gone");
  CHECK(s.rcpt("old-sales", "example.org") == "DENY old-sales@example.org is gone");
  CHECK(s.rcpt("postmaster", "example.org") == "OK");
  CHECK(s.rcpt("other", "example.org") == "CONT");
  CHECK(s.txnResult("msg", "unlisted(rcpt)"));

  Address null_sender;
  null_sender.is_null = true;
  s.c.begin(null_sender);
  HookParams params;
  params.address = &null_sender;
  CHECK(Setup::said(s.h.call(Hook::Mail, s.c, params)) == "CONT");
  CHECK(s.txnResult("skip", "null sender"));
}

TEST_CASE("plugins/access: any checks each name's organizational domain") {
  Setup s("", {{"access.domains", "spam.com\n!friend@spam.com\n!ok.spam.com\nexample.test\n"}});
  // index 1: the any function (the precise check registers first)
  CHECK(s.connect("192.0.2.5", "mail.spam.com", 1) == "DENY You are not welcome here.");
  CHECK(s.connResult("fail", "access.domains(spam.com)"));
  CHECK(s.connect("127.0.0.1", "localhost", 1) == "CONT");
  CHECK(s.connResult("fail", "invalid domain: localhost"));
  CHECK(s.helo("relay.spam.com", 1) == "DENY You are not welcome here.");
  CHECK(s.helo("ok.spam.com", 1) == "CONT");
  CHECK(s.connResult("pass", "helo:access.domains"));
  CHECK(s.helo("[192.0.2.1]", 1) == "CONT");
  CHECK(s.mail("user", "sub.example.test", 1) == "DENY You are not welcome here.");
  CHECK(s.connResult("fail", "access.domains(example.test)"));
  CHECK(s.mail("friend", "spam.com", 1) == "CONT");
  CHECK(s.mail("foe", "spam.com", 1) == "DENY You are not welcome here.");
  CHECK(s.rcpt("x", "a.b.spam.com", 1) == "DENY You are not welcome here.");
  CHECK(s.mail("user", "clean.com", 1) == "CONT");
  CHECK(s.connResult("msg", "unlisted(mail:any)"));

  s.c.txn().header_lines.push_back({"From", "Someone <a@news.spam.com>"});
  CHECK(Setup::said(s.h.call(Hook::DataPost, s.c)) ==
        "DENY Email from that domain is not accepted here.");
  s.c.txn().header_lines.clear();
  CHECK(Setup::said(s.h.call(Hook::DataPost, s.c)) == "CONT");
  CHECK(s.txnResult("fail", "data(missing_from)"));
}

TEST_CASE("plugins/access: checks switched off, helo regexps, and a list reloaded") {
  Setup off("[check]\nany=false\nconn=false\nmail=false\nrcpt=false\n",
            {{"access.domains", "spam.com\n"},
             {"connect.rdns_access.blacklist", "192.0.2.66\n"},
             {"mail_from.access.blacklist", "a@spam.com\n"},
             {"rcpt_to.access.blacklist", "b@spam.com\n"}});
  CHECK(off.connect("192.0.2.66", "mail.spam.com") == "CONT");
  CHECK(off.connect("192.0.2.66", "mail.spam.com", 1) == "CONT");
  CHECK(off.mail("a", "spam.com") == "CONT");
  CHECK(off.rcpt("b", "spam.com") == "CONT");
  CHECK(off.helo("x.spam.com") == "CONT"); // helo is off by default

  Setup helo("[check]\nhelo=true\n[deny_msg]\nhelo=go away\n",
             {{"helo.checks.regexps", ".*\\.bad\\.example\n(broken\n"}});
  CHECK(helo.helo("Host.BAD.example") == "DENY Host.BAD.example go away");
  CHECK(helo.connResult("fail", "helo.checks.regexps"));
  CHECK(helo.helo("good.example") == "CONT");
  CHECK(helo.h.host.logged("config/helo.checks.regexps:2: the regular expression (broken"));

  Setup reload;
  CHECK(reload.mail("late", "example.com") == "CONT");
  reload.h.host.writeConfig("mail_from.access.blacklist", "late@example.com\n");
  reload.h.host.changed("mail_from.access.blacklist");
  CHECK(reload.mail("late", "example.com").rfind("DENY", 0) == 0);
}

TEST_CASE("plugins/access: max_list_entries bounds each list") {
  Setup s("[main]\nmax_list_entries=1\n",
          {{"mail_from.access.blacklist", "a@example.com\nb@example.com\n"}});
  CHECK(s.mail("a", "example.com").rfind("DENY", 0) == 0);
  CHECK(s.mail("b", "example.com") == "CONT");
  CHECK(s.h.host.logged("only the first 1 are used"));
}
