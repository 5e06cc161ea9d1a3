// sendmail -bs: an SMTP session on stdin and stdout, for programs that speak SMTP to a local
// sendmail rather than pipe a message to it. Each message a DATA ends becomes a drop file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

namespace upesi::master {

struct SmtpSessionSettings {
  std::string me;                 // the greeting's name
  std::uint64_t max_message_size; // SIZE, and 552 beyond it
  std::string user;               // the login name, for the drop file
  unsigned long uid = 0;
  std::filesystem::path maildrop; // where drop files go
};

/// Serves one session until QUIT or the end of input; returns the exit status (0, or 75 when
/// a message could not be written).
int runSmtpSession(std::FILE* in, std::FILE* out, const SmtpSessionSettings& settings);

} // namespace upesi::master
