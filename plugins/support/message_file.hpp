// A durable copy of a transaction's message in a file of its own, as the queue plugins that
// store mail locally (queue/maildir, queue/quarantine) write it: created with O_EXCL under a
// temporary name, LF line ends and no dot-stuffing, fsynced and closed, then renamed into place.
// Syncing the directory of the final name is the caller's (it knows which failures matter).
//
// Threading: any thread (the plugins run it on the thread pool); blocks on the disk.
#pragma once

#include <upesi/connection.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace upesi::plugins {

/// Writes `prefix` then the message to `tmp` (mode `mode`) and renames it to `final`. False,
/// with `error` set and `tmp` removed, on any failure.
bool writeMessageFile(Transaction& txn, std::string_view prefix, const std::filesystem::path& tmp,
                      const std::filesystem::path& final, mode_t mode, std::string& error);

} // namespace upesi::plugins
