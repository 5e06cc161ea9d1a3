#include "common/smtp/address_parser.hpp"

#include <upesi/text.hpp>

#include "common/config/text_checks.hpp"
#include "common/util/ascii.hpp"

#include <fmt/format.h>

#include <optional>
#include <string>
#include <utility>

namespace upesi::smtp {

namespace {

// qtextSMTP (RFC 5321 §4.1.2) and its RFC 6531 UTF-8 extension: printable ASCII but '"' and '\'.
constexpr bool isQtext(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte >= 0x80 || (byte >= 32 && byte <= 126 && c != '"' && c != '\\');
}

// The bytes no path may hold, wherever they are: the first thing checked, so hostile input
// gets a precise answer and the grammar below never sees a control character or broken UTF-8.
std::optional<std::string> checkBytes(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte == 0) {
      return "NUL byte in address";
    }
    if (c == '\r' || c == '\n') {
      return "CR or LF in address";
    }
    if (byte < 0x20 || byte == 0x7f) {
      return "Control character in address";
    }
  }
  if (!config::isValidUtf8(text)) {
    return "Invalid UTF-8 in address";
  }
  return std::nullopt;
}

// Why `text` is not a Domain, or nothing if it is one.
std::optional<std::string> domainProblem(std::string_view text, bool allow_utf8) {
  if (text.empty()) {
    return "Missing domain in address";
  }
  if (text.size() > MaxDomainOctets) {
    return fmt::format("Domain too long (max {})", MaxDomainOctets);
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = text.find('.', start);
    const std::string_view label =
        text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.size() > MaxLabelOctets) {
      return fmt::format("Domain label too long (max {})", MaxLabelOctets);
    }
    if (label.empty() || label.front() == '-' || label.back() == '-') {
      return "Invalid domain in address";
    }
    for (const char c : label) {
      const bool ok = ascii::isLetter(c) || ascii::isDigit(c) || c == '-' ||
                      (allow_utf8 && ascii::isNonAscii(c));
      if (!ok) {
        return "Invalid domain in address";
      }
    }
    if (dot == std::string_view::npos) {
      return std::nullopt;
    }
    start = dot + 1;
  }
}

// IPv4-address-literal: Snum 3("." Snum), Snum = 1*3DIGIT with a value of at most 255.
bool isIPv4(std::string_view text) {
  int parts = 0;
  std::size_t pos = 0;
  while (true) {
    std::size_t digits = 0;
    int value = 0;
    while (pos < text.size() && ascii::isDigit(text[pos]) && digits < 4) {
      value = value * 10 + (text[pos] - '0');
      ++pos;
      ++digits;
    }
    if (digits == 0 || digits > 3 || value > 255) {
      return false;
    }
    ++parts;
    if (pos == text.size()) {
      return parts == 4;
    }
    if (text[pos] != '.' || parts == 4) {
      return false;
    }
    ++pos;
  }
}

// Counts the 16-bit units of a run of ':'-separated groups ("" counts none). The last group may
// be a dotted IPv4 address (two units) when `v4_tail` allows it.
bool countIPv6Units(std::string_view run, bool v4_tail, int& units) {
  units = 0;
  if (run.empty()) {
    return true;
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t colon = run.find(':', start);
    const bool last = colon == std::string_view::npos;
    const std::string_view group = run.substr(start, last ? std::string_view::npos : colon - start);
    if (last && v4_tail && group.find('.') != std::string_view::npos) {
      if (!isIPv4(group)) {
        return false;
      }
      units += 2;
      return true;
    }
    if (group.empty() || group.size() > 4) {
      return false;
    }
    for (const char c : group) {
      if (!ascii::isHexDigit(c)) {
        return false;
      }
    }
    ++units;
    if (last) {
      return true;
    }
    start = colon + 1;
  }
}

