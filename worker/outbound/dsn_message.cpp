#include "worker/outbound/dsn_message.hpp"

#include "common/util/text.hpp"

#include <fmt/format.h>

#include <ctime>
#include <random>
#include <sys/random.h>
#include <unistd.h>

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

void replaceAll(std::string& text, const std::string& field, const std::string& value) {
  std::size_t pos = 0;
  while ((pos = text.find(field, pos)) != std::string::npos) {
    text.replace(pos, field.size(), value);
    pos += value.size();
  }
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

} // namespace

const std::string& defaultBounceTemplate() {
  static const std::string text = "Received: (Upesi {pid} invoked for bounce); {date}\n"
                                  "Message-ID: <{msgid}@{me}>\n"
                                  "Date: {date}\n"
                                  "From: Mail Delivery Subsystem <MAILER-DAEMON@{me}>\n"
                                  "To: {to}\n"
                                  "Subject: Mail delivery failed: returning message to sender\n"
                                  "MIME-Version: 1.0\n"
                                  "Auto-Submitted: auto-replied\n"
                                  "Content-Type: multipart/report; report-type=delivery-status;\n"
                                  "    boundary=\"{boundary}\"\n"
                                  "\n"
                                  "This is a MIME-encapsulated message.\n"
                                  "\n"
                                  "--{boundary}\n"
                                  "Content-Type: text/plain; charset=us-ascii\n"
                                  "\n"
                                  "This is the mail system at host {me}.\n"
                                  "\n"
                                  "I'm sorry to have to inform you that your message could not\n"
                                  "be delivered to one or more recipients.\n"
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
  std::string text = template_text.empty() ? defaultBounceTemplate() : template_text;
  replaceAll(text, "{boundary}", boundary);
  replaceAll(text, "{date}", rfc5322Now());
  replaceAll(text, "{me}", oneLine(input.me));
  replaceAll(text, "{from}", fmt::format("MAILER-DAEMON@{}", oneLine(input.me)));
  replaceAll(text, "{to}", fmt::format("<{}>", oneLine(input.sender)));
  replaceAll(text, "{subject}", oneLine(input.subject));
  replaceAll(text, "{recipients}", recipients);
  replaceAll(text, "{reason}", oneLine(input.reason));
  replaceAll(text, "{extended_reason}", extended);
  replaceAll(text, "{pid}", std::to_string(::getpid()));
  replaceAll(text, "{msgid}", randomToken(24));
  std::string out = toCrlf(text);
  if (!out.ends_with("\r\n")) {
    out += "\r\n";
  }

  // The machine-readable part (RFC 3464 section 2).
  out += fmt::format("\r\n--{}\r\nContent-Type: message/delivery-status\r\n\r\n", boundary);
  out += fmt::format("Reporting-MTA: dns; {}\r\n", oneLine(input.me));
  if (!input.original_envelope_id.empty()) {
    out += fmt::format("Original-Envelope-Id: {}\r\n", oneLine(input.original_envelope_id));
  }
  if (!input.arrival_date.empty()) {
    out += fmt::format("Arrival-Date: {}\r\n", oneLine(input.arrival_date));
  }
  for (const auto& r : input.recipients) {
    out += fmt::format("\r\nFinal-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {}\r\n",
                       oneLine(r.address), r.action, r.status.empty() ? "5.0.0" : r.status);
    if (!r.remote_mta.empty()) {
      out += fmt::format("Remote-MTA: dns; {}\r\n", oneLine(r.remote_mta));
    }
    if (!r.diagnostic.empty()) {
      out += fmt::format("Diagnostic-Code: smtp; {}\r\n", oneLine(r.diagnostic));
    }
  }
  out += fmt::format("\r\n--{}\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary);
  out += toCrlf(input.original_headers);
  if (!out.ends_with("\r\n")) {
    out += "\r\n";
  }
  out += fmt::format("\r\n--{}--\r\n", boundary);
  return out;
}

} // namespace upesi::outbound
