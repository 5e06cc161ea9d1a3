#include "common/dns/answer_ttl.hpp"

#include <algorithm>

namespace upesi::dns {
namespace {

constexpr int HeaderSize = 12;
constexpr unsigned TypeSoa = 6;

class Reader {
public:
  Reader(const unsigned char* data, int length) : data_(data), length_(length) {}

  bool skip(int n) {
    if (n < 0 || length_ - pos_ < n) {
      return false;
    }
    pos_ += n;
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

private:
  const unsigned char* data_;
  int length_;
  int pos_ = 0;
};

struct Record {
  unsigned type = 0;
  std::uint32_t ttl = 0;
  int rdata = 0; // offset of the data
  unsigned rdlength = 0;
};

bool readRecord(Reader& in, Record& out) {
  unsigned klass = 0;
  if (!in.skipName() || !in.u16(out.type) || !in.u16(klass) || !in.u32(out.ttl) ||
      !in.u16(out.rdlength)) {
    return false;
  }
  out.rdata = in.pos();
  return in.skip(static_cast<int>(out.rdlength));
}

// RFC 2181 section 8: a TTL with the top bit set is read as zero.
std::uint32_t sane(std::uint32_t ttl) {
  return (ttl & 0x80000000U) != 0 ? 0 : ttl;
}

} // namespace

std::optional<std::uint32_t> answerTtl(const unsigned char* message, int length) {
  if (message == nullptr || length < HeaderSize) {
    return std::nullopt;
  }
  Reader in(message, length);
  unsigned id = 0;
  unsigned flags = 0;
  unsigned questions = 0;
  unsigned answers = 0;
  unsigned authorities = 0;
  unsigned additional = 0;
  if (!in.u16(id) || !in.u16(flags) || !in.u16(questions) || !in.u16(answers) ||
      !in.u16(authorities) || !in.u16(additional)) {
    return std::nullopt;
  }
  for (unsigned i = 0; i < questions; ++i) {
    if (!in.skipName() || !in.skip(4)) {
      return std::nullopt;
    }
  }
  std::optional<std::uint32_t> ttl;
  for (unsigned i = 0; i < answers; ++i) {
    Record record;
    if (!readRecord(in, record)) {
      return std::nullopt;
    }
    ttl = std::min(ttl.value_or(record.ttl), sane(record.ttl));
  }
  if (answers > 0) {
    return ttl;
  }
  for (unsigned i = 0; i < authorities; ++i) {
    Record record;
    if (!readRecord(in, record)) {
      return std::nullopt;
    }
    if (record.type != TypeSoa || record.rdlength < 20) {
      continue;
    }
    // MINIMUM is the SOA data's last field.
    Reader minimum(message + record.rdata + record.rdlength - 4, 4);
    std::uint32_t soa_minimum = 0;
    minimum.u32(soa_minimum);
    return std::min(sane(record.ttl), sane(soa_minimum));
  }
  return std::nullopt;
}

} // namespace upesi::dns
