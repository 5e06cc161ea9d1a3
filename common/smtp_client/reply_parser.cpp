#include "common/smtp_client/reply_parser.hpp"

#include "common/util/ascii.hpp"

#include <fmt/format.h>

namespace upesi::smtp_client {

namespace {

// Text fit for a log line or a bounce: control characters (TAB aside) become '?'.
std::string cleanText(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) {
      c = '?';
    }
  }
  return out;
}

} // namespace

std::size_t enhancedCodeLength(std::string_view text) {
  // class "." subject (1-3 digits) "." detail (1-3 digits), then a space or the end
  if (text.size() < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.') {
    return 0;
  }
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t start = i;
    while (i < text.size() && ascii::isDigit(text[i])) {
      ++i;
    }
    if (i == start || i - start > 3) {
      return 0;
    }
    if (part == 0) {
      if (i >= text.size() || text[i] != '.') {
        return 0;
      }
      ++i;
    }
  }
  return (i == text.size() || text[i] == ' ') ? i : 0;
}

std::string ServerReply::text() const {
  std::string out;
  for (const auto& line : lines) {
    if (!out.empty()) {
      out += ' ';
    }
    out += line;
  }
  return out;
}

std::string ServerReply::describe() const {
  // Bounded: a reason goes into logs and bounces, a 1000-line reply does not.
  constexpr std::size_t MaxLines = 4;
  constexpr std::size_t MaxBytes = 512;
  std::string out = fmt::format("{}", code);
  if (!enhanced.empty()) {
    out += ' ';
    out += enhanced;
  }
  for (std::size_t i = 0; i < lines.size() && i < MaxLines; ++i) {
    if (!lines[i].empty()) {
      out += ' ';
      out += lines[i];
    }
  }
  if (out.size() > MaxBytes) {
    out.resize(MaxBytes);
    out += "...";
  } else if (lines.size() > MaxLines) {
    out += " ...";
  }
  return out;
}

Result<std::size_t> ReplyParser::feed(std::string_view bytes, std::vector<ServerReply>& out) {
  if (failed()) {
    return Error{error_};
  }
  std::size_t completed = 0;
  while (!bytes.empty()) {
    auto lf = bytes.find('\n');
    if (lf == std::string_view::npos) {
      // +1: the CR of a CRLF may already be here, its LF not yet.
      if (partial_.size() + bytes.size() > limits_.max_line + 1) {
        error_ = fmt::format("reply line longer than {} bytes", limits_.max_line);
        return Error{error_};
      }
      partial_.append(bytes);
      break;
    }
    std::string_view piece = bytes.substr(0, lf);
    bytes.remove_prefix(lf + 1);
    std::string joined;
    std::string_view line = piece;
    if (!partial_.empty()) {
      joined = std::move(partial_);
      partial_.clear();
      joined.append(piece);
      line = joined;
    }
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.size() > limits_.max_line) {
      error_ = fmt::format("reply line longer than {} bytes", limits_.max_line);
      return Error{error_};
    }
    if (takeLine(line, out)) {
      ++completed;
    }
    if (failed()) {
      return Error{error_};
    }
  }
  return completed;
}

bool ReplyParser::takeLine(std::string_view line, std::vector<ServerReply>& out) {
  if (line.size() < 3 || line[0] < '2' || line[0] > '5' || !ascii::isDigit(line[1]) ||
      !ascii::isDigit(line[2])) {
    error_ = fmt::format("malformed reply line \"{}\"", cleanText(line.substr(0, 64)));
    return false;
  }
  bool last = true;
  if (line.size() > 3) {
    if (line[3] == '-') {
      last = false;
    } else if (line[3] != ' ') {
      error_ = fmt::format("malformed reply line \"{}\"", cleanText(line.substr(0, 64)));
      return false;
    }
  }
  int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};

  if (current_.lines.empty()) {
    current_.code = code;
    std::size_t n = enhancedCodeLength(text);
    if (n > 0 && text[0] == line[0]) { // RFC 3463: the class is the reply's first digit
      current_.enhanced = std::string(text.substr(0, n));
    }
  } else if (code != current_.code) {
    error_ = fmt::format("reply code changed from {} to {} within one reply", current_.code, code);
    return false;
  }
  if (current_.lines.size() >= limits_.max_lines) {
    error_ = fmt::format("reply longer than {} lines", limits_.max_lines);
    return false;
  }
  if (!current_.enhanced.empty() && text.starts_with(current_.enhanced) &&
      enhancedCodeLength(text) == current_.enhanced.size()) {
    text.remove_prefix(current_.enhanced.size());
    if (!text.empty()) {
      text.remove_prefix(1); // the space after it
    }
  }
  current_.lines.push_back(cleanText(text));
  if (!last) {
    return false;
  }
  out.push_back(std::move(current_));
  current_ = ServerReply{};
  return true;
}

} // namespace upesi::smtp_client
