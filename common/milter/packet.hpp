// Milter packet framing: a 4-byte big-endian length (the command letter and the data), the
// command letter, the data. PacketReader cuts a byte stream into packets and refuses a length
// of 0 or above its bound before buffering any of the data, so a hostile peer holds at most one
// bounded packet in memory.
#pragma once

#include "common/milter/protocol.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace upesi::milter {

struct Packet {
  char command = 0;
  std::string data;
};

/// The wire form of one packet.
std::string framePacket(char command, std::string_view data = {});

/// Appends a big-endian 32-bit / 16-bit number (the protocol's only integer types).
void appendUint32(std::string& out, std::uint32_t value);
void appendUint16(std::string& out, std::uint16_t value);
/// Reads a big-endian 32-bit number at `offset`; the caller checks there are 4 bytes.
std::uint32_t readUint32(std::string_view bytes, std::size_t offset = 0);

class PacketReader {
public:
  explicit PacketReader(std::size_t max_packet = MaxReplyPacket) : max_packet_(max_packet) {}

  /// Takes bytes from the peer. False once a packet's length is out of bounds: the stream can
  /// no longer be framed and the connection must be dropped (error() says why).
  bool feed(std::string_view bytes);
  /// The next whole packet, in order.
  std::optional<Packet> next();

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  /// Bytes of a packet not yet complete (0 between packets).
  std::size_t pending() const { return buffer_.size(); }
  void reset();

private:
  std::size_t max_packet_;
  std::string buffer_; // the packet being read, length prefix included
  std::deque<Packet> ready_;
  std::string error_;
};

} // namespace upesi::milter
