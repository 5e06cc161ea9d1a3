#include "common/smtp/command_parser.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <string>
#include <vector>

using upesi::smtp::BodyType;
using upesi::smtp::findParam;
using upesi::smtp::LineDefect;
using upesi::smtp::parseBodyValue;
using upesi::smtp::parseEsmtpParams;
using upesi::smtp::parseMailArgument;
using upesi::smtp::parseRcptArgument;
using upesi::smtp::parseSizeValue;
using upesi::smtp::PathOptions;
using upesi::smtp::splitCommandLine;
using upesi::smtp::splitPathArgument;

namespace {

using namespace std::string_literals;

struct SplitCase {
  std::string line;
  bool allow_utf8;
  std::string verb;
  std::string argument;
  LineDefect defect;
};

struct BadArgument {
  std::string argument;
  std::string error;
};

} // namespace

TEST_CASE("command line: split") {
  const std::vector<SplitCase> cases = {
      {"QUIT", false, "QUIT", "", LineDefect::None},
      {"quit", false, "QUIT", "", LineDefect::None},
      {"MaIl FROM:<a@b.c>", false, "MAIL", "FROM:<a@b.c>", LineDefect::None},
      {"HELO   host.example  ", false, "HELO", "host.example  ", LineDefect::None},
      {"EHLO ", false, "EHLO", "", LineDefect::None},
      {"NOOP a b  c", false, "NOOP", "a b  c", LineDefect::None},
      {"", false, "", "", LineDefect::Empty},
      {" ", false, "", "", LineDefect::Empty},
      {" MAIL FROM:<>", false, "", "MAIL FROM:<>", LineDefect::Empty},
      {"MAIL:FROM", false, "MAIL:FROM", "", LineDefect::BadVerb},
      {"X-FOO bar", false, "X-FOO", "bar", LineDefect::BadVerb},
      {"HELO\tx", false, "HELO\tX", "", LineDefect::BadVerb},
      {"123", false, "123", "", LineDefect::BadVerb},
      {"HE\0LO x"s, false, "HE\0LO"s, "x", LineDefect::Nul},
      {"HELO x\0"s, true, "HELO", "x\0"s, LineDefect::Nul},
      {"\0"s, false, "\0"s, "", LineDefect::Nul},
      {"HELO h\xc3\xa9llo", false, "HELO", "h\xc3\xa9llo", LineDefect::EightBit},
      {"HELO h\xc3\xa9llo", true, "HELO", "h\xc3\xa9llo", LineDefect::EightBit},
      {"MAIL FROM:<j\xc3\xa9@x.org>", false, "MAIL", "FROM:<j\xc3\xa9@x.org>",
       LineDefect::EightBit},
      {"MAIL FROM:<j\xc3\xa9@x.org>", true, "MAIL", "FROM:<j\xc3\xa9@x.org>", LineDefect::None},
      {"rcpt TO:<j\xc3\xa9@x.org>", true, "RCPT", "TO:<j\xc3\xa9@x.org>", LineDefect::None},
      {"M\xc3\x80IL FROM:<>", true, "M\xc3\x80IL", "FROM:<>", LineDefect::EightBit},
      {"\xff", true, "\xff", "", LineDefect::EightBit},
  };
  for (const auto& c : cases) {
    CAPTURE(c.line);
    const auto line = splitCommandLine(c.line, c.allow_utf8);
    CHECK(line.verb == c.verb);
    CHECK(line.argument == c.argument);
    CHECK(line.defect == c.defect);
  }
  CHECK(std::string(splitCommandLine("", false).defectMessage()) == "Syntax error");
  CHECK(std::string(splitCommandLine("HELO \xff", false).defectMessage()) ==
        "Syntax error (8-bit characters not allowed)");
  CHECK(std::string(splitCommandLine("HELO \0"s, false).defectMessage()) ==
        "Syntax error (NUL byte not allowed)");
  CHECK(std::string(splitCommandLine("X:Y", false).defectMessage()) == "Unrecognized command");
  CHECK(splitCommandLine("QUIT", false).defectMessage().empty());
}

