#include "common/auth/spf_macro.hpp"

#include <upesi/text.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <vector>

namespace upesi::spf {

namespace {

constexpr std::string_view MacroLetters = "slodiphcrtv";
constexpr std::string_view Delimiters = ".-+,/_=";
constexpr std::size_t MaxParts = 1000; // more parts than any value has: keep them all

struct ClientAddress {
  bool v6 = false;
  std::array<unsigned char, 16> bytes{};
};

bool parseAddress(const std::string& text, ClientAddress& address) {
  if (inet_pton(AF_INET, text.c_str(), address.bytes.data()) == 1) {
    address.v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), address.bytes.data()) == 1) {
    address.v6 = true;
    return true;
  }
  return false;
}

// 'i': dotted quad, or 32 dot-separated nibbles for IPv6 (section 7.3).
std::string dottedAddress(const ClientAddress& address) {
  if (!address.v6) {
    return fmt::format("{}.{}.{}.{}", address.bytes[0], address.bytes[1], address.bytes[2],
                       address.bytes[3]);
  }
  constexpr std::string_view Hex = "0123456789abcdef";
  std::string out;
  for (unsigned char byte : address.bytes) {
    if (!out.empty()) {
      out += '.';
    }
    out += Hex[byte >> 4];
    out += '.';
    out += Hex[byte & 0xf];
  }
  return out;
}

std::string conventionalAddress(const ClientAddress& address) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  inet_ntop(address.v6 ? AF_INET6 : AF_INET, address.bytes.data(), text.data(), text.size());
  return text.data();
}

// Split on the delimiters, reverse, keep the rightmost parts, join with dots (section 7.3).
std::string transform(std::string_view value, std::size_t keep, bool reverse,
                      std::string_view delimiters) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= value.size(); ++i) {
    if (i == value.size() || delimiters.find(value[i]) != std::string_view::npos) {
      parts.push_back(value.substr(start, i - start));
      start = i + 1;
    }
  }
  if (reverse) {
    std::reverse(parts.begin(), parts.end());
  }
  std::size_t first = parts.size() > keep ? parts.size() - keep : 0;
  std::string out;
  for (std::size_t i = first; i < parts.size(); ++i) {
    if (i != first) {
      out += '.';
    }
    out += parts[i];
  }
  return out;
}

bool unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::string urlEscape(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (unreserved(c)) {
      out += c;
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

// The value of a macro letter (lower case); an unusable client IP sets `error`.
std::string letterValue(char letter, const MacroInputs& inputs, std::string& error) {
  switch (letter) {
  case 's':
    return inputs.sender;
  case 'l':
    return inputs.local_part;
  case 'o':
    return inputs.sender_domain;
  case 'd':
    return inputs.domain;
  case 'p':
    return inputs.validated_name;
  case 'h':
    return inputs.helo;
  case 'r':
    return inputs.receiver;
  case 't':
    return std::to_string(inputs.timestamp);
  default:
    break;
  }
  ClientAddress address;
  if (!parseAddress(inputs.client_ip, address)) {
    error = fmt::format("client IP '{}' is not an address", inputs.client_ip);
    return {};
  }
  if (letter == 'i') {
    return dottedAddress(address);
  }
  if (letter == 'c') {
    return conventionalAddress(address);
  }
  return address.v6 ? "ip6" : "in-addr"; // 'v'
}

// Walks `text` once: checks the syntax and, when `inputs` is given, appends the expansion to
// `out`. Returns the error, empty when none.
std::string walk(std::string_view text, MacroContext context, const MacroInputs* inputs,
                 std::string& out) {
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c != '%') {
      const bool visible = c >= 0x21 && c <= 0x7e;
      if (!visible && !(c == ' ' && context == MacroContext::Explanation)) {
        return fmt::format("character 0x{:02x} in a macro-string", static_cast<unsigned char>(c));
      }
      out += c;
      ++i;
      continue;
    }
    if (i + 1 == text.size()) {
      return "'%' at the end of a macro-string";
    }
    const char next = text[i + 1];
    if (next == '%' || next == '_' || next == '-') {
      out += next == '%' ? "%" : next == '_' ? " " : "%20";
      i += 2;
      continue;
    }
    if (next != '{') {
      return fmt::format("'%' followed by '{}'", next);
    }
    const std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      return "macro without '}'";
    }
    const std::string_view body = text.substr(i + 2, close - i - 2);
    i = close + 1;
    if (body.empty() || MacroLetters.find(text::toLower(body[0])) == std::string_view::npos) {
      return fmt::format("unknown macro '%{{{}}}'", body);
    }
    const char letter = text::toLower(body[0]);
    if (context == MacroContext::DomainSpec && (letter == 'c' || letter == 'r' || letter == 't')) {
      return fmt::format("macro '%{{{}}}' is only allowed in an explanation", body);
    }
    std::size_t j = 1;
    std::size_t keep = MaxParts;
    if (j < body.size() && body[j] >= '0' && body[j] <= '9') {
      keep = 0;
      for (; j < body.size() && body[j] >= '0' && body[j] <= '9'; ++j) {
        keep = std::min(keep * 10 + static_cast<std::size_t>(body[j] - '0'), MaxParts);
      }
      if (keep == 0) {
        return fmt::format("macro '%{{{}}}' keeps zero parts", body);
      }
    }
    const bool reverse = j < body.size() && text::toLower(body[j]) == 'r';
    if (reverse) {
      ++j;
    }
    const std::string_view delimiters = body.substr(j);
    for (char d : delimiters) {
      if (Delimiters.find(d) == std::string_view::npos) {
        return fmt::format("bad delimiter '{}' in macro '%{{{}}}'", d, body);
      }
    }
    if (inputs == nullptr) {
      continue;
    }
    std::string error;
    std::string value = letterValue(letter, *inputs, error);
    if (!error.empty()) {
      return error;
    }
    value = transform(value, keep, reverse, delimiters.empty() ? "." : delimiters);
    out += body[0] == letter ? value : urlEscape(value);
  }
  return {};
}

} // namespace

std::string macroStringError(std::string_view text, MacroContext context) {
  std::string ignored;
  return walk(text, context, nullptr, ignored);
}

MacroExpansion expandMacros(std::string_view text, const MacroInputs& inputs,
                            MacroContext context) {
  MacroExpansion expansion;
  expansion.permerror = walk(text, context, &inputs, expansion.text);
  if (!expansion.ok()) {
    expansion.text.clear();
  } else if (context == MacroContext::DomainSpec) {
    expansion.text = truncateDomain(std::move(expansion.text));
  }
  return expansion;
}

std::string truncateDomain(std::string name) {
  while (name.size() > MaxDomainLength) {
    const std::size_t dot = name.find('.');
    if (dot == std::string::npos || dot + 1 == name.size()) {
      name.erase(0, name.size() - MaxDomainLength);
      break;
    }
    name.erase(0, dot + 1);
  }
  return name;
}

} // namespace upesi::spf
