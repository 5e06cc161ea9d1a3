#include "common/net/proxy_header.hpp"
#include "common/util/crc32c.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

using upesi::net::ProxyCommand;
using upesi::net::ProxyFamily;
using upesi::net::ProxyHeader;
using upesi::net::ProxyHeaderParser;
using upesi::net::ProxyParseStatus;
namespace proxy_tlv = upesi::net::proxy_tlv;

namespace {

std::string proxyFromHex(std::string_view hex) {
  std::string bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return bytes;
}

const std::string ProxyTestClientBytes = "EHLO client.example\r\n";

// Headers haproxy 2.6 sent to a listener (the client's QUIT cut off).
// send-proxy-v2 for a client at 127.0.0.2:48345 that connected to 127.0.0.1:47002.
const std::string HaproxyV2Tcp4 = proxyFromHex("0d0a0d0a000d0a515549540a2111000c7f0000027f000001"
                                               "bcd9b79a");
// send-proxy-v2-ssl-cn with proxy-v2-options crc32c,authority,unique-id,ssl-cipher,cert-sig,
// cert-key, behind `bind ... ssl alpn smtp`, a client certificate with CN client.example.
const std::string HaproxyV2Ssl =
    proxyFromHex("0d0a0d0a000d0a515549540a211100957f0000017f0000019e4ab79b03000409"
                 "a34fa4010004736d747002000e6d782e6578616d706c652e6f7267050014636f"
                 "6e6e2d3132372e302e302e312d34303532322000500700000000210007544c53"
                 "76312e3322000e636c69656e742e6578616d706c652500075253413230343824"
                 "000a5253412d534841323536230016544c535f4145535f3235365f47434d5f53"
                 "4841333834");
// send-proxy-v2 with crc32c, a client at [::1]:34154.
const std::string HaproxyV2Tcp6Crc =
    proxyFromHex("0d0a0d0a000d0a515549540a2121002b00000000000000000000000000000001"
                 "00000000000000000000000000000001856ab79c03000402934234");
// A tcp-check health check with check-send-proxy and crc32c: LOCAL, AF_UNSPEC.
const std::string HaproxyV2LocalCheck =
    proxyFromHex("0d0a0d0a000d0a515549540a20000007030004a9b87e8f");
const std::string HaproxyV1Tcp4 = "PROXY TCP4 127.0.0.2 127.0.0.1 43953 47001\r\n";

std::string proxyUint16(std::size_t value) {
  return {static_cast<char>((value >> 8) & 0xff), static_cast<char>(value & 0xff)};
}

std::string proxyTlv(std::uint8_t type, std::string_view value) {
  return static_cast<char>(type) + proxyUint16(value.size()) + std::string(value);
}

/// A v2 header from its parts; the length field counts what follows unless given.
std::string proxyV2(std::uint8_t version_command, std::uint8_t family_transport,
                    std::string_view block, std::optional<std::size_t> length = std::nullopt) {
  return std::string(ProxyHeaderParser::V2Signature) + static_cast<char>(version_command) +
         static_cast<char>(family_transport) + proxyUint16(length.value_or(block.size())) +
         std::string(block);
}

/// 192.0.2.10:25000 -> 198.51.100.1:25, the address block of TCP over IPv4.
std::string proxyInetAddresses() {
  return proxyFromHex("c000020ac633640161a80019");
}

/// A v2 TCP4 header carrying `tlvs` and a CRC32C TLV computed over it all.
std::string proxyV2WithCrc(std::string_view tlvs) {
  std::string header = proxyV2(0x21, 0x11,
                               proxyInetAddresses() + std::string(tlvs) +
                                   proxyTlv(proxy_tlv::Crc32c, std::string(4, '\0')));
  const std::uint32_t crc = upesi::crc32c(header);
  for (std::size_t i = 0; i < 4; ++i) {
    header[header.size() - 4 + i] = static_cast<char>((crc >> (24 - 8 * i)) & 0xff);
  }
  return header;
}

struct ProxyRun {
  ProxyParseStatus status = ProxyParseStatus::NeedMore;
  std::size_t used = 0; // of the input, in total
  ProxyHeader header;
  std::string error;
};

ProxyRun proxyFeedWhole(std::string_view input) {
  ProxyHeaderParser parser;
  const auto step = parser.feed(input);
  CHECK(step.status == parser.status());
  return {step.status, step.used, parser.header(), parser.error()};
}

/// Feeds one byte at a time, as a slow proxy might send it, and stops at the answer.
ProxyRun proxyFeedBytes(std::string_view input) {
  ProxyHeaderParser parser;
  std::size_t used = 0;
  for (char c : input) {
    const auto step = parser.feed(std::string_view(&c, 1));
    used += step.used;
    if (step.status != ProxyParseStatus::NeedMore) {
      break;
    }
    CHECK(step.used == 1);
  }
  return {parser.status(), used, parser.header(), parser.error()};
}

/// The same header, whole or byte by byte, followed by the client's first bytes: complete,
/// and the client's bytes left over.
ProxyHeader proxyExpectComplete(const std::string& header) {
  const ProxyRun whole = proxyFeedWhole(header + ProxyTestClientBytes);
  REQUIRE_MESSAGE(whole.status == ProxyParseStatus::Complete, whole.error);
  CHECK(whole.used == header.size());
  CHECK(whole.header.length == header.size());
  const ProxyRun bytes = proxyFeedBytes(header + ProxyTestClientBytes);
  REQUIRE_MESSAGE(bytes.status == ProxyParseStatus::Complete, bytes.error);
  CHECK(bytes.used == header.size());
  // Every split in two pieces gives the same.
  for (std::size_t cut = 0; cut <= header.size(); ++cut) {
    ProxyHeaderParser parser;
    const std::string input = header + ProxyTestClientBytes;
    const auto first = parser.feed(std::string_view(input).substr(0, cut));
    std::size_t used = first.used;
    if (first.status == ProxyParseStatus::NeedMore) {
      used += parser.feed(std::string_view(input).substr(cut)).used;
    }
    CHECK(parser.status() == ProxyParseStatus::Complete);
    CHECK(used == header.size());
  }
  // Truncated anywhere, it is not complete yet.
  for (std::size_t cut = 0; cut < header.size(); ++cut) {
    CHECK(proxyFeedWhole(std::string_view(header).substr(0, cut)).status ==
          ProxyParseStatus::NeedMore);
  }
  return whole.header;
}

/// Invalid whether fed whole or byte by byte; the reason, to check it names the fault.
std::string proxyExpectInvalid(const std::string& input) {
  const ProxyRun whole = proxyFeedWhole(input);
  CHECK(whole.status == ProxyParseStatus::Invalid);
  const ProxyRun bytes = proxyFeedBytes(input);
  CHECK(bytes.status == ProxyParseStatus::Invalid);
  CHECK(whole.error == bytes.error);
  CHECK_FALSE(whole.error.empty());
  return whole.error;
}

bool proxyMentions(const std::string& error, std::string_view word) {
  const bool found = error.find(word) != std::string::npos;
  if (!found) {
    MESSAGE("\"" << error << "\" does not mention \"" << word << "\"");
  }
  return found;
}

} // namespace