TEST_CASE("command line: huge lines") {
  const std::string verb(10000, 'A');
  const auto line = splitCommandLine(verb, false);
  CHECK(line.verb == verb);
  CHECK(line.defect == LineDefect::None);

  const auto spaces = splitCommandLine("NOOP" + std::string(10000, ' '), false);
  CHECK(spaces.verb == "NOOP");
  CHECK(spaces.argument.empty());

  const auto nul = splitCommandLine(std::string(10000, '\0'), false);
  CHECK(nul.defect == LineDefect::Nul);
}

TEST_CASE("MAIL: valid arguments") {
  auto plain = parseMailArgument("FROM:<user@Example.com>");
  REQUIRE_MESSAGE(plain.ok(), (plain.ok() ? std::string() : plain.error()));
  CHECK(plain->address.user == "user");
  CHECK(plain->address.host == "example.com");
  CHECK(plain->address.original == "<user@Example.com>");
  CHECK(plain->params.empty());

  auto lower = parseMailArgument("from:<>");
  REQUIRE(lower.ok());
  CHECK(lower->address.is_null);

  auto params = parseMailArgument("FROM:<a@b.c> size=1000 BODY=8BITMIME  smtputf8 ");
  REQUIRE(params.ok());
  REQUIRE(params->params.size() == 3);
  CHECK(params->params[0].first == "SIZE");
  CHECK(params->params[0].second == "1000");
  CHECK(params->params[1].first == "BODY");
  CHECK(params->params[1].second == "8BITMIME");
  CHECK(params->params[2].first == "SMTPUTF8");
  CHECK(params->params[2].second.empty());
  REQUIRE(findParam(params->params, "SIZE") != nullptr);
  CHECK(*findParam(params->params, "SIZE") == "1000");
  CHECK(findParam(params->params, "RET") == nullptr);

  auto quoted = parseMailArgument("FROM:<\"a> b\"@x.org> RET=HDRS");
  REQUIRE(quoted.ok());
  CHECK(quoted->address.user == "a> b");
  CHECK(quoted->address.original == "<\"a> b\"@x.org>");
  REQUIRE(quoted->params.size() == 1);
  CHECK(quoted->params[0].first == "RET");

  auto routed = parseMailArgument("FROM:<@relay.example:u@x.org> AUTH=<>");
  REQUIRE(routed.ok());
  CHECK(routed->address.format() == "<u@x.org>");
  CHECK(routed->params[0].second == "<>");

  auto utf8 = parseMailArgument("FROM:<j\xc3\xa9@x.org> SMTPUTF8");
  REQUIRE(utf8.ok());
  CHECK(utf8->address.is_utf8);
}

TEST_CASE("MAIL/RCPT: Haraka's leniency and strict mode") {
  const auto strict = PathOptions::strict();

  auto space = parseMailArgument("FROM: <a@b.c>");
  REQUIRE(space.ok());
  CHECK(space->address.address() == "a@b.c");
  auto strict_space = parseMailArgument("FROM: <a@b.c>", strict);
  REQUIRE_FALSE(strict_space.ok());
  CHECK(strict_space.error() == "Syntax error: no space allowed after FROM:");

  auto bare = parseMailArgument("FROM: a@b.c SIZE=10");
  REQUIRE(bare.ok());
  CHECK(bare->address.address() == "a@b.c");
  CHECK(bare->params.size() == 1);
  auto strict_bare = parseMailArgument("FROM:a@b.c", strict);
  REQUIRE_FALSE(strict_bare.ok());
  CHECK(strict_bare.error() == "Address must be enclosed in <>");

  auto bare_quoted = parseRcptArgument("TO:\"a b\"@x.org NOTIFY=NEVER");
  REQUIRE(bare_quoted.ok());
  CHECK(bare_quoted->address.user == "a b");
  CHECK(bare_quoted->params.size() == 1);

  auto postmaster = parseRcptArgument("TO:<Postmaster>", strict);
  REQUIRE(postmaster.ok());
  CHECK(postmaster->address.user == "Postmaster");
  CHECK(postmaster->address.host.empty());

  CHECK(parseRcptArgument("TO:<abuse>").ok());
  CHECK_FALSE(parseRcptArgument("TO:<abuse>", strict).ok());
  CHECK(parseRcptArgument("to:<a@b.c>", strict).ok());
}

