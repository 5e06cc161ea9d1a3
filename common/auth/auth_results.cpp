#include "common/auth/auth_results.hpp"

#include "common/util/ascii.hpp"

#include <fmt/format.h>

namespace upesi::auth {
namespace {

bool isControl(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

// RFC 2045 tspecials.
bool isTspecial(char c) {
  return std::string_view("()<>@,;:\\\"/[]?=").find(c) != std::string_view::npos;
}

// An RFC 2045 token character; when `reading`, bytes of UTF-8 too (RFC 6532).
bool isTokenChar(char c, bool reading = false) {
  if (ascii::isNonAscii(c)) {
    return reading;
  }
  return c != ' ' && !isControl(c) && !isTspecial(c);
}

bool isToken(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  for (char c : text) {
    if (!isTokenChar(c)) {
      return false;
    }
  }
  return true;
}

// RFC 5322 atext.
bool isAtext(char c) {
  return ascii::isLetter(c) || ascii::isDigit(c) ||
         std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool isDotAtom(std::string_view text) {
  if (text.empty() || text.front() == '.' || text.back() == '.') {
    return false;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '.') {
      if (text[i + 1] == '.') {
        return false;
      }
    } else if (!isAtext(text[i])) {
      return false;
    }
  }
  return true;
}

bool isDomainName(std::string_view text) {
  if (text.empty() || text.front() == '.' || text.back() == '.') {
    return false;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.') {
      if (text[i + 1] == '.') {
        return false;
      }
    } else if (!ascii::isLetter(c) && !ascii::isDigit(c) && c != '-' && c != '_') {
      return false;
    }
  }
  return true;
}

// pvalue: a token, or [ [ local-part ] "@" ] domain-name (RFC 8601 section 2.2).
bool isBareValue(std::string_view value) {
  if (isToken(value)) {
    return true;
  }
  const std::size_t at = value.rfind('@');
  if (at == std::string_view::npos) {
    return false;
  }
  const std::string_view local = value.substr(0, at);
  return (local.empty() || isDotAtom(local)) && isDomainName(value.substr(at + 1));
}

std::string quoted(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    if (isControl(c)) {
      continue;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  out += '"';
  return out;
}

std::string valueText(std::string_view value) {
  return isBareValue(value) ? std::string(value) : quoted(value);
}

std::string keyword(std::string_view word) {
  std::string out;
  for (char c : word) {
    if (ascii::isLetter(c) || ascii::isDigit(c) || c == '-' || c == '_' || c == '.') {
      out += c;
    }
  }
  return out.empty() ? "unknown" : out;
}

std::string comment(std::string_view text) {
  std::string out = "(";
  for (char c : text) {
    if (isControl(c)) {
      continue;
    }
    if (c == '(' || c == ')' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  out += ')';
  return out;
}

class Folder {
public:
  explicit Folder(std::size_t column) : column_(column) {}

  void add(const std::string& piece) {
    if (!out_.empty()) {
      if (column_ + 1 + piece.size() > AuthResultsLineWidth) {
        out_ += "\r\n\t";
        column_ = 8;
      } else {
        out_ += ' ';
        ++column_;
      }
    }
    out_ += piece;
    column_ += piece.size();
  }
  std::string take() { return std::move(out_); }

private:
  std::string out_;
  std::size_t column_;
};

// Skips whitespace (folding included) and comments from `pos`; false on an unterminated comment.
bool skipCfws(std::string_view text, std::size_t& pos) {
  while (pos < text.size()) {
    const char c = text[pos];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++pos;
    } else if (c == '(') {
      std::size_t depth = 0;
      while (true) {
        if (pos >= text.size()) {
          return false;
        }
        const char d = text[pos++];
        if (d == '\\') {
          if (pos >= text.size()) {
            return false;
          }
          ++pos;
        } else if (d == '(') {
          ++depth;
        } else if (d == ')') {
          if (--depth == 0) {
            break;
          }
        }
      }
    } else {
      break;
    }
  }
  return true;
}

} // namespace

std::string buildAuthResults(std::string_view authserv_id, const std::vector<MethodResult>& results,
                             std::size_t name_length) {
  Folder folder(name_length);
  const std::string id = isToken(authserv_id) ? std::string(authserv_id) : quoted(authserv_id);
  if (results.empty()) {
    folder.add(id + ";");
    folder.add("none");
    return folder.take();
  }
  folder.add(id + ";");
  for (std::size_t r = 0; r < results.size(); ++r) {
    const MethodResult& result = results[r];
    std::vector<std::string> pieces;
    std::string head = keyword(result.method);
    if (result.version) {
      head += fmt::format("/{}", *result.version < 0 ? 0 : *result.version);
    }
    head += '=';
    head += keyword(result.result);
    pieces.push_back(std::move(head));
    if (!result.comment.empty()) {
      pieces.push_back(comment(result.comment));
    }
    if (!result.reason.empty()) {
      pieces.push_back("reason=" + quoted(result.reason));
    }
    for (const ResultProperty& property : result.properties) {
      pieces.push_back(fmt::format("{}.{}={}", keyword(property.type), keyword(property.name),
                                   valueText(property.value)));
    }
    if (r + 1 < results.size()) {
      pieces.back() += ';';
    }
    for (const std::string& piece : pieces) {
      folder.add(piece);
    }
  }
  return folder.take();
}

std::optional<std::string> authservId(std::string_view value) {
  if (value.size() > MaxAuthResultsValue) {
    return std::nullopt;
  }
  std::size_t pos = 0;
  if (!skipCfws(value, pos) || pos >= value.size()) {
    return std::nullopt;
  }
  std::string id;
  if (value[pos] == '"') {
    ++pos;
    while (true) {
      if (pos >= value.size()) {
        return std::nullopt;
      }
      const char c = value[pos++];
      if (c == '"') {
        break;
      }
      if (c == '\\') {
        if (pos >= value.size()) {
          return std::nullopt;
        }
        id += value[pos++];
      } else if (c != '\r' && c != '\n') {
        id += c;
      }
    }
  } else {
    while (pos < value.size() && isTokenChar(value[pos], true)) {
      id += value[pos++];
    }
  }
  if (id.empty()) {
    return std::nullopt;
  }
  const std::size_t before_space = pos;
  if (!skipCfws(value, pos)) {
    return std::nullopt;
  }
  if (pos > before_space && pos < value.size() && ascii::isDigit(value[pos])) {
    while (pos < value.size() && ascii::isDigit(value[pos])) {
      ++pos;
    }
    if (!skipCfws(value, pos)) {
      return std::nullopt;
    }
  }
  if (pos < value.size() && value[pos] != ';') {
    return std::nullopt;
  }
  return id;
}

} // namespace upesi::auth
