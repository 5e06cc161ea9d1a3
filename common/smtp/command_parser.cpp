#include "common/smtp/command_parser.hpp"

#include <upesi/text.hpp>

#include "common/config/text_checks.hpp"
#include "common/util/ascii.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace upesi::smtp {

namespace {

std::string_view skipSpaces(std::string_view text) {
  const std::size_t first = text.find_first_not_of(' ');
  return first == std::string_view::npos ? std::string_view() : text.substr(first);
}

// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
bool isKeyword(std::string_view text) {
  if (text.empty() || text.front() == '-') {
    return false;
  }
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return ascii::isLetter(c) || ascii::isDigit(c) || c == '-'; });
}

// esmtp-value = 1*(%d33-60 / %d62-126), plus UTF8-non-ascii under RFC 6531.
bool isValue(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  const bool printable = std::all_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte >= 0x80 || (byte >= 33 && byte <= 126 && c != '=');
  });
  return printable && config::isValidUtf8(text);
}

// The end of a bracketed path: the index of the '>' that closes it, skipping quoted strings.
Result<std::size_t> findClosingBracket(std::string_view text) {
  bool quoted = false;
  for (std::size_t i = 1; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == '>') {
      return i;
    }
  }
  if (quoted) {
    return Error{"Unterminated quoted string in local part"};
  }
  return Error{"Unbalanced angle brackets in address"};
}

// The end of a path written without brackets: the first space outside a quoted string.
std::size_t findBareEnd(std::string_view text) {
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == ' ') {
      return i;
    }
  }
  return text.size();
}

Result<PathArgument> parsePathArgument(std::string_view argument, std::string_view prefix,
                                       PathKind kind, const PathOptions& options) {
  auto parts = splitPathArgument(argument, prefix, options);
  if (!parts) {
    return Error{parts.error()};
  }
  auto address = parsePath(parts->path, kind, options);
  if (!address) {
    return Error{address.error()};
  }
  auto params = parseEsmtpParams(parts->params);
  if (!params) {
    return Error{params.error()};
  }
  return PathArgument{std::move(*address), std::move(*params)};
}

} // namespace

std::string_view CommandLine::defectMessage() const {
  switch (defect) {
  case LineDefect::None:
    return "";
  case LineDefect::Empty:
    return "Syntax error";
  case LineDefect::BadVerb:
    return "Unrecognized command";
  case LineDefect::Nul:
    return "Syntax error (NUL byte not allowed)";
  case LineDefect::EightBit:
    return "Syntax error (8-bit characters not allowed)";
  }
  return "";
}

CommandLine splitCommandLine(std::string_view line, bool allow_utf8_mail_rcpt) {
  CommandLine out;
  const std::size_t space = line.find(' ');
  const std::string_view verb = line.substr(0, space);
  const std::string_view argument =
      space == std::string_view::npos ? std::string_view() : skipSpaces(line.substr(space));
  out.verb = text::toUpper(verb);
  out.argument = std::string(argument);

  const bool verb_is_letters =
      !verb.empty() && std::all_of(verb.begin(), verb.end(), ascii::isLetter);
  const bool utf8_allowed =
      allow_utf8_mail_rcpt && verb_is_letters && (out.verb == "MAIL" || out.verb == "RCPT");
  if (line.find('\0') != std::string_view::npos) {
    out.defect = LineDefect::Nul;
  } else if (ascii::hasNonAscii(verb) || (!utf8_allowed && ascii::hasNonAscii(argument))) {
    out.defect = LineDefect::EightBit;
  } else if (verb.empty()) {
    out.defect = LineDefect::Empty;
  } else if (!verb_is_letters) {
    out.defect = LineDefect::BadVerb;
  }
  return out;
}

