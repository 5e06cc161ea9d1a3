// The values of the macros a filter asks for, from what the server knows of the connection and
// the transaction (Sendmail's and Postfix's names). A macro with no value here is left out, as
// Postfix leaves out the ones it has none for.
#pragma once

#include <upesi/connection.hpp>

#include "common/milter/commands.hpp"

#include <string>
#include <vector>

namespace upesi::plugins::milter {

struct MacroContext {
  const std::string& me; ///< this server's name
  Connection& connection;
  const Transaction* transaction = nullptr;
  const Address* recipient = nullptr; ///< at RCPT
};

/// `names` as configured or asked ("j", "{client_addr}"), each with its value.
upesi::milter::Macros macroValues(const std::vector<std::string>& names,
                                  const MacroContext& context);

/// One macro's value; empty when there is none.
std::string macroValue(std::string_view name, const MacroContext& context);

} // namespace upesi::plugins::milter
