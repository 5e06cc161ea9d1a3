#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>

using namespace upesi;
using namespace upesi::test;

TEST_CASE("plugins/rcpt_to.in_host_list: listed domains, any case, and regexes") {
  PluginHarness h("rcpt_to.in_host_list");
  h.host.writeConfig("host_list", "# local domains\nExample.COM\nlocalhost\n");
  h.host.writeConfig("host_list_regex", ".*\\.example\\.org\n[bad\n");
  h.load();
  CHECK(h.count(Hook::Rcpt) == 1);
  CHECK(h.count(Hook::Mail) == 1);
  CHECK(h.help.find("host_list_regex") != std::string::npos);
  CHECK(h.host.logged("bad pattern"));

  FakeConnection c;
  c.begin(makeAddress("alice", "remote.net"));
  auto accept = [&](const std::string& user, const std::string& domain) {
    auto a = h.callWith(Hook::Rcpt, c, makeAddress(user, domain));
    REQUIRE(a->calls == 1);
    return a->name();
  };
  CHECK(accept("bob", "example.com") == "OK");
  CHECK(accept("bob", "EXAMPLE.com") == "OK");
  CHECK(accept("bob", "mail.example.org") == "OK");
  CHECK(accept("bob", "deep.mail.Example.ORG") == "OK");
  // Anchored: the pattern must match the whole domain.
  CHECK(accept("bob", "example.org") == "CONT");
  CHECK(accept("bob", "mail.example.org.evil.net") == "CONT");
  CHECK(accept("bob", "notexample.com") == "CONT");
  CHECK(accept("bob", "example.com.evil.net") == "CONT");
  CHECK(c.txn().results().has("rcpt_to.in_host_list", "pass", "rcpt_to"));
  CHECK(c.txn().results().has("rcpt_to.in_host_list", "msg", "rcpt!local"));

  // <postmaster> without a domain: accepted, for postmaster of the first host_list domain.
  Address bare = makeAddress("PostMaster", "");
  c.txn().rcptTo().push_back(bare);
  CHECK(h.callWith(Hook::Rcpt, c, bare)->name() == "OK");
  CHECK(c.txn().rcptTo().back().address() == "postmaster@example.com");
  CHECK(c.txn().results().has("rcpt_to.in_host_list", "pass", "rcpt_to postmaster"));
  CHECK(accept("abuse", "") == "CONT");
}

TEST_CASE("plugins/rcpt_to.in_host_list: a relaying client with a local sender may send anywhere") {
  PluginHarness h("rcpt_to.in_host_list");
  h.host.writeConfig("host_list", "example.com\n");
  h.load();

  FakeConnection c;
  c.begin();
  auto mail = h.callWith(Hook::Mail, c, makeAddress("alice", "Example.Com"));
  REQUIRE(mail->calls == 1);
  CHECK(mail->name() == "CONT");
  CHECK(c.txn().notes()["local_sender"] == true);

  // Not relaying: a remote recipient is not ours to accept.
  auto remote = h.callWith(Hook::Rcpt, c, makeAddress("bob", "remote.net"));
  CHECK(remote->calls == 1);
  CHECK(remote->name() == "CONT");

  c.setRelaying(true);
  auto relayed = h.callWith(Hook::Rcpt, c, makeAddress("bob", "remote.net"));
  CHECK(relayed->calls == 1);
  CHECK(relayed->name() == "OK");

  // A relaying client with a foreign sender gets no help from this plugin.
  c.end();
  c.begin();
  c.setRelaying(true);
  auto foreign = h.callWith(Hook::Mail, c, makeAddress("eve", "remote.net"));
  CHECK(foreign->name() == "CONT");
  CHECK_FALSE(c.txn().notes().contains("local_sender"));
  auto other = h.callWith(Hook::Rcpt, c, makeAddress("bob", "remote.net"));
  CHECK(other->name() == "CONT");

  auto null_sender = h.callWith(Hook::Mail, c, nullAddress());
  CHECK(null_sender->name() == "CONT");
  CHECK(c.txn().results().has("rcpt_to.in_host_list", "skip", "mail_from.null"));
}

