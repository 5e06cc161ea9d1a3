// The result of one mail transaction: how the server's replies (to MAIL, to each RCPT, to DATA,
// to the final dot: once in SMTP, once per accepted recipient in LMTP) and a failure that cut
// the transaction short become a status for each recipient and one for the message.
//
// A recipient's status is the first there is of: MAIL's refusal, its RCPT's refusal, its reply
// after the dot, DATA's refusal, the failure that ended the transaction. The message's: MAIL's
// refusal; else the status of the first recipient that took it; else the failure that ended
// the transaction (unless every RCPT was answered and refused); else DATA's refusal; else the
// first temporary refusal of a recipient, else the first permanent one. Pure: the SmtpClient
// records the replies as they come and summarizes them once, at the end.
#pragma once

#include <upesi/address.hpp>

#include "common/smtp_client/status.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace upesi::smtp_client {

/// What the server said in one transaction, as far as it got. `rcpt` and `final` have one
/// entry per recipient of the envelope; a reply that never came is empty.
struct TransactionReplies {
  std::optional<Status> mail;
  std::vector<std::optional<Status>> rcpt;
  std::optional<Status> data; ///< 354 when the body went
  /// After the dot, for each accepted recipient: the one reply in SMTP, each its own in LMTP.
  std::vector<std::optional<Status>> final;
  std::vector<std::size_t> accepted; ///< recipients whose RCPT got a 2xx after MAIL's 2xx
  /// What ended the transaction before its end: a timeout, the connection lost, a refusal of
  /// ours before MAIL ("invalid sender address").
  std::optional<Status> abort;
};

struct RecipientResult {
  std::string address; ///< as Address::address() gives it
  Status status;
};

struct TransactionResult {
  Status message;                          ///< Ok: the server took it for at least one recipient
  std::vector<RecipientResult> recipients; ///< in the envelope's order
};

TransactionResult summarizeTransaction(const std::vector<Address>& recipients,
                                       const TransactionReplies& replies);

} // namespace upesi::smtp_client
