#include "common/auth/spf_record.hpp"

#include <upesi/text.hpp>

#include "common/auth/spf_macro.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>

namespace upesi::spf {

namespace {

constexpr std::string_view Version = "v=spf1";

bool isAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
bool isAlnum(char c) {
  return isAlpha(c) || isDigit(c);
}
bool isNameChar(char c) {
  return isAlnum(c) || c == '-' || c == '_' || c == '.';
}

// toplabel (section 12): alphanumerics and inner hyphens, not all digits unless hyphenated.
bool isTopLabel(std::string_view label) {
  if (label.empty() || !isAlnum(label.front()) || !isAlnum(label.back())) {
    return false;
  }
  bool alpha = false;
  bool hyphen = false;
  for (char c : label) {
    if (!isAlnum(c) && c != '-') {
      return false;
    }
    alpha = alpha || isAlpha(c);
    hyphen = hyphen || c == '-';
  }
  return alpha || hyphen;
}

// domain-end (section 12): the spec ends in a macro-expand or in "." toplabel ["."].
bool hasDomainEnd(std::string_view spec) {
  bool ends_in_macro = false;
  std::size_t literal_start = 0;
  for (std::size_t i = 0; i < spec.size();) {
    if (spec[i] == '%') { // already checked: a complete macro-expand
      i = spec[i + 1] == '{' ? spec.find('}', i) + 1 : i + 2;
      ends_in_macro = true;
      literal_start = i;
    } else {
      ++i;
      ends_in_macro = false;
    }
  }
  if (ends_in_macro) {
    return true;
  }
  std::string_view literal = spec.substr(literal_start);
  if (!literal.empty() && literal.back() == '.') {
    literal.remove_suffix(1);
  }
  const std::size_t dot = literal.rfind('.');
  return dot != std::string_view::npos && isTopLabel(literal.substr(dot + 1));
}

std::string domainSpecError(std::string_view spec, std::string_view term) {
  if (spec.empty()) {
    return fmt::format("empty domain in '{}'", term);
  }
  const std::string macro_error = macroStringError(spec, MacroContext::DomainSpec);
  if (!macro_error.empty()) {
    return fmt::format("{} in '{}'", macro_error, term);
  }
  if (!hasDomainEnd(spec)) {
    return fmt::format("'{}' does not end in a domain name in '{}'", spec, term);
  }
  return {};
}

// ip4-cidr-length / ip6-cidr-length digits: no leading zero, at most `max`.
bool parseCidr(std::string_view digits, int max, int& length) {
  if (digits.empty() || digits.size() > 3 || (digits.size() > 1 && digits[0] == '0')) {
    return false;
  }
  int value = 0;
  for (char c : digits) {
    if (!isDigit(c)) {
      return false;
    }
    value = value * 10 + (c - '0');
  }
  if (value > max) {
    return false;
  }
  length = value;
  return true;
}

// Takes a trailing "/digits" off `rest`.
bool takeCidrSuffix(std::string_view& rest, std::string_view& digits) {
  std::size_t start = rest.size();
  while (start > 0 && isDigit(rest[start - 1])) {
    --start;
  }
  if (start == rest.size() || start == 0 || rest[start - 1] != '/') {
    return false;
  }
  digits = rest.substr(start);
  rest = rest.substr(0, start - 1);
  return true;
}

// dual-cidr-length of a and mx: "/24", "//64" or "/24//64" at the end of `rest`.
std::string takeDualCidr(std::string_view& rest, Mechanism& mechanism, std::string_view term) {
  std::string_view digits;
  if (!takeCidrSuffix(rest, digits)) {
    return {};
  }
  if (!rest.empty() && rest.back() == '/') {
    rest.remove_suffix(1);
    if (!parseCidr(digits, 128, mechanism.ip6_cidr)) {
      return fmt::format("bad IPv6 prefix length in '{}'", term);
    }
    if (!takeCidrSuffix(rest, digits)) {
      return {};
    }
  }
  if (!parseCidr(digits, 32, mechanism.ip4_cidr)) {
    return fmt::format("bad IPv4 prefix length in '{}'", term);
  }
  return {};
}

std::string parseNetwork(std::string_view rest, Mechanism& mechanism, std::string_view term) {
  const bool v6 = mechanism.kind == MechanismKind::Ip6;
  if (rest.size() < 2 || rest[0] != ':') {
    return fmt::format("no network in '{}'", term);
  }
  rest.remove_prefix(1);
  const std::size_t slash = rest.find('/');
  const std::string address(rest.substr(0, slash));
  if (slash != std::string_view::npos && !parseCidr(rest.substr(slash + 1), v6 ? 128 : 32,
                                                    v6 ? mechanism.ip6_cidr : mechanism.ip4_cidr)) {
    return fmt::format("bad prefix length in '{}'", term);
  }
  if (inet_pton(v6 ? AF_INET6 : AF_INET, address.c_str(), mechanism.network.data()) != 1) {
    return fmt::format("bad {} address in '{}'", v6 ? "IPv6" : "IPv4", term);
  }
  return {};
}

std::optional<MechanismKind> mechanismKind(std::string_view name) {
  static constexpr std::pair<std::string_view, MechanismKind> Names[] = {
      {"all", MechanismKind::All}, {"include", MechanismKind::Include}, {"a", MechanismKind::A},
      {"mx", MechanismKind::Mx},   {"ptr", MechanismKind::Ptr},         {"ip4", MechanismKind::Ip4},
      {"ip6", MechanismKind::Ip6}, {"exists", MechanismKind::Exists},
  };
  for (const auto& [text, kind] : Names) {
    if (text::equalsIgnoreCase(name, text)) {
      return kind;
    }
  }
  return std::nullopt;
}

std::string parseModifier(std::string_view term, std::size_t equals, Record& record) {
  const std::string_view name = term.substr(0, equals);
  const std::string_view value = term.substr(equals + 1);
  const bool redirect = text::equalsIgnoreCase(name, "redirect");
  if (redirect || text::equalsIgnoreCase(name, "exp")) {
    auto& slot = redirect ? record.redirect : record.explanation;
    if (slot) {
      return fmt::format("second '{}' modifier in '{}'", text::toLower(name), term);
    }
    std::string error = domainSpecError(value, term);
    if (!error.empty()) {
      return error;
    }
    slot = std::string(value);
    return {};
  }
  std::string error = macroStringError(value, MacroContext::Explanation);
  if (!error.empty()) {
    return fmt::format("{} in '{}'", error, term);
  }
  record.unknown_modifiers.push_back({std::string(name), std::string(value)});
  return {};
}

std::string parseMechanism(std::string_view term, Record& record) {
  Mechanism mechanism;
  std::string_view rest = term;
  if (rest[0] == '+' || rest[0] == '-' || rest[0] == '~' || rest[0] == '?') {
    mechanism.qualifier = static_cast<Qualifier>(rest[0]);
    rest.remove_prefix(1);
  }
  std::size_t name_end = 0;
  while (name_end < rest.size() && isAlnum(rest[name_end])) {
    ++name_end;
  }
  const auto kind = mechanismKind(rest.substr(0, name_end));
  if (!kind) {
    return fmt::format("unknown mechanism in '{}'", term);
  }
  mechanism.kind = *kind;
  rest.remove_prefix(name_end);
  std::string error;
  switch (mechanism.kind) {
  case MechanismKind::All:
    if (!rest.empty()) {
      error = fmt::format("'all' takes no argument in '{}'", term);
    }
    break;
  case MechanismKind::Ip4:
  case MechanismKind::Ip6:
    error = parseNetwork(rest, mechanism, term);
    break;
  case MechanismKind::A:
  case MechanismKind::Mx:
    error = takeDualCidr(rest, mechanism, term);
    [[fallthrough]];
  case MechanismKind::Include:
  case MechanismKind::Exists:
  case MechanismKind::Ptr:
    if (!error.empty()) {
      break;
    }
    if (rest.empty()) {
      if (mechanism.kind == MechanismKind::Include || mechanism.kind == MechanismKind::Exists) {
        error = fmt::format("no domain in '{}'", term);
      }
      break;
    }
    if (rest[0] != ':') {
      error = fmt::format("unexpected '{}' in '{}'", rest, term);
      break;
    }
    rest.remove_prefix(1);
    error = domainSpecError(rest, term);
    mechanism.domain_spec = rest;
    break;
  }
  if (error.empty()) {
    record.mechanisms.push_back(std::move(mechanism));
  }
  return error;
}

std::string parseTerm(std::string_view term, Record& record) {
  std::size_t name_end = 0;
  while (name_end < term.size() && isNameChar(term[name_end])) {
    ++name_end;
  }
  if (name_end < term.size() && term[name_end] == '=' && isAlpha(term[0])) {
    return parseModifier(term, name_end, record);
  }
  return parseMechanism(term, record);
}

std::string_view mechanismName(MechanismKind kind) {
  switch (kind) {
  case MechanismKind::All:
    return "all";
  case MechanismKind::Include:
    return "include";
  case MechanismKind::A:
    return "a";
  case MechanismKind::Mx:
    return "mx";
  case MechanismKind::Ptr:
    return "ptr";
  case MechanismKind::Ip4:
    return "ip4";
  case MechanismKind::Ip6:
    return "ip6";
  case MechanismKind::Exists:
    return "exists";
  }
  return "?";
}

} // namespace

bool isSpfRecord(std::string_view txt) {
  return text::startsWithIgnoreCase(txt, Version) &&
         (txt.size() == Version.size() || txt[6] == ' ');
}

RecordParse parseRecord(std::string_view txt) {
  RecordParse parse;
  if (txt.size() > MaxRecordLength) {
    parse.permerror = fmt::format("record of {} bytes, more than {}", txt.size(), MaxRecordLength);
    return parse;
  }
  if (!isSpfRecord(txt)) {
    parse.permerror = "not an SPF record";
    return parse;
  }
  std::size_t terms = 0;
  for (std::size_t start = Version.size(); start < txt.size();) {
    std::size_t end = txt.find(' ', start);
    if (end == std::string_view::npos) {
      end = txt.size();
    }
    if (end > start) {
      if (++terms > MaxTerms) {
        parse.permerror = fmt::format("more than {} terms", MaxTerms);
        break;
      }
      parse.permerror = parseTerm(txt.substr(start, end - start), parse.record);
      if (!parse.ok()) {
        break;
      }
    }
    start = end + 1;
  }
  if (!parse.ok()) {
    parse.record = {};
  }
  return parse;
}

std::string writeMechanism(const Mechanism& mechanism) {
  std::string out;
  if (mechanism.qualifier != Qualifier::Pass) {
    out += static_cast<char>(mechanism.qualifier);
  }
  out += mechanismName(mechanism.kind);
  if (mechanism.kind == MechanismKind::Ip4 || mechanism.kind == MechanismKind::Ip6) {
    const bool v6 = mechanism.kind == MechanismKind::Ip6;
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(v6 ? AF_INET6 : AF_INET, mechanism.network.data(), text, sizeof text);
    out += ':';
    out += text;
    const int cidr = v6 ? mechanism.ip6_cidr : mechanism.ip4_cidr;
    if (cidr != (v6 ? 128 : 32)) {
      out += fmt::format("/{}", cidr);
    }
    return out;
  }
  if (!mechanism.domain_spec.empty()) {
    out += ':' + mechanism.domain_spec;
  }
  if (mechanism.kind == MechanismKind::A || mechanism.kind == MechanismKind::Mx) {
    if (mechanism.ip4_cidr != 32) {
      out += fmt::format("/{}", mechanism.ip4_cidr);
    }
    if (mechanism.ip6_cidr != 128) {
      out += fmt::format("//{}", mechanism.ip6_cidr);
    }
  }
  return out;
}

std::string writeRecord(const Record& record) {
  std::string out(Version);
  for (const Mechanism& mechanism : record.mechanisms) {
    out += ' ' + writeMechanism(mechanism);
  }
  if (record.redirect) {
    out += " redirect=" + *record.redirect;
  }
  if (record.explanation) {
    out += " exp=" + *record.explanation;
  }
  for (const Modifier& modifier : record.unknown_modifiers) {
    out += ' ' + modifier.name + '=' + modifier.value;
  }
  return out;
}

RecordSelection selectRecord(const std::vector<std::string>& txts) {
  RecordSelection selection;
  std::size_t found = 0;
  for (const std::string& txt : txts) {
    if (isSpfRecord(txt)) {
      ++found;
      selection.record = txt;
    }
  }
  if (found == 1) {
    selection.outcome = RecordSelection::Outcome::Found;
  } else if (found > 1) {
    selection.outcome = RecordSelection::Outcome::PermError;
    selection.permerror = fmt::format("{} SPF records", found);
    selection.record.clear();
  }
  return selection;
}

} // namespace upesi::spf
