#include "worker/outbound/dsn_message.hpp"

#include "common/util/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <random>
#include <sys/random.h>
#include <unistd.h>
#include <utility>

namespace upesi::outbound {
namespace {

std::string randomToken(std::size_t n) {
  static constexpr char Alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out(n, 'x');
  unsigned char bytes[64];
  if (::getrandom(bytes, std::min<std::size_t>(n, sizeof bytes), 0) < 0) {
    return std::string(n, 'x');
  }
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = Alphabet[bytes[i % sizeof bytes] % (sizeof Alphabet - 1)];
  }
  return out;
}

// Normalises the template's line ends to CRLF.
std::string toCrlf(const std::string& text) {
  std::string out;
  out.reserve(text.size() + text.size() / 40);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      continue;
    }
    if (text[i] == '\n') {
      out += "\r\n";
    } else {
      out += text[i];
    }
  }
  return out;
}

// Replaces each {word} whose word `values` knows, in one pass: a value is never read again as
// a template (a subject "{reason}" stays as it is). Other braces stay as they are.
std::string fillTemplate(std::string_view text,
                         const std::vector<std::pair<std::string_view, std::string>>& values) {
  std::string out;
  out.reserve(text.size() + 256);
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t open = text.find('{', pos);
    if (open == std::string_view::npos) {
      break;
    }
    std::size_t close = text.find('}', open + 1);
    if (close == std::string_view::npos) {
      break;
    }
    std::string_view word = text.substr(open + 1, close - open - 1);
    auto it = std::find_if(values.begin(), values.end(),
                           [word](const auto& value) { return value.first == word; });
    out.append(text.substr(pos, open - pos));
    if (it == values.end()) {
      out += '{';
      pos = open + 1;
      continue;
    }
    out += it->second;
    pos = close + 1;
  }
  out.append(text.substr(pos));
  return out;
}

// Header field values come from the network: no CR or LF may break out of them.
std::string oneLine(std::string text) {
  for (auto& c : text) {
    if (c == '\r' || c == '\n') {
      c = ' ';
    }
  }
  return text;
}

bool hasHeaderField(std::string_view header, std::string_view name) {
  std::size_t pos = 0;
  while (pos < header.size()) {
    std::size_t end = header.find("\r\n", pos);
    std::string_view line = header.substr(pos, end == std::string_view::npos ? end : end - pos);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        text::startsWithIgnoreCase(line, name)) {
      return true;
    }
    if (end == std::string_view::npos) {
      break;
    }
    pos = end + 2;
  }
  return false;
}

// The machine-readable part (RFC 3464 section 2): the per-message fields in the order of
// section 2.2, then one block per recipient (section 2.3).
void appendDeliveryStatus(std::string& out, const std::string& boundary, const std::string& me,
                          const BounceInput& input) {
  out += fmt::format("\r\n--{}\r\nContent-Type: message/delivery-status\r\n\r\n", boundary);
  if (!input.original_envelope_id.empty()) {
    out += fmt::format("Original-Envelope-Id: {}\r\n", oneLine(input.original_envelope_id));
  }
  out += fmt::format("Reporting-MTA: dns; {}\r\n", me);
  if (!input.arrival_date.empty()) {
    out += fmt::format("Arrival-Date: {}\r\n", oneLine(input.arrival_date));
  }
  for (const auto& r : input.recipients) {
    out += "\r\n";
    if (!r.original_recipient.empty()) {
      out += fmt::format("Original-Recipient: {}\r\n", oneLine(r.original_recipient));
    }
    out += fmt::format("Final-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {}\r\n",
                       oneLine(r.address), r.action, r.status.empty() ? "5.0.0" : r.status);
    if (!r.remote_mta.empty()) {
      out += fmt::format("Remote-MTA: dns; {}\r\n", oneLine(r.remote_mta));
    }
    if (!r.diagnostic.empty()) {
      out += fmt::format("Diagnostic-Code: smtp; {}\r\n", oneLine(r.diagnostic));
    }
  }
}

// The report's last part, the original's header, for a bounce that does not return the whole
// message and for a success notice.
void appendReturnedHeaders(std::string& out, const std::string& boundary,
                           std::string_view description, const std::string& headers) {
  out += fmt::format("\r\n--{}\r\nContent-Description: {}\r\n"
                     "Content-Type: text/rfc822-headers\r\n\r\n",
                     boundary, description);
  out += toCrlf(headers);
}

// The report's own header field and its first part's, up to that part's text.
void openReport(std::string& out, const std::string& boundary) {
  out += fmt::format("Content-Type: multipart/report; report-type=delivery-status;\r\n"
                     "    boundary=\"{}\"\r\n\r\n",
                     boundary);
  out += "This is a MIME-encapsulated message.\r\n\r\n";
  out += fmt::format("--{}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", boundary);
}

// Ends the last part on a line break, then the multipart/report.
void closeReport(std::string& out, const std::string& boundary) {
  if (!out.ends_with("\r\n")) {
    out += "\r\n";
  }
  out += fmt::format("\r\n--{}--\r\n", boundary);
}

} // namespace

