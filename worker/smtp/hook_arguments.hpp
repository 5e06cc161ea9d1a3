// HookArguments: a hook's HookParams together with the values they point into. Copies share
// the values; the hook's run holds one copy and its answer may hold another, so the values live
// exactly as long as the hook needs them and the session keeps nothing alive for them.
//
// Threading: the loop thread.
#pragma once

#include <upesi/address.hpp>
#include <upesi/connection.hpp>
#include <upesi/esmtp_claims.hpp>

#include <memory>
#include <string>

namespace upesi::smtp {

class HookArguments {
public:
  /// No arguments beyond the connection.
  HookArguments();
  /// unrecognized_command, vrfy, and the hook HOOK_NEXT names: the command word and the rest.
  static HookArguments command(std::string verb, std::string argument);
  /// helo, ehlo: the name the client gave.
  static HookArguments hello(std::string host);
  /// mail, rcpt: the address, its parameters, and those a plugin must claim.
  static HookArguments envelope(Address address, EsmtpParams esmtp, EsmtpClaims claims);
  /// rcpt: the same, with the address open to rewriting (HookParams::recipient).
  static HookArguments recipient(Address address, EsmtpParams esmtp, EsmtpClaims claims);
  /// queue_ok: the queue's reply text.
  static HookArguments queued(std::string message);
  /// auth: the credentials read.
  static HookArguments authentication(AuthAttempt attempt);
  /// The same arguments plus `address` (rcpt_ok after HOOK_NEXT).
  HookArguments withAddress(Address address) const;

  const HookParams& params() const { return values_->params; }
  const Address& address() const { return values_->address; }
  const EsmtpClaims& claims() const { return values_->claims; }
  /// What the hook runner keeps alive while the hook runs.
  std::shared_ptr<const void> owner() const { return values_; }

private:
  struct Values {
    Address address;
    EsmtpParams esmtp;
    EsmtpClaims claims;
    std::string host;
    std::string verb;
    std::string argument;
    std::string message;
    AuthAttempt auth;
    HookParams params; // views of the fields above
  };
  explicit HookArguments(std::shared_ptr<Values> values) : values_(std::move(values)) {}

  std::shared_ptr<Values> values_;
};

} // namespace upesi::smtp
