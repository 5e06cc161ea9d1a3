#include "common/smtp_client/transaction_result.hpp"

#include <fmt/format.h>

#include <cassert>
#include <utility>

namespace upesi::smtp_client {

TransactionResult summarizeTransaction(const std::vector<Address>& recipients,
                                       const TransactionReplies& replies) {
  assert(replies.rcpt.size() == recipients.size() && replies.final.size() == recipients.size());
  TransactionResult result;
  bool mail_rejected = replies.mail && !replies.mail->ok();
  bool all_rcpt_replies = true;
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    Status status;
    if (mail_rejected) {
      status = *replies.mail;
    } else if (replies.rcpt[i] && !replies.rcpt[i]->ok()) {
      status = *replies.rcpt[i];
    } else if (replies.final[i]) {
      status = *replies.final[i];
    } else if (replies.data && !replies.data->ok() && replies.data->code != 354) {
      status = *replies.data;
    } else if (replies.abort) {
      status = *replies.abort;
    } else {
      status = Status::temporary("no reply for this recipient");
    }
    all_rcpt_replies = all_rcpt_replies && replies.rcpt[i].has_value();
    result.recipients.push_back({recipients[i].address(), std::move(status)});
  }

  const RecipientResult* first_ok = nullptr;
  const RecipientResult* first_temp = nullptr;
  const RecipientResult* first_perm = nullptr;
  for (const auto& r : result.recipients) {
    const RecipientResult*& slot = r.status.outcome == Outcome::Ok          ? first_ok
                                   : r.status.outcome == Outcome::Temporary ? first_temp
                                                                            : first_perm;
    if (slot == nullptr) {
      slot = &r;
    }
  }
  if (mail_rejected) {
    result.message = *replies.mail;
  } else if (first_ok != nullptr) {
    // SMTP: the final reply; LMTP: the first recipient that took it.
    result.message = first_ok->status;
  } else if (replies.abort && !(all_rcpt_replies && replies.accepted.empty())) {
    result.message = *replies.abort;
  } else if (replies.data && !replies.data->ok() && replies.data->code != 354 &&
             !replies.accepted.empty()) {
    result.message = *replies.data;
  } else {
    // Every recipient failed on its own: temporary if any may still succeed later.
    const RecipientResult* decisive = first_temp != nullptr ? first_temp : first_perm;
    if (decisive != nullptr) {
      result.message = decisive->status;
      result.message.reason = replies.accepted.empty() ? fmt::format("no recipient accepted: {}",
                                                                     decisive->status.reason)
                                                       : decisive->status.reason;
    } else {
      result.message = Status::temporary("no recipient accepted");
    }
  }
  return result;
}

} // namespace upesi::smtp_client
