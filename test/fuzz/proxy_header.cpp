// The PROXY protocol header parser (common/net/proxy_header): the first bytes of a connection
// from a proxy, split anywhere.
//
// Input: one byte that seeds the chunk sizes, then the connection's bytes.
//
// Invariants: fed whole, in chunks or one byte at a time, the same answer, the same header or
// the same reason, and the same count of bytes used; it never uses more than the header, never
// buffers past its bounds, and takes nothing once it has answered. A complete header keeps the
// rules it was parsed by: addresses only for PROXY over IPv4/IPv6, v1 within 107 bytes and
// ending in CRLF (a TCP4 line written back gives the same bytes), a v2 header's length field
// matching what was used, a checksum that sums right, TLV text that is clean.
#include "common/net/proxy_header.hpp"

#include "common/util/crc32c.hpp"
#include "test/fuzz/fuzz_check.hpp"

#include <fmt/format.h>

#include <string>
#include <vector>

using upesi::net::ProxyCommand;
using upesi::net::ProxyFamily;
using upesi::net::ProxyHeader;
using upesi::net::ProxyHeaderParser;
using upesi::net::ProxyParseStatus;

namespace {

constexpr std::size_t MaxV2Header =
    ProxyHeaderParser::V2FixedLength + 216 + ProxyHeaderParser::MaxV2Tlvs;

struct ProxyFuzzOutcome {
  ProxyParseStatus status = ProxyParseStatus::NeedMore;
  std::size_t used = 0;
  ProxyHeader header;
  std::string error;
};

ProxyFuzzOutcome proxyFuzzFeed(std::string_view input, const std::vector<std::size_t>& chunks) {
  ProxyHeaderParser parser;
  ProxyFuzzOutcome outcome;
  std::size_t offset = 0;
  std::size_t next_chunk = 0;
  while (offset < input.size()) {
    std::size_t size = next_chunk < chunks.size() ? chunks[next_chunk++] : input.size();
    size = std::min(size, input.size() - offset);
    const auto step = parser.feed(input.substr(offset, size));
    FUZZ_CHECK(step.status == parser.status());
    FUZZ_CHECK(step.used <= size);
    outcome.used += step.used;
    FUZZ_CHECK(parser.buffered() == outcome.used);
    FUZZ_CHECK(parser.buffered() <= std::max(ProxyHeaderParser::MaxV1Line, MaxV2Header));
    if (step.status == ProxyParseStatus::NeedMore) {
      FUZZ_CHECK(step.used == size);
    } else {
      // Answered: nothing more is taken.
      const auto again = parser.feed(input.substr(offset));
      FUZZ_CHECK(again.status == step.status && again.used == 0);
      break;
    }
    offset += size;
  }
  outcome.status = parser.status();
  outcome.header = parser.header();
  outcome.error = parser.error();
  return outcome;
}

bool sameProxyHeader(const ProxyHeader& a, const ProxyHeader& b) {
  return a.version == b.version && a.command == b.command && a.family == b.family &&
         a.length == b.length && a.source.ipText() == b.source.ipText() &&
         a.source.port == b.source.port && a.destination.ipText() == b.destination.ipText() &&
         a.destination.port == b.destination.port && a.tlvs == b.tlvs;
}

bool proxyFuzzPrintable(const std::string& text) {
  for (char c : text) {
    if (c < 0x20 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

bool proxyFuzzNoControls(const std::string& text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      return false;
    }
  }
  return true;
}

void checkProxyV1(const ProxyHeader& header, std::string_view wire) {
  FUZZ_CHECK(header.length <= ProxyHeaderParser::MaxV1Line);
  FUZZ_CHECK(wire.substr(0, 6) == "PROXY ");
  FUZZ_CHECK(wire.substr(header.length - 2, 2) == "\r\n");
  FUZZ_CHECK(wire.substr(0, header.length - 2).find_first_of("\r\n") == std::string_view::npos);
  FUZZ_CHECK(header.command == ProxyCommand::Proxy);
  FUZZ_CHECK(header.tlvs.empty());
  if (header.family == ProxyFamily::Inet) {
    // The canonical IPv4 form is the only one accepted: written back, the same bytes.
    const std::string line =
        fmt::format("PROXY TCP4 {} {} {} {}\r\n", header.source.ipText(),
                    header.destination.ipText(), header.source.port, header.destination.port);
    FUZZ_CHECK(line == wire.substr(0, header.length));
  } else if (header.family == ProxyFamily::Inet6) {
    // IPv6 text has many forms: written back canonically, it parses to the same header.
    const std::string line =
        fmt::format("PROXY TCP6 {} {} {} {}\r\n", header.source.ipText(),
                    header.destination.ipText(), header.source.port, header.destination.port);
    ProxyHeaderParser again;
    FUZZ_CHECK(again.feed(line).status == ProxyParseStatus::Complete);
    FUZZ_CHECK(again.header().source.ip.bytes == header.source.ip.bytes);
    FUZZ_CHECK(again.header().destination.ip.bytes == header.destination.ip.bytes);
    FUZZ_CHECK(again.header().source.port == header.source.port);
  } else {
    FUZZ_CHECK(wire.substr(0, 13) == "PROXY UNKNOWN");
  }
}

void checkProxyV2(const ProxyHeader& header, std::string_view wire) {
  FUZZ_CHECK(header.length >= ProxyHeaderParser::V2FixedLength && header.length <= MaxV2Header);
  FUZZ_CHECK(wire.substr(0, 12) == ProxyHeaderParser::V2Signature);
  const auto byte = [&](std::size_t at) { return static_cast<unsigned char>(wire[at]); };
  FUZZ_CHECK((byte(12) >> 4) == 2);
  FUZZ_CHECK((byte(12) & 0x0f) == (header.command == ProxyCommand::Local ? 0 : 1));
  FUZZ_CHECK(ProxyHeaderParser::V2FixedLength + ((byte(14) << 8) | byte(15)) == header.length);
  if (header.hasAddresses()) {
    FUZZ_CHECK(byte(13) == (header.family == ProxyFamily::Inet ? 0x11 : 0x21));
  }
  const auto& tlvs = header.tlvs;
  if (tlvs.crc32c && header.length <= 256) { // the search is quadratic: small headers only
    // Somewhere in the header are the checksum's 4 bytes: zeroed, the header sums to them.
    bool found = false;
    for (std::size_t at = ProxyHeaderParser::V2FixedLength; at + 4 <= header.length && !found;
         ++at) {
      std::string copy(wire.substr(0, header.length));
      const std::uint32_t stored = (static_cast<std::uint32_t>(byte(at)) << 24) |
                                   (byte(at + 1) << 16) | (byte(at + 2) << 8) | byte(at + 3);
      copy.replace(at, 4, 4, '\0');
      found = stored == *tlvs.crc32c && upesi::crc32c(copy) == stored;
    }
    FUZZ_CHECK(found);
  }
  FUZZ_CHECK(!tlvs.unique_id || tlvs.unique_id->size() <= 128);
  FUZZ_CHECK(!tlvs.authority || proxyFuzzNoControls(*tlvs.authority));
  FUZZ_CHECK(!tlvs.netns || proxyFuzzPrintable(*tlvs.netns));
  FUZZ_CHECK(!tlvs.aws_vpc_endpoint_id || proxyFuzzPrintable(*tlvs.aws_vpc_endpoint_id));
  if (tlvs.ssl) {
    for (const auto* text : {&tlvs.ssl->version, &tlvs.ssl->cipher, &tlvs.ssl->signature_algorithm,
                             &tlvs.ssl->key_algorithm}) {
      FUZZ_CHECK(!*text || proxyFuzzPrintable(**text));
    }
    FUZZ_CHECK(!tlvs.ssl->common_name || proxyFuzzNoControls(*tlvs.ssl->common_name));
  }
  for (const auto& other : tlvs.other) {
    FUZZ_CHECK(other.type != upesi::net::proxy_tlv::Noop);
    FUZZ_CHECK(other.value.size() < header.length);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view input = upesi::fuzz::asView(data + 1, size - 1);
  const ProxyFuzzOutcome whole = proxyFuzzFeed(input, {});
  const ProxyFuzzOutcome chunked =
      proxyFuzzFeed(input, upesi::fuzz::chunkSizes(data[0], input.size(), 17));
  const ProxyFuzzOutcome bytes = proxyFuzzFeed(input, std::vector<std::size_t>(input.size(), 1));
  for (const ProxyFuzzOutcome* other : {&chunked, &bytes}) {
    FUZZ_CHECK(other->status == whole.status);
    FUZZ_CHECK(other->used == whole.used);
    FUZZ_CHECK(other->error == whole.error);
    if (whole.status == ProxyParseStatus::Complete) {
      FUZZ_CHECK(sameProxyHeader(other->header, whole.header));
    }
  }
  switch (whole.status) {
  case ProxyParseStatus::NeedMore:
    FUZZ_CHECK(whole.used == input.size());
    break;
  case ProxyParseStatus::Invalid:
    FUZZ_CHECK(!whole.error.empty());
    break;
  case ProxyParseStatus::Complete:
    FUZZ_CHECK(whole.used == whole.header.length);
    FUZZ_CHECK(whole.error.empty());
    if (whole.header.hasAddresses()) {
      FUZZ_CHECK(whole.header.command == ProxyCommand::Proxy);
      FUZZ_CHECK(whole.header.source.ip.v6 == (whole.header.family == ProxyFamily::Inet6));
    }
    if (whole.header.version == 1) {
      checkProxyV1(whole.header, input);
    } else {
      FUZZ_CHECK(whole.header.version == 2);
      checkProxyV2(whole.header, input);
    }
    break;
  }
  return 0;
}