Result<PathArgumentParts> splitPathArgument(std::string_view argument, std::string_view prefix,
                                            const PathOptions& options) {
  if (!text::startsWithIgnoreCase(argument, prefix)) {
    return Error{fmt::format("Syntax error: expected {}<address>", prefix)};
  }
  std::string_view rest = argument.substr(prefix.size());
  if (!rest.empty() && rest.front() == ' ') {
    if (!options.allow_space_after_colon) {
      return Error{fmt::format("Syntax error: no space allowed after {}", prefix)};
    }
    rest = skipSpaces(rest);
  }
  if (rest.empty()) {
    return Error{fmt::format("Syntax error: missing address after {}", prefix)};
  }

  std::size_t path_size = 0;
  if (rest.front() == '<') {
    auto closing = findClosingBracket(rest);
    if (!closing) {
      return Error{closing.error()};
    }
    path_size = *closing + 1;
  } else {
    path_size = findBareEnd(rest);
  }

  PathArgumentParts parts;
  parts.path = rest.substr(0, path_size);
  const std::string_view after = rest.substr(path_size);
  if (!after.empty() && after.front() != ' ') {
    return Error{"Syntax error: unexpected characters after address"};
  }
  parts.params = skipSpaces(after);
  return parts;
}

Result<EsmtpParams> parseEsmtpParams(std::string_view text) {
  EsmtpParams params;
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (text[pos] == ' ') {
      ++pos;
      continue;
    }
    std::size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    const std::string_view token = text.substr(pos, end - pos);
    pos = end;

    const std::size_t equals = token.find('=');
    const std::string_view keyword = token.substr(0, equals);
    if (!isKeyword(keyword)) {
      return Error{"Invalid parameter keyword"};
    }
    std::string name = text::toUpper(keyword);
    std::string value;
    if (equals != std::string_view::npos) {
      const std::string_view raw = token.substr(equals + 1);
      if (!isValue(raw)) {
        return Error{fmt::format("Invalid value for parameter {}", name)};
      }
      value = std::string(raw);
    }
    if (findParam(params, name) != nullptr) {
      return Error{fmt::format("Duplicate parameter {}", name)};
    }
    if (params.size() == MaxEsmtpParams) {
      return Error{fmt::format("Too many parameters (max {})", MaxEsmtpParams)};
    }
    params.emplace_back(std::move(name), std::move(value));
  }
  return params;
}

Result<PathArgument> parseMailArgument(std::string_view argument, const PathOptions& options) {
  return parsePathArgument(argument, "FROM:", PathKind::Reverse, options);
}

Result<PathArgument> parseRcptArgument(std::string_view argument, const PathOptions& options) {
  return parsePathArgument(argument, "TO:", PathKind::Forward, options);
}

const std::string* findParam(const EsmtpParams& params, std::string_view keyword) {
  for (const auto& [name, value] : params) {
    if (name == keyword) {
      return &value;
    }
  }
  return nullptr;
}

Result<std::uint64_t> parseSizeValue(std::string_view value) {
  if (value.empty()) {
    return Error{"SIZE requires a value"};
  }
  if (!std::all_of(value.begin(), value.end(), ascii::isDigit)) {
    return Error{"SIZE value is not a number"};
  }
  constexpr std::uint64_t Max = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t size = 0;
  for (const char c : value) {
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (size > (Max - digit) / 10) {
      return Error{"SIZE value out of range"};
    }
    size = size * 10 + digit;
  }
  return size;
}

Result<BodyType> parseBodyValue(std::string_view value) {
  const std::string upper = text::toUpper(value);
  if (upper == "7BIT") {
    return BodyType::SevenBit;
  }
  if (upper == "8BITMIME") {
    return BodyType::EightBitMime;
  }
  if (upper == "BINARYMIME") {
    return BodyType::BinaryMime;
  }
  if (value.empty()) {
    return Error{"BODY requires a value"};
  }
  return Error{"Unknown BODY type (7BIT, 8BITMIME or BINARYMIME)"};
}

} // namespace upesi::smtp
