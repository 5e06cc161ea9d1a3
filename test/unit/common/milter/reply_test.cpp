#include "common/milter/reply.hpp"

#include <doctest/doctest.h>

using namespace upesi::milter;
using namespace std::string_literals;

namespace {

Packet packet(char command, std::string data = {}) {
  return Packet{command, std::move(data)};
}

std::string index(std::uint32_t n) {
  std::string out;
  appendUint32(out, n);
  return out;
}

} // namespace

TEST_CASE("milter reply: decisions without data") {
  CHECK(decodeReply(packet('a'), 'C')->kind == ReplyKind::Accept);
  CHECK(decodeReply(packet('c'), 'M')->kind == ReplyKind::Continue);
  CHECK(decodeReply(packet('d'), 'R')->kind == ReplyKind::Discard);
  CHECK(decodeReply(packet('r'), 'R')->kind == ReplyKind::Reject);
  CHECK(decodeReply(packet('t'), 'T')->kind == ReplyKind::Tempfail);
  CHECK(decodeReply(packet('p'), 'E')->kind == ReplyKind::Progress);
  CHECK(decodeReply(packet('s'), 'B')->kind == ReplyKind::Skip);
  CHECK(decodeReply(packet('4'), 'H')->kind == ReplyKind::Shutdown);
  CHECK(decodeReply(packet('c'), 'M')->isDecision());
  CHECK_FALSE(decodeReply(packet('p'), 'M')->isDecision());
}

TEST_CASE("milter reply: a decision with data, or discard at connect, is garbage") {
  CHECK_FALSE(decodeReply(packet('c', "x"), 'M'));
  CHECK_FALSE(decodeReply(packet('a', "\0"s), 'M'));
  CHECK_FALSE(decodeReply(packet('d'), 'C'));
  CHECK_FALSE(decodeReply(packet('d'), 'H'));
  CHECK_FALSE(decodeReply(packet('f'), 'M'));
  CHECK_FALSE(decodeReply(packet('Z'), 'M'));
  CHECK_FALSE(decodeReply(packet('\x01'), 'M'));
  CHECK(decodeReply(packet('Z'), 'M').error().find("'Z'") != std::string::npos);
}

TEST_CASE("milter reply: REPLYCODE, one line and several as smfi_setmlreply writes them") {
  auto one = decodeReply(packet('y', "554 5.7.1 go away\0"s), 'M');
  REQUIRE(one);
  CHECK(one->kind == ReplyKind::ReplyCode);
  CHECK(one->code == 554);
  CHECK(one->enhanced == "5.7.1");
  CHECK(one->lines == std::vector<std::string>{"go away"});

  auto many =
      decodeReply(packet('y', "450-4.2.0 first\r\n450-4.2.0 second\r\n450 4.2.0 last\0"s), 'R');
  REQUIRE(many);
  CHECK(many->code == 450);
  CHECK(many->enhanced == "4.2.0");
  CHECK(many->lines == std::vector<std::string>{"first", "second", "last"});

  auto percent = decodeReply(packet('y', "550 5.7.1 100%% spam\0"s), 'E');
  REQUIRE(percent);
  CHECK(percent->lines.front() == "100% spam");

  auto bare = decodeReply(packet('y', "421 4.3.2\0"s), 'C');
  REQUIRE(bare);
  CHECK(bare->lines == std::vector<std::string>{""});
}

TEST_CASE("milter reply: malformed REPLYCODE") {
  const char* bad[] = {
      "250 2.0.0 ok",               // not 4xx/5xx
      "650 6.0.0 no",               // nor this
      "55 5.7.1 short",             // two digits
      "5x0 5.7.1 letters",          // not digits
      "550 text without enhanced",  // libmilter always writes one
      "550 4.7.1 other class",      // enhanced of another class
      "550-5.7.1 a\r\n451 4.7.1 b", // codes differ
      "550 5.7.1 a\r\n550 5.7.1 b", // first line not marked as continued
      "550-5.7.1 only",             // last line marked as continued
      "550 5.7.1 bell\x07",         // control character
      "550 5.7.1 lone\rCR",         // bare CR
      "",                           // nothing
  };
  for (const char* text : bad) {
    CAPTURE(text);
    CHECK_FALSE(decodeReply(packet('y', std::string(text) + '\0'), 'M'));
  }
  CHECK_FALSE(decodeReply(packet('y', "550 5.7.1 no terminator"), 'M'));
  CHECK_FALSE(decodeReply(packet('y', "550 5.7.1 a\0b\0"s), 'M'));
  std::string long_reply;
  for (int i = 0; i < 70; ++i) {
    long_reply += "550-5.7.1 x\r\n";
  }
  long_reply += "550 5.7.1 end";
  CHECK_FALSE(decodeReply(packet('y', long_reply + '\0'), 'M'));
}

TEST_CASE("milter reply: header modifications at the end of the message") {
  auto add = decodeReply(packet('h', "X-Test\0 yes\0"s), 'E');
  REQUIRE(add);
  CHECK(add->kind == ReplyKind::AddHeader);
  CHECK(add->name == "X-Test");
  CHECK(add->value == " yes");
  CHECK(add->isModification());

  auto insert = decodeReply(packet('i', index(0) + "X-First\0v\0"s), 'E');
  REQUIRE(insert);
  CHECK(insert->kind == ReplyKind::InsertHeader);
  CHECK(insert->index == 0);

  auto change = decodeReply(packet('m', index(2) + "Subject\0\0"s), 'E');
  REQUIRE(change);
  CHECK(change->kind == ReplyKind::ChangeHeader);
  CHECK(change->index == 2);
  CHECK(change->value.empty()); // deletes
  CHECK(decodeReply(packet('m', index(0) + "Subject\0x\0"s), 'E')->index == 1);
}

