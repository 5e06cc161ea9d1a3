#include "common/maildrop/dropped_message.hpp"

#include "common/mail/header.hpp"
#include "common/maildrop/drop_file.hpp"
#include "common/smtp/address_parser.hpp"
#include "common/util/text.hpp"

#include <fmt/format.h>

#include <cctype>

namespace upesi::maildrop {
namespace {

// "root" is root@me: an '@' outside a quoted local part qualifies an address already.
std::string qualified(std::string_view address, const std::string& me) {
  bool quoted = false;
  for (std::size_t i = 0; i < address.size(); ++i) {
    const char c = address[i];
    if (c == '\\' && quoted) {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == '@' && !quoted) {
      return std::string(address);
    }
  }
  return fmt::format("{}@{}", address, me);
}

std::string_view withoutBrackets(std::string_view address) {
  if (address.size() >= 2 && address.front() == '<' && address.back() == '>') {
    address.remove_prefix(1);
    address.remove_suffix(1);
  }
  return address;
}

// The -F name as a display name: a quoted string unless it is plain words.
std::string displayName(std::string_view name) {
  bool plain = true;
  for (unsigned char c : name) {
    if (!(std::isalnum(c) != 0 || c == ' ' || c == '-' || c == '\'' || c >= 0x80)) {
      plain = false;
    }
  }
  if (plain) {
    return std::string(name);
  }
  std::string out = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + "\"";
}

} // namespace

HeaderSplit splitHeader(std::string_view message) {
  HeaderSplit out;
  std::size_t pos = 0;
  bool first = true;
  while (pos < message.size()) {
    const auto end = message.find('\n', pos);
    const auto line_end = end == std::string_view::npos ? message.size() : end + 1;
    std::string_view line = message.substr(pos, line_end - pos);
    std::string_view content = line;
    if (content.ends_with('\n')) {
      content.remove_suffix(1);
    }
    if (content.ends_with('\r')) {
      content.remove_suffix(1);
    }
    if (content.empty()) {
      out.header = message.substr(0, pos);
      out.body = message.substr(line_end);
      out.has_separator = true;
      return out;
    }
    const bool folds = !first && (content.front() == ' ' || content.front() == '\t');
    const auto colon = content.find(':');
    const bool field = colon != std::string_view::npos &&
                       mail::Header::validName(text::trim(content.substr(0, colon)));
    if (!folds && !field) {
      break;
    }
    first = false;
    pos = line_end;
  }
  out.header = message.substr(0, pos);
  out.body = message.substr(pos);
  return out;
}

Result<DroppedMessage> readDroppedMessage(std::string_view file, const std::string& me,
                                          std::uint64_t max_message_size) {
  auto drop = parseDropFile(file);
  if (!drop) {
    return Error{drop.error()};
  }
  const Envelope& envelope = drop->envelope;
  const std::string_view message = file.substr(drop->message_offset);
  if (max_message_size > 0 && message.size() > max_message_size) {
    return Error{fmt::format("the message is {} bytes, over smtp.ini max_message_size ({})",
                             message.size(), max_message_size)};
  }
  DroppedMessage out;
  out.notes = {{"local_submission", {{"uid", envelope.uid}, {"user", envelope.user}}}};
  const std::string user_address = qualified(envelope.user, me);

  const std::string_view from = withoutBrackets(envelope.from);
  if (from.empty()) {
    out.from.original = "<>";
    out.from.is_null = true;
  } else if (auto parsed = smtp::parsePath(qualified(from, me), smtp::PathKind::Reverse)) {
    out.from = std::move(parsed).value();
  } else {
    return Error{fmt::format("the sender \"{}\" is not an address: {}", from, parsed.error())};
  }
  for (const auto& rcpt : envelope.to) {
    auto parsed = smtp::parsePath(qualified(withoutBrackets(rcpt), me), smtp::PathKind::Forward);
    if (!parsed || parsed->host.empty()) {
      out.bad_recipients.push_back(
          fmt::format("\"{}\": {}", rcpt, parsed ? "no domain" : parsed.error()));
      continue;
    }
    out.to.push_back(std::move(parsed).value());
  }
  if (out.to.empty()) {
    return Error{"no recipient is an address"};
  }

  const HeaderSplit split = splitHeader(message);
  auto header = mail::Header::parse(split.header);
  if (header.getAll("From").empty()) {
    const std::string value =
        envelope.full_name.empty()
            ? user_address
            : fmt::format("{} <{}>", displayName(envelope.full_name), user_address);
    if (auto added = header.add("From", value); !added) {
      // A name that cannot be a field value: the address alone.
      (void)header.add("From", user_address);
    }
  }
  (void)header.addLeading("Received", fmt::format("by {} (Upesi sendmail, from userid {});\r\n\t{}",
                                                  me, envelope.uid, rfc5322Now()));
  out.message = header.serialize();
  out.message += "\r\n";
  out.message.append(split.body);
  return out;
}

} // namespace upesi::maildrop
