// The TLVs that may follow the addresses of a PROXY v2 header (proxy-protocol.txt section 2.2):
// what the proxy knows of the client's connection (TLS version and certificate, SNI, ALPN,
// a connection id, an AWS VPC endpoint). Decoded strictly: a TLV that overruns its parent, a
// string with control characters or a known TLV given twice makes the whole header invalid,
// since the proxy that sent it is broken or not what we trust.
#pragma once

#include "common/util/result.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::net {

namespace proxy_tlv {
constexpr std::uint8_t Alpn = 0x01;
constexpr std::uint8_t Authority = 0x02;
constexpr std::uint8_t Crc32c = 0x03;
constexpr std::uint8_t Noop = 0x04;
constexpr std::uint8_t UniqueId = 0x05;
constexpr std::uint8_t Ssl = 0x20;
constexpr std::uint8_t SslVersion = 0x21;
constexpr std::uint8_t SslCommonName = 0x22;
constexpr std::uint8_t SslCipher = 0x23;
constexpr std::uint8_t SslSignatureAlgorithm = 0x24;
constexpr std::uint8_t SslKeyAlgorithm = 0x25;
constexpr std::uint8_t Netns = 0x30;
constexpr std::uint8_t Aws = 0xea;
constexpr std::uint8_t AwsVpcEndpointId = 0x01; // the first byte of an Aws TLV's value

// Bits of ProxySsl::client.
constexpr std::uint8_t ClientSsl = 0x01;
constexpr std::uint8_t ClientCertConnection = 0x02;
constexpr std::uint8_t ClientCertSession = 0x04;

constexpr std::size_t MaxUniqueId = 128;
} // namespace proxy_tlv

/// A TLV kept as it came: a type this parser does not interpret.
struct ProxyTlv {
  std::uint8_t type = 0;
  std::string value;

  bool operator==(const ProxyTlv&) const = default;
};

/// PP2_TYPE_SSL: how the client talked TLS to the proxy.
struct ProxySsl {
  std::uint8_t client = 0;  // proxy_tlv::Client* bits
  std::uint32_t verify = 0; // 0 when the client's certificate was verified
  std::optional<std::string> version;
  std::optional<std::string> common_name; // of the client certificate's subject
  std::optional<std::string> cipher;
  std::optional<std::string> signature_algorithm;
  std::optional<std::string> key_algorithm;
  std::vector<ProxyTlv> other; // sub-TLVs of unknown types

  bool operator==(const ProxySsl&) const = default;
  bool overTls() const { return (client & proxy_tlv::ClientSsl) != 0; }
  bool clientCertificateVerified() const {
    return (client & (proxy_tlv::ClientCertConnection | proxy_tlv::ClientCertSession)) != 0 &&
           verify == 0;
  }
};

struct ProxyTlvs {
  std::optional<std::string> alpn;      // bytes, as negotiated
  std::optional<std::string> authority; // UTF-8, the SNI the client sent
  std::optional<std::uint32_t> crc32c;  // already verified when the header parsed
  std::optional<std::string> unique_id; // opaque bytes, at most 128
  std::optional<ProxySsl> ssl;
  std::optional<std::string> netns;
  std::optional<std::string> aws_vpc_endpoint_id;
  std::vector<ProxyTlv> other; // unknown types, in order (NOOP padding is dropped)

  bool operator==(const ProxyTlvs&) const = default;
  bool empty() const {
    return !alpn && !authority && !crc32c && !unique_id && !ssl && !netns && !aws_vpc_endpoint_id &&
           other.empty();
  }
};

struct DecodedProxyTlvs {
  ProxyTlvs tlvs;
  /// Where the CRC32C value starts in the block, when there is one: the header's checksum is
  /// computed with these 4 bytes read as zeros.
  std::size_t crc32c_offset = 0;
};

/// Decodes a block of TLVs (the part of a v2 header after the addresses).
Result<DecodedProxyTlvs> decodeProxyTlvs(std::string_view block);

} // namespace upesi::net