const std::string& defaultBounceTemplate() {
  static const std::string text = "Received: (Upesi {pid} invoked for bounce); {date}\n"
                                  "Message-ID: <{msgid}@{me}>\n"
                                  "Date: {date}\n"
                                  "From: Mail Delivery Subsystem <MAILER-DAEMON@{me}>\n"
                                  "To: {from}\n"
                                  "Subject: Mail delivery failed: returning message to sender\n"
                                  "MIME-Version: 1.0\n"
                                  "Auto-Submitted: auto-replied\n"
                                  "Content-Type: multipart/report; report-type=delivery-status;\n"
                                  "    boundary=\"{boundary}\"\n"
                                  "\n"
                                  "This is a MIME-encapsulated message.\n"
                                  "\n"
                                  "--{boundary}\n"
                                  "Content-Type: text/plain; charset=utf-8\n"
                                  "\n"
                                  "This is the mail system at host {me}.\n"
                                  "\n"
                                  "I'm sorry to have to inform you that your message\n"
                                  "    \"{subject}\"\n"
                                  "could not be delivered to one or more recipients.\n"
                                  "\n"
                                  "{recipients}: {reason}\n"
                                  "{extended_reason}\n";
  return text;
}

std::string permanentStatus(std::string status) {
  if (!status.empty() && status[0] == '4') {
    status[0] = '5';
  }
  return status;
}

std::string unstuffDots(std::string_view stuffed) {
  std::string out;
  out.reserve(stuffed.size());
  bool line_start = true;
  for (std::size_t i = 0; i < stuffed.size(); ++i) {
    char c = stuffed[i];
    if (line_start && c == '.' && i + 1 < stuffed.size() && stuffed[i + 1] == '.') {
      line_start = false;
      continue; // the second dot is kept
    }
    out += c;
    line_start = c == '\n';
  }
  return out;
}

std::string buildBounce(const std::string& template_text, const BounceInput& input) {
  std::string boundary = "upesi-bounce-" + randomToken(16);
  std::string recipients;
  std::string extended;
  for (const auto& r : input.recipients) {
    if (!recipients.empty()) {
      recipients += ", ";
    }
    recipients += oneLine(r.address);
    extended += fmt::format("{}: {}\n", oneLine(r.address), oneLine(r.diagnostic));
  }
  const std::string& text = template_text.empty() ? defaultBounceTemplate() : template_text;
  // Haraka's kind of template leaves the MIME structure to us (see the header).
  const bool haraka_kind = text.find("{boundary}") == std::string::npos;
  std::string me = oneLine(input.me);
  std::string msgid = randomToken(24);
  if (haraka_kind) {
    msgid = fmt::format("<{}@{}>", msgid, me);
  }
  std::string failed = input.recipients.empty() ? "" : oneLine(input.recipients.front().address);
  const std::vector<std::pair<std::string_view, std::string>> values = {
      {"boundary", boundary},
      {"date", rfc5322Now()},
      {"me", me},
      {"from", fmt::format("<{}>", oneLine(input.sender))},
      {"to", fmt::format("<{}>", failed)},
      {"subject", oneLine(input.subject)},
      {"recipients", recipients},
      {"reason", oneLine(input.reason)},
      {"extended_reason", extended},
      {"pid", std::to_string(::getpid())},
      {"msgid", msgid},
  };
  std::string filled = toCrlf(fillTemplate(text, values));
  if (!filled.ends_with("\r\n")) {
    filled += "\r\n";
  }
  std::string out;
  if (haraka_kind) {
    // Header lines up to the first empty line, then the text, as Haraka splits its template.
    std::string header;
    std::string body;
    if (filled.starts_with("\r\n")) {
      body = filled.substr(2);
    } else if (auto split = filled.find("\r\n\r\n"); split == std::string::npos) {
      header = filled;
    } else {
      header = filled.substr(0, split + 2);
      body = filled.substr(split + 4);
    }
    out = header;
    if (!hasHeaderField(header, "MIME-Version")) {
      out += "MIME-Version: 1.0\r\n";
    }
    openReport(out, boundary);
    out += body;
  } else {
    out = std::move(filled);
  }

  appendDeliveryStatus(out, boundary, me, input);
  if (!input.original_message.empty()) {
    out += fmt::format("\r\n--{}\r\nContent-Description: Undelivered Message\r\n"
                       "Content-Type: message/rfc822\r\n\r\n",
                       boundary);
    out += input.original_message;
  } else {
    appendReturnedHeaders(out, boundary, "Undelivered Message Headers", input.original_headers);
  }
  closeReport(out, boundary);
  return out;
}

std::string buildSuccessNotice(const BounceInput& input) {
  const std::string boundary = "upesi-dsn-" + randomToken(16);
  const std::string me = oneLine(input.me);
  bool relayed = false;
  std::string recipients;
  for (const auto& r : input.recipients) {
    relayed = relayed || r.action == "relayed";
    recipients += fmt::format("    <{}>\r\n", oneLine(r.address));
  }
  std::string out;
  out += fmt::format("Message-ID: <{}@{}>\r\n", randomToken(24), me);
  out += fmt::format("Date: {}\r\n", rfc5322Now());
  out += fmt::format("From: Mail Delivery Subsystem <MAILER-DAEMON@{}>\r\n", me);
  out += fmt::format("To: <{}>\r\n", oneLine(input.sender));
  out += "Subject: Successful Mail Delivery Report\r\n";
  out += "MIME-Version: 1.0\r\nAuto-Submitted: auto-replied\r\n";
  openReport(out, boundary);
  out += fmt::format("This is the mail system at host {}.\r\n\r\n", me);
  out += fmt::format("Your message \"{}\" was {}:\r\n\r\n", oneLine(input.subject),
                     relayed ? "passed on to a system that sends no delivery reports, for"
                             : "delivered to");
  out += recipients;
  appendDeliveryStatus(out, boundary, me, input);
  appendReturnedHeaders(out, boundary, "Delivered Message Headers", input.original_headers);
  closeReport(out, boundary);
  return out;
}

} // namespace upesi::outbound
