// A bounds-checked walk over a raw DNS message (RFC 1035 4.1), for what c-ares 1.18 does not
// parse: most TTLs, the header's AD bit, TLSA records. Never reads past the given length.
#pragma once

#include <cstdint>

namespace upesi::dns {

constexpr int DnsHeaderSize = 12;

class MessageReader {
public:
  MessageReader(const unsigned char* data, int length) : data_(data), length_(length) {}

  bool skip(int n) {
    if (n < 0 || length_ - pos_ < n) {
      return false;
    }
    pos_ += n;
    return true;
  }

  bool u8(unsigned& out) {
    if (length_ - pos_ < 1) {
      return false;
    }
    out = data_[pos_++];
    return true;
  }

  bool u16(unsigned& out) {
    if (length_ - pos_ < 2) {
      return false;
    }
    out = (unsigned{data_[pos_]} << 8) | data_[pos_ + 1];
    pos_ += 2;
    return true;
  }

  bool u32(std::uint32_t& out) {
    unsigned high = 0;
    unsigned low = 0;
    if (!u16(high) || !u16(low)) {
      return false;
    }
    out = (static_cast<std::uint32_t>(high) << 16) | low;
    return true;
  }

  /// Skips a name: labels up to a zero byte, or a compression pointer (which ends it).
  bool skipName() {
    for (int labels = 0; labels < 128; ++labels) {
      if (pos_ >= length_) {
        return false;
      }
      const unsigned char len = data_[pos_];
      if ((len & 0xC0) == 0xC0) {
        return skip(2);
      }
      if ((len & 0xC0) != 0) {
        return false; // reserved label types
      }
      if (!skip(1 + len)) {
        return false;
      }
      if (len == 0) {
        return true;
      }
    }
    return false;
  }

  int pos() const { return pos_; }
  const unsigned char* data() const { return data_; }

private:
  const unsigned char* data_;
  int length_;
  int pos_ = 0;
};

/// The header's counts and flags.
struct MessageHeader {
  unsigned id = 0;
  unsigned flags = 0;
  unsigned questions = 0;
  unsigned answers = 0;
  unsigned authorities = 0;
  unsigned additional = 0;

  bool truncated() const { return (flags & 0x0200U) != 0; }
  /// The AD bit: the server says it validated the answer (RFC 4035 3.2.3).
  bool authenticated() const { return (flags & 0x0020U) != 0; }
  unsigned rcode() const { return flags & 0x000FU; }
};

/// Reads the header and skips the questions, leaving `in` at the answer section.
inline bool readHeader(MessageReader& in, MessageHeader& out) {
  if (!in.u16(out.id) || !in.u16(out.flags) || !in.u16(out.questions) || !in.u16(out.answers) ||
      !in.u16(out.authorities) || !in.u16(out.additional)) {
    return false;
  }
  for (unsigned i = 0; i < out.questions; ++i) {
    if (!in.skipName() || !in.skip(4)) {
      return false;
    }
  }
  return true;
}

/// One resource record's fixed fields; its data is at `rdata`, `rdlength` bytes.
struct RecordHeader {
  unsigned type = 0;
  unsigned klass = 0;
  std::uint32_t ttl = 0;
  int rdata = 0;
  unsigned rdlength = 0;
};

inline bool readRecord(MessageReader& in, RecordHeader& out) {
  if (!in.skipName() || !in.u16(out.type) || !in.u16(out.klass) || !in.u32(out.ttl) ||
      !in.u16(out.rdlength)) {
    return false;
  }
  out.rdata = in.pos();
  return in.skip(static_cast<int>(out.rdlength));
}

/// RFC 2181 section 8: a TTL with the top bit set is read as zero.
inline std::uint32_t saneTtl(std::uint32_t ttl) {
  return (ttl & 0x80000000U) != 0 ? 0 : ttl;
}

} // namespace upesi::dns
