// The Received-SPF trace header (RFC 7208 section 9.1): the result, a comment a person can read,
// and the key=value pairs a program can.
#pragma once

#include "common/auth/spf_check.hpp"

#include <string>
#include <string_view>

namespace upesi::spf {

struct ReceivedSpfFields {
  std::string receiver; // this server (`me`)
  std::string client_ip;
  std::string envelope_from; // MAIL FROM's address ("" for the HELO identity with a null sender)
  std::string helo;
  std::string identity; // "mailfrom" or "helo"
};

/// The header's value, folded: `pass (mx.example.org: domain of a@example.com designates
/// 192.0.2.1 as permitted sender) receiver=mx.example.org; client-ip=192.0.2.1; ...`.
std::string receivedSpfValue(const CheckOutcome& outcome, const ReceivedSpfFields& fields);

/// `value` as a key-value-pair value: a dot-atom as it is, anything else as a quoted-string.
std::string keyValue(std::string_view value);

} // namespace upesi::spf
