#include "common/config/haraka_aliases.hpp"
#include "common/config/smtp_config.hpp"
#include "common/log/log_config.hpp"
#include "test/support/temp_dir.hpp"

#include <doctest/doctest.h>

using upesi::config::Config;
using upesi::config::readHarakaAliases;
using upesi::config::readSmtpConfig;
using upesi::test::TempDir;
using Notices = std::vector<std::string>;

namespace {

// An install whose shipped defaults set every key, as etc/ does: they never count as "ours".
struct Install {
  TempDir dir;
  Config config{dir.path() / "config", dir.path() / "defaults"};
  Install() {
    dir.write("defaults/smtp.ini", "[main]\nlisten=[::0]:25\nmax_message_size=26214400\n"
                                   "max_line_length=512\nhelo_message=Upesi is at your service.\n");
    dir.write("defaults/log.ini", "[main]\nlevel=info\ntimestamps=false\n");
  }
  std::string write(const std::string& name, std::string_view text) {
    config.clearCache();
    return dir.write("config/" + name, text).string();
  }
};

} // namespace

TEST_CASE("connection.ini: Haraka's keys stand in for smtp.ini's, each with a notice") {
  Install install;
  auto path = install.write("connection.ini", "[max]\nbytes=1000000\nline_length=1024\n"
                                              "data_line_length=992\n[headers]\nmax_received=50\n"
                                              "[message]\ngreeting[]=Hi there\ngreeting[]=Be nice\n"
                                              "helo=at your service\nclose=bye\n"
                                              "[main]\nspool_after=4096\n");
  auto aliases = readHarakaAliases(install.config);
  REQUIRE(aliases.ok());
  CHECK(aliases->notices ==
        Notices{path + ":2: [max] bytes is read as smtp.ini [main] max_message_size; move it there",
                path + ":3: [max] line_length is read as smtp.ini [main] max_line_length; move it "
                       "there",
                path + ":4: [max] data_line_length is read as smtp.ini [main] "
                       "max_data_line_length; move it there",
                path + ":6: [headers] max_received is read as smtp.ini [main] "
                       "max_received_headers; move it there",
                path + ":8: [message] greeting is read as smtp.ini [main] greeting; move it there",
                path + ":10: [message] helo is read as smtp.ini [main] helo_message; move it "
                       "there",
                path + ":11: [message] close is read as smtp.ini [main] close_message; move it "
                       "there",
                path + ":13: [main] spool_after is read as smtp.ini [main] spool_after; move it "
                       "there"});
  auto smtp = readSmtpConfig(install.config);
  REQUIRE(smtp.ok());
  CHECK(smtp->limits.max_message_size == 1000000);
  CHECK(smtp->limits.max_line_length == 1024);
  CHECK(smtp->limits.max_data_line_length == 992);
  CHECK(smtp->limits.max_received_headers == 50);
  CHECK(smtp->limits.spool_after == 4096);
  CHECK(smtp->texts.greeting == std::vector<std::string>{"Hi there", "Be nice"});
  CHECK(smtp->texts.helo_message == "at your service");
  CHECK(smtp->texts.close_message == "bye");
}

TEST_CASE("connection.ini: a key the install's smtp.ini sets wins, and the notice says so") {
  Install install;
  install.write("smtp.ini", "[main]\nmax_message_size=2000000\n");
  auto path = install.write("connection.ini", "[max]\nbytes=1000000\nline_length=1024\n");
  auto aliases = readHarakaAliases(install.config);
  REQUIRE(aliases.ok());
  CHECK(aliases->notices ==
        Notices{path + ":2: [max] bytes is ignored: smtp.ini [main] max_message_size sets it",
                path + ":3: [max] line_length is read as smtp.ini [main] max_line_length; move it "
                       "there"});
  auto smtp = readSmtpConfig(install.config);
  REQUIRE(smtp.ok());
  CHECK(smtp->limits.max_message_size == 2000000);
  CHECK(smtp->limits.max_line_length == 1024);
}

TEST_CASE("connection.ini: Haraka keys without an equivalent are ignored with a notice") {
  Install install;
  // Haraka's shipped file: other files' keys are --check's; [haproxy] is read as it is
  // (proxy_config.hpp), with no notice.
  auto path = install.write("connection.ini", "[haproxy]\nhosts[] =\n[uuid]\ndeny_chars=6\n"
                                              "[main]\nsmtputf8=true\ncolour=blue\n"
                                              "[haproxy]\nhosts[]=192.0.2.4\n");
  auto aliases = readHarakaAliases(install.config);
  REQUIRE(aliases.ok());
  CHECK(aliases->notices ==
        Notices{path + ":4: [uuid] deny_chars is ignored: it has no equivalent here",
                path + ":6: [main] smtputf8 is ignored: SMTPUTF8 is always offered"});
  CHECK(aliases->smtp.empty());
  // No connection.ini, no notice.
  std::filesystem::remove(path);
  install.config.clearCache();
  CHECK(readHarakaAliases(install.config)->notices.empty());
}

