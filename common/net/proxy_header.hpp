// ProxyHeaderParser: the PROXY protocol header (v1 text or v2 binary, proxy-protocol.txt) that a
// trusted proxy sends before anything else on a connection, telling who the client really is.
//
// Fed the connection's first bytes as they arrive, in pieces of any size (one at a time too), it
// answers NeedMore, Complete (and how many of the bytes just fed it used: the rest is the
// client's SMTP, or its TLS handshake on an implicit-TLS port) or Invalid (with a reason). The
// version is told apart by the first byte; a byte that cannot continue a valid header is refused
// at once. It never reads past the header, and buffers at most 107 bytes (v1) or
// 16 + addresses + 1 KB of TLVs (v2).
#pragma once

#include "common/net/proxy_tlvs.hpp"
#include "common/util/cidr.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace upesi::net {

enum class ProxyCommand {
  Local, // v2 only: the proxy's own connection (a health check); nothing to relay
  Proxy,
};

enum class ProxyFamily {
  Unspecified, // v1 UNKNOWN, v2 AF_UNSPEC: the connection's own addresses stand
  Inet,
  Inet6,
  Unix, // v2 only; its paths are not kept
};

struct ProxyEndpoint {
  util::IpAddress ip;
  std::uint16_t port = 0;

  /// The address as inet_ntop writes it ("192.0.2.1", "2001:db8::1").
  std::string ipText() const;
};

struct ProxyHeader {
  int version = 0; // 1 or 2
  ProxyCommand command = ProxyCommand::Proxy;
  ProxyFamily family = ProxyFamily::Unspecified;
  ProxyEndpoint source;      // the client, when hasAddresses()
  ProxyEndpoint destination; // the address the client connected to, when hasAddresses()
  ProxyTlvs tlvs;            // v2 only
  std::size_t length = 0;    // bytes of the header on the wire

  /// Whether source and destination replace the connection's endpoints: a PROXY of TCP over
  /// IPv4 or IPv6. Otherwise (LOCAL, UNKNOWN, AF_UNSPEC, AF_UNIX) the connection's own stand.
  bool hasAddresses() const {
    return command == ProxyCommand::Proxy &&
           (family == ProxyFamily::Inet || family == ProxyFamily::Inet6);
  }
};

enum class ProxyParseStatus { NeedMore, Complete, Invalid };

struct ProxyParseStep {
  ProxyParseStatus status = ProxyParseStatus::NeedMore;
  /// Bytes of this call's input taken as the header's: all of them on NeedMore; on Complete,
  /// what follows them is the client's; on Invalid, those up to the fault.
  std::size_t used = 0;
};

class ProxyHeaderParser {
public:
  static constexpr std::size_t MaxV1Line = 107; // CRLF included (the spec's worst case)
  static constexpr std::size_t V2FixedLength = 16;
  static constexpr std::size_t MaxV2Tlvs = 1024; // past the addresses
  static constexpr std::string_view V2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};

  /// Takes the next bytes of the connection. Once Complete or Invalid, further calls change
  /// nothing and use no bytes.
  ProxyParseStep feed(std::string_view bytes);

  ProxyParseStatus status() const { return status_; }
  /// The header, once Complete.
  const ProxyHeader& header() const { return header_; }
  /// Why the bytes are not a PROXY header, once Invalid.
  const std::string& error() const { return error_; }
  /// Bytes taken so far.
  std::size_t buffered() const { return buffer_.size(); }

private:
  void takeByte();
  void takeV1Byte();
  void takeV2FixedByte();
  void finishV1();
  void finishV2();
  void fail(std::string reason);

  ProxyParseStatus status_ = ProxyParseStatus::NeedMore;
  std::string buffer_;
  std::size_t v2_length_ = 0; // 16 + the length field, once read
  ProxyHeader header_;
  std::string error_;
};

} // namespace upesi::net