TEST_CASE("milter reply: malformed header modifications") {
  CHECK_FALSE(decodeReply(packet('h', "X-Test\0yes"s), 'E'));     // value unterminated
  CHECK_FALSE(decodeReply(packet('h', "X-Test\0"s), 'E'));        // no value
  CHECK_FALSE(decodeReply(packet('h', "\0v\0"s), 'E'));           // empty name
  CHECK_FALSE(decodeReply(packet('h', "Bad Name\0v\0"s), 'E'));   // space in name
  CHECK_FALSE(decodeReply(packet('h', "Bad:Name\0v\0"s), 'E'));   // colon in name
  CHECK_FALSE(decodeReply(packet('h', "A\0b\0c\0"s), 'E'));       // extra string
  CHECK_FALSE(decodeReply(packet('i', "\0\0\0"s), 'E'));          // short index
  CHECK_FALSE(decodeReply(packet('m', index(1) + "S\0v"s), 'E')); // unterminated
  CHECK_FALSE(decodeReply(packet('h', "X-Test\0yes\0"s), 'M'));   // not at end of message
  CHECK_FALSE(decodeReply(packet('h', "X-Test\0yes\0"s), 'B'));
}

TEST_CASE("milter reply: envelope modifications") {
  auto add = decodeReply(packet('+', "<new@example.com>\0"s), 'E');
  REQUIRE(add);
  CHECK(add->kind == ReplyKind::AddRcpt);
  CHECK(add->name == "<new@example.com>");

  auto add_par = decodeReply(packet('2', "<new@example.com>\0NOTIFY=NEVER\0"s), 'E');
  REQUIRE(add_par);
  CHECK(add_par->kind == ReplyKind::AddRcptPar);
  CHECK(add_par->value == "NOTIFY=NEVER");
  CHECK(decodeReply(packet('2', "<n@e>\0"s), 'E')->value.empty());

  auto del = decodeReply(packet('-', "<old@example.com>\0"s), 'E');
  REQUIRE(del);
  CHECK(del->kind == ReplyKind::DelRcpt);

  auto from = decodeReply(packet('e', "<s@example.com>\0SIZE=1\0"s), 'E');
  REQUIRE(from);
  CHECK(from->kind == ReplyKind::ChangeFrom);
  CHECK(from->name == "<s@example.com>");
  CHECK(from->value == "SIZE=1");

  auto quarantine = decodeReply(packet('q', "looks bad\0"s), 'E');
  REQUIRE(quarantine);
  CHECK(quarantine->kind == ReplyKind::Quarantine);
  CHECK(quarantine->name == "looks bad");

  auto body = decodeReply(packet('b', "new\r\nbody\0bytes"s), 'E');
  REQUIRE(body);
  CHECK(body->kind == ReplyKind::ReplaceBody);
  CHECK(body->body == "new\r\nbody\0bytes"s);
}

TEST_CASE("milter reply: malformed envelope modifications") {
  CHECK_FALSE(decodeReply(packet('+', "<a@b>"), 'E'));
  CHECK_FALSE(decodeReply(packet('+', "\0"s), 'E'));
  CHECK_FALSE(decodeReply(packet('+', "<a@b>\0X=1\0"s), 'E')); // ADDRCPT takes no args
  CHECK_FALSE(decodeReply(packet('2', "<a@b>\0X=1\0Y\0"s), 'E'));
  CHECK_FALSE(decodeReply(packet('-', ""), 'E'));
  CHECK_FALSE(decodeReply(packet('e', "<a@b>\0X"s), 'E'));
  CHECK_FALSE(decodeReply(packet('q', "reason"), 'E'));
  CHECK_FALSE(decodeReply(packet('q', "a\0b\0"s), 'E'));
  CHECK_FALSE(decodeReply(packet('+', "<a@b>\0"s), 'R'));
  CHECK_FALSE(decodeReply(packet('b', "x"), 'B'));
}

TEST_CASE("milter reply: option negotiation, with and without macro lists") {
  std::string data = index(6) + index(0x1ff) + index(0x1000);
  auto plain = decodeOptNegReply(packet('O', data));
  REQUIRE(plain);
  CHECK(plain->version == 6);
  CHECK(plain->actions == 0x1ff);
  CHECK(plain->steps == 0x1000);
  for (const auto& list : plain->macros) {
    CHECK_FALSE(list);
  }

  auto lists = decodeOptNegReply(
      packet('O', data + index(0) + "j {client_addr}\0"s + index(5) + "i\0"s + index(99) + "x\0"s));
  REQUIRE(lists);
  CHECK(lists->macros[0] == "j {client_addr}");
  CHECK(lists->macros[5] == "i");
  CHECK_FALSE(lists->macros[1]);
}

TEST_CASE("milter reply: malformed option negotiation") {
  std::string data = index(6) + index(0x1ff) + index(0);
  CHECK_FALSE(decodeOptNegReply(packet('c', data)));
  CHECK_FALSE(decodeOptNegReply(packet('O', data.substr(0, 11))));
  CHECK_FALSE(decodeOptNegReply(packet('O', data + index(0))));       // no list
  CHECK_FALSE(decodeOptNegReply(packet('O', data + index(0) + "j"))); // unterminated
  CHECK_FALSE(decodeOptNegReply(packet('O', data + "\0\0"s)));        // truncated stage
}
