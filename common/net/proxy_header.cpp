#include "common/net/proxy_header.hpp"

#include "common/util/crc32c.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <optional>
#include <vector>

namespace upesi::net {

namespace {

constexpr std::string_view ProxyV1Prefix = "PROXY ";

// The v2 family and transport nibbles.
constexpr unsigned ProxyV2FamilyUnspec = 0;
constexpr unsigned ProxyV2FamilyInet = 1;
constexpr unsigned ProxyV2FamilyInet6 = 2;
constexpr unsigned ProxyV2FamilyUnix = 3;
constexpr unsigned ProxyV2TransportStream = 1;
constexpr unsigned ProxyV2TransportDgram = 2;

ProxyFamily proxyFamilyOf(unsigned nibble) {
  switch (nibble) {
  case ProxyV2FamilyInet:
    return ProxyFamily::Inet;
  case ProxyV2FamilyInet6:
    return ProxyFamily::Inet6;
  case ProxyV2FamilyUnix:
    return ProxyFamily::Unix;
  default:
    return ProxyFamily::Unspecified;
  }
}

/// Bytes of a v2 address block: two addresses, then two ports for IP.
std::size_t proxyAddressBlockLength(ProxyFamily family) {
  switch (family) {
  case ProxyFamily::Inet:
    return 2 * 4 + 2 * 2;
  case ProxyFamily::Inet6:
    return 2 * 16 + 2 * 2;
  case ProxyFamily::Unix:
    return 2 * 108;
  case ProxyFamily::Unspecified:
    return 0;
  }
  return 0;
}

const char* proxyFamilyName(ProxyFamily family) {
  switch (family) {
  case ProxyFamily::Inet:
    return "AF_INET";
  case ProxyFamily::Inet6:
    return "AF_INET6";
  case ProxyFamily::Unix:
    return "AF_UNIX";
  case ProxyFamily::Unspecified:
    return "AF_UNSPEC";
  }
  return "?";
}

bool isProxyDigit(char c) {
  return c >= '0' && c <= '9';
}

/// A decimal number of 1 to `max_digits` digits without a leading zero (the spec forbids them
/// so that nobody reads octal), at most `max`.
std::optional<unsigned> parseProxyDecimal(std::string_view text, std::size_t max_digits,
                                          unsigned max) {
  if (text.empty() || text.size() > max_digits || (text.size() > 1 && text[0] == '0')) {
    return std::nullopt;
  }
  unsigned value = 0;
  for (char c : text) {
    if (!isProxyDigit(c)) {
      return std::nullopt;
    }
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > max) {
    return std::nullopt;
  }
  return value;
}

/// Exactly four dot-separated decimals 0-255.
std::optional<util::IpAddress> parseProxyV1Ipv4(std::string_view text) {
  util::IpAddress ip;
  for (std::size_t i = 0; i < 4; ++i) {
    const std::size_t dot = i < 3 ? text.find('.') : text.size();
    if (dot == std::string_view::npos) {
      return std::nullopt;
    }
    auto octet = parseProxyDecimal(text.substr(0, dot), 3, 255);
    if (!octet) {
      return std::nullopt;
    }
    ip.bytes[i] = static_cast<std::uint8_t>(*octet);
    text.remove_prefix(i < 3 ? dot + 1 : dot);
  }
  return text.empty() ? std::optional<util::IpAddress>(ip) : std::nullopt;
}

std::optional<util::IpAddress> parseProxyV1Ipv6(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  for (char c : text) {
    const bool hex = isProxyDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex && c != ':' && c != '.') {
      return std::nullopt;
    }
  }
  const std::string copy(text);
  util::IpAddress ip;
  ip.v6 = true;
  if (::inet_pton(AF_INET6, copy.c_str(), ip.bytes.data()) != 1) {
    return std::nullopt;
  }
  return ip;
}

std::vector<std::string_view> splitProxyV1Fields(std::string_view line) {
  std::vector<std::string_view> fields;
  for (;;) {
    const std::size_t space = line.find(' ');
    fields.push_back(line.substr(0, space));
    if (space == std::string_view::npos) {
      return fields;
    }
    line.remove_prefix(space + 1);
  }
}

std::uint16_t readProxyUint16(std::string_view bytes, std::size_t offset) {
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(bytes[offset]) << 8) |
                                    static_cast<std::uint8_t>(bytes[offset + 1]));
}

} // namespace

std::string ProxyEndpoint::ipText() const {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(ip.v6 ? AF_INET6 : AF_INET, ip.bytes.data(), text, sizeof(text));
  return text;
}