TEST_CASE("RCPT: valid and null") {
  auto r = parseRcptArgument("TO:<user@x.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;user@x.org");
  REQUIRE(r.ok());
  CHECK(r->address.host == "x.org");
  REQUIRE(r->params.size() == 2);
  CHECK(r->params[1].first == "ORCPT");
  CHECK(r->params[1].second == "rfc822;user@x.org");

  auto null = parseRcptArgument("TO:<>");
  REQUIRE_FALSE(null.ok());
  CHECK(null.error() == "Null path <> not allowed as a recipient");
}

TEST_CASE("MAIL/RCPT: invalid arguments") {
  const std::vector<BadArgument> mail_cases = {
      {"", "Syntax error: expected FROM:<address>"},
      {"FROM", "Syntax error: expected FROM:<address>"},
      {"FROM <a@b.c>", "Syntax error: expected FROM:<address>"},
      {"TO:<a@b.c>", "Syntax error: expected FROM:<address>"},
      {"<a@b.c>", "Syntax error: expected FROM:<address>"},
      {"FROM:", "Syntax error: missing address after FROM:"},
      {"FROM:   ", "Syntax error: missing address after FROM:"},
      {"FROM:<", "Unbalanced angle brackets in address"},
      {"FROM:<a@b.c", "Unbalanced angle brackets in address"},
      {"FROM:<a@b.c SIZE=10", "Unbalanced angle brackets in address"},
      {"FROM:<\"a@b.c>", "Unterminated quoted string in local part"},
      {"FROM:<a@b.c>>", "Syntax error: unexpected characters after address"},
      {"FROM:<a@b.c>SIZE=10", "Syntax error: unexpected characters after address"},
      {"FROM:<<a@b.c>>", "Syntax error: unexpected characters after address"},
      {"FROM:a@b.c>", "Unbalanced angle brackets in address"},
      {"FROM:<a b@c.d>", "Invalid local part in address"},
      {"FROM:<a@b..c>", "Invalid domain in address"},
      {"FROM:<a@b.c> SIZE=", "Invalid value for parameter SIZE"},
      {"FROM:<a@b.c> =10", "Invalid parameter keyword"},
      {"FROM:<a@b.c> -X=1", "Invalid parameter keyword"},
      {"FROM:<a@b.c> SI_ZE=1", "Invalid parameter keyword"},
      {"FROM:<a@b.c> SIZE=1=2", "Invalid value for parameter SIZE"},
      {"FROM:<a@b.c> SIZE=1\t", "Invalid value for parameter SIZE"},
      {"FROM:<a@b.c> X=\x7f", "Invalid value for parameter X"},
      {"FROM:<a@b.c> X=\xff", "Invalid value for parameter X"},
      {"FROM:<a@b.c> SIZE=1 size=2", "Duplicate parameter SIZE"},
      {"FROM:<a@b.c> BODY=7BIT Body=8BITMIME", "Duplicate parameter BODY"},
      {"FROM:<a@b.c\r\n>", "CR or LF in address"},
      {"FROM:<a\0@b.c>"s, "NUL byte in address"},
  };
  for (const auto& c : mail_cases) {
    CAPTURE(c.argument);
    auto r = parseMailArgument(c.argument);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == c.error);
  }

  const std::vector<BadArgument> rcpt_cases = {
      {"FROM:<a@b.c>", "Syntax error: expected TO:<address>"},
      {"TO:", "Syntax error: missing address after TO:"},
      {"TO:<>", "Null path <> not allowed as a recipient"},
      {"TO:<root>", "Missing domain in address"},
      {"TO:<a@b.c> <x@y.z>", "Invalid parameter keyword"},
  };
  for (const auto& c : rcpt_cases) {
    CAPTURE(c.argument);
    auto r = parseRcptArgument(c.argument);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == c.error);
  }
}

TEST_CASE("MAIL/RCPT: splitPathArgument") {
  auto parts = splitPathArgument("FROM:<a@b.c>  SIZE=1 BODY=7BIT", "FROM:", PathOptions());
  REQUIRE(parts.ok());
  CHECK(std::string(parts->path) == "<a@b.c>");
  CHECK(std::string(parts->params) == "SIZE=1 BODY=7BIT");

  auto none = splitPathArgument("TO:<a@b.c>", "TO:", PathOptions());
  REQUIRE(none.ok());
  CHECK(none->params.empty());

  auto bare = splitPathArgument("TO:a@b.c X", "TO:", PathOptions());
  REQUIRE(bare.ok());
  CHECK(std::string(bare->path) == "a@b.c");
  CHECK(std::string(bare->params) == "X");
}

