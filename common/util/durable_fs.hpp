// The file-system steps that make a write survive a crash, shared by everything that stores
// mail (maildirs, quarantine). Blocking: call them from the thread pool.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace upesi::durable {

/// fsync a directory so that an entry created or renamed in it survives a crash. On failure
/// `error` says which step failed and why.
bool syncDirectory(const std::filesystem::path& dir, std::string& error);

/// mkdir -p with `mode`, each new directory made durable in its parent.
bool makeDirectories(const std::filesystem::path& dir, mode_t mode, std::string& error);

/// write(2) until all of `data` is written (EINTR retried); false with errno set on failure.
bool writeAll(int fd, std::string_view data);

} // namespace upesi::durable
