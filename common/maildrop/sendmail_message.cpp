#include "common/maildrop/sendmail_message.hpp"

#include "common/mail/header.hpp"
#include "common/maildrop/address_list.hpp"
#include "common/maildrop/dropped_message.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace upesi::maildrop {

Result<std::string> readMessage(std::FILE* in, bool dot_ends_message, std::uint64_t max_bytes) {
  std::string message;
  std::size_t line_start = 0;
  int c = 0;
  while ((c = getc_unlocked(in)) != EOF) {
    if (message.size() >= max_bytes) {
      return Error{
          fmt::format("the message is over {} bytes (smtp.ini max_message_size)", max_bytes)};
    }
    message += static_cast<char>(c);
    if (c != '\n') {
      continue;
    }
    if (dot_ends_message) {
      const std::string_view line = std::string_view(message).substr(line_start);
      if (line == ".\n" || line == ".\r\n") {
        message.resize(line_start);
        return message;
      }
    }
    line_start = message.size();
  }
  if (std::ferror(in) != 0) {
    return Error{fmt::format("reading the message: {}", std::strerror(errno))};
  }
  return message;
}

HeaderRecipients takeHeaderRecipients(std::string_view message) {
  HeaderRecipients out;
  const HeaderSplit split = splitHeader(message);
  auto header = mail::Header::parse(split.header);
  bool resent = false;
  for (const char* name : {"Resent-To", "Resent-Cc", "Resent-Bcc", "Resent-From", "Resent-Date",
                           "Resent-Sender", "Resent-Message-Id"}) {
    resent = resent || !header.getAll(name).empty();
  }
  const char* const fields[] = {resent ? "Resent-To" : "To", resent ? "Resent-Cc" : "Cc",
                                resent ? "Resent-Bcc" : "Bcc"};
  for (const char* name : fields) {
    for (const auto& value : header.getAll(name)) {
      for (auto& address : splitAddressList(value)) {
        out.recipients.push_back(std::move(address));
      }
    }
  }
  header.remove(resent ? "Resent-Bcc" : "Bcc");
  out.message = header.serialize();
  if (split.has_separator) {
    out.message += "\r\n";
  }
  out.message.append(split.body);
  return out;
}

} // namespace upesi::maildrop
