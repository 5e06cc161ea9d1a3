// sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET (a path, or "@name" in the
// abstract namespace). Does nothing when systemd did not ask.
#pragma once

#include <string>

namespace upesi::master {

void notifySystemd(const std::string& state);
void notifyReady(const std::string& status);
void notifyReloading();
void notifyStopping();

} // namespace upesi::master