TEST_CASE("connection.ini: a bad value is an error naming its file, line and both names") {
  Install install;
  auto path = install.write("connection.ini", "[main]\n\n[max]\nmime_parts=10\nbytes=0\n");
  auto smtp = readSmtpConfig(install.config);
  REQUIRE_FALSE(smtp.ok());
  CHECK(smtp.error() == path + ":5: [max] bytes (smtp.ini max_message_size) must be a whole "
                               "number from 1024 to 1099511627776, not 0");
  path = install.write("connection.ini", "[message]\ngreeting[]=ok\ngreeting[]=\n");
  smtp = readSmtpConfig(install.config);
  REQUIRE_FALSE(smtp.ok());
  CHECK(smtp.error().find(path + ":3: [message] greeting (smtp.ini greeting) must be text") == 0);
  // A file that does not parse is named as our own files are.
  path = install.write("connection.ini", "[max]\nbytes=1\nmax bytes\n");
  smtp = readSmtpConfig(install.config);
  REQUIRE_FALSE(smtp.ok());
  CHECK(smtp.error().find(path + ":3: not a [section] or key=value line") == 0);
}

TEST_CASE("loglevel and log_timestamps: Haraka's flat files stand in for log.ini's keys") {
  Install install;
  auto level = install.write("loglevel", "# Haraka\nLOGDEBUG\n");
  auto stamps = install.write("log_timestamps", "1\n");
  auto aliases = readHarakaAliases(install.config);
  REQUIRE(aliases.ok());
  CHECK(aliases->notices ==
        Notices{level + ":2: loglevel is read as log.ini [main] level; move it there",
                stamps + ":1: log_timestamps is read as log.ini [main] timestamps; move it there"});
  auto log = upesi::log::readLogConfig(install.config);
  REQUIRE(log.ok());
  CHECK(log->settings.level == upesi::log::Level::Debug);
  CHECK(log->settings.timestamps);
  // Names and numbers, as Haraka takes them.
  for (auto [text, expected] :
       {std::pair{"7", upesi::log::Level::Debug}, std::pair{"WARN", upesi::log::Level::Warn},
        std::pair{"protocol", upesi::log::Level::Protocol}}) {
    install.write("loglevel", text);
    CHECK(upesi::log::readLogConfig(install.config)->settings.level == expected);
  }
  install.write("log_timestamps", "false\n");
  CHECK_FALSE(upesi::log::readLogConfig(install.config)->settings.timestamps);

  // The install's log.ini wins.
  install.write("log.ini", "[main]\nlevel=notice\ntimestamps=false\n");
  install.write("loglevel", "LOGDEBUG\n");
  install.write("log_timestamps", "true\n");
  aliases = readHarakaAliases(install.config);
  CHECK(aliases->notices ==
        Notices{level + ":1: loglevel is ignored: log.ini [main] level sets it",
                stamps + ":1: log_timestamps is ignored: log.ini [main] timestamps sets it"});
  log = upesi::log::readLogConfig(install.config);
  CHECK(log->settings.level == upesi::log::Level::Notice);
  CHECK_FALSE(log->settings.timestamps);
}

TEST_CASE("loglevel and log_timestamps: a bad value names the file and line") {
  Install install;
  auto level = install.write("loglevel", "\nLOGLOUD\n");
  auto log = upesi::log::readLogConfig(install.config);
  REQUIRE_FALSE(log.ok());
  CHECK(log.error().find(level + ":2: loglevel: unknown log level \"LOGLOUD\"") == 0);
  install.write("loglevel", "info\n");
  auto stamps = install.write("log_timestamps", "maybe\n");
  log = upesi::log::readLogConfig(install.config);
  REQUIRE_FALSE(log.ok());
  CHECK(log.error() == stamps + ":1: log_timestamps must be true or false, not \"maybe\"");
}

TEST_CASE("smtp.ini: greeting, helo_message and close_message of our own") {
  Install install;
  auto path = install.write("smtp.ini", "[main]\ngreeting=One line\nclose_message=bye\n");
  auto smtp = readSmtpConfig(install.config);
  REQUIRE(smtp.ok());
  CHECK(smtp->texts.greeting == std::vector<std::string>{"One line"});
  CHECK(smtp->texts.helo_message == "Upesi is at your service.");
  CHECK(smtp->texts.close_message == "bye");
  install.write("smtp.ini", "[main]\nhelo_message=a\tb\n");
  smtp = readSmtpConfig(install.config);
  REQUIRE_FALSE(smtp.ok());
  CHECK(smtp.error().find(path + ":2: helo_message must be text") == 0);
}
