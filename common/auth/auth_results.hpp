// Authentication-Results header fields (RFC 8601): building the value of ours, and reading the
// authserv-id of one already in a message, so the core can remove inbound fields that claim
// to be ours (section 5).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::auth {

/// A property of a result: "smtp.mailfrom=user@example.com", "header.d=example.com",
/// "policy.dmarc=reject".
struct ResultProperty {
  std::string type;  // ptype: "smtp", "header", "body", "policy"
  std::string name;  // property: "mailfrom", "helo", "d", "i", "s", "a", "b", "from"
  std::string value; // quoted when it is not a token or an address

  bool operator==(const ResultProperty&) const = default;
};

/// One method's result: "dkim=pass (good signature) header.d=example.com".
struct MethodResult {
  std::string method;         // "spf", "dkim", "dmarc", ...
  std::optional<int> version; // "dkim/1"
  std::string result;         // "pass", "fail", "none", ...
  std::string comment;        // written as "(comment)" after the result; empty: none
  std::string reason;         // written as reason="..."; empty: none
  std::vector<ResultProperty> properties;

  bool operator==(const MethodResult&) const = default;
};

/// Where folding aims to keep lines within.
constexpr std::size_t AuthResultsLineWidth = 76;
/// Bound on a field value authservId reads.
constexpr std::size_t MaxAuthResultsValue = 64 * 1024;

/// The value of an Authentication-Results field (what follows "Authentication-Results:"):
/// "mx.example.org; spf=pass smtp.mailfrom=example.com; dkim=pass header.d=example.com", or
/// "mx.example.org; none" for no results. Folded (CRLF and a tab) before a result or property
/// that would pass AuthResultsLineWidth, counting `name_length` columns for the field name, its
/// colon and a space on the first line. Values that are neither a token nor a
/// [local-part]@domain are written as quoted strings; control characters in them are dropped.
/// Method, result, ptype and property names are keywords: bytes other than letters, digits,
/// '-', '_' and '.' are dropped from them. The authserv-id is written as a token when it is one,
/// else quoted.
std::string buildAuthResults(std::string_view authserv_id, const std::vector<MethodResult>& results,
                             std::size_t name_length = 24);

/// The authserv-id of an existing field's value: the token or quoted-string after any CFWS
/// (whitespace, folding, nested comments), which must be followed by optional CFWS, an optional
/// version number, and ';' or the end. nullopt when the value does not start that way or is
/// longer than MaxAuthResultsValue. Quoted-pairs in a quoted id are unescaped; the id keeps its
/// case (compare it case-insensitively).
std::optional<std::string> authservId(std::string_view value);

} // namespace upesi::auth
