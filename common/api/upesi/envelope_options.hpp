// The MAIL FROM and RCPT TO parameters the core implements beyond SIZE, BODY, SMTPUTF8 and AUTH,
// parsed and checked: DSN (RFC 3461: RET, ENVID, NOTIFY, ORCPT), REQUIRETLS (RFC 8689) and
// MT-PRIORITY (RFC 6710). A plugin reads them through Transaction::mailOptions() and
// Transaction::rcptOptions(); the raw text stays in the hooks' `esmtp` params.
//
// They travel in the queue file (common/queue/todo.hpp) and on to the next hop when it offers
// the extension. What outbound delivery does with them (worker/outbound/delivery.hpp):
//   - a bounce leaves out recipients whose NOTIFY lacks FAILURE; RET=HDRS (and REQUIRETLS)
//     returns the header alone, RET=FULL the message within outbound.ini bounce_size_limit;
//     ENVID is the DSN's Original-Envelope-Id, ORCPT a recipient's Original-Recipient;
//   - NOTIFY=SUCCESS: to a next hop offering DSN the parameters go on and it reports; to one
//     without, the sender gets a notice, "relayed" (SMTP) or "delivered" (LMTP);
//   - no delay notices are sent (there are none at all), so DELAY is only passed on;
//   - a message a queue plugin takes over (maildir, lmtp, smtp_forward...) gets no notice from
//     the core: NOTIFY=SUCCESS is the plugin's to honour, through Transaction::rcptOptions();
//   - REQUIRETLS: TLS with a verified certificate to a next hop offering REQUIRETLS, whatever
//     tls.ini says of the host, else a bounce with 5.7.30 (sent without REQUIRETLS, header only);
//     the TLS-Required: No header field (RFC 8689 4) is not acted on.
#pragma once

#include <string>

namespace upesi {

/// RET= (RFC 3461 4.3): what a DSN returns of the message.
enum class DsnReturn {
  Unset,   ///< not given: our choice (the whole message, within bounce_size_limit)
  Full,    ///< RET=FULL
  Headers, ///< RET=HDRS
};

/// NOTIFY= (RFC 3461 4.1). Not given, a failure (and a delay) is reported as always.
struct DsnNotify {
  bool given = false;
  bool never = false;
  bool success = false;
  bool failure = false;
  bool delay = false;

  bool operator==(const DsnNotify&) const = default;

  bool wantsFailure() const { return !given || failure; }
  bool wantsDelay() const { return !given || delay; }
  bool wantsSuccess() const { return given && success; }
};

struct MailOptions {
  DsnReturn dsn_ret = DsnReturn::Unset;
  std::string dsn_envid;   ///< ENVID=, xtext decoded; empty when not given
  bool requiretls = false; ///< REQUIRETLS: every hop must use verified TLS
  bool has_mt_priority = false;
  int mt_priority = 0; ///< MT-PRIORITY=, -9 (lowest) .. 9

  bool operator==(const MailOptions&) const = default;
};

struct RcptOptions {
  DsnNotify notify;
  std::string orcpt_type;    ///< ORCPT= address type ("rfc822"); empty when not given
  std::string orcpt_address; ///< ORCPT= address, xtext decoded

  bool operator==(const RcptOptions&) const = default;
};

} // namespace upesi
