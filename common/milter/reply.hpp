// Decoding a filter's packets: the replies to each command (decisions, progress, and the
// modifications of the end of a message) and the answer to option negotiation. Every field is
// checked; anything else is an error naming what was wrong, after which the connection cannot
// be trusted and is dropped.
#pragma once

#include "common/milter/packet.hpp"
#include "common/milter/protocol.hpp"
#include "common/util/result.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace upesi::milter {

enum class ReplyKind {
  // Decisions: the filter is done with the command.
  Accept,
  Continue,
  Discard,
  Reject,
  Tempfail,
  ReplyCode, ///< its own SMTP reply: code, enhanced, lines
  Shutdown,  ///< 421: close the SMTP connection
  Skip,      ///< no more body chunks; go on to the end of the message
  // Still working: restarts the timeout.
  Progress,
  // Modifications, only before the decision that answers the end of a message.
  AddHeader,    ///< name, value
  InsertHeader, ///< index (0: first), name, value
  ChangeHeader, ///< index (the n-th field named `name`, from 1; 0 read as 1), name, value
  AddRcpt,      ///< name: the recipient
  AddRcptPar,   ///< name: the recipient, value: its ESMTP parameters
  DelRcpt,      ///< name: the recipient
  ChangeFrom,   ///< name: the sender, value: its ESMTP parameters
  ReplaceBody,  ///< body: the next piece of the new body
  Quarantine,   ///< name: the reason
};

const char* kindName(ReplyKind kind);

struct FilterReply {
  ReplyKind kind = ReplyKind::Continue;
  int code = 0;                   ///< ReplyCode: 400..599
  std::string enhanced;           ///< ReplyCode: "5.7.1"
  std::vector<std::string> lines; ///< ReplyCode: each line's text, without code and enhanced
  std::uint32_t index = 0;
  std::string name;
  std::string value;
  std::string body;

  bool isModification() const { return kind >= ReplyKind::AddHeader; }
  bool isDecision() const { return kind <= ReplyKind::Skip; }
};

/// A reply to `sent` (the command letter it answers).
Result<FilterReply> decodeReply(const Packet& packet, char sent);

/// The filter's answer to OPTNEG, with the macro lists it asked for per stage (SETSYMLIST);
/// stages it named no list for are empty optionals, unknown stages are ignored.
struct OptNegReply {
  std::uint32_t version = 0;
  std::uint32_t actions = 0;
  std::uint32_t steps = 0;
  std::array<std::optional<std::string>, MacroStageCount> macros;
};

Result<OptNegReply> decodeOptNegReply(const Packet& packet);

/// SMTP replies as libmilter's smfi_setreply/smfi_setmlreply write them: "550 5.7.1 text", or
/// "550-5.7.1 one\r\n550 5.7.1 two". Each line 4xx or 5xx, the same code, an enhanced code of
/// the same class on the first line (optional on the others), '-' on every line but the last;
/// "%%" is read as "%" (Sendmail treats the text as a format).
Result<FilterReply> parseReplyText(std::string_view text);

} // namespace upesi::milter
