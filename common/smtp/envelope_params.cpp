#include "common/smtp/envelope_params.hpp"

#include "common/util/text.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace upesi::smtp {

namespace {

// RFC 5322 atom text, which addr-type is (RFC 3461 4.2).
bool isAtom(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      return true;
    }
    return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
  });
}

} // namespace

Result<std::string> decodeXtext(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == '+') {
      if (i + 2 >= text.size()) {
        return Error{"xtext: '+' must be followed by two hex digits"};
      }
      const int high = text::hexDigitValue(text[i + 1]);
      const int low = text::hexDigitValue(text[i + 2]);
      if (high < 0 || low < 0) {
        return Error{"xtext: '+' must be followed by two hex digits"};
      }
      const auto decoded = static_cast<unsigned char>(high * 16 + low);
      if (decoded < 0x20 || decoded > 0x7E) {
        return Error{"xtext: only printable ASCII may be encoded"};
      }
      out += static_cast<char>(decoded);
      i += 2;
      continue;
    }
    if (byte < 33 || byte > 126 || byte == '=') {
      return Error{"xtext: invalid character"};
    }
    out += static_cast<char>(byte);
  }
  return out;
}

std::string encodeXtext(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 33 || byte > 126 || c == '+' || c == '=') {
      out += fmt::format("+{:02X}", byte);
    } else {
      out += c;
    }
  }
  return out;
}

Result<DsnReturn> parseDsnRet(std::string_view value) {
  const std::string upper = text::toUpper(value);
  if (upper == "FULL") {
    return DsnReturn::Full;
  }
  if (upper == "HDRS") {
    return DsnReturn::Headers;
  }
  return Error{"RET must be FULL or HDRS"};
}

Result<std::string> parseDsnEnvid(std::string_view value) {
  if (value.empty()) {
    return Error{"ENVID requires a value"};
  }
  if (value.size() > MaxEnvidLength) {
    return Error{fmt::format("ENVID longer than {} characters", MaxEnvidLength)};
  }
  auto decoded = decodeXtext(value);
  if (!decoded) {
    return Error{fmt::format("ENVID {}", decoded.error())};
  }
  return decoded;
}

Result<DsnNotify> parseDsnNotify(std::string_view value) {
  if (value.empty()) {
    return Error{"NOTIFY requires a value"};
  }
  DsnNotify notify;
  notify.given = true;
  std::size_t pos = 0;
  while (pos <= value.size()) {
    std::size_t comma = value.find(',', pos);
    if (comma == std::string_view::npos) {
      comma = value.size();
    }
    const std::string word = text::toUpper(value.substr(pos, comma - pos));
    bool* flag = word == "NEVER"     ? &notify.never
                 : word == "SUCCESS" ? &notify.success
                 : word == "FAILURE" ? &notify.failure
                 : word == "DELAY"   ? &notify.delay
                                     : nullptr;
    if (flag == nullptr) {
      return Error{"NOTIFY must be NEVER, or a list of SUCCESS, FAILURE and DELAY"};
    }
    if (*flag) {
      return Error{fmt::format("NOTIFY names {} twice", word)};
    }
    *flag = true;
    pos = comma + 1;
  }
  if (notify.never && (notify.success || notify.failure || notify.delay)) {
    return Error{"NOTIFY=NEVER cannot be combined with other values"};
  }
  return notify;
}

std::string formatDsnNotify(const DsnNotify& notify) {
  if (!notify.given) {
    return {};
  }
  if (notify.never) {
    return "NEVER";
  }
  std::string out;
  for (const auto& [flag, word] :
       {std::pair{notify.success, "SUCCESS"}, std::pair{notify.failure, "FAILURE"},
        std::pair{notify.delay, "DELAY"}}) {
    if (flag) {
      out += out.empty() ? "" : ",";
      out += word;
    }
  }
  return out;
}

Result<std::monostate> parseDsnOrcpt(std::string_view value, RcptOptions& options) {
  if (value.size() > MaxOrcptLength) {
    return Error{fmt::format("ORCPT longer than {} characters", MaxOrcptLength)};
  }
  const std::size_t semicolon = value.find(';');
  if (semicolon == std::string_view::npos) {
    return Error{"ORCPT must be addr-type;address"};
  }
  const std::string_view type = value.substr(0, semicolon);
  if (!isAtom(type)) {
    return Error{"ORCPT address type is not an atom"};
  }
  auto address = decodeXtext(value.substr(semicolon + 1));
  if (!address) {
    return Error{fmt::format("ORCPT {}", address.error())};
  }
  if (address->empty()) {
    return Error{"ORCPT address is empty"};
  }
  options.orcpt_type = std::string(type);
  options.orcpt_address = std::move(*address);
  return std::monostate{};
}

Result<int> parseMtPriority(std::string_view value) {
  std::string_view digits = value;
  bool negative = false;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  if (digits.size() != 1 || digits.front() < '0' || digits.front() > '9') {
    return Error{"MT-PRIORITY must be a number from -9 to 9"};
  }
  const int priority = digits.front() - '0';
  return negative ? -priority : priority;
}

bool isMtPriorityPolicy(std::string_view policy) {
  return policy == "MIXER" || policy == "STANAG4406" || policy == "NSEP";
}

} // namespace upesi::smtp
