// queue/maildir: deliver each recipient's copy into a maildir under the install
// (maildir/<domain>/<local part>/new/), durably, before the client hears 250.
//
// All file work runs on the thread pool. Every copy is written to tmp/, fsynced, and only when
// all copies are safe are they renamed into new/ and the new/ directories fsynced; a failure
// before that removes every copy, so a retried message is never delivered twice to some
// recipients.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace upesi::plugins::queue_maildir {
namespace {

namespace fs = std::filesystem;

// A path component from an address part: nothing that could leave the base directory.
std::string safeComponent(std::string_view text, bool lower_case) {
  std::string out;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    bool ok = std::isalnum(c) != 0 || c >= 0x80 ||
              std::string_view("!#$%&'*+-=?^_`{|}~.@[]:").find(ch) != std::string_view::npos;
    char keep = lower_case ? static_cast<char>(std::tolower(c)) : ch;
    out += ok ? keep : '_';
  }
  if (out.empty() || out.front() == '.') {
    out.insert(out.begin(), '_');
  }
  return out;
}

bool writeAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool fsyncDir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// mkdir -p, fsyncing each parent whose entry it added.
bool makeDirs(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) {
    return true;
  }
  if (!makeDirs(dir.parent_path())) {
    return false;
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return false;
  }
  return fsyncDir(dir.parent_path());
}

struct Copy {
  fs::path maildir;
  std::string rcpt;
  fs::path tmp;
  fs::path final_path;
};

struct Job {
  std::shared_ptr<Transaction> txn;
  fs::path base;
  std::string me;
  std::vector<Copy> copies;
  std::string error; // empty: delivered
};

class Maildir final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    registrar.registerHook(
        Hook::Queue, [this](Next next, Connection& c, const HookParams&) { onQueue(next, c); });
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"queue.maildir.ini", "ini", {}}};
  }

private:
  fs::path baseDir() {
    auto ini = host_->config("queue.maildir.ini", "ini");
    const auto& main = ini["main"];
    if (main.contains("path") && main["path"].is_string() &&
        !main["path"].get<std::string>().empty()) {
      return fs::path(main["path"].get<std::string>());
    }
    return host_->installDir() / "maildir";
  }

  std::string uniqueName(const std::string& me) {
    auto now = std::chrono::system_clock::now().time_since_epoch();
    auto sec = std::chrono::duration_cast<std::chrono::seconds>(now).count();
    auto usec = std::chrono::duration_cast<std::chrono::microseconds>(now).count() % 1000000;
    std::string host = safeComponent(me, true);
    for (auto& c : host) {
      if (c == ':' || c == '/') {
        c = '_';
      }
    }
    return std::to_string(sec) + ".M" + std::to_string(usec) + "P" + std::to_string(::getpid()) +
           "Q" + std::to_string(++counter_) + "." + host;
  }

  void onQueue(const Next& next, Connection& connection) {
    auto txn = connection.sharedTransaction();
    if (!txn || txn->rcptTo().empty()) {
      next();
      return;
    }
    auto job = std::make_shared<Job>();
    job->txn = txn;
    job->base = baseDir();
    job->me = host_->me();
    for (const auto& rcpt : txn->rcptTo()) {
      Copy copy;
      std::string domain = rcpt.host.empty() ? job->me : rcpt.host;
      copy.maildir = job->base / safeComponent(domain, true) / safeComponent(rcpt.user, false);
      copy.rcpt = rcpt.address();
      std::string name = uniqueName(job->me);
      copy.tmp = copy.maildir / "tmp" / name;
      copy.final_path = copy.maildir / "new" / name;
      job->copies.push_back(std::move(copy));
    }
    std::string uuid = txn->uuid();
    Connection* conn = &connection;
    host_->runInThreadPool(
        [job] { deliver(*job); },
        [this, job, next, uuid, conn] {
          if (!job->error.empty()) {
            host_->log(LogLevel::Error, "maildir delivery failed: " + job->error);
            next(Code::DenySoft, "Error storing the message, try again later");
            return;
          }
          if (next.pending()) {
            host_->log(LogLevel::Info,
                       "delivered to " + std::to_string(job->copies.size()) + " maildir(s)", conn);
          }
          next(Code::Ok, "Message Queued (" + uuid + ")");
        });
  }

  // Thread pool: writes every copy to tmp/, then renames them all into new/.
  static void deliver(Job& job) {
    auto fail = [&](const std::string& what) {
      job.error = what;
      for (const auto& copy : job.copies) {
        ::unlink(copy.tmp.c_str());
      }
    };
    std::string return_path = "Return-Path: " + job.txn->mailFrom().format() + "\n";
    for (const auto& copy : job.copies) {
      for (const char* sub : {"tmp", "new", "cur"}) {
        if (!makeDirs(copy.maildir / sub)) {
          return fail(copy.maildir.string() + ": " + std::strerror(errno));
        }
      }
      int fd = ::open(copy.tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0) {
        return fail(copy.tmp.string() + ": " + std::strerror(errno));
      }
      bool ok = writeAll(fd, return_path) && writeAll(fd, "Delivered-To: " + copy.rcpt + "\n") &&
                job.txn->writeMessage([fd](std::string_view b) { return writeAll(fd, b); },
                                      MessageWriteOptions{false, false});
      int err = errno;
      ok = ok && ::fsync(fd) == 0;
      err = ok ? 0 : (err != 0 ? err : errno);
      if (::close(fd) != 0 && ok) {
        ok = false;
        err = errno;
      }
      if (!ok) {
        return fail(copy.tmp.string() + ": " + std::strerror(err != 0 ? err : EIO));
      }
    }
    for (const auto& copy : job.copies) {
      if (::rename(copy.tmp.c_str(), copy.final_path.c_str()) != 0) {
        return fail(copy.final_path.string() + ": " + std::strerror(errno));
      }
    }
    for (const auto& copy : job.copies) {
      if (!fsyncDir(copy.maildir / "new")) {
        job.error = (copy.maildir / "new").string() + ": fsync: " + std::strerror(errno);
        return; // renamed already: the copies exist, but their safety is not proven
      }
    }
  }

  Host* host_ = nullptr;
  std::atomic<unsigned long> counter_{0};
};

} // namespace
} // namespace upesi::plugins::queue_maildir

std::unique_ptr<upesi::Plugin> upesi_builtin_queue_maildir() {
  return std::make_unique<upesi::plugins::queue_maildir::Maildir>();
}
