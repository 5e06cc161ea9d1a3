#include "plugins/spamassassin/spamd_reply.hpp"

#include <upesi/text.hpp>

#include <charconv>
#include <cstddef>

namespace upesi::plugins::spamassassin {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && text::equalsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

// A number as spamd writes a score: optional minus, digits, optional fraction.
bool isScore(std::string_view s) {
  if (!s.empty() && s.front() == '-') {
    s.remove_prefix(1);
  }
  bool digits = false;
  bool dot = false;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      digits = true;
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      return false;
    }
  }
  return digits;
}

// "SPAMD/1.1 0 EX_OK"
void parseStatusLine(std::string_view line, SpamdReply& reply) {
  reply.line0 = std::string(line);
  if (!line.starts_with("SPAMD/")) {
    return;
  }
  const auto space = line.find(' ');
  if (space == std::string_view::npos) {
    return;
  }
  auto rest = line.substr(space + 1);
  const auto end = rest.find(' ');
  auto number = rest.substr(0, end);
  int code = 0;
  auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), code);
  if (number.empty() || ec != std::errc() || ptr != number.data() + number.size()) {
    return;
  }
  reply.status = code;
  reply.message = end == std::string_view::npos ? "" : std::string(trim(rest.substr(end + 1)));
}

// "True ; 15.0 / 5.0"
void parseSpamLine(std::string_view value, SpamdReply& reply) {
  const auto semicolon = value.find(';');
  const auto slash = value.find('/');
  if (semicolon == std::string_view::npos || slash == std::string_view::npos || slash < semicolon) {
    return;
  }
  auto verdict = trim(value.substr(0, semicolon));
  auto score = trim(value.substr(semicolon + 1, slash - semicolon - 1));
  auto required = trim(value.substr(slash + 1));
  const bool yes =
      text::equalsIgnoreCase(verdict, "True") || text::equalsIgnoreCase(verdict, "Yes");
  const bool no = text::equalsIgnoreCase(verdict, "False") || text::equalsIgnoreCase(verdict, "No");
  if ((!yes && !no) || !isScore(score) || !isScore(required)) {
    return;
  }
  reply.flag = yes;
  reply.score = std::string(score);
  reply.required = std::string(required);
}

// A field name's characters after "X-Spam-": printable ASCII but the colon.
bool validNameChar(char c) {
  return c >= 0x21 && c <= 0x7E && c != ':';
}

std::string withoutSpace(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
      out += c;
    }
  }
  return out;
}

// Status's tests=A,B,C: up to a space or "autolearn" (which SpamAssassin may write with no
// space before it once the field is unfolded).
std::string testsFromStatus(const std::string& status) {
  std::string flat;
  for (std::size_t i = 0; i < status.size(); ++i) {
    if (status.compare(i, 3, "\r\n\t") == 0) {
      i += 2;
      continue;
    }
    if (status[i] == '\n' && i + 1 < status.size() && status[i + 1] == '\t') {
      i += 1;
      continue;
    }
    flat += status[i];
  }
  const auto at = flat.find("tests=");
  if (at == std::string::npos) {
    return {};
  }
  std::string tests;
  for (std::size_t i = at + 6; i < flat.size() && flat[i] != ' '; ++i) {
    if (flat.compare(i, 9, "autolearn") == 0) {
      break;
    }
    tests += flat[i];
  }
  return tests;
}

} // namespace

const std::string* SpamdReply::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) {
      return &value;
    }
  }
  return nullptr;
}

SpamdReply parseSpamdReply(std::string_view raw) {
  SpamdReply reply;
  enum class State { Line0, Response, Headers } state = State::Line0;
  std::string* last = nullptr; // the field a folded line continues
  while (!raw.empty()) {
    const auto newline = raw.find('\n');
    std::string_view line = raw.substr(0, newline);
    raw.remove_prefix(newline == std::string_view::npos ? raw.size() : newline + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    switch (state) {
    case State::Line0:
      parseStatusLine(line, reply);
      state = State::Response;
      break;
    case State::Response:
      if (trim(line).empty()) {
        state = State::Headers;
      } else if (startsWithNoCase(line, "Spam:")) {
        parseSpamLine(line.substr(5), reply);
      }
      break;
    case State::Headers: {
      if (startsWithNoCase(line, "X-Spam-")) {
        auto rest = line.substr(7);
        const auto colon = rest.find(':');
        auto name = rest.substr(0, colon);
        bool valid = colon != std::string_view::npos && !name.empty();
        for (char c : name) {
          valid = valid && validNameChar(c);
        }
        if (valid) {
          std::string value(trim(rest.substr(colon + 1)));
          last = nullptr;
          for (auto& [key, existing] : reply.headers) {
            if (key == name) {
              existing = std::move(value);
              last = &existing;
            }
          }
          if (last == nullptr) {
            reply.headers.emplace_back(std::string(name), std::move(value));
            last = &reply.headers.back().second;
          }
          break;
        }
      }
      if (last != nullptr && !line.empty() && (line.front() == ' ' || line.front() == '\t')) {
        *last += "\r\n";
        *last += line;
        break;
      }
      last = nullptr;
      break;
    }
    }
  }
  if (const auto* tests = reply.header("Tests")) {
    reply.tests = withoutSpace(*tests);
  } else if (const auto* status = reply.header("Status")) {
    reply.tests = testsFromStatus(*status);
  }
  return reply;
}

bool spamdReplyComplete(std::string_view raw) {
  auto end = raw.find("\r\n\r\n");
  std::size_t body = end == std::string_view::npos ? 0 : end + 4;
  if (end == std::string_view::npos) {
    end = raw.find("\n\n");
    if (end == std::string_view::npos) {
      return false;
    }
    body = end + 2;
  }
  auto head = raw.substr(0, end);
  while (!head.empty()) {
    const auto newline = head.find('\n');
    auto line = trim(head.substr(0, newline));
    head.remove_prefix(newline == std::string_view::npos ? head.size() : newline + 1);
    if (startsWithNoCase(line, "Content-length:")) {
      auto number = trim(line.substr(15));
      std::size_t length = 0;
      auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), length);
      if (ec != std::errc() || ptr != number.data() + number.size()) {
        return false;
      }
      return raw.size() - body >= length;
    }
  }
  return false;
}

} // namespace upesi::plugins::spamassassin
