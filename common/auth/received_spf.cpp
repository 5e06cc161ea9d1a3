#include "common/auth/received_spf.hpp"

#include "common/util/ascii.hpp"

#include <fmt/format.h>

namespace upesi::spf {
namespace {

// atext of RFC 5322 section 3.2.3.
bool isAtext(char c) {
  static constexpr std::string_view Specials = "!#$%&'*+-/=?^_`{|}~";
  return ascii::isLetter(c) || ascii::isDigit(c) || Specials.find(c) != std::string_view::npos;
}

bool isDotAtom(std::string_view value) {
  if (value.empty() || value.front() == '.' || value.back() == '.') {
    return false;
  }
  char previous = 0;
  for (char c : value) {
    if (c == '.' ? previous == '.' : !isAtext(c)) {
      return false;
    }
    previous = c;
  }
  return true;
}

// Comment text may hold neither parentheses nor a backslash unescaped, nor line breaks.
std::string commentText(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '(' || c == ')' || c == '\\') {
      out += '\\';
    }
    out += (c == '\r' || c == '\n') ? ' ' : c;
  }
  return out;
}

std::string comment(const CheckOutcome& outcome, const ReceivedSpfFields& fields) {
  const std::string who = fields.identity == "helo" ? fmt::format("{} ", outcome.domain)
                                                    : fmt::format("{} ", fields.envelope_from);
  switch (outcome.result) {
  case CheckResult::Pass:
    return fmt::format("{}: domain of {}designates {} as permitted sender", fields.receiver, who,
                       fields.client_ip);
  case CheckResult::Fail:
  case CheckResult::SoftFail:
    return fmt::format("{}: domain of {}does not designate {} as permitted sender", fields.receiver,
                       who, fields.client_ip);
  case CheckResult::Neutral:
    return fmt::format("{}: {} is neither permitted nor denied by domain of {}", fields.receiver,
                       fields.client_ip, outcome.domain);
  case CheckResult::None:
    return fmt::format("{}: domain of {}does not publish an SPF record", fields.receiver, who);
  case CheckResult::TempError:
    return fmt::format("{}: error in processing during lookup of {}", fields.receiver,
                       outcome.domain);
  case CheckResult::PermError:
    return fmt::format("{}: permanent error in processing domain of {}", fields.receiver,
                       outcome.domain);
  }
  return {};
}

} // namespace

std::string keyValue(std::string_view value) {
  if (isDotAtom(value)) {
    return std::string(value);
  }
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += (c == '\r' || c == '\n') ? ' ' : c;
  }
  return out + '"';
}

std::string receivedSpfValue(const CheckOutcome& outcome, const ReceivedSpfFields& fields) {
  std::string value =
      fmt::format("{} ({})", resultName(outcome.result), commentText(comment(outcome, fields)));
  auto pair = [&value](std::string_view key, std::string_view text) {
    value += fmt::format("\r\n\t{}={};", key, keyValue(text));
  };
  pair("receiver", fields.receiver);
  pair("client-ip", fields.client_ip);
  if (!fields.envelope_from.empty()) {
    pair("envelope-from", fields.envelope_from);
  }
  if (!fields.helo.empty()) {
    pair("helo", fields.helo);
  }
  pair("identity", fields.identity);
  if (!outcome.mechanism.empty()) {
    pair("mechanism", outcome.mechanism);
  }
  if (!outcome.problem.empty() &&
      (outcome.result == CheckResult::TempError || outcome.result == CheckResult::PermError)) {
    pair("problem", outcome.problem);
  }
  value.pop_back(); // the last ';'
  return value;
}

} // namespace upesi::spf
