// Bounce messages: an RFC 3464 delivery status notification (multipart/report) built from the
// template config/outbound.bounce_message, for the sender of mail that could not be delivered.
#pragma once

#include <string>
#include <vector>

namespace upesi::outbound {

struct FailedRecipient {
  std::string address; // user@host
  std::string action = "failed";
  std::string status;     // "5.1.1"
  std::string remote_mta; // host name of the MX that answered, or empty
  std::string diagnostic; // the MX's reply ("550 5.1.1 no such user"), or our reason
};

struct BounceInput {
  std::string me;
  std::string sender;           // the original MAIL FROM (address, no brackets)
  std::string original_headers; // the header block of the undelivered message (CRLF lines)
  std::string subject;
  std::string original_envelope_id; // the queue uuid
  std::string arrival_date;         // RFC 5322 date the message arrived
  std::string reason;               // one line for the whole message
  std::vector<FailedRecipient> recipients;
};

/// Fills the template's {date} {me} {from} {to} {subject} {recipients} {reason}
/// {extended_reason} {pid} {msgid} {boundary} fields and appends the machine-readable
/// message/delivery-status part and the original headers (text/rfc822-headers). CRLF lines.
std::string buildBounce(const std::string& template_text, const BounceInput& input);

/// The template shipped in etc/ when config/outbound.bounce_message has none.
const std::string& defaultBounceTemplate();

/// "4.x.x" -> "5.x.x" (after the last retry a deferral is final).
std::string permanentStatus(std::string status);

} // namespace upesi::outbound
