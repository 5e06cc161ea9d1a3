// Bounce messages: an RFC 3464 delivery status notification (multipart/report) built from the
// template config/outbound.bounce_message, for the sender of mail that could not be delivered.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace upesi::outbound {

struct FailedRecipient {
  std::string address; // user@host
  std::string action = "failed";
  std::string status;             // "5.1.1"
  std::string remote_mta;         // host name of the MX that answered, or empty
  std::string diagnostic;         // the MX's reply ("550 5.1.1 no such user"), or our reason
  std::string original_recipient; // RCPT ORCPT= as "rfc822;a@b.c", or empty (RFC 3464 2.3.1)
};

struct BounceInput {
  std::string me;
  std::string sender;           // the original MAIL FROM (address, no brackets); the DSN goes there
  std::string original_headers; // the header block of the undelivered message (CRLF lines)
  /// The whole undelivered message (CRLF lines, not dot-stuffed) when it is small enough to
  /// return (outbound.ini bounce_size_limit): attached as message/rfc822 instead of the headers.
  std::string original_message;
  std::string subject;              // the original's Subject
  std::string original_envelope_id; // MAIL ENVID=, else the queue uuid
  std::string arrival_date;         // RFC 5322 date the message arrived
  std::string reason;               // one line for the whole message
  std::vector<FailedRecipient> recipients;
};

/// Fills the template's fields, as Haraka defines them: {from} the original sender, {to} the
/// recipient that failed (the first, when several did), {subject} the original's Subject,
/// {recipients}, {reason}, {extended_reason} (one "address: reply" line each), {date}, {me},
/// {pid}, {msgid}, {boundary}. Then appends the machine-readable message/delivery-status part
/// (RFC 3464) and the original: the whole message (message/rfc822) when input.original_message
/// holds it, else its header (text/rfc822-headers). CRLF lines.
///
/// Two kinds of template are understood. One that uses {boundary} is the DSN's header and
/// first part, MIME structure included (ours, etc/outbound.bounce_message). One that does not
/// is Haraka's kind: header lines, an empty line, the text; the multipart/report structure is
/// added around it as Haraka adds it, and {msgid} is then a whole "<id@me>" as in Haraka.
std::string buildBounce(const std::string& template_text, const BounceInput& input);

/// A notice of successful delivery (RFC 3461 6.2, for NOTIFY=SUCCESS): the same
/// multipart/report as a bounce, from a fixed text, with input.recipients' actions ("delivered"
/// or "relayed") and statuses, and the original's header (never its body). input.reason and
/// the template fields do not apply.
std::string buildSuccessNotice(const BounceInput& input);

/// The template shipped in etc/ when config/outbound.bounce_message has none.
const std::string& defaultBounceTemplate();

/// "4.x.x" -> "5.x.x" (after the last retry a deferral is final).
std::string permanentStatus(std::string status);

/// A message as the queue file stores it (dot-stuffed) as it was received: ".." at the start
/// of a line becomes ".".
std::string unstuffDots(std::string_view stuffed);

} // namespace upesi::outbound
