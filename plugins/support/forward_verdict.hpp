// How a next hop's replies become the queue hook's answer: the code (OK, DENY, DENYSOFT), the
// text the client sees, and the recipients the next hop refused. Pure: no logging, no I/O.
#pragma once

#include <upesi/code.hpp>

#include "common/smtp_client/smtp_client.hpp"

#include <string>
#include <vector>

namespace upesi::plugins {

struct ForwardVerdict {
  Code code = Code::DenySoft;
  std::string text;
  std::vector<smtp_client::RecipientResult> refused; ///< recipients the next hop did not take
};

/// SMTP: the final reply decides. Every recipient taken → OK with the next hop's text. Some
/// taken → OK too (the next hop has the message for them; the others are logged, since the
/// client was already told 250 for them and cannot be told otherwise). None taken → DENY when
/// every refusal was permanent, else DENYSOFT.
/// LMTP: each recipient has its own final reply. All taken → OK; else the whole message is
/// refused (DENYSOFT if any failure was temporary, else DENY), so the client keeps it and
/// retries: recipients that did take it may see it twice, which beats losing it.
ForwardVerdict forwardVerdict(const smtp_client::DeliveryResult& result, bool lmtp);

/// The reply text of a status, without its code and enhanced code: "accepted" from
/// "250 2.0.0 accepted". A failure of our own (code 0) keeps its reason.
std::string replyText(const smtp_client::Status& status);

} // namespace upesi::plugins