// IPv6-addr of RFC 5321 §4.1.3: eight groups, or fewer around one "::", with an optional
// IPv4 tail.
bool isIPv6(std::string_view text) {
  // "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" is the longest valid form.
  if (text.empty() || text.size() > 45) {
    return false;
  }
  const std::size_t gap = text.find("::");
  if (gap == std::string_view::npos) {
    int units = 0;
    return countIPv6Units(text, true, units) && units == 8;
  }
  if (text.find("::", gap + 1) != std::string_view::npos) {
    return false;
  }
  int head = 0;
  int tail = 0;
  return countIPv6Units(text.substr(0, gap), false, head) &&
         countIPv6Units(text.substr(gap + 2), true, tail) && head + tail <= 7;
}

constexpr std::string_view IPv6Tag = "IPv6:";

// The literal in a canonical spelling: the tag as RFC 5321 writes it, hex digits lower-case.
std::string normalizeLiteral(std::string_view literal) {
  const std::string_view inner = literal.substr(1, literal.size() - 2);
  if (inner.size() >= IPv6Tag.size() &&
      text::equalsIgnoreCase(inner.substr(0, IPv6Tag.size()), IPv6Tag)) {
    return fmt::format("[{}{}]", IPv6Tag, text::toLower(inner.substr(IPv6Tag.size())));
  }
  return std::string(literal);
}

// Reads "@domain,@domain:" (the source route, which §4.1.1.3 says to accept and ignore).
// Returns the position after the ':', or nothing if it is malformed.
std::optional<std::size_t> skipSourceRoute(std::string_view text) {
  std::size_t pos = 0;
  while (true) {
    if (pos >= text.size() || text[pos] != '@') {
      return std::nullopt;
    }
    ++pos;
    const std::size_t end = text.find_first_of(",:", pos);
    if (end == std::string_view::npos || domainProblem(text.substr(pos, end - pos), true)) {
      return std::nullopt;
    }
    pos = end + 1;
    if (text[end] == ':') {
      return pos;
    }
  }
}

// A Dot-string: atoms of atext separated by single dots.
bool isDotString(std::string_view text) {
  return !text.empty() && !Address::localPartNeedsQuotes(text);
}

struct LocalPart {
  std::string_view raw; // as written, quotes included
  std::string unquoted; // the value
  bool quoted = false;
};

// Reads the local part at the start of `text`; stops before the '@' (or at the end).
Result<LocalPart> readLocalPart(std::string_view text) {
  LocalPart local;
  std::size_t pos = 0;
  if (!text.empty() && text.front() == '"') {
    local.quoted = true;
    pos = 1;
    while (true) {
      if (pos >= text.size()) {
        return Error{"Unterminated quoted string in local part"};
      }
      const char c = text[pos];
      if (c == '"') {
        ++pos;
        break;
      }
      if (c == '\\') {
        // quoted-pairSMTP: a backslash and one printable ASCII character.
        if (pos + 1 >= text.size()) {
          return Error{"Unterminated quoted string in local part"};
        }
        const auto escaped = static_cast<unsigned char>(text[pos + 1]);
        if (escaped < 32 || escaped > 126) {
          return Error{"Invalid quoted-pair in local part"};
        }
        local.unquoted += text[pos + 1];
        pos += 2;
        continue;
      }
      if (!isQtext(c)) {
        return Error{"Invalid character in quoted local part"};
      }
      local.unquoted += c;
      ++pos;
    }
    local.raw = text.substr(0, pos);
    if (pos < text.size() && text[pos] != '@') {
      return Error{"Invalid local part in address"};
    }
    return local;
  }
  while (pos < text.size() && text[pos] != '@') {
    ++pos;
  }
  local.raw = text.substr(0, pos);
  if (local.raw.empty()) {
    return Error{"Missing local part in address"};
  }
  if (!isDotString(local.raw)) {
    return Error{"Invalid local part in address"};
  }
  local.unquoted = std::string(local.raw);
  return local;
}

// The part after the '@': a Domain, lower-cased, or an address literal in its canonical spelling.
Result<std::string> readHost(std::string_view domain) {
  if (domain.empty() || domain.front() != '[') {
    if (auto problem = domainProblem(domain, true)) {
      return Error{std::move(*problem)};
    }
    return text::toLower(domain);
  }
  if (domain.size() > MaxDomainOctets) {
    return Error{fmt::format("Domain too long (max {})", MaxDomainOctets)};
  }
  if (!isAddressLiteral(domain)) {
    return Error{"Invalid address literal in address"};
  }
  return normalizeLiteral(domain);
}

