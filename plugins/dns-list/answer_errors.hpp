// Answers from a DNS list that are not listings: codes a list uses to say the query itself
// went wrong, which must never block a client.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace upesi::plugins::dns_list {

/// Why `addresses` (the A records a list returned) are an error rather than a listing, or
/// nullopt for a listing. Errors: any answer outside 127.0.0.0/8 (a broken or hijacked list),
/// 127.255.255.x (Spamhaus's error codes: 252 a typo in the list's name, 254 a query through a
/// public resolver, 255 too many queries), and 127.0.0.255 from an allow list (dnswl.org's
/// query limit).
std::optional<std::string> answerError(const std::vector<std::string>& addresses, bool allow_list);

} // namespace upesi::plugins::dns_list
