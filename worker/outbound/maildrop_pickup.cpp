#include "worker/outbound/maildrop_pickup.hpp"

#include "common/log/logger.hpp"
#include "common/maildrop/drop_file.hpp"
#include "common/maildrop/dropped_message.hpp"
#include "common/util/thread_pool.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace upesi::outbound {
namespace fs = std::filesystem;
namespace {

// A temporary file this old was left by a sendmail that died while writing it.
constexpr auto StaleTemporary = std::chrono::hours(24);
// Names taken in one pass; the rest wait for the next.
constexpr std::size_t MaxNamesPerPass = 10000;

std::deque<std::string> listDropFiles(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  fs::create_directories(dir, ec);
  const auto now = fs::file_time_type::clock::now();
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (maildrop::isFinishedName(name)) {
      names.push_back(name);
    } else if (maildrop::isTemporaryName(name)) {
      std::error_code time_ec;
      const auto written = fs::last_write_time(it->path(), time_ec);
      if (!time_ec && now - written > StaleTemporary) {
        fs::remove(it->path(), time_ec);
      }
    }
  }
  // d.<seconds>...: oldest first, as they were dropped.
  std::sort(names.begin(), names.end());
  if (names.size() > MaxNamesPerPass) {
    names.resize(MaxNamesPerPass);
  }
  return {names.begin(), names.end()};
}

} // namespace

struct MaildropPickup::State {
  bool alive = true;
};

