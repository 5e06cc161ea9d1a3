#include "common/maildrop/sendmail_options.hpp"

#include <fmt/format.h>

#include <string_view>

namespace upesi::maildrop {
namespace {

// Postfix's sendmail: each letter here takes a value, in the same argument or the next.
constexpr std::string_view TakesValue = "ABCFLNORVXbefhopqr";
// Letters accepted and ignored (with their values, for those that take one).
constexpr std::string_view Ignored = "ABGLNORUVXcehmnpvx";

} // namespace

Result<SendmailOptions> parseSendmailOptions(const std::vector<std::string>& args,
                                             const std::string& program) {
  SendmailOptions out;
  if (program == "mailq") {
    out.mode = SendmailOptions::Mode::PrintQueue;
  } else if (program == "newaliases") {
    out.mode = SendmailOptions::Mode::Aliases;
  }
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "--version") {
      out.mode = SendmailOptions::Mode::Version;
      continue;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      break;
    }
    for (std::size_t k = 1; k < arg.size(); ++k) {
      const char letter = arg[k];
      std::string value;
      const bool takes_value = TakesValue.find(letter) != std::string_view::npos;
      if (takes_value) {
        if (k + 1 < arg.size()) {
          value = arg.substr(k + 1);
        } else if (letter == 'q') {
          value.clear(); // -q alone: flush now
        } else if (i + 1 < args.size()) {
          value = args[++i];
        } else {
          return Error{fmt::format("-{} needs a value", letter)};
        }
        k = arg.size(); // the value took the rest of the argument
      }
      switch (letter) {
      case 't':
        out.extract_recipients = true;
        break;
      case 'i':
        out.dot_ends_message = false;
        break;
      case 'I':
        out.mode = SendmailOptions::Mode::Aliases;
        break;
      case 'f':
      case 'r':
        out.from = value;
        break;
      case 'F':
        out.full_name = value;
        break;
      case 'C':
        out.install_dir = value;
        break;
      case 'o':
        if (value == "i") {
          out.dot_ends_message = false;
        }
        break; // -oem, -odb, -oee, -om ...: Sendmail's own delivery modes
      case 'q':
        out.mode = SendmailOptions::Mode::Flush;
        break;
      case 'b':
        if (value == "m") {
          out.mode = SendmailOptions::Mode::Deliver;
        } else if (value == "s") {
          out.mode = SendmailOptions::Mode::Smtp;
        } else if (value == "p") {
          out.mode = SendmailOptions::Mode::PrintQueue;
        } else if (value == "i") {
          out.mode = SendmailOptions::Mode::Aliases;
        } else {
          return Error{fmt::format("-b{} is not supported (-bm, -bs, -bp and -bi are)", value)};
        }
        break;
      default:
        if (Ignored.find(letter) == std::string_view::npos) {
          return Error{fmt::format("unknown option -{}", letter)};
        }
      }
    }
  }
  for (; i < args.size(); ++i) {
    out.recipients.push_back(args[i]);
  }
  return out;
}

} // namespace upesi::maildrop