TEST_CASE("plugins/rcpt_to.in_host_list: the lists are re-read when they change") {
  PluginHarness h("rcpt_to.in_host_list");
  h.host.writeConfig("host_list", "example.com\n");
  h.load();
  FakeConnection c;
  c.begin();
  CHECK(h.callWith(Hook::Rcpt, c, makeAddress("a", "new.net"))->name() == "CONT");
  h.host.writeConfig("host_list", "example.com\nnew.net\n");
  h.host.changed("host_list");
  CHECK(h.callWith(Hook::Rcpt, c, makeAddress("a", "new.net"))->name() == "OK");
  h.host.writeConfig("host_list_regex", "x[0-9]+\\.net\n");
  h.host.changed("host_list_regex");
  CHECK(h.callWith(Hook::Rcpt, c, makeAddress("a", "x42.net"))->name() == "OK");
  CHECK(h.callWith(Hook::Rcpt, c, makeAddress("a", "x.net"))->name() == "CONT");

  // So is the mailbox list, and which mailboxes are accepted.
  h.host.writeConfig("rcpt_to.in_host_list.ini", "mailboxes=listed\n");
  h.host.changed("rcpt_to.in_host_list.ini");
  CHECK(h.callWith(Hook::Rcpt, c, makeAddress("a", "new.net"))->name() == "DENY");
  h.host.writeConfig("local_mailboxes", "a@new.net\n");
  h.host.changed("local_mailboxes");
  CHECK(h.callWith(Hook::Rcpt, c, makeAddress("a", "new.net"))->name() == "OK");

  auto files = h.plugin->configFiles();
  REQUIRE(files.size() == 4);
  CHECK(files[0].name == "host_list");
  CHECK(files[1].type == "list");
  CHECK(files[2].name == "rcpt_to.in_host_list.ini");
  CHECK(files[3].name == "local_mailboxes");
}

TEST_CASE("plugins/rcpt_to.in_host_list: mailboxes=listed accepts postmaster and listed ones") {
  PluginHarness h("rcpt_to.in_host_list");
  h.host.writeConfig("host_list", "example.com\nlocalhost\n");
  h.host.writeConfig("rcpt_to.in_host_list.ini", "[main]\nmailboxes=listed\n");
  h.host.writeConfig("local_mailboxes", "You@Example.com\n@localhost\nno-at-sign\n");
  h.load();
  CHECK(h.host.logged("no-at-sign"));

  FakeConnection c;
  c.begin(makeAddress("alice", "remote.net"));
  auto answer = [&](const std::string& user, const std::string& domain) {
    auto a = h.callWith(Hook::Rcpt, c, makeAddress(user, domain));
    REQUIRE(a->calls == 1);
    return a->name();
  };
  CHECK(answer("you", "example.com") == "OK");
  CHECK(answer("YOU", "EXAMPLE.COM") == "OK");
  CHECK(answer("Postmaster", "example.com") == "OK");
  CHECK(answer("anyone", "localhost") == "OK");
  CHECK(answer("other", "example.com") == "DENY");
  CHECK(c.txn().results().has("rcpt_to.in_host_list", "fail", "rcpt!mailbox"));
  // Not a local domain: not this plugin's to refuse.
  CHECK(answer("other", "remote.example") == "CONT");
}

TEST_CASE("plugins/rcpt_to.in_host_list: mailboxes=any by default, and a bad value fails closed") {
  PluginHarness h("rcpt_to.in_host_list");
  h.host.writeConfig("host_list", "example.com\n");
  h.load();
  FakeConnection c;
  c.begin(makeAddress("alice", "remote.net"));
  CHECK(h.callWith(Hook::Rcpt, c, makeAddress("anyone", "example.com"))->name() == "OK");

  PluginHarness typo("rcpt_to.in_host_list");
  typo.host.writeConfig("host_list", "example.com\n");
  typo.host.writeConfig("rcpt_to.in_host_list.ini", "[main]\nmailboxes=lsited\n");
  typo.load();
  CHECK(typo.host.logged("using listed"));
  FakeConnection c2;
  c2.begin(makeAddress("alice", "remote.net"));
  CHECK(typo.callWith(Hook::Rcpt, c2, makeAddress("anyone", "example.com"))->name() == "DENY");
}
