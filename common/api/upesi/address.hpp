// Address: an envelope address (MAIL FROM reverse-path, RCPT TO forward-path) as a plugin
// receives it, with the fields and methods of Haraka's Address object.
//
// The server fills it from what the client sent (the parser lives in common/smtp/); a plugin may
// also build one itself, e.g. for send_email. It is a plain value: copy it, compare it, keep it.
//
//   <Foo.Bar@Example.COM>   user "Foo.Bar", host "example.com", format() "<Foo.Bar@example.com>"
//   <"john doe"@x.org>      user "john doe" (unquoted), format() "<\"john doe\"@x.org>"
//   <>                      is_null, format() "<>", address() ""
//   <postmaster>            user "postmaster", host "", format() "<postmaster>"
#pragma once

#include <string>
#include <string_view>

namespace upesi {

struct Address {
  std::string original;      ///< the path as the client wrote it, without ESMTP parameters
  std::string user;          ///< local part, unquoted (quotes and backslash escapes removed)
  std::string host;          ///< domain, ASCII lower-cased; "[1.2.3.4]" for a literal; "" if none
  std::string original_host; ///< the domain as the client wrote it
  bool is_null = false;      ///< the null reverse-path <>
  bool is_utf8 = false;      ///< non-ASCII (UTF-8) in the address: needs SMTPUTF8

  bool operator==(const Address&) const = default;

  /// The address without angle brackets: "user@host", or "user" when there is no host, or ""
  /// for the null path. As in Haraka the local part is NOT re-quoted, so this is for lookups and
  /// logs; use format() for anything that goes back on the wire.
  std::string address() const {
    if (is_null) {
      return {};
    }
    if (host.empty()) {
      return user;
    }
    return user + "@" + host;
  }

  /// The path as it goes on the wire: "<user@host>", "<user>", or "<>". The local part is
  /// quoted when it is not a plain dot-string ("a b" → "\"a b\"", with '"' and '\' escaped).
  std::string format() const {
    if (is_null) {
      return "<>";
    }
    std::string out = "<";
    out += localPartNeedsQuotes(user) ? quoteLocalPart(user) : user;
    if (!host.empty()) {
      out += '@';
      out += host;
    }
    out += '>';
    return out;
  }

  /// True if `local` cannot be written bare as an RFC 5321 Dot-string (RFC 6531: UTF-8 allowed):
  /// it is empty, has a character outside atext, or has a leading, trailing or double dot.
  static bool localPartNeedsQuotes(std::string_view local) {
    if (local.empty() || local.front() == '.' || local.back() == '.') {
      return true;
    }
    char previous = '\0';
    for (const char c : local) {
      if (c == '.' && previous == '.') {
        return true;
      }
      if (c != '.' && !isAtext(c)) {
        return true;
      }
      previous = c;
    }
    return false;
  }

  /// `local` as an RFC 5321 Quoted-string: in double quotes, with '"' and '\' backslash-escaped.
  static std::string quoteLocalPart(std::string_view local) {
    std::string out = "\"";
    for (const char c : local) {
      if (c == '"' || c == '\\') {
        out += '\\';
      }
      out += c;
    }
    out += '"';
    return out;
  }

  /// RFC 5322 atext, plus any byte of a UTF-8 sequence (RFC 6531 UTF8-non-ascii).
  static constexpr bool isAtext(char c) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80) {
      return true;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      return true;
    }
    return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
  }
};

} // namespace upesi
