// The SMTP command line as a session sees it: splitCommandLine, then for MAIL and RCPT the path
// and ESMTP parameters (common/smtp/command_parser).
//
// Input: one flag byte (bit 0: SMTPUTF8 allowed, bit 1: strict RFC 5321 paths), then the line
// without its CRLF.
//
// Invariants: a line without a defect is the verb, spaces and the argument, nothing lost; a
// parsed MAIL/RCPT argument written back ("FROM:" + format() + params) parses to the same
// address and parameters, and that line splits back into the same verb and argument. The DSN
// values (common/smtp/envelope_params) decode to printable ASCII and survive a re-encoding.
#include "common/smtp/command_parser.hpp"
#include "common/smtp/envelope_params.hpp"
#include "test/fuzz/fuzz_check.hpp"

#include <charconv>
#include <string>

using namespace upesi;
using namespace upesi::smtp;

namespace {

bool upperLetters(std::string_view s) {
  for (char c : s) {
    if (c < 'A' || c > 'Z') {
      return false;
    }
  }
  return !s.empty();
}

std::string writeBack(std::string_view prefix, const PathArgument& parsed) {
  std::string out(prefix);
  out += parsed.address.format();
  for (const auto& [keyword, value] : parsed.params) {
    out += ' ';
    out += keyword;
    if (!value.empty()) {
      out += '=';
      out += value;
    }
  }
  return out;
}

bool printableAscii(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7E) {
      return false;
    }
  }
  return true;
}

void checkEnvelopeParams(const EsmtpParams& params) {
  if (const std::string* envid = findParam(params, "ENVID")) {
    if (auto decoded = parseDsnEnvid(*envid)) {
      FUZZ_CHECK(envid->size() <= MaxEnvidLength);
      FUZZ_CHECK(printableAscii(*decoded));
      auto again = decodeXtext(encodeXtext(*decoded));
      FUZZ_CHECK(again.ok() && *again == *decoded);
    }
  }
  if (const std::string* notify = findParam(params, "NOTIFY")) {
    if (auto parsed = parseDsnNotify(*notify)) {
      auto again = parseDsnNotify(formatDsnNotify(*parsed));
      FUZZ_CHECK(again.ok() && *again == *parsed);
    }
  }
  if (const std::string* orcpt = findParam(params, "ORCPT")) {
    RcptOptions options;
    if (parseDsnOrcpt(*orcpt, options)) {
      FUZZ_CHECK(!options.orcpt_type.empty() && !options.orcpt_address.empty());
      FUZZ_CHECK(printableAscii(options.orcpt_address));
    }
  }
  if (const std::string* priority = findParam(params, "MT-PRIORITY")) {
    if (auto value = parseMtPriority(*priority)) {
      FUZZ_CHECK(*value >= -9 && *value <= 9);
    }
  }
}

void checkPathArgument(const CommandLine& command, bool utf8, const PathOptions& options) {
  const bool mail = command.verb == "MAIL";
  const std::string_view prefix = mail ? "FROM:" : "TO:";
  auto parsed = mail ? parseMailArgument(command.argument, options)
                     : parseRcptArgument(command.argument, options);
  if (!parsed) {
    FUZZ_CHECK(!parsed.error().empty());
    return;
  }
  const Address& address = parsed->address;
  FUZZ_CHECK(!address.is_null || mail);
  FUZZ_CHECK(parsed->params.size() <= MaxEsmtpParams);
  for (const auto& [keyword, value] : parsed->params) {
    FUZZ_CHECK(!keyword.empty());
    for (char c : keyword) {
      FUZZ_CHECK(c < 'a' || c > 'z');
    }
    FUZZ_CHECK(value.find(' ') == std::string::npos && value.find('=') == std::string::npos);
  }

  const std::string again_text = writeBack(prefix, *parsed);
  auto again =
      mail ? parseMailArgument(again_text, options) : parseRcptArgument(again_text, options);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->address.user == address.user);
  FUZZ_CHECK(again->address.host == address.host);
  FUZZ_CHECK(again->address.is_null == address.is_null);
  FUZZ_CHECK(!again->address.is_utf8 || address.is_utf8); // a source route may have held UTF-8
  FUZZ_CHECK(again->params == parsed->params);

  const std::string line = command.verb + " " + again_text;
  const CommandLine resplit = splitCommandLine(line, utf8);
  FUZZ_CHECK(resplit.verb == command.verb);
  FUZZ_CHECK(resplit.argument == again_text);

  if (const std::string* size = findParam(parsed->params, "SIZE")) {
    if (auto value = parseSizeValue(*size)) {
      char text[24];
      auto [end, ec] = std::to_chars(text, text + sizeof text, *value);
      FUZZ_CHECK(ec == std::errc());
      std::string_view digits = *size;
      while (digits.size() > 1 && digits.front() == '0') {
        digits.remove_prefix(1);
      }
      FUZZ_CHECK(digits == std::string_view(text, static_cast<std::size_t>(end - text)));
    }
  }
  if (const std::string* body = findParam(parsed->params, "BODY")) {
    (void)parseBodyValue(*body);
  }
  checkEnvelopeParams(parsed->params);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const bool utf8 = (data[0] & 1) != 0;
  const PathOptions options = (data[0] & 2) != 0 ? PathOptions::strict() : PathOptions::lenient();
  const std::string_view line = fuzz::asView(data + 1, size - 1);

  const CommandLine command = splitCommandLine(line, utf8);
  FUZZ_CHECK((command.defect == LineDefect::Nul) == (line.find('\0') != std::string_view::npos));
  FUZZ_CHECK(command.defect == LineDefect::None || !command.defectMessage().empty());
  if (command.defect != LineDefect::None) {
    return 0;
  }
  // Nothing lost: the line is the verb (any case), then spaces, then the argument.
  FUZZ_CHECK(upperLetters(command.verb));
  FUZZ_CHECK(line.size() >= command.verb.size() + command.argument.size());
  FUZZ_CHECK(line.ends_with(command.argument));
  FUZZ_CHECK(command.argument.empty() || command.argument.front() != ' ');
  for (std::size_t i = 0; i < command.verb.size(); ++i) {
    FUZZ_CHECK((line[i] & ~0x20) == command.verb[i]);
  }
  const std::string_view between =
      line.substr(command.verb.size(), line.size() - command.verb.size() - command.argument.size());
  FUZZ_CHECK(between.find_first_not_of(' ') == std::string_view::npos);
  FUZZ_CHECK(!between.empty() || command.argument.empty());

  if (command.verb == "MAIL" || command.verb == "RCPT") {
    checkPathArgument(command, utf8, options);
  }
  return 0;
}
