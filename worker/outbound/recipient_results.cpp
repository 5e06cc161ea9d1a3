#include "worker/outbound/recipient_results.hpp"

namespace upesi::outbound {
namespace {

std::string statusOf(const smtp_client::Status& s, const char* fallback) {
  return s.enhanced.empty() ? fallback : s.enhanced;
}

} // namespace

RecipientResults sortRecipients(const std::vector<Address>& recipients,
                                const smtp_client::DeliveryResult& result) {
  using smtp_client::Outcome;
  RecipientResults out;
  for (std::size_t i = 0; i < recipients.size() && i < result.recipients.size(); ++i) {
    const auto& status = result.recipients[i].status;
    if (status.outcome == Outcome::Ok) {
      out.ok.push_back(recipients[i]);
    } else if (status.outcome == Outcome::Temporary) {
      out.temp.push_back({recipients[i], statusOf(status, "4.0.0"), status.reason});
    } else {
      out.perm.push_back({recipients[i], statusOf(status, "5.0.0"), status.reason});
    }
  }
  out.temp_reason = out.temp.empty() ? result.message.reason : out.temp.front().diagnostic;
  out.perm_reason = out.perm.empty() ? result.message.reason : out.perm.front().diagnostic;
  return out;
}

RecipientResults allDeferred(const std::vector<Address>& recipients, const std::string& reason) {
  RecipientResults out;
  for (const auto& r : recipients) {
    out.temp.push_back({r, "4.4.1", reason});
  }
  out.temp_reason = reason;
  return out;
}

RecipientResults allBounced(const std::vector<Address>& recipients, const std::string& status,
                            const std::string& reason) {
  RecipientResults out;
  for (const auto& r : recipients) {
    out.perm.push_back({r, status, reason});
  }
  out.perm_reason = reason;
  return out;
}

} // namespace upesi::outbound
