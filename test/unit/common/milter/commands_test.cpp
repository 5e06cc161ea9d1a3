#include "common/milter/commands.hpp"
#include "common/milter/packet.hpp"

#include <doctest/doctest.h>

using namespace upesi::milter;
using namespace std::string_literals;

namespace {

Packet only(const std::string& wire) {
  PacketReader reader;
  REQUIRE(reader.feed(wire));
  auto packet = reader.next();
  REQUIRE(packet);
  CHECK_FALSE(reader.next());
  return *packet;
}

} // namespace

TEST_CASE("milter commands: OPTNEG carries version, actions and steps") {
  auto packet = only(encodeOptNeg(6, 0x1ff, 0x1fffff));
  CHECK(packet.command == 'O');
  CHECK(packet.data == "\0\0\0\x06\0\0\x01\xff\0\x1f\xff\xff"s);
}

TEST_CASE("milter commands: MACRO names the command and pairs names with values") {
  auto packet = only(encodeMacros('C', {{"j", "mx.example"}, {"{daemon_name}", "upesi"}}));
  CHECK(packet.command == 'D');
  CHECK(packet.data == "Cj\0mx.example\0{daemon_name}\0upesi\0"s);
  CHECK(only(encodeMacros('E', {})).data == "E");
}

TEST_CASE("milter commands: CONNECT for each family") {
  CHECK(only(encodeConnect("mail.example", family::Inet, 2525, "192.0.2.1")).data ==
        "mail.example\0"
        "4\x09\xdd"
        "192.0.2.1\0"s);
  CHECK(only(encodeConnect("[::1]", family::Inet6, 25, "::1")).data == "[::1]\0"
                                                                       "6\0\x19"
                                                                       "::1\0"s);
  CHECK(only(encodeConnect("localhost", family::Unix, 0, "/run/x")).data == "localhost\0"
                                                                            "L\0\0"
                                                                            "/run/x\0"s);
  CHECK(only(encodeConnect("unknown", family::Unknown, 0, "")).data == "unknown\0U"s);
  CHECK(only(encodeConnect("a", family::Inet, 1, "1.2.3.4")).command == 'C');
}

TEST_CASE("milter commands: HELO, MAIL, RCPT and UNKNOWN are NUL-terminated strings") {
  CHECK(only(encodeHelo("client.example")).data == "client.example\0"s);
  auto mail = only(encodeMail({"<a@b.example>", "SIZE=100", "BODY=8BITMIME"}));
  CHECK(mail.command == 'M');
  CHECK(mail.data == "<a@b.example>\0SIZE=100\0BODY=8BITMIME\0"s);
  auto rcpt = only(encodeRcpt({"<c@d.example>"}));
  CHECK(rcpt.command == 'R');
  CHECK(rcpt.data == "<c@d.example>\0"s);
  auto unknown = only(encodeUnknown("XYZZY now"));
  CHECK(unknown.command == 'U');
  CHECK(unknown.data == "XYZZY now\0"s);
}

TEST_CASE("milter commands: a NUL inside a string becomes a space") {
  CHECK(only(encodeHelo("a\0b"s)).data == "a b\0"s);
  CHECK(only(encodeHeader("X\0Y"s, "v\0w"s)).data == "X Y\0v w\0"s);
}

TEST_CASE("milter commands: message commands") {
  auto header = only(encodeHeader("Subject", "hello\n\tthere"));
  CHECK(header.command == 'L');
  CHECK(header.data == "Subject\0hello\n\tthere\0"s);
  CHECK(only(encodeData()).command == 'T');
  CHECK(only(encodeEoh()).command == 'N');
  auto body = only(encodeBody("line\r\n\0binary"s));
  CHECK(body.command == 'B');
  CHECK(body.data == "line\r\n\0binary"s); // raw: body bytes are not strings
  CHECK(only(encodeBodyEob()).command == 'E');
  CHECK(only(encodeAbort()).command == 'A');
  CHECK(only(encodeQuit()).command == 'Q');
  CHECK(only(encodeQuitNc()).command == 'K');
  CHECK(only(encodeQuit()).data.empty());
}
