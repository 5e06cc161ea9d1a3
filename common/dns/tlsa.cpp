#include "common/dns/tlsa.hpp"

#include "common/dns/message_reader.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace upesi::dns {
namespace {

constexpr unsigned ClassIn = 1;
constexpr unsigned RecordTypeOpt = 41;
constexpr unsigned FlagRecursionDesired = 0x0100;
constexpr unsigned FlagAuthenticatedData = 0x0020;
constexpr unsigned EdnsDnssecOk = 0x8000;

void put16(std::string& out, unsigned v) {
  out.push_back(static_cast<char>((v >> 8) & 0xFF));
  out.push_back(static_cast<char>(v & 0xFF));
}

} // namespace

std::optional<std::pair<bool, unsigned>> authenticatedAndRcode(const unsigned char* message,
                                                               int length) {
  if (message == nullptr || length < DnsHeaderSize) {
    return std::nullopt;
  }
  MessageHeader header;
  header.flags = (unsigned{message[2]} << 8) | message[3];
  return std::pair{header.authenticated(), header.rcode()};
}

std::optional<TlsaAnswer> parseTlsaAnswer(const unsigned char* message, int length) {
  if (message == nullptr || length < DnsHeaderSize) {
    return std::nullopt;
  }
  MessageReader in(message, length);
  MessageHeader header;
  if (!readHeader(in, header)) {
    return std::nullopt;
  }
  TlsaAnswer out;
  out.rcode = header.rcode();
  out.authenticated = header.authenticated();
  std::optional<std::uint32_t> ttl;
  for (unsigned i = 0; i < header.answers; ++i) {
    RecordHeader record;
    if (!readRecord(in, record)) {
      return std::nullopt;
    }
    if (record.type != RecordTypeTlsa || record.klass != ClassIn) {
      continue; // a CNAME on the way, or an RRSIG
    }
    if (record.rdlength < 3) {
      return std::nullopt;
    }
    const unsigned char* rdata = message + record.rdata;
    TlsaRecord tlsa;
    tlsa.usage = rdata[0];
    tlsa.selector = rdata[1];
    tlsa.matching = rdata[2];
    tlsa.data.assign(reinterpret_cast<const char*>(rdata + 3), record.rdlength - 3);
    out.records.push_back(std::move(tlsa));
    ttl = std::min(ttl.value_or(saneTtl(record.ttl)), saneTtl(record.ttl));
  }
  out.ttl = ttl.value_or(0);
  return out;
}

Result<std::string> authenticatedQuery(const std::string& name, unsigned type, std::uint16_t id,
                                       unsigned udp_size) {
  std::string out;
  put16(out, id);
  put16(out, FlagRecursionDesired | FlagAuthenticatedData);
  put16(out, 1); // one question
  put16(out, 0);
  put16(out, 0);
  put16(out, 1); // the OPT record
  std::string_view rest = name;
  if (!rest.empty() && rest.back() == '.') {
    rest.remove_suffix(1);
  }
  if (rest.empty() || rest.size() > 253) {
    return Error{fmt::format("\"{}\" cannot be asked for: not a host name", name)};
  }
  while (!rest.empty()) {
    auto dot = rest.find('.');
    std::string_view label = rest.substr(0, dot);
    if (label.empty() || label.size() > 63) {
      return Error{fmt::format("\"{}\" cannot be asked for: an empty or over-long label", name)};
    }
    out.push_back(static_cast<char>(label.size()));
    out.append(label);
    rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
  }
  out.push_back('\0');
  put16(out, type);
  put16(out, ClassIn);
  // OPT (RFC 6891): the root name, the UDP size in the class, DO in the TTL's flags.
  out.push_back('\0');
  put16(out, RecordTypeOpt);
  put16(out, udp_size);
  put16(out, 0); // extended RCODE, version
  put16(out, EdnsDnssecOk);
  put16(out, 0); // no options
  return out;
}

} // namespace upesi::dns
