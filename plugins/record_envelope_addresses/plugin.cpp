// record_envelope_addresses: writes the envelope into the message header, so that a mailbox or
// a later hop sees who the message was sent from and to.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include <memory>
#include <string>

namespace upesi::plugins::record_envelope_addresses {

class RecordEnvelopeAddresses final : public Plugin {
public:
  void registerHooks(Host& /*host*/, Registrar& registrar) override {
    registrar.registerHook(Hook::DataPost, [](Next next, Connection& connection,
                                              const HookParams&) {
      auto* txn = connection.transaction();
      if (txn == nullptr) {
        return next();
      }
      // Leading fields, as Haraka's add_header puts them on top; added bottom-up so the result
      // reads From, then each To in recipient order.
      const auto& rcpts = txn->rcptTo();
      for (auto it = rcpts.rbegin(); it != rcpts.rend(); ++it) {
        txn->addLeadingHeader("X-Envelope-To", it->address());
      }
      const auto& from = txn->mailFrom();
      txn->addLeadingHeader("X-Envelope-From", from.is_null ? std::string("<>") : from.address());
      next();
    });
  }
};

} // namespace upesi::plugins::record_envelope_addresses

std::unique_ptr<upesi::Plugin> upesi_builtin_record_envelope_addresses() {
  return std::make_unique<upesi::plugins::record_envelope_addresses::RecordEnvelopeAddresses>();
}
