#include "common/plugin/send_email.hpp"

namespace upesi::plugin {

void sendEmail(ProcessServices& services, const Address& from, const std::vector<Address>& to,
               std::string contents, ProcessServices::SendEmailDone done,
               const SendEmailOptions& options) {
  if (!done) {
    done = [](Code, const std::string&, const std::vector<std::string>&) {};
  }
  if (!services.send_email) {
    done(Code::DenySoft, "no outbound queue in this process", {});
    return;
  }
  // Haraka normalises every line end to CRLF, and un-stuffs dot-stuffed contents.
  std::string message;
  message.reserve(contents.size() + contents.size() / 32);
  bool line_start = true;
  for (std::size_t i = 0; i < contents.size(); ++i) {
    char c = contents[i];
    if (options.dot_stuffed && line_start && c == '.' && i + 1 < contents.size() &&
        contents[i + 1] == '.') {
      continue;
    }
    if (c == '\r') {
      continue;
    }
    if (c == '\n') {
      message += "\r\n";
      line_start = true;
      continue;
    }
    message += c;
    line_start = false;
  }
  if (!message.empty() && !message.ends_with("\r\n")) {
    message += "\r\n";
  }
  services.send_email(from, to, std::move(message), options.notes, std::move(done));
}

} // namespace upesi::plugin
