// EsmtpClaims: the MAIL FROM / RCPT TO parameters the core does not implement, offered to the
// mail and rcpt hooks (Haraka passes every parameter to them in `params`).
//
// A plugin that implements a parameter claims it from its mail or rcpt hook and answers as it
// likes:
//
//   if (params.claims != nullptr && params.claims->claim("XFOO")) { ...use the value... }
//
// A parameter nobody claimed by the end of the chain is refused with 555 5.5.4 (RFC 5321
// 4.1.1.11), unless the chain refused the command anyway. A plugin answering OK ends the chain,
// so a claiming hook must run before it (register it with a lower priority).
//
// The core implements SIZE, BODY, SMTPUTF8, AUTH, RET, ENVID, REQUIRETLS and (when smtp.ini
// names a policy) MT-PRIORITY on MAIL, NOTIFY and ORCPT on RCPT; those are never offered here.
#pragma once

#include <upesi/text.hpp>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace upesi {

class EsmtpClaims {
public:
  EsmtpClaims() = default;
  /// `unknown`: the keywords to be claimed, upper-case.
  explicit EsmtpClaims(std::vector<std::string> unknown) : unclaimed_(std::move(unknown)) {}

  /// Marks `keyword` (any case) as handled by the caller. False if the command did not carry
  /// it as an unknown parameter (or another plugin claimed it first).
  bool claim(std::string_view keyword) {
    auto it = std::find_if(unclaimed_.begin(), unclaimed_.end(), [keyword](const std::string& k) {
      return text::equalsIgnoreCase(k, keyword);
    });
    if (it == unclaimed_.end()) {
      return false;
    }
    unclaimed_.erase(it);
    return true;
  }

  /// The keywords nobody has claimed yet.
  const std::vector<std::string>& unclaimed() const { return unclaimed_; }

private:
  std::vector<std::string> unclaimed_;
};

} // namespace upesi