// A drop file this worker holds locked while it queues the message.
struct MaildropPickup::Claimed {
  int fd = -1;
  bool gone = false; // another worker has it, or had it
  std::string bytes;
  std::string error;
  ~Claimed() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

MaildropPickup::MaildropPickup(uv_loop_t* loop, PickupSettings settings, SendEmail send_email)
    : loop_(loop), settings_(std::move(settings)), send_email_(std::move(send_email)),
      state_(std::make_shared<State>()), rescan_timer_(loop) {}

MaildropPickup::~MaildropPickup() {
  stop();
  state_->alive = false;
}

void MaildropPickup::start() {
  running_ = true;
  scan();
}

void MaildropPickup::stop() {
  running_ = false;
  pending_.clear();
  rescan_timer_.stop();
  if (watch_ != nullptr) {
    uv_fs_event_stop(watch_);
    uv_close(reinterpret_cast<uv_handle_t*>(watch_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_fs_event_t*>(h); });
    watch_ = nullptr;
  }
}

void MaildropPickup::onChange(uv_fs_event_t* handle, const char* filename, int, int status) {
  auto* self = static_cast<MaildropPickup*>(handle->data);
  if (status == 0 && filename != nullptr && !maildrop::isFinishedName(filename)) {
    return; // a temporary file, or one moved aside
  }
  self->scan();
}

void MaildropPickup::armRescan(std::uint64_t ms) {
  if (running_) {
    rescan_timer_.start(ms, [this] { scan(); });
  }
}

void MaildropPickup::scan() {
  if (!running_) {
    return;
  }
  if (busy_) {
    scan_wanted_ = true;
    return;
  }
  busy_ = true;
  auto names = std::make_shared<std::deque<std::string>>();
  auto state = state_;
  runOnThreadPool(
      loop_, [names, dir = settings_.dir] { *names = listDropFiles(dir); },
      [this, state, names] {
        if (state->alive) {
          scanned(std::move(*names));
        }
      });
}

void MaildropPickup::scanned(std::deque<std::string> names) {
  if (running_ && watch_ == nullptr) {
    // The directory exists now (the listing made it): watch it for new files.
    watch_ = new uv_fs_event_t{};
    uv_fs_event_init(loop_, watch_);
    watch_->data = this;
    if (const int rc =
            uv_fs_event_start(watch_, &MaildropPickup::onChange, settings_.dir.c_str(), 0);
        rc != 0) {
      log::warn({}, "maildrop: cannot watch {} ({}): looking every {} s", settings_.dir.string(),
                uv_strerror(rc), settings_.rescan_ms / 1000);
    }
  }
  pending_ = std::move(names);
  next();
}

void MaildropPickup::next() {
  if (!running_ || pending_.empty()) {
    busy_ = false;
    if (scan_wanted_) {
      scan_wanted_ = false;
      scan();
    } else {
      armRescan(settings_.rescan_ms);
    }
    return;
  }
  std::string name = std::move(pending_.front());
  pending_.pop_front();
  if (ignored_.count(name) != 0) {
    next();
    return;
  }
  auto file = std::make_shared<Claimed>();
  auto state = state_;
  const std::uint64_t limit =
      settings_.max_message_size > 0 ? settings_.max_message_size + maildrop::MaxEnvelopeBytes : 0;
  runOnThreadPool(
      loop_,
      [file, path = settings_.dir / name, limit] {
        file->fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (file->fd < 0) {
          if (errno == ENOENT) {
            file->gone = true;
          } else {
            file->error = fmt::format("cannot open it: {}", std::strerror(errno));
          }
          return;
        }
        struct stat st {};
        // Locked elsewhere, or removed since it was listed: another worker's.
        if (::flock(file->fd, LOCK_EX | LOCK_NB) != 0 || ::fstat(file->fd, &st) != 0 ||
            st.st_nlink == 0) {
          file->gone = true;
          return;
        }
        if (!S_ISREG(st.st_mode)) {
          file->error = "not a regular file";
          return;
        }
        if (limit > 0 && static_cast<std::uint64_t>(st.st_size) > limit) {
          file->error = fmt::format("{} bytes, over smtp.ini max_message_size", st.st_size);
          return;
        }
        file->bytes.resize(static_cast<std::size_t>(st.st_size));
        std::size_t got = 0;
        while (got < file->bytes.size()) {
          const ssize_t n = ::read(file->fd, file->bytes.data() + got, file->bytes.size() - got);
          if (n < 0 && errno == EINTR) {
            continue;
          }
          if (n <= 0) {
            break;
          }
          got += static_cast<std::size_t>(n);
        }
        file->bytes.resize(got);
      },
      [this, state, name, file]() mutable {
        if (state->alive) {
          claimed(std::move(name), std::move(file));
        }
      });
}

void MaildropPickup::claimed(std::string name, std::shared_ptr<Claimed> file) {
  if (file->gone) {
    next();
    return;
  }
  if (!file->error.empty()) {
    std::string why = file->error;
    setAside(std::move(name), std::move(file), std::move(why));
    return;
  }
  auto message =
      maildrop::readDroppedMessage(file->bytes, settings_.me, settings_.max_message_size);
  file->bytes.clear();
  file->bytes.shrink_to_fit();
  if (!message) {
    setAside(std::move(name), std::move(file), message.error());
    return;
  }
  for (const auto& bad : message->bad_recipients) {
    log::warn({}, "maildrop: {}: recipient left out: {}", name, bad);
  }
  SendEmailOptions options;
  options.notes = message->notes;
  const auto uid = message->notes["local_submission"]["uid"].get<unsigned long>();
  auto state = state_;
  send_email_(message->from, message->to, std::move(message->message), options,
              [this, state, name, file, uid](Code code, const std::string& text,
                                             const std::vector<std::string>&) mutable {
                if (!state->alive) {
                  return;
                }
                if (code == Code::Ok) {
                  ++queued_;
                  log::info({}, "maildrop: {} (from uid {}): {}", name, uid, text);
                  auto path = settings_.dir / name;
                  runOnThreadPool(
                      loop_, [path, file] { ::unlink(path.c_str()); },
                      [this, state] {
                        if (state->alive) {
                          next();
                        }
                      });
                  return;
                }
                if (code == Code::DenySoft) {
                  log::warn({}, "maildrop: {} (from uid {}) waits: {}", name, uid, text);
                  // Released (its descriptor closes with the last reference); tried again later.
                  pending_.clear();
                  busy_ = false;
                  scan_wanted_ = false;
                  armRescan(settings_.retry_ms);
                  return;
                }
                setAside(std::move(name), std::move(file), "send_email refused it: " + text);
              });
}

void MaildropPickup::setAside(std::string name, std::shared_ptr<Claimed> file, std::string why) {
  ++failed_;
  log::error({}, "maildrop: {}: {}: moved to {}/failed/", name, why, settings_.dir.string());
  auto state = state_;
  auto moved = std::make_shared<bool>(false);
  runOnThreadPool(
      loop_,
      [dir = settings_.dir, name, file, moved] {
        std::error_code ec;
        fs::create_directories(dir / "failed", ec);
        *moved = ::rename((dir / name).c_str(), (dir / "failed" / name).c_str()) == 0;
      },
      [this, state, name, moved] {
        if (!state->alive) {
          return;
        }
        if (!*moved && ignored_.size() < MaxIgnored) {
          // Kept where it is (never deleted), and not tried again until the next start.
          log::error({}, "maildrop: {} cannot be moved to failed/: left in place", name);
          ignored_.insert(name);
        }
        next();
      });
}

} // namespace upesi::outbound
