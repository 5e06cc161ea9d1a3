// Applies a filter's end-of-message modifications to the transaction through the plugin API
// (API 5): header fields added, inserted, changed or deleted; recipients added (with NOTIFY and
// ORCPT from their ESMTP arguments) or deleted; the sender changed; the body replaced; the
// `quarantine` note set. A modification the transaction cannot take (an address that does not
// parse) is logged and skipped, as Postfix skips a failed edit.
#pragma once

#include <upesi/connection.hpp>
#include <upesi/log_level.hpp>

#include "common/milter/reply.hpp"

#include <functional>
#include <memory>
#include <string>

namespace upesi::plugins::milter {

class ModificationApplier {
public:
  using Log = std::function<void(LogLevel, const std::string&)>;

  ModificationApplier(Transaction& txn, bool leading_space, Log log)
      : txn_(txn), leading_space_(leading_space), log_(std::move(log)) {}

  void apply(const upesi::milter::FilterReply& modification);
  /// The end of the filter's replies: a new body is committed when `keep`, else dropped.
  /// False if a new body could not be kept.
  bool finish(bool keep);
  bool changed() const { return changed_; }
  void setLeadingSpace(bool leading_space) { leading_space_ = leading_space; }

private:
  std::string headerValue(const std::string& value) const;

  Transaction& txn_;
  bool leading_space_;
  Log log_;
  std::unique_ptr<BodyReplacement> body_;
  bool body_failed_ = false;
  bool changed_ = false;
};

/// "SIZE=10 BODY=8BITMIME" as MAIL/RCPT parameters (keywords upper-cased).
EsmtpParams parseEsmtpArgs(std::string_view text);

} // namespace upesi::plugins::milter
