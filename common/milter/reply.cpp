#include "common/milter/reply.hpp"

#include "common/mail/header.hpp"

#include <fmt/format.h>

#include <cctype>

namespace upesi::milter {
namespace {

constexpr std::size_t MaxReplyLines = 64;

// Splits `data` into NUL-terminated strings; every byte must belong to one.
Result<std::vector<std::string>> splitStrings(std::string_view data) {
  std::vector<std::string> out;
  while (!data.empty()) {
    const auto nul = data.find('\0');
    if (nul == std::string_view::npos) {
      return Error{"string without its NUL terminator"};
    }
    out.emplace_back(data.substr(0, nul));
    data.remove_prefix(nul + 1);
  }
  return out;
}

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

// "d.ddd.ddd" (RFC 3463) at the start of `text`; its length, or 0.
std::size_t enhancedCodeLength(std::string_view text) {
  std::size_t i = 0;
  if (text.empty() || !isDigit(text[0])) {
    return 0;
  }
  i = 1;
  for (int part = 0; part < 2; ++part) {
    if (i >= text.size() || text[i] != '.') {
      return 0;
    }
    ++i;
    const std::size_t start = i;
    while (i < text.size() && isDigit(text[i]) && i - start < 3) {
      ++i;
    }
    if (i == start) {
      return 0;
    }
  }
  if (i < text.size() && text[i] != ' ') {
    return 0;
  }
  return i;
}

std::string unescapePercent(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      if (i + 1 < text.size() && text[i + 1] == '%') {
        out += '%';
        ++i;
      }
      continue; // a lone '%' is dropped, as Postfix does
    }
    out += text[i];
  }
  return out;
}

Result<FilterReply> noData(const Packet& packet, ReplyKind kind) {
  if (!packet.data.empty()) {
    return Error{fmt::format("{} reply with {} bytes of data", kindName(kind), packet.data.size())};
  }
  FilterReply reply;
  reply.kind = kind;
  return reply;
}

Result<FilterReply> headerChange(const Packet& packet, ReplyKind kind, bool indexed) {
  std::string_view data = packet.data;
  FilterReply reply;
  reply.kind = kind;
  if (indexed) {
    if (data.size() < 4) {
      return Error{fmt::format("{} too short for its index", kindName(kind))};
    }
    reply.index = readUint32(data);
    data.remove_prefix(4);
  }
  auto strings = splitStrings(data);
  if (!strings) {
    return Error{fmt::format("{}: {}", kindName(kind), strings.error())};
  }
  if (strings->size() != 2) {
    return Error{
        fmt::format("{} with {} strings, not a name and a value", kindName(kind), strings->size())};
  }
  if (!mail::Header::validName((*strings)[0])) {
    return Error{fmt::format("{} with a bad header name", kindName(kind))};
  }
  reply.name = std::move((*strings)[0]);
  reply.value = std::move((*strings)[1]);
  if (kind == ReplyKind::ChangeHeader && reply.index == 0) {
    reply.index = 1; // Sendmail reads 0 as the first
  }
  return reply;
}

// A recipient or sender, with optional ESMTP arguments when `with_args`.
Result<FilterReply> addressChange(const Packet& packet, ReplyKind kind, bool with_args,
                                  bool empty_ok) {
  auto strings = splitStrings(packet.data);
  if (!strings) {
    return Error{fmt::format("{}: {}", kindName(kind), strings.error())};
  }
  const std::size_t most = with_args ? 2 : 1;
  if (strings->empty() || strings->size() > most) {
    return Error{fmt::format("{} with {} strings", kindName(kind), strings->size())};
  }
  FilterReply reply;
  reply.kind = kind;
  reply.name = std::move((*strings)[0]);
  if (strings->size() == 2) {
    reply.value = std::move((*strings)[1]);
  }
  if (reply.name.empty() && !empty_ok) {
    return Error{fmt::format("{} with an empty address", kindName(kind))};
  }
  return reply;
}

