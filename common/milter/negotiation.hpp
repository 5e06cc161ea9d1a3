// Option negotiation as Postfix's milter8 does it. We offer a protocol version (2..6) with the
// steps that version defines and every action we can apply; the filter answers with its version
// (not above ours), the actions it wants (a subset of ours) and the steps it does not want
// (SMFIP_NO*) or will not answer (SMFIP_NR_*), and may name the macros it wants per stage.
#pragma once

#include "common/milter/protocol.hpp"
#include "common/milter/reply.hpp"
#include "common/util/result.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace upesi::milter {

struct Offer {
  std::uint32_t version = 6;
  std::uint32_t actions = action::All;
  std::uint32_t steps = 0;
};

/// What we offer for protocol `version` (2..6; 5, which libmilter never shipped, as 4).
Result<Offer> offerFor(int version);

struct Negotiated {
  Offer offer;
  std::uint32_t version = 0;
  std::uint32_t actions = 0;
  std::uint32_t steps = 0; ///< the filter's
  /// The macro names the filter asked for per stage (SETSYMLIST); none: the configured lists.
  std::array<std::optional<std::vector<std::string>>, MacroStageCount> macros;

  /// Whether the command that step::No<X> names is sent: the offered version defines it and
  /// the filter did not decline it.
  bool sends(std::uint32_t no_step) const;
  /// Whether the command that step::Nr<X> names gets a reply.
  bool replies(std::uint32_t nr_step) const;
  /// Header values go out and come back with their leading space (SMFIP_HDR_LEADSPC).
  bool leadingSpace() const;
  bool allows(std::uint32_t wanted_action) const { return (actions & wanted_action) != 0; }
};

Result<Negotiated> negotiate(const Offer& offer, const OptNegReply& reply);

/// Macro names from a list as configured or sent ("j {daemon_name}" or "j, {daemon_name}").
std::vector<std::string> splitMacroNames(std::string_view list);

} // namespace upesi::milter
