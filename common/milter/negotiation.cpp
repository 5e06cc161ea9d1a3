#include "common/milter/negotiation.hpp"

#include <fmt/format.h>

namespace upesi::milter {
namespace {

constexpr std::uint32_t V2Steps = step::NoConnect | step::NoHelo | step::NoMail | step::NoRcpt |
                                  step::NoBody | step::NoHeaders | step::NoEoh;
constexpr std::uint32_t V3Steps = V2Steps | step::NoUnknown;
constexpr std::uint32_t V4Steps = V3Steps | step::NoData;
constexpr std::uint32_t V6Steps =
    V4Steps | step::Skip | step::RcptRej | step::NoReplyMask | step::HeaderLeadingSpace;

} // namespace

Result<Offer> offerFor(int version) {
  Offer offer;
  offer.version = static_cast<std::uint32_t>(version);
  offer.actions = action::All; // as Postfix: every version is offered every action
  switch (version) {
  case 2:
    offer.steps = V2Steps;
    break;
  case 3:
    offer.steps = V3Steps;
    break;
  case 4:
  case 5:
    offer.steps = V4Steps;
    break;
  case 6:
    offer.steps = V6Steps;
    break;
  default:
    return Error{fmt::format("protocol version {} is not one of 2..6", version)};
  }
  return offer;
}

bool Negotiated::sends(std::uint32_t no_step) const {
  const std::uint32_t outside_version = step::NoSendMask & ~offer.steps;
  return (no_step & (outside_version | steps)) == 0;
}

bool Negotiated::replies(std::uint32_t nr_step) const {
  return (nr_step & offer.steps & steps) == 0;
}

bool Negotiated::leadingSpace() const {
  return (step::HeaderLeadingSpace & offer.steps & steps) != 0;
}

Result<Negotiated> negotiate(const Offer& offer, const OptNegReply& reply) {
  if (reply.version < 2 || reply.version > offer.version) {
    return Error{
        fmt::format("filter protocol version {} against ours {}", reply.version, offer.version)};
  }
  if ((reply.actions & ~offer.actions) != 0) {
    return Error{fmt::format("filter asks actions 0x{:x} beyond the offered 0x{:x}", reply.actions,
                             offer.actions)};
  }
  Negotiated negotiated;
  negotiated.offer = offer;
  negotiated.version = reply.version;
  negotiated.actions = reply.actions;
  negotiated.steps = reply.steps;
  for (std::size_t stage = 0; stage < MacroStageCount; ++stage) {
    if (reply.macros[stage]) {
      negotiated.macros[stage] = splitMacroNames(*reply.macros[stage]);
    }
  }
  return negotiated;
}

std::vector<std::string> splitMacroNames(std::string_view list) {
  std::vector<std::string> names;
  std::size_t start = 0;
  while (start < list.size()) {
    const auto end = list.find_first_of(" ,\t", start);
    const auto name = list.substr(start, end == std::string_view::npos ? end : end - start);
    if (!name.empty()) {
      names.emplace_back(name);
    }
    if (end == std::string_view::npos) {
      break;
    }
    start = end + 1;
  }
  return names;
}

} // namespace upesi::milter
