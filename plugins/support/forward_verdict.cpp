#include "plugins/support/forward_verdict.hpp"

#include <string_view>

namespace upesi::plugins {

std::string replyText(const smtp_client::Status& status) {
  std::string_view text = status.reason;
  if (status.code == 0) {
    return std::string(text);
  }
  const std::string code = std::to_string(status.code);
  if (text.substr(0, code.size()) == code) {
    text.remove_prefix(code.size());
    if (!text.empty() && text.front() == ' ') {
      text.remove_prefix(1);
    }
  }
  if (!status.enhanced.empty() && text.substr(0, status.enhanced.size()) == status.enhanced) {
    text.remove_prefix(status.enhanced.size());
    if (!text.empty() && text.front() == ' ') {
      text.remove_prefix(1);
    }
  }
  return text.empty() ? status.reason : std::string(text);
}

ForwardVerdict forwardVerdict(const smtp_client::DeliveryResult& result, bool lmtp) {
  using smtp_client::Outcome;
  ForwardVerdict verdict;
  const smtp_client::RecipientResult* first_temp = nullptr;
  const smtp_client::RecipientResult* first_perm = nullptr;
  for (const auto& r : result.recipients) {
    if (r.status.ok()) {
      continue;
    }
    verdict.refused.push_back(r);
    auto& slot = r.status.outcome == Outcome::Temporary ? first_temp : first_perm;
    if (slot == nullptr) {
      slot = &r;
    }
  }
  const bool all_ok = verdict.refused.empty() && !result.recipients.empty();
  if (result.message.ok() && (all_ok || !lmtp)) {
    verdict.code = Code::Ok;
    verdict.text = replyText(result.message);
    return verdict;
  }
  if (lmtp && result.message.ok()) {
    const auto* decisive = first_temp != nullptr ? first_temp : first_perm;
    verdict.code = first_temp != nullptr ? Code::DenySoft : Code::Deny;
    verdict.text = replyText(decisive->status);
    return verdict;
  }
  // Nothing was taken. A reply of the next hop about the message or about every recipient
  // keeps its class; a failure of our own (no reply) is always temporary.
  const smtp_client::Status* status = &result.message;
  if (result.message.code != 0 && (first_temp != nullptr || first_perm != nullptr) &&
      verdict.refused.size() == result.recipients.size()) {
    status = first_temp != nullptr ? &first_temp->status : &first_perm->status;
  }
  verdict.code =
      status->outcome == Outcome::Permanent && status->code != 0 ? Code::Deny : Code::DenySoft;
  verdict.text = replyText(*status);
  return verdict;
}

} // namespace upesi::plugins
