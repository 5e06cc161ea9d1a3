// How the recipients of one delivery attempt came out, sorted for settling: delivered,
// deferred (a 4xx, or the whole attempt failed for the moment) or bounced (a 5xx), with the
// enhanced status and the next hop's words for each, and the reasons a deferral and a bounce
// give.
#pragma once

#include <upesi/address.hpp>

#include "common/smtp_client/smtp_client.hpp"

#include <string>
#include <vector>

namespace upesi::outbound {

struct RecipientFailure {
  Address address;
  std::string status; // enhanced, e.g. "5.1.1"
  std::string diagnostic;
};

struct RecipientResults {
  std::vector<Address> ok;
  std::vector<RecipientFailure> temp;
  std::vector<RecipientFailure> perm;
  std::string temp_reason;
  std::string perm_reason;
};

/// The next hop's answer for `recipients` (the envelope's, in its order). A recipient without a
/// status keeps no place; one without an enhanced status gets 4.0.0 or 5.0.0. The reasons are
/// what the next hop said about the first deferred and the first bounced recipient (a deferral
/// never reports another recipient's 5xx), else about the message.
RecipientResults sortRecipients(const std::vector<Address>& recipients,
                                const smtp_client::DeliveryResult& result);

/// Every recipient deferred (4.4.1) or bounced with `status`, for `reason`.
RecipientResults allDeferred(const std::vector<Address>& recipients, const std::string& reason);
RecipientResults allBounced(const std::vector<Address>& recipients, const std::string& status,
                            const std::string& reason);

} // namespace upesi::outbound
