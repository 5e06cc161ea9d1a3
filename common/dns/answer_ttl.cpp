#include "common/dns/answer_ttl.hpp"

#include "common/dns/message_reader.hpp"

#include <algorithm>

namespace upesi::dns {
namespace {

constexpr unsigned TypeSoa = 6;

} // namespace

std::optional<std::uint32_t> answerTtl(const unsigned char* message, int length) {
  if (message == nullptr || length < DnsHeaderSize) {
    return std::nullopt;
  }
  MessageReader in(message, length);
  MessageHeader header;
  if (!readHeader(in, header)) {
    return std::nullopt;
  }
  std::optional<std::uint32_t> ttl;
  for (unsigned i = 0; i < header.answers; ++i) {
    RecordHeader record;
    if (!readRecord(in, record)) {
      return std::nullopt;
    }
    ttl = std::min(ttl.value_or(record.ttl), saneTtl(record.ttl));
  }
  if (header.answers > 0) {
    return ttl;
  }
  for (unsigned i = 0; i < header.authorities; ++i) {
    RecordHeader record;
    if (!readRecord(in, record)) {
      return std::nullopt;
    }
    if (record.type != TypeSoa || record.rdlength < 20) {
      continue;
    }
    // MINIMUM is the SOA data's last field.
    MessageReader minimum(message + record.rdata + record.rdlength - 4, 4);
    std::uint32_t soa_minimum = 0;
    minimum.u32(soa_minimum);
    return std::min(saneTtl(record.ttl), saneTtl(soa_minimum));
  }
  return std::nullopt;
}

} // namespace upesi::dns
