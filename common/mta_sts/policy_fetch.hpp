// Fetching a domain's MTA-STS policy (RFC 8461 3): the `_mta-sts.<domain>` TXT record's id,
// and the policy file from https://mta-sts.<domain>/.well-known/mta-sts.txt over TLS whose
// certificate must be valid for that name (PKIX, the client context's trust store). No
// redirect is followed, only a 200 with a text/plain body of at most 64 KiB is a policy.
//
// Threading: the loop thread; the answer comes on a later loop turn.
#pragma once

#include "common/dns/mx_resolver.hpp"
#include "common/mta_sts/policy.hpp"
#include "common/util/result.hpp"

#include <openssl/ssl.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace upesi::mta_sts {

/// What the TXT record says: an id, no record (the domain has no policy), or a DNS failure.
struct RecordAnswer {
  std::optional<std::string> id;
  bool failed = false; ///< SERVFAIL or a timeout: the policy state is unknown
  std::string error;
};

void lookupRecord(const dns::DnsLookup& lookup, const std::string& domain,
                  std::function<void(RecordAnswer)> done);

struct FetchOptions {
  /// A client context (verification is checked after the handshake), shared: a fetch keeps
  /// the one it started with through a reload.
  std::shared_ptr<SSL_CTX> tls;
  std::uint16_t port = 443;
  std::chrono::milliseconds timeout{20'000}; ///< for the whole fetch, the lookup included
};

/// The policy file's text, or why there is none.
void fetchPolicyText(uv_loop_t* loop, const dns::DnsLookup& lookup, const std::string& domain,
                     const FetchOptions& options, std::function<void(Result<std::string>)> done);

} // namespace upesi::mta_sts