TEST_CASE("crc32c: the check values of RFC 3720 B.4 and the usual \"123456789\"") {
  CHECK(upesi::crc32c("123456789") == 0xe3069283U);
  CHECK(upesi::crc32c(std::string(32, '\0')) == 0x8a9136aaU);
  CHECK(upesi::crc32c(std::string(32, '\xff')) == 0x62a8ab43U);
  upesi::Crc32c pieces;
  pieces.update("1234");
  pieces.updateZeros(0);
  pieces.update("56789");
  CHECK(pieces.value() == 0xe3069283U);
}

TEST_CASE("proxy header v1: haproxy's send-proxy line") {
  const ProxyHeader header = proxyExpectComplete(HaproxyV1Tcp4);
  CHECK(header.version == 1);
  CHECK(header.command == ProxyCommand::Proxy);
  CHECK(header.family == ProxyFamily::Inet);
  CHECK(header.hasAddresses());
  CHECK(header.source.ipText() == "127.0.0.2");
  CHECK(header.source.port == 43953);
  CHECK(header.destination.ipText() == "127.0.0.1");
  CHECK(header.destination.port == 47001);
  CHECK(header.tlvs.empty());
}

TEST_CASE("proxy header v1: TCP6, the longest addresses and the extreme ports") {
  const std::string longest = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                              "0:0:0:0:0:0:0:1 65535 0\r\n";
  ProxyHeader header = proxyExpectComplete(longest);
  CHECK(header.family == ProxyFamily::Inet6);
  CHECK(header.source.ip.v6);
  CHECK(header.source.ipText() == "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  CHECK(header.destination.ipText() == "::1");
  CHECK(header.source.port == 65535);
  CHECK(header.destination.port == 0);

  header = proxyExpectComplete("PROXY TCP6 2001:DB8::a ::ffff:192.0.2.1 1 25\r\n");
  CHECK(header.source.ipText() == "2001:db8::a");
  CHECK(header.destination.ipText() == "::ffff:192.0.2.1");
  CHECK(header.destination.port == 25);
}

TEST_CASE("proxy header v1: UNKNOWN keeps the connection's addresses and ignores the rest") {
  ProxyHeader header = proxyExpectComplete("PROXY UNKNOWN\r\n");
  CHECK(header.family == ProxyFamily::Unspecified);
  CHECK_FALSE(header.hasAddresses());
  // The spec's worst case, 107 bytes with the CRLF: still accepted.
  const std::string worst = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
  REQUIRE(worst.size() == ProxyHeaderParser::MaxV1Line);
  header = proxyExpectComplete(worst);
  CHECK_FALSE(header.hasAddresses());
  CHECK(header.length == 107);
}

TEST_CASE("proxy header v1: a line without CRLF in 107 bytes is refused at the 107th") {
  const std::string endless = "PROXY UNKNOWN " + std::string(200, 'a');
  const ProxyRun bytes = proxyFeedBytes(endless);
  CHECK(bytes.status == ProxyParseStatus::Invalid);
  CHECK(bytes.used == ProxyHeaderParser::MaxV1Line);
  CHECK(proxyMentions(bytes.error, "107"));
  proxyExpectInvalid(endless);
  // 108 bytes with the CRLF: one too many.
  proxyExpectInvalid("PROXY UNKNOWN " + std::string(92, 'a') + "\r\n");
  // 106 bytes and a CR at the 107th cannot become a CRLF within bounds either.
  proxyExpectInvalid("PROXY UNKNOWN " + std::string(92, 'a') + "\r");
}

TEST_CASE("proxy header v1: malformed lines are invalid") {
  struct Case {
    std::string line;
    std::string_view mentions;
  };
  const std::vector<Case> cases = {
      {"PROXY\r\n", "PROXY header"},
      {"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY header"},
      {"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY header"},
      {"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "TCP4, TCP6 or UNKNOWN"},
      {"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "TCP4, TCP6 or UNKNOWN"},
      {"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "TCP4, TCP6 or UNKNOWN"},
      {"PROXY UNKNOWNX\r\n", "TCP4, TCP6 or UNKNOWN"},
      {"PROXY \r\n", "TCP4, TCP6 or UNKNOWN"},
      {"PROXY TCP4\r\n", "not 6"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "not 6"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "not 6"},
      {"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "not 6"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "not 6"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", "not 6"},
      {"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "source address that is not IPv4"},
      {"PROXY TCP4 1.2.3.4 ::1 1 2\r\n", "destination address that is not IPv4"},
      {"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "source address that is not IPv6"},
      {"PROXY TCP6 ::1 5.6.7.8 1 2\r\n", "destination address that is not IPv6"},
      {"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "not IPv4"},
      {"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", "not IPv4"},
      {"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "not IPv4"},
      {"PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n", "not IPv4"},
      {"PROXY TCP4 1.2..4 5.6.7.8 1 2\r\n", "not IPv4"},
      {"PROXY TCP4 1.2.3.4. 5.6.7.8 1 2\r\n", "not IPv4"},
      {"PROXY TCP4 1.2.3.-4 5.6.7.8 1 2\r\n", "not IPv4"},
      {"PROXY TCP4 0x1.2.3.4 5.6.7.8 1 2\r\n", "not IPv4"},
      {"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "not IPv6"},
      {"PROXY TCP6 [::1] ::1 1 2\r\n", "not IPv6"},
      {"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", "not IPv6"},
      {"PROXY TCP6 ::g ::1 1 2\r\n", "not IPv6"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "source port"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", "destination port"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 025 2\r\n", "source port"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 +25 2\r\n", "source port"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "source port"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n", "destination port"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 0000025\r\n", "destination port"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "bare LF"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", "CR not followed by LF"},
      {"PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", "CR not followed by LF"},
      {"PROXY TCP4 1.2.3.4\n", "bare LF"},
      {std::string("PROXY TCP4 1.2.3.4") + '\0' + " 5.6.7.8 1 2\r\n", "0x00"},
      {"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", "0x09"},
      {"PROXY UNKNOWN \xff\r\n", "0xff"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.line);
    CHECK(proxyMentions(proxyExpectInvalid(c.line), c.mentions));
  }
}

TEST_CASE("proxy header: a connection that starts with anything else is refused at once") {
  for (const std::string start : {"EHLO client.example\r\n", "\x16\x03\x01\x02\x00", "GET / "}) {
    CAPTURE(start);
    const ProxyRun run = proxyFeedBytes(start);
    CHECK(run.status == ProxyParseStatus::Invalid);
    CHECK(run.used == 1);
    CHECK(proxyMentions(run.error, "does not start with a PROXY header"));
  }
  CHECK(proxyFeedWhole("PROX\r\n").status == ProxyParseStatus::Invalid);
  CHECK(proxyFeedWhole("").status == ProxyParseStatus::NeedMore);
}

TEST_CASE("proxy header: once answered, the parser takes nothing more") {
  ProxyHeaderParser parser;
  REQUIRE(parser.feed(HaproxyV1Tcp4).status == ProxyParseStatus::Complete);
  const auto again = parser.feed(ProxyTestClientBytes);
  CHECK(again.status == ProxyParseStatus::Complete);
  CHECK(again.used == 0);
  CHECK(parser.buffered() == HaproxyV1Tcp4.size());

  ProxyHeaderParser refused;
  REQUIRE(refused.feed("QUIT\r\n").status == ProxyParseStatus::Invalid);
  const std::string error = refused.error();
  const auto after = refused.feed(HaproxyV1Tcp4);
  CHECK(after.status == ProxyParseStatus::Invalid);
  CHECK(after.used == 0);
  CHECK(refused.error() == error);
}

TEST_CASE("proxy header v2: haproxy's send-proxy-v2 over IPv4") {
  const ProxyHeader header = proxyExpectComplete(HaproxyV2Tcp4);
  CHECK(header.version == 2);
  CHECK(header.command == ProxyCommand::Proxy);
  CHECK(header.family == ProxyFamily::Inet);
  CHECK(header.hasAddresses());
  CHECK(header.source.ipText() == "127.0.0.2");
  CHECK(header.source.port == 48345);
  CHECK(header.destination.ipText() == "127.0.0.1");
  CHECK(header.destination.port == 47002);
  CHECK(header.tlvs.empty());
}

TEST_CASE("proxy header v2: haproxy over IPv6 with its CRC32C") {
  const ProxyHeader header = proxyExpectComplete(HaproxyV2Tcp6Crc);
  CHECK(header.family == ProxyFamily::Inet6);
  CHECK(header.source.ipText() == "::1");
  CHECK(header.source.port == 34154);
  CHECK(header.destination.port == 47004);
  REQUIRE(header.tlvs.crc32c);
  CHECK(*header.tlvs.crc32c == 0x02934234U);
  CHECK(header.tlvs.other.empty()); // the CRC is not an unknown TLV
}

TEST_CASE("proxy header v2: haproxy's SSL TLV and its sub-TLVs, SNI, ALPN, unique id") {
  const ProxyHeader header = proxyExpectComplete(HaproxyV2Ssl);
  const auto& tlvs = header.tlvs;
  CHECK(header.source.port == 40522);
  CHECK(tlvs.crc32c);
  CHECK(tlvs.alpn == "smtp");
  CHECK(tlvs.authority == "mx.example.org");
  CHECK(tlvs.unique_id == "conn-127.0.0.1-40522");
  REQUIRE(tlvs.ssl);
  CHECK(tlvs.ssl->client == 0x07);
  CHECK(tlvs.ssl->verify == 0);
  CHECK(tlvs.ssl->overTls());
  CHECK(tlvs.ssl->clientCertificateVerified());
  CHECK(tlvs.ssl->version == "TLSv1.3");
  CHECK(tlvs.ssl->common_name == "client.example");
  CHECK(tlvs.ssl->cipher == "TLS_AES_256_GCM_SHA384");
  CHECK(tlvs.ssl->signature_algorithm == "RSA-SHA256");
  CHECK(tlvs.ssl->key_algorithm == "RSA2048");
  CHECK(tlvs.ssl->other.empty());
  CHECK(tlvs.other.empty());
  CHECK_FALSE(tlvs.netns);
  CHECK_FALSE(tlvs.aws_vpc_endpoint_id);
}

TEST_CASE("proxy header v2: haproxy's health check is a LOCAL without addresses") {
  const ProxyHeader header = proxyExpectComplete(HaproxyV2LocalCheck);
  CHECK(header.command == ProxyCommand::Local);
  CHECK(header.family == ProxyFamily::Unspecified);
  CHECK_FALSE(header.hasAddresses());
  CHECK(header.tlvs.crc32c);
  // Without any TLV, and LOCAL with addresses that are then not used.
  CHECK_FALSE(proxyExpectComplete(proxyV2(0x20, 0x00, "")).hasAddresses());
  const ProxyHeader with_addresses = proxyExpectComplete(proxyV2(0x20, 0x11, proxyInetAddresses()));
  CHECK(with_addresses.command == ProxyCommand::Local);
  CHECK_FALSE(with_addresses.hasAddresses());
  // A LOCAL's block shorter than its family's addresses is skipped, not parsed.
  CHECK(proxyExpectComplete(proxyV2(0x20, 0x21, "abc")).command == ProxyCommand::Local);
  // LOCAL over UDP: the family is ignored.
  CHECK(proxyExpectComplete(proxyV2(0x20, 0x12, proxyInetAddresses())).command ==
        ProxyCommand::Local);
}

TEST_CASE("proxy header v2: AF_UNSPEC and AF_UNIX relay no usable address") {
  ProxyHeader header = proxyExpectComplete(proxyV2(0x21, 0x00, ""));
  CHECK(header.command == ProxyCommand::Proxy);
  CHECK(header.family == ProxyFamily::Unspecified);
  CHECK_FALSE(header.hasAddresses());
  header = proxyExpectComplete(proxyV2(0x21, 0x31, std::string(216, 'p')));
  CHECK(header.family == ProxyFamily::Unix);
  CHECK_FALSE(header.hasAddresses());
  header = proxyExpectComplete(
      proxyV2(0x21, 0x31, std::string(216, 'p') + proxyTlv(proxy_tlv::Authority, "mx.test")));
  CHECK(header.tlvs.authority == "mx.test");
}

TEST_CASE("proxy header v2: every TLV kind, NOOP dropped, unknown ones kept in order") {
  const std::string ssl = std::string("\x01\x00\x00\x00\x05", 5) +
                          proxyTlv(proxy_tlv::SslVersion, "TLSv1.2") +
                          proxyTlv(0x2f, std::string("\x00\x01", 2)) +
                          proxyTlv(proxy_tlv::SslCommonName, "J\xc3\xbcrgen");
  const std::string tlvs = proxyTlv(proxy_tlv::Noop, "") + proxyTlv(0xe0, "custom") +
                           proxyTlv(proxy_tlv::Alpn, std::string("h2\x00", 3)) +
                           proxyTlv(proxy_tlv::UniqueId, std::string(128, '\x01')) +
                           proxyTlv(proxy_tlv::Ssl, ssl) + proxyTlv(proxy_tlv::Netns, "blue") +
                           proxyTlv(proxy_tlv::Aws, "\x01vpce-08d2bf15fac5001c9") +
                           proxyTlv(proxy_tlv::Noop, "pad") + proxyTlv(0xf8, "");
  const ProxyHeader header = proxyExpectComplete(proxyV2WithCrc(tlvs));
  const auto& got = header.tlvs;
  CHECK(got.alpn == std::string("h2\x00", 3));
  CHECK_FALSE(got.authority);
  CHECK(got.crc32c);
  CHECK(got.unique_id == std::string(128, '\x01'));
  CHECK(got.netns == "blue");
  CHECK(got.aws_vpc_endpoint_id == "vpce-08d2bf15fac5001c9");
  REQUIRE(got.ssl);
  CHECK(got.ssl->overTls());
  CHECK(got.ssl->verify == 5);
  CHECK_FALSE(got.ssl->clientCertificateVerified());
  CHECK(got.ssl->version == "TLSv1.2");
  CHECK(got.ssl->common_name == "J\xc3\xbcrgen");
  CHECK_FALSE(got.ssl->cipher);
  REQUIRE(got.ssl->other.size() == 1);
  CHECK(got.ssl->other[0].type == 0x2f);
  CHECK(got.ssl->other[0].value == std::string("\x00\x01", 2));
  REQUIRE(got.other.size() == 2);
  CHECK(got.other[0].type == 0xe0);
  CHECK(got.other[0].value == "custom");
  CHECK(got.other[1].type == 0xf8);
  CHECK(got.other[1].value.empty());
  CHECK(header.source.ipText() == "192.0.2.10");
  CHECK(header.source.port == 25000);
  CHECK(header.destination.ipText() == "198.51.100.1");
  CHECK(header.destination.port == 25);

  // An AWS TLV of another subtype is kept as it came.
  const ProxyHeader other_aws = proxyExpectComplete(
      proxyV2(0x21, 0x11, proxyInetAddresses() + proxyTlv(proxy_tlv::Aws, "\x02xyz")));
  CHECK_FALSE(other_aws.tlvs.aws_vpc_endpoint_id);
  REQUIRE(other_aws.tlvs.other.size() == 1);
  CHECK(other_aws.tlvs.other[0].value == "\x02xyz");
}

TEST_CASE("proxy header v2: 1 KB of TLVs is accepted, a byte more is refused from the length") {
  const std::string padding = proxyTlv(proxy_tlv::Noop, std::string(1021, 'x'));
  REQUIRE(padding.size() == ProxyHeaderParser::MaxV2Tlvs);
  proxyExpectComplete(proxyV2(0x21, 0x11, proxyInetAddresses() + padding));
  proxyExpectComplete(proxyV2(0x20, 0x00, padding));

  const std::string over = proxyV2(0x21, 0x11, proxyInetAddresses() + padding + "x");
  // Refused as soon as the length field is read, before any of the block is buffered.
  const ProxyRun bytes = proxyFeedBytes(over);
  CHECK(bytes.status == ProxyParseStatus::Invalid);
  CHECK(bytes.used == ProxyHeaderParser::V2FixedLength);
  CHECK(proxyMentions(bytes.error, "1037"));
  proxyExpectInvalid(over);
  CHECK(proxyMentions(proxyExpectInvalid(proxyV2(0x21, 0x00, "", 0xffff)), "65535"));
  CHECK(proxyMentions(proxyExpectInvalid(proxyV2(0x20, 0x00, "", 1025)), "more than the 1024"));
}

TEST_CASE("proxy header v2: a wrong byte anywhere in the signature is refused there") {
  const std::string good = HaproxyV2Tcp4;
  for (std::size_t at = 1; at < ProxyHeaderParser::V2Signature.size(); ++at) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x20);
    CAPTURE(at);
    const ProxyRun bytes = proxyFeedBytes(bad);
    CHECK(bytes.status == ProxyParseStatus::Invalid);
    CHECK(bytes.used == at + 1);
    CHECK(proxyMentions(bytes.error, "signature"));
  }
  // v1 receivers see "\r\n\r\n" as an empty line; we see a signature cut short.
  proxyExpectInvalid("\r\n\r\nQUIT\r\n");
}

TEST_CASE("proxy header v2: malformed fixed fields") {
  struct Case {
    std::string header;
    std::string_view mentions;
  };
  const std::string addresses = proxyInetAddresses();
  const std::vector<Case> cases = {
      {proxyV2(0x11, 0x11, addresses), "version 1"},
      {proxyV2(0x31, 0x11, addresses), "version 3"},
      {proxyV2(0x01, 0x11, addresses), "version 0"},
      {proxyV2(0x22, 0x11, addresses), "unknown command 2"},
      {proxyV2(0x2f, 0x11, addresses), "unknown command 15"},
      {proxyV2(0x21, 0x41, addresses), "unknown address family 4"},
      {proxyV2(0x21, 0xf1, addresses), "unknown address family 15"},
      {proxyV2(0x21, 0x13, addresses), "unknown transport 3"},
      {proxyV2(0x20, 0x13, addresses), "unknown transport 3"},
      {proxyV2(0x21, 0x12, addresses), "datagram"},
      {proxyV2(0x21, 0x32, std::string(216, 'p')), "datagram"},
      {proxyV2(0x21, 0x10, addresses), "not TCP"},
      {proxyV2(0x21, 0x20, std::string(36, '\0')), "not TCP"},
      {proxyV2(0x21, 0x11, addresses.substr(0, 11)), "fewer than the 12 of AF_INET"},
      {proxyV2(0x21, 0x21, addresses), "fewer than the 36 of AF_INET6"},
      {proxyV2(0x21, 0x31, std::string(215, 'p')), "fewer than the 216 of AF_UNIX"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.mentions);
    CHECK(proxyMentions(proxyExpectInvalid(c.header), c.mentions));
  }
}

TEST_CASE("proxy header v2: malformed TLVs") {
  struct Case {
    std::string tlvs;
    std::string_view mentions;
  };
  const std::string ssl_head("\x01\x00\x00\x00\x00", 5);
  const std::vector<Case> cases = {
      {"\x01", "1 byte(s) left"},
      {std::string("\x01\x00", 2), "2 byte(s) left"},
      {std::string("\x01\x00\x05"
                   "abcd",
                   7),
       "TLV 0x01 (ALPN) of 5 bytes overruns its header"},
      {proxyTlv(0xe0, "x") + std::string("\xe1\x00\x02"
                                         "a",
                                         4),
       "TLV 0xe1 of 2 bytes overruns"},
      {proxyTlv(proxy_tlv::Authority, "a") + proxyTlv(proxy_tlv::Authority, "b"),
       "TLV 0x02 (AUTHORITY) given twice"},
      {proxyTlv(proxy_tlv::Authority, "mx\r\n.test"), "not UTF-8 text"},
      {proxyTlv(proxy_tlv::Authority, "\xc3\x28"), "not UTF-8 text"},
      {proxyTlv(proxy_tlv::Authority, "\xed\xa0\x80"), "not UTF-8 text"},
      {proxyTlv(proxy_tlv::Netns, "blue\x7f"), "not printable ASCII"},
      {proxyTlv(proxy_tlv::Netns, "bl\xc3\xbc"), "not printable ASCII"},
      {proxyTlv(proxy_tlv::UniqueId, std::string(129, 'u')), "129 bytes, more than 128"},
      {proxyTlv(proxy_tlv::UniqueId, "a") + proxyTlv(proxy_tlv::UniqueId, "b"), "given twice"},
      {proxyTlv(proxy_tlv::Alpn, "a") + proxyTlv(proxy_tlv::Alpn, "a"), "given twice"},
      {proxyTlv(proxy_tlv::Aws, ""), "without its subtype"},
      {proxyTlv(proxy_tlv::Aws, "\x01vpce\n"), "not printable ASCII"},
      {proxyTlv(proxy_tlv::Crc32c, "abc"), "of 3 bytes, not 4"},
      {proxyTlv(proxy_tlv::Crc32c, "abcde"), "of 5 bytes, not 4"},
      {proxyTlv(proxy_tlv::Ssl, std::string("\x01\x00\x00\x00", 4)), "shorter than its 5-byte"},
      {proxyTlv(proxy_tlv::Ssl, ssl_head) + proxyTlv(proxy_tlv::Ssl, ssl_head), "given twice"},
      {proxyTlv(proxy_tlv::Ssl, ssl_head + std::string("\x21\x00\x09TLSv1.3", 10)),
       "TLV 0x21 (SSL_VERSION) of 9 bytes overruns its SSL TLV (7 left)"},
      {proxyTlv(proxy_tlv::Ssl, ssl_head + "\x21"), "after the last SSL sub-TLV"},
      {proxyTlv(proxy_tlv::Ssl, ssl_head + proxyTlv(proxy_tlv::SslCipher, "A") +
                                    proxyTlv(proxy_tlv::SslCipher, "B")),
       "SSL_CIPHER) given twice"},
      {proxyTlv(proxy_tlv::Ssl, ssl_head + proxyTlv(proxy_tlv::SslCommonName, "a\x01")),
       "SSL_CN) is not UTF-8 text"},
      {proxyTlv(proxy_tlv::Ssl, ssl_head + proxyTlv(proxy_tlv::SslKeyAlgorithm, "\x80")),
       "SSL_KEY_ALG) is not printable ASCII"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.mentions);
    CHECK(proxyMentions(proxyExpectInvalid(proxyV2(0x21, 0x11, proxyInetAddresses() + c.tlvs)),
                        c.mentions));
  }
  // A SSL sub-TLV that fits the header but not its SSL TLV: the parent's length rules.
  const std::string sub_overrun =
      proxyTlv(proxy_tlv::Ssl, ssl_head + std::string("\x23\x00\x04", 3) + "ab") +
      proxyTlv(0xe0, "cd");
  CHECK(proxyMentions(proxyExpectInvalid(proxyV2(0x21, 0x11, proxyInetAddresses() + sub_overrun)),
                      "overruns its SSL TLV (2 left)"));
}

TEST_CASE("proxy header v2: a CRC32C that does not match is refused") {
  const std::string good = proxyV2WithCrc(proxyTlv(proxy_tlv::Authority, "mx.test"));
  proxyExpectComplete(good);
  // A bit flipped in the checksum, in an address, in a port, in a TLV, in the fixed part.
  for (const std::size_t at :
       {good.size() - 1, std::size_t{16}, std::size_t{26}, good.size() - 10, std::size_t{13}}) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x01);
    CAPTURE(at);
    const std::string error = proxyExpectInvalid(bad);
    if (at != 13) { // that one makes the transport UNSPEC, refused before the sum
      CHECK(proxyMentions(error, "CRC32C"));
    }
  }
  // The real haproxy one, with one bit of its SNI changed.
  std::string tampered = HaproxyV2Ssl;
  tampered[50] = static_cast<char>(tampered[50] ^ 0x01);
  CHECK(proxyMentions(proxyExpectInvalid(tampered), "CRC32C"));
  std::string twice = proxyV2WithCrc(proxyTlv(proxy_tlv::Crc32c, "abcd"));
  CHECK(proxyMentions(proxyExpectInvalid(twice), "given twice"));
}
