// The command line of the `sendmail` entry point, as Postfix's and Exim's take it, so that
// cron, mail(1) and other local programs work unchanged. Options that only tune Sendmail's own
// delivery (-oem, -odb, -v, -N ...) are accepted and ignored, as Postfix does.
#pragma once

#include "common/util/result.hpp"

#include <optional>
#include <string>
#include <vector>

namespace upesi::maildrop {

struct SendmailOptions {
  enum class Mode {
    Deliver,    // -bm (the default): the message on stdin, recipients from the arguments or -t
    Smtp,       // -bs: an SMTP session on stdin and stdout
    PrintQueue, // -bp, or invoked as mailq
    Aliases,    // -bi, -I, or invoked as newaliases
    Flush,      // -q
    Version,    // --version
  };
  Mode mode = Mode::Deliver;
  bool extract_recipients = false;     // -t
  bool dot_ends_message = true;        // false with -i, -oi
  std::optional<std::string> from;     // -f or -r
  std::string full_name;               // -F
  std::string install_dir;             // -C DIR (ignored when the program runs set-group-id)
  std::vector<std::string> recipients; // the arguments after the options
};

/// Parses `args` (without the program name). `program` is the name it was invoked as:
/// "mailq" and "newaliases" pick their mode. An error says what is wrong, as usage.
Result<SendmailOptions> parseSendmailOptions(const std::vector<std::string>& args,
                                             const std::string& program = "sendmail");

} // namespace upesi::maildrop
