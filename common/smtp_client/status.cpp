#include "common/smtp_client/status.hpp"

namespace upesi::smtp_client {

const char* toString(Outcome outcome) {
  switch (outcome) {
  case Outcome::Ok:
    return "ok";
  case Outcome::Temporary:
    return "temporary";
  case Outcome::Permanent:
    return "permanent";
  }
  return "?";
}

Status Status::fromReply(const ServerReply& reply) {
  Outcome outcome = reply.positive()    ? Outcome::Ok
                    : reply.transient() ? Outcome::Temporary
                                        : Outcome::Permanent;
  return {outcome, reply.code, reply.enhanced, reply.describe()};
}

} // namespace upesi::smtp_client
