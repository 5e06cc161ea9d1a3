// Picks up what local programs handed to `sendmail` (drop files in the maildrop directory) and
// queues each message through send_email, as Postfix's pickup does. Every worker runs one; a
// file is claimed with an exclusive lock (and only while it still has a name), so each message
// is queued once, and removed only once its queue files are durable. A file that cannot be a
// message is moved to failed/ beside it, with a log line saying why.
//
// Threading: the loop thread; the directory listing and every file operation run on the
// thread pool.
#pragma once

#include <upesi/host.hpp>

#include "common/plugin/plugin_host.hpp"
#include "common/util/loop_timer.hpp"

#include <uv.h>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>

namespace upesi::outbound {

struct PickupSettings {
  std::filesystem::path dir;           // smtp.ini maildrop_dir
  std::string me;                      // unqualified addresses' domain
  std::uint64_t max_message_size = 0;  // smtp.ini's
  std::uint64_t rescan_ms = 60 * 1000; // besides the directory's change events
  std::uint64_t retry_ms = 30 * 1000;  // after send_email answered DENYSOFT
};

class MaildropPickup {
public:
  /// Queues a message as plugin::sendEmail does (the process's services, or a test's).
  using SendEmail = std::function<void(const Address& from, const std::vector<Address>& to,
                                       std::string message, const SendEmailOptions& options,
                                       plugin::ProcessServices::SendEmailDone done)>;

  MaildropPickup(uv_loop_t* loop, PickupSettings settings, SendEmail send_email);
  ~MaildropPickup();
  MaildropPickup(const MaildropPickup&) = delete;
  MaildropPickup& operator=(const MaildropPickup&) = delete;

  /// Creates the directory when missing, watches it and picks up what is there.
  void start();
  /// Picks up nothing more; a message being queued finishes.
  void stop();

  /// Messages queued and files moved to failed/ since start (for tests and logs).
  std::uint64_t queued() const { return queued_; }
  std::uint64_t failed() const { return failed_; }

private:
  struct State; // what callbacks on the thread pool share with this object
  struct Claimed;

  void scan();
  void scanned(std::deque<std::string> names);
  void next();
  void claimed(std::string name, std::shared_ptr<Claimed> file);
  void setAside(std::string name, std::shared_ptr<Claimed> file, std::string why);
  void armRescan(std::uint64_t ms);
  static void onChange(uv_fs_event_t* handle, const char* filename, int events, int status);

  uv_loop_t* loop_;
  PickupSettings settings_;
  SendEmail send_email_;
  std::shared_ptr<State> state_;
  LoopTimer rescan_timer_;
  uv_fs_event_t* watch_ = nullptr; // freed in its close callback
  std::deque<std::string> pending_;
  // Files that could not be moved to failed/: skipped until the next start (bounded).
  static constexpr std::size_t MaxIgnored = 1000;
  std::set<std::string> ignored_;
  bool busy_ = false;        // a pass is under way
  bool scan_wanted_ = false; // a change came during the pass
  bool running_ = false;
  std::uint64_t queued_ = 0;
  std::uint64_t failed_ = 0;
};

} // namespace upesi::outbound
