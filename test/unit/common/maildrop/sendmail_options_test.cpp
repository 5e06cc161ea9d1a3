#include "common/maildrop/sendmail_options.hpp"

#include <doctest/doctest.h>

using upesi::maildrop::parseSendmailOptions;
using upesi::maildrop::SendmailOptions;
using Mode = SendmailOptions::Mode;
using Args = std::vector<std::string>;

TEST_CASE("sendmail options: what cron and mail(1) pass") {
  // cron: sendmail -FCronDaemon -i -B8BITMIME -oem root
  auto cron = parseSendmailOptions({"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"});
  REQUIRE(cron.ok());
  CHECK(cron->mode == Mode::Deliver);
  CHECK(cron->full_name == "CronDaemon");
  CHECK_FALSE(cron->dot_ends_message);
  CHECK(cron->recipients == Args{"root"});
  // mail(1): sendmail -oi -t; scripts: sendmail -t -f sender, or -ti
  auto t = parseSendmailOptions({"-ti", "-f", "sender@example.org"});
  REQUIRE(t.ok());
  CHECK(t->extract_recipients);
  CHECK_FALSE(t->dot_ends_message);
  CHECK(t->from == "sender@example.org");
  CHECK(t->recipients.empty());
  auto oi = parseSendmailOptions({"-oi", "-t"});
  REQUIRE(oi.ok());
  CHECK_FALSE(oi->dot_ends_message);
  CHECK(parseSendmailOptions({"-r<>", "x"})->from == "<>");
}

TEST_CASE("sendmail options: modes, by option and by name") {
  CHECK(parseSendmailOptions({"-bs"})->mode == Mode::Smtp);
  CHECK(parseSendmailOptions({"-bp"})->mode == Mode::PrintQueue);
  CHECK(parseSendmailOptions({"-q"})->mode == Mode::Flush);
  CHECK(parseSendmailOptions({"-q30m"})->mode == Mode::Flush);
  CHECK(parseSendmailOptions({"-bi"})->mode == Mode::Aliases);
  CHECK(parseSendmailOptions({}, "mailq")->mode == Mode::PrintQueue);
  CHECK(parseSendmailOptions({}, "newaliases")->mode == Mode::Aliases);
  CHECK(parseSendmailOptions({"--version"})->mode == Mode::Version);
  CHECK(parseSendmailOptions({"-C", "/srv/upesi", "a"})->install_dir == "/srv/upesi");
}

TEST_CASE("sendmail options: -- ends the options; errors say what is wrong") {
  auto dashes = parseSendmailOptions({"-i", "--", "-weird@example.org"});
  REQUIRE(dashes.ok());
  CHECK(dashes->recipients == Args{"-weird@example.org"});
  CHECK(parseSendmailOptions({"-f"}).error() == "-f needs a value");
  CHECK(parseSendmailOptions({"-k"}).error() == "unknown option -k");
  CHECK(parseSendmailOptions({"-bd"}).error() == "-bd is not supported (-bm, -bs, -bp and -bi "
                                                 "are)");
}
