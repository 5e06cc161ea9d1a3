// JSON text exactly as JavaScript's JSON.stringify(value, null, '\t') writes it, byte for byte,
// so that a queue file's header reads the same to Haraka and to us.
//
//   {}  []                  empty containers on one line
//   {\n\t"key": value\n}    otherwise one member per line, one TAB per level, ": " after keys
//   strings                 raw UTF-8; \" \\ \b \f \n \r \t; other C0 controls as \u00xx
//                           (lowercase hex); DEL, U+2028 and U+2029 raw (as JS does)
//   doubles                 ECMAScript Number::toString: the shortest digits that read back
//                           to the same double, plain notation for 1e-7 < |x| < 1e21 and
//                           exponent form ("1e+21", "2.5e-8") outside; -0 as "0";
//                           NaN and ±Infinity as "null"
//   integers                decimal. An integer beyond 2^53 is written exactly where JS
//                           would have rounded it when it read the file
//   binary                  as Node writes a Buffer: {"type": "Buffer", "data": [bytes]}
//
// Strings that are not valid UTF-8 (a plugin can put any bytes in a note) are repaired: each
// ill-formed sequence becomes U+FFFD, as Node's UTF-8 decoder would read it, so the output is
// always parseable JSON.
//
// Key order is the container's: use nlohmann::ordered_json where order matters (a
// nlohmann::json object iterates its keys sorted).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace upesi::queue {

/// JSON.stringify(value, null, '\t').
std::string jsonStringify(const nlohmann::ordered_json& value);
/// The same for a key-sorted nlohmann::json.
std::string jsonStringify(const nlohmann::json& value);

/// Appends `text` as a JSON string literal (quotes included) with JSON.stringify's escapes.
void appendJsonString(std::string& out, std::string_view text);
/// Appends a double as ECMAScript's Number::toString writes it ("null" if not finite).
void appendJsNumber(std::string& out, double value);

} // namespace upesi::queue