ProxyParseStep ProxyHeaderParser::feed(std::string_view bytes) {
  std::size_t used = 0;
  while (status_ == ProxyParseStatus::NeedMore && used < bytes.size()) {
    if (header_.version == 2 && buffer_.size() >= V2FixedLength) {
      // The rest of a v2 header has a known length: take it in one piece.
      const std::size_t take = std::min(v2_length_ - buffer_.size(), bytes.size() - used);
      buffer_.append(bytes.substr(used, take));
      used += take;
      if (buffer_.size() == v2_length_) {
        finishV2();
      }
      continue;
    }
    buffer_ += bytes[used++];
    takeByte();
  }
  return {status_, used};
}

void ProxyHeaderParser::takeByte() {
  if (buffer_.size() == 1) {
    if (buffer_[0] == ProxyV1Prefix[0]) {
      header_.version = 1;
    } else if (buffer_[0] == V2Signature[0]) {
      header_.version = 2;
    } else {
      fail("the connection does not start with a PROXY header");
      return;
    }
  }
  if (header_.version == 1) {
    takeV1Byte();
  } else {
    takeV2FixedByte();
  }
}

void ProxyHeaderParser::takeV1Byte() {
  const std::size_t size = buffer_.size();
  const char c = buffer_.back();
  if (size <= ProxyV1Prefix.size()) {
    if (c != ProxyV1Prefix[size - 1]) {
      fail("the connection does not start with a PROXY header");
    }
    return;
  }
  const bool after_cr = buffer_[size - 2] == '\r';
  if (c == '\n') {
    if (after_cr) {
      finishV1();
    } else {
      fail("PROXY v1 line ends in a bare LF");
    }
    return;
  }
  if (after_cr) {
    fail("PROXY v1 line has a CR not followed by LF");
    return;
  }
  if (c != '\r' && (c < 0x20 || c > 0x7e)) {
    fail(fmt::format("PROXY v1 line has the byte 0x{:02x}, not printable ASCII",
                     static_cast<std::uint8_t>(c)));
    return;
  }
  if (size >= MaxV1Line) {
    fail(fmt::format("PROXY v1 line without CRLF in its first {} bytes", MaxV1Line));
  }
}

void ProxyHeaderParser::finishV1() {
  const std::string_view line = std::string_view(buffer_).substr(0, buffer_.size() - 2);
  const auto fields = splitProxyV1Fields(line);
  const std::string_view protocol = fields[1];
  header_.length = buffer_.size();
  header_.command = ProxyCommand::Proxy;
  if (protocol == "UNKNOWN") {
    // The spec has the receiver ignore whatever follows UNKNOWN.
    header_.family = ProxyFamily::Unspecified;
    status_ = ProxyParseStatus::Complete;
    return;
  }
  const bool v4 = protocol == "TCP4";
  if (!v4 && protocol != "TCP6") {
    fail("PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN");
    return;
  }
  if (fields.size() != 6) {
    fail(fmt::format("PROXY v1 {} line has {} fields separated by single spaces, not 6", protocol,
                     fields.size()));
    return;
  }
  header_.family = v4 ? ProxyFamily::Inet : ProxyFamily::Inet6;
  const auto source = v4 ? parseProxyV1Ipv4(fields[2]) : parseProxyV1Ipv6(fields[2]);
  const auto destination = v4 ? parseProxyV1Ipv4(fields[3]) : parseProxyV1Ipv6(fields[3]);
  if (!source || !destination) {
    fail(fmt::format("PROXY v1 {} line has a {} address that is not {}", protocol,
                     source ? "destination" : "source", v4 ? "IPv4" : "IPv6"));
    return;
  }
  const auto source_port = parseProxyDecimal(fields[4], 5, 65535);
  const auto destination_port = parseProxyDecimal(fields[5], 5, 65535);
  if (!source_port || !destination_port) {
    fail(fmt::format("PROXY v1 line has a {} port that is not a number 0-65535",
                     source_port ? "destination" : "source"));
    return;
  }
  header_.source = {*source, static_cast<std::uint16_t>(*source_port)};
  header_.destination = {*destination, static_cast<std::uint16_t>(*destination_port)};
  status_ = ProxyParseStatus::Complete;
}