bool isModificationLetter(char c) {
  switch (c) {
  case reply::AddHeader:
  case reply::InsHeader:
  case reply::ChgHeader:
  case reply::AddRcpt:
  case reply::AddRcptPar:
  case reply::DelRcpt:
  case reply::ChgFrom:
  case reply::ReplBody:
  case reply::Quarantine:
    return true;
  default:
    return false;
  }
}

std::string letterName(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 33 && byte <= 126) {
    return fmt::format("'{}'", c);
  }
  return fmt::format("0x{:02x}", byte);
}

} // namespace

const char* kindName(ReplyKind kind) {
  switch (kind) {
  case ReplyKind::Accept:
    return "accept";
  case ReplyKind::Continue:
    return "continue";
  case ReplyKind::Discard:
    return "discard";
  case ReplyKind::Reject:
    return "reject";
  case ReplyKind::Tempfail:
    return "tempfail";
  case ReplyKind::ReplyCode:
    return "replycode";
  case ReplyKind::Shutdown:
    return "shutdown";
  case ReplyKind::Skip:
    return "skip";
  case ReplyKind::Progress:
    return "progress";
  case ReplyKind::AddHeader:
    return "addheader";
  case ReplyKind::InsertHeader:
    return "insheader";
  case ReplyKind::ChangeHeader:
    return "chgheader";
  case ReplyKind::AddRcpt:
    return "addrcpt";
  case ReplyKind::AddRcptPar:
    return "addrcpt_par";
  case ReplyKind::DelRcpt:
    return "delrcpt";
  case ReplyKind::ChangeFrom:
    return "chgfrom";
  case ReplyKind::ReplaceBody:
    return "replbody";
  case ReplyKind::Quarantine:
    return "quarantine";
  }
  return "?";
}

Result<FilterReply> parseReplyText(std::string_view text) {
  if (!text.empty() && text.back() == '\n') {
    // Tolerate one final line end.
    text.remove_suffix(text.size() >= 2 && text[text.size() - 2] == '\r' ? 2 : 1);
  }
  FilterReply reply;
  reply.kind = ReplyKind::ReplyCode;
  std::size_t start = 0;
  for (;;) {
    const auto end = text.find("\r\n", start);
    const bool last = end == std::string_view::npos;
    std::string_view line = text.substr(start, last ? std::string_view::npos : end - start);
    if (reply.lines.size() == MaxReplyLines) {
      return Error{fmt::format("reply of more than {} lines", MaxReplyLines)};
    }
    if (line.size() < 3 || !isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2])) {
      return Error{"reply line without a 3-digit code"};
    }
    if (line[0] != '4' && line[0] != '5') {
      return Error{fmt::format("reply code {} is not 4xx or 5xx", line.substr(0, 3))};
    }
    const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (reply.code != 0 && code != reply.code) {
      return Error{"reply lines with different codes"};
    }
    reply.code = code;
    const char separator = line.size() > 3 ? line[3] : ' ';
    if (separator != (last ? ' ' : '-')) {
      return Error{last ? "last reply line marked as continued"
                        : "reply line not marked as continued"};
    }
    std::string_view rest = line.size() > 4 ? line.substr(4) : std::string_view{};
    const std::size_t enhanced = enhancedCodeLength(rest);
    if (enhanced != 0) {
      if (rest[0] != line[0]) {
        return Error{"enhanced status code of another class than the reply code"};
      }
      if (reply.enhanced.empty()) {
        reply.enhanced = std::string(rest.substr(0, enhanced));
      }
      rest.remove_prefix(std::min(rest.size(), enhanced + 1));
    } else if (reply.lines.empty()) {
      return Error{"reply without an enhanced status code"};
    }
    for (const char c : rest) {
      const auto byte = static_cast<unsigned char>(c);
      if ((byte < 32 && c != '\t') || byte == 127) {
        return Error{"control character in reply text"};
      }
    }
    reply.lines.push_back(unescapePercent(rest));
    if (last) {
      break;
    }
    start = end + 2;
  }
  return reply;
}

