#include "common/net/proxy_tlvs.hpp"

#include "common/util/utf8_validator.hpp"

#include <fmt/format.h>

namespace upesi::net {

namespace {

struct RawProxyTlv {
  std::uint8_t type = 0;
  std::string_view value;
  std::size_t value_offset = 0; // in the block it was cut from
};

std::string proxyTlvLabel(std::uint8_t type, bool in_ssl) {
  const char* name = nullptr;
  if (in_ssl) {
    switch (type) {
    case proxy_tlv::SslVersion:
      name = "SSL_VERSION";
      break;
    case proxy_tlv::SslCommonName:
      name = "SSL_CN";
      break;
    case proxy_tlv::SslCipher:
      name = "SSL_CIPHER";
      break;
    case proxy_tlv::SslSignatureAlgorithm:
      name = "SSL_SIG_ALG";
      break;
    case proxy_tlv::SslKeyAlgorithm:
      name = "SSL_KEY_ALG";
      break;
    default:
      break;
    }
  } else {
    switch (type) {
    case proxy_tlv::Alpn:
      name = "ALPN";
      break;
    case proxy_tlv::Authority:
      name = "AUTHORITY";
      break;
    case proxy_tlv::Crc32c:
      name = "CRC32C";
      break;
    case proxy_tlv::UniqueId:
      name = "UNIQUE_ID";
      break;
    case proxy_tlv::Ssl:
      name = "SSL";
      break;
    case proxy_tlv::Netns:
      name = "NETNS";
      break;
    case proxy_tlv::Aws:
      name = "AWS";
      break;
    default:
      break;
    }
  }
  return name != nullptr ? fmt::format("TLV 0x{:02x} ({})", type, name)
                         : fmt::format("TLV 0x{:02x}", type);
}

/// Cuts a block into TLVs (type, 2-byte big-endian length, value); each must fit in the block.
Result<std::vector<RawProxyTlv>> splitProxyTlvs(std::string_view block, bool in_ssl) {
  std::vector<RawProxyTlv> tlvs;
  std::size_t offset = 0;
  while (offset < block.size()) {
    if (block.size() - offset < 3) {
      return Error{fmt::format("{} byte(s) left after the last {}TLV, too few for another",
                               block.size() - offset, in_ssl ? "SSL sub-" : "")};
    }
    RawProxyTlv tlv;
    tlv.type = static_cast<std::uint8_t>(block[offset]);
    const std::size_t length =
        (static_cast<std::size_t>(static_cast<std::uint8_t>(block[offset + 1])) << 8) |
        static_cast<std::uint8_t>(block[offset + 2]);
    tlv.value_offset = offset + 3;
    if (length > block.size() - tlv.value_offset) {
      return Error{fmt::format("{} of {} bytes overruns its {} ({} left)",
                               proxyTlvLabel(tlv.type, in_ssl), length,
                               in_ssl ? "SSL TLV" : "header", block.size() - tlv.value_offset)};
    }
    tlv.value = block.substr(tlv.value_offset, length);
    tlvs.push_back(tlv);
    offset = tlv.value_offset + length;
  }
  return tlvs;
}

bool proxyTextIsPrintable(std::string_view text) {
  for (char c : text) {
    if (c < 0x20 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

/// UTF-8 with no control characters: what may be logged and shown to plugins as text.
bool proxyTextIsCleanUtf8(std::string_view text) {
  for (char c : text) {
    const auto byte = static_cast<std::uint8_t>(c);
    if (byte < 0x20 || byte == 0x7f) {
      return false;
    }
  }
  Utf8Validator utf8;
  return utf8.feed(text) && utf8.complete();
}

enum class ProxyTlvText { Bytes, Ascii, Utf8 };

/// Stores one TLV's value in `field`; an error text if it is there already or is not text.
std::string storeProxyTlvOnce(std::optional<std::string>& field, const RawProxyTlv& tlv,
                              ProxyTlvText kind, bool in_ssl) {
  if (field) {
    return fmt::format("{} given twice", proxyTlvLabel(tlv.type, in_ssl));
  }
  if (kind == ProxyTlvText::Ascii && !proxyTextIsPrintable(tlv.value)) {
    return fmt::format("{} is not printable ASCII", proxyTlvLabel(tlv.type, in_ssl));
  }
  if (kind == ProxyTlvText::Utf8 && !proxyTextIsCleanUtf8(tlv.value)) {
    return fmt::format("{} is not UTF-8 text", proxyTlvLabel(tlv.type, in_ssl));
  }
  field = std::string(tlv.value);
  return {};
}

std::uint32_t readProxyUint32(std::string_view bytes) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    value = (value << 8) | static_cast<std::uint8_t>(bytes[i]);
  }
  return value;
}

Result<ProxySsl> decodeProxySslTlv(std::string_view value) {
  if (value.size() < 5) {
    return Error{fmt::format("{} of {} bytes, shorter than its 5-byte client and verify fields",
                             proxyTlvLabel(proxy_tlv::Ssl, false), value.size())};
  }
  ProxySsl ssl;
  ssl.client = static_cast<std::uint8_t>(value[0]);
  ssl.verify = readProxyUint32(value.substr(1, 4));
  auto subs = splitProxyTlvs(value.substr(5), true);
  if (!subs) {
    return Error{subs.error()};
  }
  for (const RawProxyTlv& sub : *subs) {
    std::string error;
    switch (sub.type) {
    case proxy_tlv::SslVersion:
      error = storeProxyTlvOnce(ssl.version, sub, ProxyTlvText::Ascii, true);
      break;
    case proxy_tlv::SslCommonName:
      error = storeProxyTlvOnce(ssl.common_name, sub, ProxyTlvText::Utf8, true);
      break;
    case proxy_tlv::SslCipher:
      error = storeProxyTlvOnce(ssl.cipher, sub, ProxyTlvText::Ascii, true);
      break;
    case proxy_tlv::SslSignatureAlgorithm:
      error = storeProxyTlvOnce(ssl.signature_algorithm, sub, ProxyTlvText::Ascii, true);
      break;
    case proxy_tlv::SslKeyAlgorithm:
      error = storeProxyTlvOnce(ssl.key_algorithm, sub, ProxyTlvText::Ascii, true);
      break;
    default:
      ssl.other.push_back({sub.type, std::string(sub.value)});
      break;
    }
    if (!error.empty()) {
      return Error{std::move(error)};
    }
  }
  return ssl;
}

} // namespace

Result<DecodedProxyTlvs> decodeProxyTlvs(std::string_view block) {
  auto raw = splitProxyTlvs(block, false);
  if (!raw) {
    return Error{raw.error()};
  }
  DecodedProxyTlvs decoded;
  ProxyTlvs& tlvs = decoded.tlvs;
  for (const RawProxyTlv& tlv : *raw) {
    std::string error;
    switch (tlv.type) {
    case proxy_tlv::Alpn:
      error = storeProxyTlvOnce(tlvs.alpn, tlv, ProxyTlvText::Bytes, false);
      break;
    case proxy_tlv::Authority:
      error = storeProxyTlvOnce(tlvs.authority, tlv, ProxyTlvText::Utf8, false);
      break;
    case proxy_tlv::Crc32c:
      if (tlvs.crc32c) {
        error = fmt::format("{} given twice", proxyTlvLabel(tlv.type, false));
      } else if (tlv.value.size() != 4) {
        error =
            fmt::format("{} of {} bytes, not 4", proxyTlvLabel(tlv.type, false), tlv.value.size());
      } else {
        tlvs.crc32c = readProxyUint32(tlv.value);
        decoded.crc32c_offset = tlv.value_offset;
      }
      break;
    case proxy_tlv::Noop:
      break; // padding
    case proxy_tlv::UniqueId:
      if (tlv.value.size() > proxy_tlv::MaxUniqueId) {
        error = fmt::format("{} of {} bytes, more than {}", proxyTlvLabel(tlv.type, false),
                            tlv.value.size(), proxy_tlv::MaxUniqueId);
      } else {
        error = storeProxyTlvOnce(tlvs.unique_id, tlv, ProxyTlvText::Bytes, false);
      }
      break;
    case proxy_tlv::Ssl:
      if (tlvs.ssl) {
        error = fmt::format("{} given twice", proxyTlvLabel(tlv.type, false));
      } else if (auto ssl = decodeProxySslTlv(tlv.value)) {
        tlvs.ssl = std::move(*ssl);
      } else {
        error = ssl.error();
      }
      break;
    case proxy_tlv::Netns:
      error = storeProxyTlvOnce(tlvs.netns, tlv, ProxyTlvText::Ascii, false);
      break;
    case proxy_tlv::Aws:
      if (tlv.value.empty()) {
        error = fmt::format("{} without its subtype byte", proxyTlvLabel(tlv.type, false));
      } else if (static_cast<std::uint8_t>(tlv.value[0]) == proxy_tlv::AwsVpcEndpointId) {
        RawProxyTlv id = tlv;
        id.value.remove_prefix(1);
        error = storeProxyTlvOnce(tlvs.aws_vpc_endpoint_id, id, ProxyTlvText::Ascii, false);
      } else {
        tlvs.other.push_back({tlv.type, std::string(tlv.value)}); // an AWS subtype unknown here
      }
      break;
    default:
      tlvs.other.push_back({tlv.type, std::string(tlv.value)});
      break;
    }
    if (!error.empty()) {
      return Error{std::move(error)};
    }
  }
  return decoded;
}

} // namespace upesi::net