// '<' or '>' inside the path, other than in a quoted local part, means the brackets are off.
bool hasBracketOutsideQuotes(std::string_view text) {
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && (c == '<' || c == '>')) {
      return true;
    }
  }
  return false;
}

bool isLocalOnlyName(std::string_view user, PathKind kind, const PathOptions& options) {
  if (kind != PathKind::Forward) {
    return false;
  }
  return text::equalsIgnoreCase(user, "postmaster") ||
         (options.allow_local_abuse && text::equalsIgnoreCase(user, "abuse"));
}

} // namespace

bool isDomain(std::string_view text, bool allow_utf8) {
  return !domainProblem(text, allow_utf8).has_value();
}

bool isAddressLiteral(std::string_view text) {
  if (text.size() < 2 || text.front() != '[' || text.back() != ']') {
    return false;
  }
  const std::string_view inner = text.substr(1, text.size() - 2);
  if (inner.size() >= IPv6Tag.size() &&
      text::equalsIgnoreCase(inner.substr(0, IPv6Tag.size()), IPv6Tag)) {
    return isIPv6(inner.substr(IPv6Tag.size()));
  }
  return isIPv4(inner);
}

Result<Address> parsePath(std::string_view text, PathKind kind, const PathOptions& options) {
  if (text.empty()) {
    return Error{"Empty address"};
  }
  if (auto problem = checkBytes(text)) {
    return Error{std::move(*problem)};
  }

  std::string_view inner = text;
  const bool opens = text.front() == '<';
  const bool closes = text.back() == '>';
  if (opens || closes) {
    if (!opens || !closes || text.size() < 2) {
      return Error{"Unbalanced angle brackets in address"};
    }
    inner = text.substr(1, text.size() - 2);
  } else if (!options.allow_missing_brackets) {
    return Error{"Address must be enclosed in <>"};
  }
  if (hasBracketOutsideQuotes(inner)) {
    return Error{"Unbalanced angle brackets in address"};
  }

  Address address;
  address.original = std::string(text);
  for (const char c : text) {
    if (ascii::isNonAscii(c)) {
      address.is_utf8 = true;
      break;
    }
  }

  if (inner.empty()) {
    if (!opens) {
      return Error{"Empty address"};
    }
    if (kind != PathKind::Reverse) {
      return Error{"Null path <> not allowed as a recipient"};
    }
    address.is_null = true;
    return address;
  }

  if (inner.front() == '@') {
    const auto mailbox_start = skipSourceRoute(inner);
    if (!mailbox_start) {
      return Error{"Invalid source route in address"};
    }
    inner = inner.substr(*mailbox_start);
    if (inner.empty()) {
      return Error{"Missing mailbox after source route"};
    }
  }

  auto local = readLocalPart(inner);
  if (!local) {
    return Error{local.error()};
  }
  if (local->raw.size() > MaxLocalPartOctets) {
    return Error{fmt::format("Local part too long (max {})", MaxLocalPartOctets)};
  }
  address.user = std::move(local->unquoted);

  if (local->raw.size() == inner.size()) {
    // No '@': only <postmaster> (and Haraka's <abuse>) may come without a domain.
    if (local->quoted || !isLocalOnlyName(address.user, kind, options)) {
      return Error{"Missing domain in address"};
    }
  } else {
    const std::string_view domain = inner.substr(local->raw.size() + 1);
    auto host = readHost(domain);
    if (!host) {
      return Error{host.error()};
    }
    address.host = std::move(*host);
    address.original_host = std::string(domain);
  }

  // The limit counts the brackets even when a lenient client left them out.
  if ((opens ? text.size() : text.size() + 2) > MaxPathOctets) {
    return Error{fmt::format("Path too long (max {})", MaxPathOctets)};
  }
  return address;
}

} // namespace upesi::smtp
