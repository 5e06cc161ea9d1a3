#include "master/sendmail_smtp.hpp"

#include <upesi/text.hpp>

#include "common/maildrop/drop_file.hpp"
#include "common/maildrop/drop_writer.hpp"

#include <fmt/format.h>

#include <optional>
#include <string_view>
#include <vector>

namespace upesi::master {
namespace {

constexpr std::size_t MaxCommandLine = 4096;

// A line without its line end; nothing at the end of input. A longer line is cut at `max`
// and its rest read and dropped (`too_long` says so).
std::optional<std::string> readLine(std::FILE* in, std::size_t max, bool& too_long) {
  std::string line;
  too_long = false;
  int c = 0;
  bool any = false;
  while ((c = getc_unlocked(in)) != EOF) {
    any = true;
    if (c == '\n') {
      break;
    }
    if (line.size() < max) {
      line += static_cast<char>(c);
    } else {
      too_long = true;
    }
  }
  if (!any) {
    return std::nullopt;
  }
  if (!line.empty() && line.back() == '\r') {
    line.pop_back();
  }
  return line;
}

void reply(std::FILE* out, std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), out);
  std::fwrite("\r\n", 1, 2, out);
  std::fflush(out);
}

// The address of "FROM:<a@b> SIZE=10" or "TO: <a@b>": what is inside the brackets, or the
// first word.
std::optional<std::string> pathArgument(std::string_view rest) {
  rest = text::trim(rest);
  if (rest.starts_with('<')) {
    const auto close = rest.find('>');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    return std::string(rest.substr(1, close - 1));
  }
  const auto space = rest.find(' ');
  return std::string(rest.substr(0, space));
}

} // namespace

int runSmtpSession(std::FILE* in, std::FILE* out, const SmtpSessionSettings& settings) {
  int status = 0;
  std::optional<std::string> from;
  std::vector<std::string> to;
  reply(out, fmt::format("220 {} ESMTP Upesi sendmail", settings.me));
  for (;;) {
    bool too_long = false;
    auto line = readLine(in, MaxCommandLine, too_long);
    if (!line) {
      return status;
    }
    if (too_long) {
      reply(out, "500 5.5.2 Line too long");
      continue;
    }
    const std::string verb = text::toUpper(std::string_view(*line).substr(0, line->find(' ')));
    const std::string_view rest =
        line->size() > verb.size() ? std::string_view(*line).substr(verb.size() + 1) : "";
    if (verb == "EHLO") {
      reply(out, fmt::format("250-{}\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 SIZE {}", settings.me,
                             settings.max_message_size));
    } else if (verb == "HELO") {
      reply(out, fmt::format("250 {}", settings.me));
    } else if (verb == "MAIL") {
      if (!text::startsWithIgnoreCase(rest, "FROM:")) {
        reply(out, "501 5.5.4 Syntax: MAIL FROM:<address>");
      } else if (from) {
        reply(out, "503 5.5.1 Nested MAIL command");
      } else if (auto path = pathArgument(rest.substr(5)); !path) {
        reply(out, "501 5.1.7 Bad sender address syntax");
      } else {
        from = *path;
        reply(out, "250 2.1.0 Ok");
      }
    } else if (verb == "RCPT") {
      if (!from) {
        reply(out, "503 5.5.1 Need MAIL command");
      } else if (!text::startsWithIgnoreCase(rest, "TO:")) {
        reply(out, "501 5.5.4 Syntax: RCPT TO:<address>");
      } else if (auto path = pathArgument(rest.substr(3)); !path || path->empty()) {
        reply(out, "501 5.1.3 Bad recipient address syntax");
      } else if (to.size() >= maildrop::MaxRecipients) {
        reply(out, "452 4.5.3 Too many recipients");
      } else {
        to.push_back(*path);
        reply(out, "250 2.1.5 Ok");
      }
    } else if (verb == "DATA") {
      if (to.empty()) {
        reply(out, from ? "554 5.5.1 No valid recipients" : "503 5.5.1 Need MAIL command");
        continue;
      }
      reply(out, "354 End data with <CR><LF>.<CR><LF>");
      std::string message;
      bool over = false;
      for (;;) {
        bool long_line = false;
        auto data = readLine(in, settings.max_message_size + 1, long_line);
        if (!data) {
          return 75; // the client went away inside DATA: nothing was sent
        }
        if (*data == ".") {
          break;
        }
        std::string_view content = *data;
        if (content.starts_with('.')) {
          content.remove_prefix(1);
        }
        if (long_line || message.size() + content.size() + 1 > settings.max_message_size) {
          over = true;
          message.clear();
          continue;
        }
        message.append(content);
        message += '\n';
      }
      if (over) {
        reply(out, "552 5.3.4 Message size exceeds fixed limit");
      } else {
        maildrop::Envelope envelope{settings.uid, settings.user, *from, {}, to};
        auto block = maildrop::serializeEnvelope(envelope);
        auto name = block ? maildrop::writeDropFile(settings.maildrop, *block, message)
                          : Result<std::string>(Error{block.error()});
        if (name) {
          reply(out, fmt::format("250 2.0.0 Ok: queued as {}", *name));
        } else {
          reply(out, fmt::format("451 4.3.0 Cannot queue the message: {}", name.error()));
          status = 75;
        }
      }
      from.reset();
      to.clear();
    } else if (verb == "RSET") {
      from.reset();
      to.clear();
      reply(out, "250 2.0.0 Ok");
    } else if (verb == "NOOP") {
      reply(out, "250 2.0.0 Ok");
    } else if (verb == "VRFY") {
      reply(out, "252 2.0.0 Cannot VRFY; send some mail and it will be delivered");
    } else if (verb == "QUIT") {
      reply(out, "221 2.0.0 Bye");
      return status;
    } else {
      reply(out, "502 5.5.2 Command not recognized");
    }
  }
}

} // namespace upesi::master