TEST_CASE("MAIL/RCPT: hostile sizes") {
  const std::string huge(10000, 'a');
  CHECK_FALSE(parseMailArgument("FROM:<" + huge + "@x.org>").ok());
  CHECK_FALSE(parseMailArgument("FROM:<" + huge).ok());
  CHECK_FALSE(parseMailArgument("FROM:" + std::string(10000, '<')).ok());
  CHECK_FALSE(parseMailArgument("FROM:" + std::string(10000, '"')).ok());
  CHECK_FALSE(parseMailArgument("FROM:<a@b.c> " + std::string(10000, '=')).ok());
  CHECK_FALSE(parseMailArgument("FROM:<a@b.c> X=" + std::string(10000, '=')).ok());

  // A long value is the caller's line limit's business, not a grammar error.
  auto long_value = parseMailArgument("FROM:<a@b.c> ENVID=" + huge);
  REQUIRE(long_value.ok());
  CHECK(long_value->params[0].second.size() == 10000);

  std::string many = "FROM:<a@b.c>";
  for (int i = 0; i < 33; ++i) {
    many += " X" + std::to_string(i);
  }
  auto too_many = parseMailArgument(many);
  REQUIRE_FALSE(too_many.ok());
  CHECK(too_many.error() == "Too many parameters (max 32)");

  std::string duplicates = "FROM:<a@b.c>";
  for (int i = 0; i < 1000; ++i) {
    duplicates += " X=1";
  }
  auto dup = parseMailArgument(duplicates);
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error() == "Duplicate parameter X");
}

TEST_CASE("ESMTP params: parse") {
  auto empty = parseEsmtpParams("");
  REQUIRE(empty.ok());
  CHECK(empty->empty());

  auto spaces = parseEsmtpParams("   ");
  REQUIRE(spaces.ok());
  CHECK(spaces->empty());

  auto p = parseEsmtpParams("8bitmime-x=A=B");
  REQUIRE_FALSE(p.ok());

  auto ok = parseEsmtpParams("x-y=1 Z9 MT-PRIORITY=-3 ENVID=a+2Bb ORCPT=utf-8;j\xc3\xa9@x");
  REQUIRE(ok.ok());
  REQUIRE(ok->size() == 5);
  CHECK((*ok)[0].first == "X-Y");
  CHECK((*ok)[1].first == "Z9");
  CHECK((*ok)[2].second == "-3");
  CHECK((*ok)[4].second == "utf-8;j\xc3\xa9@x");
}

TEST_CASE("SIZE value") {
  CHECK(*parseSizeValue("0") == 0);
  CHECK(*parseSizeValue("1000000") == 1000000);
  CHECK(*parseSizeValue("00012") == 12);
  CHECK(*parseSizeValue("18446744073709551615") == std::numeric_limits<std::uint64_t>::max());

  const std::vector<BadArgument> cases = {
      {"", "SIZE requires a value"},
      {"abc", "SIZE value is not a number"},
      {"-1", "SIZE value is not a number"},
      {"+1", "SIZE value is not a number"},
      {"1e9", "SIZE value is not a number"},
      {" 1", "SIZE value is not a number"},
      {"1.5", "SIZE value is not a number"},
      {"0x10", "SIZE value is not a number"},
      {"18446744073709551616", "SIZE value out of range"},
      {"99999999999999999999999", "SIZE value out of range"},
      {std::string(10000, '9'), "SIZE value out of range"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.argument);
    auto r = parseSizeValue(c.argument);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == c.error);
  }
}

TEST_CASE("BODY value") {
  CHECK(*parseBodyValue("7BIT") == BodyType::SevenBit);
  CHECK(*parseBodyValue("8bitmime") == BodyType::EightBitMime);
  CHECK(*parseBodyValue("BinaryMIME") == BodyType::BinaryMime);
  CHECK(parseBodyValue("").error() == "BODY requires a value");
  CHECK(parseBodyValue("8BIT").error() == "Unknown BODY type (7BIT, 8BITMIME or BINARYMIME)");
  CHECK_FALSE(parseBodyValue("7BIT ").ok());
  CHECK_FALSE(parseBodyValue(std::string(10000, '7')).ok());
}
