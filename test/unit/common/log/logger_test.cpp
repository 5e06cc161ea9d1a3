#include "common/log/escape.hpp"
#include "common/log/log_level.hpp"
#include "common/log/logger.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

using namespace upesi::log;

namespace {
// Restores the process-wide logger settings after a test.
struct SettingsGuard {
  Settings saved = Logger::instance().settings();
  ~SettingsGuard() { Logger::instance().configure(saved); }
};
} // namespace

TEST_CASE("log levels: names, numbers, Haraka's LOG prefix") {
  CHECK(levelFromString("info") == Level::Info);
  CHECK(levelFromString("LOGDEBUG") == Level::Debug);
  CHECK(levelFromString("warning") == Level::Warn);
  CHECK(levelFromString("9") == Level::Data);
  CHECK_FALSE(levelFromString("loud").has_value());
  CHECK(std::string(toString(Level::Protocol)) == "PROTOCOL");
}

TEST_CASE("escape: control characters and invalid UTF-8 never reach a line raw") {
  CHECK(escaped("MAIL FROM:<a@b>\r\nRCPT") == "MAIL FROM:<a@b>\\r\\nRCPT");
  CHECK(escaped(std::string("a\0b", 3)) == "a\\x00b");
  CHECK(escaped("\x1b[31mred") == "\\x1B[31mred");
  CHECK(escaped("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(escaped("caf\xe9!") == "caf\\xE9!");
  CHECK(escaped("\xf0\x9f") == "\\xF0\\x9F");
  CHECK(escaped("back\\slash") == "back\\\\slash");
  // A quote from the network cannot end the quoted value it is put in (helo="...").
  CHECK(escaped("x\" relay=Y") == "x\\\" relay=Y");
}

TEST_CASE("logger: an escaped value stays one value in every format") {
  SettingsGuard guard;
  const std::string message = fmt::format("disconnect helo=\"{}\" relay=N", escaped("x\" relay=Y"));
  Logger::instance().configure({Level::Info, false, Format::Default});
  auto line = Logger::instance().formatRecord(Level::Notice, {"U", ""}, message);
  CHECK(line.find("helo=\"x\\\" relay=Y\" relay=N") != std::string::npos);
  Logger::instance().configure({Level::Info, false, Format::Json});
  auto parsed = nlohmann::json::parse(Logger::instance().formatRecord(Level::Notice, {}, message));
  CHECK(parsed["message"] == message);
  Logger::instance().configure({Level::Info, false, Format::Logfmt});
  line = Logger::instance().formatRecord(Level::Notice, {}, message);
  CHECK(line.find("message=\"disconnect helo=\\\"x\\\\\\\" relay=Y\\\" relay=N\"") !=
        std::string::npos);
}

TEST_CASE("logger: default format carries level, pid, uuid and plugin") {
  SettingsGuard guard;
  Logger::instance().configure({Level::Info, false, Format::Default});
  auto line = Logger::instance().formatRecord(Level::Notice, {"ABC-123.1", "relay"}, "hi\nthere");
  CHECK(line == fmt::format("[NOTICE] [{}] [ABC-123.1] [relay] hi\\nthere\n", ::getpid()));
  auto core = Logger::instance().formatRecord(Level::Warn, {}, "x");
  CHECK(core == fmt::format("[WARN] [{}] [-] [core] x\n", ::getpid()));
}

TEST_CASE("logger: json format is valid JSON even for hostile bytes") {
  SettingsGuard guard;
  Logger::instance().configure({Level::Info, true, Format::Json});
  auto line = Logger::instance().formatRecord(Level::Error, {"U\"1", "p"},
                                              std::string("bad \xff\x01 \"quote\"\r\n"));
  auto parsed = nlohmann::json::parse(line);
  CHECK(parsed["level"] == "ERROR");
  CHECK(parsed["pid"] == ::getpid());
  CHECK(parsed["uuid"] == "U\"1");
  CHECK(parsed["source"] == "p");
  CHECK(parsed["message"] == "bad \\xFF\\x01 \"quote\"\\r\\n");
  CHECK(parsed.contains("timestamp"));
}

TEST_CASE("logger: logfmt quotes values with spaces") {
  SettingsGuard guard;
  Logger::instance().configure({Level::Info, false, Format::Logfmt});
  auto line = Logger::instance().formatRecord(Level::Info, {"", "queue/maildir"}, "saved 2 files");
  CHECK(line == fmt::format("level=INFO pid={} uuid=\"\" source=queue/maildir message=\"saved 2 "
                            "files\"\n",
                            ::getpid()));
}

TEST_CASE("logger: level filter") {
  SettingsGuard guard;
  Logger::instance().configure({Level::Warn, false, Format::Default});
  CHECK(Logger::instance().enabled(Level::Error));
  CHECK(Logger::instance().enabled(Level::Warn));
  CHECK_FALSE(Logger::instance().enabled(Level::Info));
}
