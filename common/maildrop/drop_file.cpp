#include "common/maildrop/drop_file.hpp"

#include <fmt/format.h>

#include <charconv>

namespace upesi::maildrop {
namespace {

constexpr std::string_view FirstLine = "UPESI-DROP 1";

bool fieldOk(std::string_view value) {
  return value.size() <= MaxFieldBytes &&
         value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

} // namespace

Result<std::string> serializeEnvelope(const Envelope& envelope) {
  if (envelope.to.empty()) {
    return Error{"no recipients"};
  }
  if (envelope.to.size() > MaxRecipients) {
    return Error{fmt::format("more than {} recipients", MaxRecipients)};
  }
  std::string out = fmt::format("{}\nuid {}\n", FirstLine, envelope.uid);
  auto add = [&out](std::string_view key, std::string_view value) -> Result<std::monostate> {
    if (!fieldOk(value)) {
      return Error{fmt::format("the {} \"{}\" is too long or holds a line break or NUL", key,
                               value.substr(0, 80))};
    }
    out += fmt::format("{} {}\n", key, value);
    return std::monostate{};
  };
  if (auto ok = add("user", envelope.user); !ok) {
    return Error{ok.error()};
  }
  if (auto ok = add("from", envelope.from); !ok) {
    return Error{ok.error()};
  }
  if (!envelope.full_name.empty()) {
    if (auto ok = add("name", envelope.full_name); !ok) {
      return Error{ok.error()};
    }
  }
  for (const auto& rcpt : envelope.to) {
    if (rcpt.empty()) {
      return Error{"an empty recipient"};
    }
    if (auto ok = add("to", rcpt); !ok) {
      return Error{ok.error()};
    }
  }
  if (out.size() > MaxEnvelopeBytes) {
    return Error{fmt::format("the envelope is over {} bytes", MaxEnvelopeBytes)};
  }
  out += '\n';
  return out;
}

Result<DropFile> parseDropFile(std::string_view bytes) {
  DropFile out;
  bool have_uid = false;
  bool have_user = false;
  bool have_from = false;
  std::size_t pos = 0;
  for (std::size_t line_number = 1;; ++line_number) {
    if (pos >= MaxEnvelopeBytes) {
      return Error{fmt::format("no end of the envelope within {} bytes", MaxEnvelopeBytes)};
    }
    const auto end = bytes.find('\n', pos);
    if (end == std::string_view::npos) {
      return Error{"the envelope has no end (a truncated file)"};
    }
    const auto line = bytes.substr(pos, end - pos);
    pos = end + 1;
    if (line_number == 1) {
      if (line != FirstLine) {
        return Error{"not a drop file (its first line is not \"UPESI-DROP 1\")"};
      }
      continue;
    }
    if (line.empty()) {
      break;
    }
    const auto space = line.find(' ');
    if (space == std::string_view::npos) {
      return Error{fmt::format("line {}: no value", line_number)};
    }
    const auto key = line.substr(0, space);
    const auto value = line.substr(space + 1);
    if (!fieldOk(value)) {
      return Error{fmt::format("line {}: the value is too long or holds CR or NUL", line_number)};
    }
    if (key == "uid") {
      const auto* last = value.data() + value.size();
      auto [ptr, ec] = std::from_chars(value.data(), last, out.envelope.uid);
      if (ec != std::errc() || ptr != last || value.empty()) {
        return Error{fmt::format("line {}: uid is not a number", line_number)};
      }
      have_uid = true;
    } else if (key == "user") {
      out.envelope.user = std::string(value);
      have_user = true;
    } else if (key == "from") {
      out.envelope.from = std::string(value);
      have_from = true;
    } else if (key == "name") {
      out.envelope.full_name = std::string(value);
    } else if (key == "to") {
      if (value.empty()) {
        return Error{fmt::format("line {}: an empty recipient", line_number)};
      }
      if (out.envelope.to.size() == MaxRecipients) {
        return Error{fmt::format("more than {} recipients", MaxRecipients)};
      }
      out.envelope.to.emplace_back(value);
    } else {
      return Error{fmt::format("line {}: unknown field \"{}\"", line_number, key.substr(0, 40))};
    }
  }
  if (!have_uid || !have_user || !have_from) {
    return Error{"the envelope lacks uid, user or from"};
  }
  if (out.envelope.to.empty()) {
    return Error{"the envelope has no recipients"};
  }
  out.message_offset = pos;
  return out;
}

bool isFinishedName(std::string_view name) {
  return name.size() > 2 && name.starts_with("d.");
}

bool isTemporaryName(std::string_view name) {
  return name.size() > 2 && name.starts_with("t.");
}

} // namespace upesi::maildrop