Result<FilterReply> decodeReply(const Packet& packet, char sent) {
  const bool end_of_message = sent == command::BodyEob;
  if (isModificationLetter(packet.command) && !end_of_message) {
    return Error{
        fmt::format("modification {} before the end of the message", letterName(packet.command))};
  }
  switch (packet.command) {
  case reply::Accept:
    return noData(packet, ReplyKind::Accept);
  case reply::Continue:
    return noData(packet, ReplyKind::Continue);
  case reply::Discard:
    if (sent == command::Connect || sent == command::Helo) {
      return Error{"discard is not an answer to connect or helo"};
    }
    return noData(packet, ReplyKind::Discard);
  case reply::Reject:
    return noData(packet, ReplyKind::Reject);
  case reply::Tempfail:
    return noData(packet, ReplyKind::Tempfail);
  case reply::Shutdown:
    return noData(packet, ReplyKind::Shutdown);
  case reply::Skip:
    return noData(packet, ReplyKind::Skip);
  case reply::Progress:
    return noData(packet, ReplyKind::Progress);
  case reply::ReplyCode: {
    std::string_view text = packet.data;
    if (text.empty() || text.back() != '\0') {
      return Error{"replycode without its NUL terminator"};
    }
    text.remove_suffix(1);
    if (text.find('\0') != std::string_view::npos) {
      return Error{"replycode with a NUL inside"};
    }
    auto parsed = parseReplyText(text);
    if (!parsed) {
      return Error{"replycode: " + parsed.error()};
    }
    return parsed;
  }
  case reply::AddHeader:
    return headerChange(packet, ReplyKind::AddHeader, false);
  case reply::InsHeader:
    return headerChange(packet, ReplyKind::InsertHeader, true);
  case reply::ChgHeader:
    return headerChange(packet, ReplyKind::ChangeHeader, true);
  case reply::AddRcpt:
    return addressChange(packet, ReplyKind::AddRcpt, false, false);
  case reply::AddRcptPar:
    return addressChange(packet, ReplyKind::AddRcptPar, true, false);
  case reply::DelRcpt:
    return addressChange(packet, ReplyKind::DelRcpt, false, false);
  case reply::ChgFrom:
    return addressChange(packet, ReplyKind::ChangeFrom, true, false);
  case reply::Quarantine: {
    auto strings = splitStrings(packet.data);
    if (!strings || strings->size() != 1) {
      return Error{"quarantine without exactly one NUL-terminated reason"};
    }
    FilterReply reply;
    reply.kind = ReplyKind::Quarantine;
    reply.name = std::move((*strings)[0]);
    return reply;
  }
  case reply::ReplBody: {
    FilterReply reply;
    reply.kind = ReplyKind::ReplaceBody;
    reply.body = packet.data;
    return reply;
  }
  default:
    return Error{fmt::format("unexpected reply {} to command {}", letterName(packet.command),
                             letterName(sent))};
  }
}

Result<OptNegReply> decodeOptNegReply(const Packet& packet) {
  if (packet.command != reply::OptNeg) {
    return Error{fmt::format("reply {} to option negotiation", letterName(packet.command))};
  }
  std::string_view data = packet.data;
  if (data.size() < 12) {
    return Error{"option negotiation reply shorter than 12 bytes"};
  }
  OptNegReply reply;
  reply.version = readUint32(data, 0);
  reply.actions = readUint32(data, 4);
  reply.steps = readUint32(data, 8);
  data.remove_prefix(12);
  while (!data.empty()) {
    if (data.size() < 5) {
      return Error{"truncated macro list in option negotiation"};
    }
    const std::uint32_t stage = readUint32(data);
    data.remove_prefix(4);
    const auto nul = data.find('\0');
    if (nul == std::string_view::npos) {
      return Error{"macro list without its NUL terminator"};
    }
    if (stage < MacroStageCount) {
      reply.macros[stage] = std::string(data.substr(0, nul));
    }
    data.remove_prefix(nul + 1);
  }
  return reply;
}

} // namespace upesi::milter
