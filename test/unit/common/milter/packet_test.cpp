#include "common/milter/packet.hpp"

#include <doctest/doctest.h>

using namespace upesi::milter;

TEST_CASE("milter packet: framing writes a big-endian length covering the command letter") {
  const std::string wire = framePacket('c', "ab");
  CHECK(wire == std::string("\0\0\0\x03"
                            "cab",
                            7));
  CHECK(framePacket('Q') == std::string("\0\0\0\x01Q", 5));
}

TEST_CASE("milter packet: the reader cuts packets split anywhere") {
  const std::string wire = framePacket('c') + framePacket('h', std::string("X\0y\0", 4));
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    PacketReader reader;
    REQUIRE(reader.feed(std::string_view(wire).substr(0, cut)));
    REQUIRE(reader.feed(std::string_view(wire).substr(cut)));
    auto first = reader.next();
    auto second = reader.next();
    REQUIRE(first);
    REQUIRE(second);
    CHECK(first->command == 'c');
    CHECK(first->data.empty());
    CHECK(second->command == 'h');
    CHECK(second->data == std::string("X\0y\0", 4));
    CHECK_FALSE(reader.next());
    CHECK(reader.pending() == 0);
  }
}

TEST_CASE("milter packet: a zero or oversized length is refused before any data is kept") {
  PacketReader zero;
  CHECK_FALSE(zero.feed(std::string("\0\0\0\0", 4)));
  CHECK(zero.failed());
  CHECK_FALSE(zero.feed(framePacket('c'))); // failed for good

  PacketReader big(100);
  std::string header;
  appendUint32(header, 101);
  CHECK_FALSE(big.feed(header));
  CHECK(big.error().find("101") != std::string::npos);

  PacketReader default_bound;
  header.clear();
  appendUint32(header, static_cast<std::uint32_t>(MaxReplyPacket + 1));
  CHECK_FALSE(default_bound.feed(header));
  CHECK(default_bound.pending() <= 4);

  PacketReader huge;
  CHECK_FALSE(huge.feed(std::string("\xff\xff\xff\xff", 4)));
}

TEST_CASE("milter packet: integers are big-endian") {
  std::string out;
  appendUint32(out, 0x01020304);
  appendUint16(out, 0x0506);
  CHECK(out == "\x01\x02\x03\x04\x05\x06");
  CHECK(readUint32(out) == 0x01020304);
}
