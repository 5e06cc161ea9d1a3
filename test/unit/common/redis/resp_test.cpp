// RESP replies built by hiredis's reader into our Reply, and the bounds on what a server may
// send: sizes, nesting, counts announced before the bytes, and bytes that are not RESP.
#include "common/redis/lua_script.hpp"
#include "common/redis/resp.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using upesi::redis::Reply;
using upesi::redis::ReplyLimits;
using upesi::redis::ReplyReader;

namespace {

// Every reply in `bytes`, fed in pieces of `step` bytes.
std::vector<Reply> respRepliesOf(const std::string& bytes, std::size_t step = 4096,
                                 ReplyLimits limits = {}) {
  ReplyReader reader(limits);
  std::vector<Reply> out;
  for (std::size_t at = 0; at < bytes.size(); at += step) {
    REQUIRE(reader.feed(std::string_view(bytes).substr(at, step)));
    while (auto reply = reader.next()) {
      out.push_back(std::move(*reply));
    }
    REQUIRE_FALSE(reader.failed());
  }
  return out;
}

// The reader's error for `bytes`, fed at once ("" if none).
std::string respErrorOf(const std::string& bytes, ReplyLimits limits = {}) {
  ReplyReader reader(limits);
  reader.feed(bytes);
  while (reader.next()) {
  }
  return reader.error();
}

} // namespace

TEST_CASE("resp: each type of reply, whole or a byte at a time") {
  const std::string wire = "+OK\r\n-ERR wrong type\r\n:-42\r\n$5\r\nhe\r\nl\r\n$-1\r\n*-1\r\n*0\r\n"
                           "*3\r\n$1\r\na\r\n*2\r\n:1\r\n$0\r\n\r\n$-1\r\n";
  for (std::size_t step : {std::size_t(1), std::size_t(3), std::size_t(4096)}) {
    CAPTURE(step);
    auto replies = respRepliesOf(wire, step);
    REQUIRE(replies.size() == 8);
    CHECK(replies[0].type == Reply::Type::Status);
    CHECK(replies[0].is("OK"));
    CHECK(replies[1].isError());
    CHECK(replies[1].text == "ERR wrong type");
    CHECK(replies[2].type == Reply::Type::Integer);
    CHECK(replies[2].integer == -42);
    CHECK(replies[3].type == Reply::Type::Bulk);
    CHECK(replies[3].text == "he\r\nl"); // binary-safe
    CHECK(replies[4].isNil());
    CHECK(replies[5].isNil()); // the nil array
    CHECK(replies[6].type == Reply::Type::Array);
    CHECK(replies[6].elements.empty());
    const Reply& nested = replies[7];
    REQUIRE(nested.elements.size() == 3);
    CHECK(nested.elements[0].text == "a");
    REQUIRE(nested.elements[1].elements.size() == 2);
    CHECK(nested.elements[1].elements[0].integer == 1);
    CHECK(nested.elements[1].elements[1].type == Reply::Type::Bulk);
    CHECK(nested.elements[1].elements[1].text.empty());
    CHECK(nested.elements[2].isNil());
    CHECK(nested.describe() == "[\"a\", [(integer) 1, \"\"], (nil)]");
  }
}

TEST_CASE("resp: arrays nested 8 deep are read, 9 deep are a protocol error") {
  std::string deep8;
  for (int i = 0; i < 8; ++i) {
    deep8 += "*1\r\n";
  }
  deep8 += ":7\r\n";
  auto replies = respRepliesOf(deep8);
  REQUIRE(replies.size() == 1);
  const Reply* at = &replies[0];
  for (int i = 0; i < 8; ++i) {
    REQUIRE(at->elements.size() == 1);
    at = &at->elements[0];
  }
  CHECK(at->integer == 7);
  CHECK(respErrorOf("*1\r\n" + deep8).find("nest") != std::string::npos);
}

TEST_CASE("resp: a huge element count is refused before anything is allocated") {
  CHECK(respErrorOf("*2000000000\r\n") == "a reply over 67108864 bytes");
  CHECK(respErrorOf("*1\r\n*2147483647\r\n") == "a reply over 67108864 bytes");
  CHECK_FALSE(respErrorOf("*99999999999999\r\n").empty()); // past hiredis's own int
}

TEST_CASE("resp: the size bound counts strings, elements, and the unfinished reply") {
  ReplyLimits small;
  small.max_bytes = 4096;
  // One bulk string over the bound, complete.
  CHECK(respErrorOf("$5000\r\n" + std::string(5000, 'x') + "\r\n", small) ==
        "a reply over 4096 bytes");
  // Its bytes still coming: refused once more than the bound wait, not at the end.
  {
    ReplyReader reader(small);
    REQUIRE(reader.feed("$100000000\r\n"));
    CHECK_FALSE(reader.next().has_value());
    CHECK_FALSE(reader.failed());
    REQUIRE(reader.feed(std::string(4000, 'y')));
    CHECK_FALSE(reader.next().has_value());
    CHECK_FALSE(reader.failed());
    reader.feed(std::string(200, 'y'));
    CHECK_FALSE(reader.next().has_value());
    CHECK(reader.failed());
    CHECK_FALSE(reader.feed("more")); // failed for good
  }
  // Many small elements add up.
  std::string many = "*1000\r\n";
  for (int i = 0; i < 1000; ++i) {
    many += ":1\r\n";
  }
  CHECK(respErrorOf(many, small) == "a reply over 4096 bytes");
  // Each reply is counted alone: many small replies in a row are fine.
  std::string replies;
  for (int i = 0; i < 1000; ++i) {
    replies += "$10\r\n0123456789\r\n";
  }
  CHECK(respRepliesOf(replies, 4096, small).size() == 1000);
}

TEST_CASE("resp: bytes that are not RESP are a protocol error") {
  CHECK(respErrorOf("HTTP/1.1 400 Bad Request\r\n").find("Protocol error") != std::string::npos);
  CHECK(respErrorOf(":12a\r\n") == "Bad integer value");
  CHECK(respErrorOf("$-5\r\n").find("out of range") != std::string::npos);
  CHECK(respErrorOf("*-2\r\n").find("out of range") != std::string::npos);
  CHECK(respErrorOf("$abc\r\n").find("Bad bulk string length") != std::string::npos);
  CHECK(respErrorOf("+OK\r\n").empty());
}

TEST_CASE("resp: a command is an array of bulk strings, binary-safe") {
  using upesi::redis::encodeCommand;
  CHECK(encodeCommand({"SET", "k", "v"}) == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
  CHECK(encodeCommand({"SET", "k", std::string("a\r\n\0b", 5)}) ==
        std::string("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\r\n\0b\r\n", 31));
  CHECK(encodeCommand({"PING"}) == "*1\r\n$4\r\nPING\r\n");
}

TEST_CASE("resp: a Lua script is named by the SHA-1 of its source") {
  CHECK(upesi::redis::LuaScript("return 1").sha1 == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}
