#include "common/milter/packet.hpp"

#include <fmt/format.h>

namespace upesi::milter {

void appendUint32(std::string& out, std::uint32_t value) {
  out += static_cast<char>((value >> 24) & 0xff);
  out += static_cast<char>((value >> 16) & 0xff);
  out += static_cast<char>((value >> 8) & 0xff);
  out += static_cast<char>(value & 0xff);
}

void appendUint16(std::string& out, std::uint16_t value) {
  out += static_cast<char>((value >> 8) & 0xff);
  out += static_cast<char>(value & 0xff);
}

std::uint32_t readUint32(std::string_view bytes, std::size_t offset) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[offset + i]);
  }
  return value;
}

std::string framePacket(char command, std::string_view data) {
  std::string out;
  out.reserve(5 + data.size());
  appendUint32(out, static_cast<std::uint32_t>(data.size() + 1));
  out += command;
  out.append(data);
  return out;
}

bool PacketReader::feed(std::string_view bytes) {
  if (failed()) {
    return false;
  }
  while (!bytes.empty()) {
    if (buffer_.size() < 4) {
      const std::size_t take = std::min<std::size_t>(4 - buffer_.size(), bytes.size());
      buffer_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      if (buffer_.size() < 4) {
        return true;
      }
      const std::uint32_t length = readUint32(buffer_);
      if (length == 0) {
        error_ = "packet of length 0";
        return false;
      }
      if (length > max_packet_) {
        error_ = fmt::format("packet of {} bytes, more than {}", length, max_packet_);
        return false;
      }
      buffer_.reserve(4 + length);
    }
    const std::size_t length = readUint32(buffer_);
    const std::size_t take = std::min(4 + length - buffer_.size(), bytes.size());
    buffer_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (buffer_.size() == 4 + length) {
      Packet packet;
      packet.command = buffer_[4];
      packet.data = buffer_.substr(5);
      ready_.push_back(std::move(packet));
      buffer_.clear();
    }
  }
  return true;
}

std::optional<Packet> PacketReader::next() {
  if (ready_.empty()) {
    return std::nullopt;
  }
  Packet packet = std::move(ready_.front());
  ready_.pop_front();
  return packet;
}

void PacketReader::reset() {
  buffer_.clear();
  ready_.clear();
  error_.clear();
}

} // namespace upesi::milter
