#include "common/mta_sts/policy.hpp"

#include "common/util/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace upesi::mta_sts {
namespace {

bool isWsp(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trimWsp(std::string_view s) {
  while (!s.empty() && isWsp(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && isWsp(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

bool isAlnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

// RFC 8461 3.1 sts-ext-name and sts-ext-value.
bool validExtension(std::string_view name, std::string_view value) {
  if (name.empty() || name.size() > 32 || !isAlnum(name.front()) ||
      !std::all_of(name.begin(), name.end(),
                   [](char c) { return isAlnum(c) || c == '_' || c == '-' || c == '.'; })) {
    return false;
  }
  return !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x21 && u <= 0x7E && c != ';' && c != '=';
  });
}

// "v=STSv1; id=...; ext=..." -> the id, if the record is well formed.
std::optional<std::string> idOf(std::string_view record) {
  std::optional<std::string> id;
  bool first = true;
  while (!record.empty()) {
    auto semi = record.find(';');
    std::string_view field = trimWsp(record.substr(0, semi));
    record = semi == std::string_view::npos ? std::string_view() : record.substr(semi + 1);
    if (field.empty()) {
      if (first || !trimWsp(record).empty()) {
        return std::nullopt; // an empty field between delimiters
      }
      break; // the optional trailing ";"
    }
    auto eq = field.find('=');
    if (eq == std::string_view::npos) {
      return std::nullopt;
    }
    std::string_view name = field.substr(0, eq);
    std::string_view value = field.substr(eq + 1);
    if (first) {
      if (field != "v=STSv1") {
        return std::nullopt;
      }
      first = false;
      continue;
    }
    if (name == "id") {
      if (id || value.empty() || value.size() > 32 ||
          !std::all_of(value.begin(), value.end(), isAlnum)) {
        return std::nullopt;
      }
      id = std::string(value);
    } else if (!validExtension(name, value)) {
      return std::nullopt;
    }
  }
  return id;
}

// RFC 8461 3.2 sts-policy-mx-value: a host name, or "*." and one.
bool validMxPattern(std::string_view pattern) {
  if (pattern.starts_with("*.")) {
    pattern.remove_prefix(2);
  }
  if (pattern.empty() || pattern.size() > 253 || pattern.back() == '.') {
    return false;
  }
  std::size_t label = 0;
  for (char c : pattern) {
    if (c == '.') {
      if (label == 0) {
        return false;
      }
      label = 0;
      continue;
    }
    if (!isAlnum(c) && c != '-' && c != '_') {
      return false;
    }
    if (++label > 63) {
      return false;
    }
  }
  return label > 0;
}

} // namespace

const char* toString(Mode mode) {
  switch (mode) {
  case Mode::Enforce:
    return "enforce";
  case Mode::Testing:
    return "testing";
  case Mode::None:
    return "none";
  }
  return "?";
}

bool Policy::matches(std::string_view name) const {
  std::string host = text::toLower(name);
  if (!host.empty() && host.back() == '.') {
    host.pop_back();
  }
  return std::any_of(mx.begin(), mx.end(), [&host](const std::string& pattern) {
    if (!pattern.starts_with("*.")) {
      return pattern == host;
    }
    // One label, then the rest: "*.example.net" takes "mx.example.net", not "a.b.example.net"
    // nor "example.net".
    auto dot = host.find('.');
    return dot != std::string::npos && dot > 0 &&
           std::string_view(host).substr(dot + 1) == std::string_view(pattern).substr(2);
  });
}

std::optional<std::string> recordId(const std::vector<std::string>& txt_records) {
  std::optional<std::string> found;
  int candidates = 0;
  for (const auto& record : txt_records) {
    std::string_view r = record;
    if (!r.starts_with("v=STSv1") || trimWsp(r.substr(7)).substr(0, 1) != ";") {
      continue; // not an MTA-STS record: discarded (RFC 8461 3.1)
    }
    ++candidates;
    found = idOf(r);
  }
  if (candidates != 1) {
    return std::nullopt;
  }
  return found;
}

Result<Policy> parsePolicy(std::string_view text) {
  if (text.size() > MaxPolicyBytes) {
    return Error{fmt::format("the policy has {} bytes, more than {}", text.size(), MaxPolicyBytes)};
  }
  Policy policy;
  std::optional<std::string> version;
  std::optional<Mode> mode;
  std::optional<std::uint32_t> max_age;
  std::size_t line_number = 0;
  while (!text.empty()) {
    auto lf = text.find('\n');
    std::string_view line = text.substr(0, lf);
    text = lf == std::string_view::npos ? std::string_view() : text.substr(lf + 1);
    ++line_number;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    line = trimWsp(line);
    if (line.empty()) {
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      return Error{fmt::format("line {}: no \"key: value\"", line_number)};
    }
    std::string_view key = trimWsp(line.substr(0, colon));
    std::string_view value = trimWsp(line.substr(colon + 1));
    if (key == "version") {
      if (!version) {
        version = std::string(value);
      }
    } else if (key == "mode") {
      if (mode) {
        continue; // the first one counts
      }
      if (value == "enforce") {
        mode = Mode::Enforce;
      } else if (value == "testing") {
        mode = Mode::Testing;
      } else if (value == "none") {
        mode = Mode::None;
      } else {
        return Error{fmt::format("line {}: mode \"{}\" is not enforce, testing or none",
                                 line_number, value)};
      }
    } else if (key == "max_age") {
      if (max_age) {
        continue;
      }
      if (value.empty() || value.size() > 10 ||
          !std::all_of(value.begin(), value.end(),
                       [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        return Error{fmt::format("line {}: max_age \"{}\" is not a number", line_number, value)};
      }
      max_age = static_cast<std::uint32_t>(
          std::min<std::uint64_t>(std::stoull(std::string(value)), MaxAge));
    } else if (key == "mx") {
      std::string pattern = text::toLower(value);
      if (!validMxPattern(pattern)) {
        return Error{
            fmt::format("line {}: mx \"{}\" is not a host name pattern", line_number, value)};
      }
      policy.mx.push_back(std::move(pattern));
    }
    // Other keys are extensions: ignored (RFC 8461 3.2).
  }
  if (version != "STSv1") {
    return Error{version ? fmt::format("version \"{}\" is not STSv1", *version)
                         : std::string("no version")};
  }
  if (!mode) {
    return Error{"no mode"};
  }
  if (!max_age) {
    return Error{"no max_age"};
  }
  if (*mode != Mode::None && policy.mx.empty()) {
    return Error{"no mx"};
  }
  policy.mode = *mode;
  policy.max_age = *max_age;
  return policy;
}

} // namespace upesi::mta_sts
