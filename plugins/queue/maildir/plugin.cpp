// queue/maildir: local delivery. Stores each inbound message in one maildir per recipient,
// <base>/<domain>/<local part>/{tmp,new,cur}, the Postfix way: create in tmp/ with O_EXCL,
// write, fsync, close, rename into new/, fsync new/ — and only then the 250. All file work runs
// on the thread pool; the loop never waits for the disk.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>
#include <upesi/text.hpp>

#include "common/util/durable_fs.hpp"
#include "plugins/support/message_file.hpp"

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace upesi::plugins::queue_maildir {

namespace fs = std::filesystem;

/// One path component from a piece of an address, safe to join under the base directory and
/// injective, so two addresses never share a maildir: '%', '/', NUL and other control bytes, and
/// a leading '.' (so never "." or ".." and no hidden names) are written as %XX; "" is "%".
/// No length cut: the parser bounds local parts (64) and domains (255).
std::string safeComponent(std::string_view text) {
  if (text.empty()) {
    return "%";
  }
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const auto byte = static_cast<unsigned char>(c);
    if (c == '%' || c == '/' || byte < 0x20 || byte == 0x7f || (i == 0 && c == '.')) {
      out += fmt::format("%{:02X}", byte);
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

std::atomic<std::uint64_t> delivery_counter{0};

struct Copy {
  fs::path maildir;   // <base>/<domain>/<local>
  std::string prefix; // Return-Path and Delivered-To lines
  fs::path delivered; // new/<name> once renamed
};

struct Job {
  std::shared_ptr<Transaction> txn;
  std::vector<Copy> copies;
  std::string hostname;
  std::string error; // empty: every copy delivered
};

/// A maildir file name: time.unique.host (unique: pid, a process counter and the transaction).
std::string uniqueName(const std::string& txn_uuid, const std::string& hostname) {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto usec = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
  std::string unique = txn_uuid;
  for (char& c : unique) {
    if (c == '.' || c == '/' || c == ':') {
      c = '_';
    }
  }
  return fmt::format("{}.M{}P{}Q{}_{}.{}", usec / 1000000, usec % 1000000, ::getpid(),
                     ++delivery_counter, unique, hostname);
}

bool deliverCopy(Job& job, Copy& copy) {
  std::string& error = job.error;
  for (const char* sub : {"tmp", "new", "cur"}) {
    if (!durable::makeDirectories(copy.maildir / sub, 0700, error)) {
      return false;
    }
  }
  const auto name = uniqueName(job.txn->uuid(), job.hostname);
  const auto tmp = copy.maildir / "tmp" / name;
  const auto delivered = copy.maildir / "new" / name;
  if (!writeMessageFile(*job.txn, copy.prefix, tmp, delivered, 0600, error)) {
    return false;
  }
  copy.delivered = delivered;
  if (!durable::syncDirectory(copy.maildir / "new", error)) {
    return false; // the caller removes the delivered copies
  }
  return true;
}

void deliverAll(Job& job) {
  for (auto& copy : job.copies) {
    if (!deliverCopy(job, copy)) {
      // All or nothing: the client will retry the whole message after the 451, so copies
      // already delivered would arrive twice.
      for (auto& done : job.copies) {
        if (!done.delivered.empty()) {
          ::unlink(done.delivered.c_str());
          done.delivered.clear();
        }
      }
      return;
    }
  }
}

} // namespace

class Maildir final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    load();
    host.onConfigChange("queue.maildir.ini", [this] { load(); });
    char name[256] = {};
    if (::gethostname(name, sizeof(name) - 1) == 0 && name[0] != '\0') {
      hostname_ = name;
    } else {
      hostname_ = host.me();
    }
    // The maildir spec's escapes for the two characters a host part must not carry.
    std::string escaped;
    for (const char c : hostname_) {
      escaped += c == '/'   ? std::string("\\057")
                 : c == ':' ? std::string("\\072")
                            : std::string(1, c);
    }
    hostname_ = escaped;
    registrar.registerHook(
        Hook::Queue, [this](Next next, Connection& c, const HookParams&) { queue(next, c); }, 0,
        "queue");
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"queue.maildir.ini", "ini", {}}};
  }

private:
  void load() {
    auto cfg = host_->config("queue.maildir.ini", "ini", {});
    base_ = host_->installDir() / "maildir";
    if (cfg.is_object() && cfg.contains("main") && cfg["main"].is_object() &&
        cfg["main"].contains("path") && cfg["main"]["path"].is_string()) {
      fs::path configured = cfg["main"]["path"].get<std::string>();
      if (!configured.empty()) {
        base_ = configured.is_absolute() ? configured : host_->installDir() / configured;
      }
    }
  }

  void queue(const Next& next, Connection& connection) {
    auto txn = connection.sharedTransaction();
    if (!txn) {
      return next();
    }
    auto job = std::make_shared<Job>();
    job->txn = txn;
    job->hostname = hostname_;
    std::set<fs::path> seen;
    for (const auto& rcpt : txn->rcptTo()) {
      const std::string domain =
          rcpt.host.empty() ? text::toLower(host_->me()) : text::toLower(rcpt.host);
      // Local parts are case-insensitive for delivery (X@ and x@ are one mailbox).
      fs::path dir = base_ / safeComponent(domain) / safeComponent(text::toLower(rcpt.user));
      if (!seen.insert(dir).second) {
        continue; // one copy per mailbox
      }
      std::string prefix = fmt::format("Return-Path: {}\nDelivered-To: {}\n",
                                       txn->mailFrom().format(), rcpt.address());
      job->copies.push_back(Copy{std::move(dir), std::move(prefix), {}});
    }
    if (job->copies.empty()) {
      return next(Code::DenySoft, "Message not queued: no recipients");
    }
    const std::string uuid = txn->uuid();
    host_->runInThreadPool(
        [job] { deliverAll(*job); },
        [this, job, next, uuid] {
          if (!job->error.empty()) {
            job->txn->results().add(host_->pluginName(), {{"err", job->error}});
            host_->log(LogLevel::Error,
                       fmt::format("maildir delivery of {} failed: {}", uuid, job->error));
            next(Code::DenySoft, "Message not queued: local delivery failed, try again later");
            return;
          }
          job->txn->results().add(host_->pluginName(),
                                  {{"pass", fmt::format("{} maildir(s)", job->copies.size())}});
          host_->log(LogLevel::Info,
                     fmt::format("delivered {} to {} maildir(s)", uuid, job->copies.size()));
          next(Code::Ok, fmt::format("Message Queued ({})", uuid));
        });
  }

  Host* host_ = nullptr;
  fs::path base_;
  std::string hostname_;
};

} // namespace upesi::plugins::queue_maildir

std::unique_ptr<upesi::Plugin> upesi_builtin_queue_maildir() {
  return std::make_unique<upesi::plugins::queue_maildir::Maildir>();
}