void ProxyHeaderParser::takeV2FixedByte() {
  const std::size_t size = buffer_.size();
  const auto byte = static_cast<std::uint8_t>(buffer_.back());
  if (size <= V2Signature.size()) {
    if (buffer_.back() != V2Signature[size - 1]) {
      fail("the connection does not start with a PROXY header (bad v2 signature)");
    }
    return;
  }
  if (size == 13) {
    if ((byte >> 4) != 2) {
      fail(fmt::format("PROXY v2 header of version {}", byte >> 4));
    } else if ((byte & 0x0f) > 1) {
      fail(fmt::format("PROXY v2 header with the unknown command {}", byte & 0x0f));
    } else {
      header_.command = (byte & 0x0f) == 0 ? ProxyCommand::Local : ProxyCommand::Proxy;
    }
    return;
  }
  if (size == 14) {
    const unsigned family = byte >> 4;
    const unsigned transport = byte & 0x0f;
    if (family > ProxyV2FamilyUnix) {
      fail(fmt::format("PROXY v2 header with the unknown address family {}", family));
    } else if (transport > ProxyV2TransportDgram) {
      fail(fmt::format("PROXY v2 header with the unknown transport {}", transport));
    } else if (header_.command == ProxyCommand::Proxy && transport == ProxyV2TransportDgram) {
      fail("PROXY v2 header relays a datagram connection, not a stream");
    } else if (header_.command == ProxyCommand::Proxy && family != ProxyV2FamilyUnspec &&
               family != ProxyV2FamilyUnix && transport != ProxyV2TransportStream) {
      fail("PROXY v2 header relays an IP connection that is not TCP");
    } else {
      header_.family = proxyFamilyOf(family);
    }
    return;
  }
  if (size == V2FixedLength) {
    const std::size_t length = readProxyUint16(buffer_, 14);
    const std::size_t bound = proxyAddressBlockLength(header_.family) + MaxV2Tlvs;
    if (length > bound) {
      fail(fmt::format("PROXY v2 header announces {} bytes after its first 16, more than the {} "
                       "accepted for {}",
                       length, bound, proxyFamilyName(header_.family)));
      return;
    }
    v2_length_ = V2FixedLength + length;
    if (length == 0) {
      finishV2();
    }
  }
}

void ProxyHeaderParser::finishV2() {
  const std::string_view header = buffer_;
  const std::size_t address_length = proxyAddressBlockLength(header_.family);
  const std::size_t block_length = header.size() - V2FixedLength;
  header_.length = header.size();
  if (block_length < address_length) {
    if (header_.command == ProxyCommand::Local) {
      // A health check's addresses and TLVs are not used: skip what it sent.
      status_ = ProxyParseStatus::Complete;
      return;
    }
    fail(fmt::format("PROXY v2 header has {} bytes of addresses, fewer than the {} of {}",
                     block_length, address_length, proxyFamilyName(header_.family)));
    return;
  }
  if (header_.hasAddresses()) {
    const std::size_t ip_length = header_.family == ProxyFamily::Inet ? 4 : 16;
    const std::string_view addresses = header.substr(V2FixedLength, address_length);
    header_.source.ip.v6 = header_.destination.ip.v6 = header_.family == ProxyFamily::Inet6;
    for (std::size_t i = 0; i < ip_length; ++i) {
      header_.source.ip.bytes[i] = static_cast<std::uint8_t>(addresses[i]);
      header_.destination.ip.bytes[i] = static_cast<std::uint8_t>(addresses[ip_length + i]);
    }
    header_.source.port = readProxyUint16(addresses, 2 * ip_length);
    header_.destination.port = readProxyUint16(addresses, 2 * ip_length + 2);
  }
  const std::size_t tlv_start = V2FixedLength + address_length;
  auto decoded = decodeProxyTlvs(header.substr(tlv_start));
  if (!decoded) {
    fail("PROXY v2 header: " + decoded.error());
    return;
  }
  if (decoded->tlvs.crc32c) {
    const std::size_t crc_at = tlv_start + decoded->crc32c_offset;
    Crc32c sum;
    sum.update(header.substr(0, crc_at));
    sum.updateZeros(4);
    sum.update(header.substr(crc_at + 4));
    if (sum.value() != *decoded->tlvs.crc32c) {
      fail(fmt::format("PROXY v2 header's CRC32C is {:08x}, its bytes sum to {:08x}",
                       *decoded->tlvs.crc32c, sum.value()));
      return;
    }
  }
  header_.tlvs = std::move(decoded->tlvs);
  status_ = ProxyParseStatus::Complete;
}

void ProxyHeaderParser::fail(std::string reason) {
  status_ = ProxyParseStatus::Invalid;
  error_ = std::move(reason);
}

} // namespace upesi::net
