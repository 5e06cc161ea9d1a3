// The one way a new message enters the outbound queue from inside the server (Haraka's
// outbound.send_email): plugins through Host::sendEmail, the HTTP API's inject. Line ends become
// CRLF and dot-stuffing is undone when asked, then the process's engine adds Message-Id, Date
// and Received, runs pre_send_trans_email and writes the files durably.
#pragma once

#include <upesi/host.hpp>

#include "common/plugin/plugin_host.hpp"

namespace upesi::plugin {

/// `done` runs on the loop once, after the queue files are durable or with the reason why not.
void sendEmail(ProcessServices& services, const Address& from, const std::vector<Address>& to,
               std::string contents, ProcessServices::SendEmailDone done,
               const SendEmailOptions& options = {});

} // namespace upesi::plugin
