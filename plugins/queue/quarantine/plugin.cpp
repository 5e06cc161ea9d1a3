// queue/quarantine: keeps a copy of a message that another plugin asked to quarantine (a
// `quarantine` note) in <base>/[<subdir>/]YYYYMMDD/<transaction uuid>. It never accepts the
// message itself: after the copy it answers CONT (or the `quarantine_action` note) so that the
// queue plugins after it still decide. The copy is written in <base>/tmp, fsynced, closed and
// renamed into place, on the thread pool.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include "common/util/durable_fs.hpp"
#include "plugins/support/json_notes.hpp"
#include "plugins/support/message_file.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace upesi::plugins::queue_quarantine {
namespace {

namespace fs = std::filesystem;

/// The sub-directory a note names (`quarantine = "corpus/foo"`), made safe to join under the
/// base: empty and "." components dropped, ".." and control bytes neutralised.
fs::path safeSubdir(const std::string& text) {
  fs::path out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto slash = text.find('/', start);
    std::string part =
        text.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    start = slash == std::string::npos ? text.size() + 1 : slash + 1;
    if (part.empty() || part == ".") {
      continue;
    }
    for (char& c : part) {
      auto byte = static_cast<unsigned char>(c);
      if (byte < 0x20 || byte == 0x7f) {
        c = '_';
      }
    }
    if (part == "..") {
      part = "_..";
    }
    out /= part.substr(0, 200);
  }
  return out;
}

std::string today() {
  std::time_t now = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&now, &local);
  return fmt::format("{:04}{:02}{:02}", local.tm_year + 1900, local.tm_mon + 1, local.tm_mday);
}

/// A code named in a `quarantine_action` note: Haraka's number (906) or its name ("OK").
std::optional<Code> codeFrom(const nlohmann::json& value) {
  static constexpr Code all[] = {
      Code::Cont,           Code::Stop,       Code::Deny, Code::DenySoft,
      Code::DenyDisconnect, Code::Disconnect, Code::Ok,   Code::DenySoftDisconnect};
  for (Code code : all) {
    if ((value.is_number_integer() && value.get<int>() == static_cast<int>(code)) ||
        (value.is_string() && value.get<std::string>() == toString(code))) {
      return code;
    }
  }
  return std::nullopt;
}

struct Job {
  std::shared_ptr<Transaction> txn;
  fs::path tmp;   // <base>/tmp/<uuid>
  fs::path dir;   // <base>/[<subdir>/]YYYYMMDD
  fs::path final; // dir/<uuid>
  std::string error;
};

void writeCopy(Job& job) {
  if (!durable::makeDirectories(job.tmp.parent_path(), 0750, job.error) ||
      !durable::makeDirectories(job.dir, 0750, job.error)) {
    return;
  }
  if (!writeMessageFile(*job.txn, {}, job.tmp, job.final, 0640, job.error)) {
    return;
  }
  (void)durable::syncDirectory(job.dir, job.error);
}

} // namespace

class Quarantine final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    load();
    host.onConfigChange("quarantine.ini", [this] { load(); });
    auto fn = [this](Next next, Connection& c, const HookParams&) { quarantine(next, c); };
    registrar.registerHook(Hook::Queue, fn, 0, "quarantine");
    registrar.registerHook(Hook::QueueOutbound, fn, 0, "quarantine");
    registrar.registerHook(
        Hook::InitMaster,
        [this](Next next, Connection&, const HookParams&) {
          cleanTmp();
          next();
        },
        0, "init_master");
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"quarantine.ini", "ini", {}}};
  }

private:
  void load() {
    auto cfg = host_->config("quarantine.ini", "ini", {});
    base_ = host_->installDir() / "quarantine";
    const auto& configured = member(member(cfg, "main"), "quarantine_path");
    if (configured.is_string() && !configured.get<std::string>().empty()) {
      fs::path path = configured.get<std::string>();
      base_ = path.is_absolute() ? path : host_->installDir() / path;
    }
  }

  /// Copies a crash left half written in tmp/ are garbage. init_master runs in the master before
  /// any worker exists, so no copy is being written now.
  void cleanTmp() {
    std::error_code ec;
    fs::path tmp = base_ / "tmp";
    for (const auto& entry : fs::directory_iterator(tmp, ec)) {
      std::error_code rm;
      if (fs::remove(entry.path(), rm); rm) {
        host_->log(LogLevel::Warn,
                   fmt::format("cannot remove {}: {}", entry.path().string(), rm.message()));
      } else {
        host_->log(LogLevel::Info,
                   fmt::format("removed the half-written {}", entry.path().string()));
      }
    }
  }

  void quarantine(const Next& next, Connection& connection) {
    auto txn = connection.sharedTransaction();
    if (!txn) {
      return next();
    }
    const auto& conn_note = member(connection.notes(), "quarantine");
    const auto& txn_note = member(txn->notes(), "quarantine");
    nlohmann::json wants = truthy(conn_note) ? conn_note : txn_note;
    if (!truthy(wants) && member(member(txn->notes(), "queue"), "wants") == "quarantine") {
      wants = true;
    }
    if (!truthy(wants)) {
      return next();
    }
    // true or 1: the dated folder; any other value names a sub-directory before it.
    fs::path dir = base_;
    if (!wants.is_boolean() && wants != 1) {
      // Notes may hold bytes from the network: dump() must not throw on bytes not UTF-8.
      dir /= safeSubdir(wants.is_string()
                            ? wants.get<std::string>()
                            : wants.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    dir /= today();
    auto job = std::make_shared<Job>();
    job->txn = txn;
    job->tmp = base_ / "tmp" / txn->uuid();
    job->dir = dir;
    job->final = dir / txn->uuid();
    nlohmann::json action = member(connection.notes(), "quarantine_action");
    if (!truthy(action)) {
      action = member(txn->notes(), "quarantine_action");
    }
    host_->runInThreadPool([job] { writeCopy(*job); },
                           [this, job, next, action] { finished(*job, next, action); });
  }

  void finished(Job& job, const Next& next, const nlohmann::json& action) {
    if (!job.error.empty()) {
      host_->log(LogLevel::Error,
                 fmt::format("quarantine of {} failed: {}", job.txn->uuid(), job.error));
      return next();
    }
    host_->log(LogLevel::Info, fmt::format("quarantined {}", job.final.string()));
    job.txn->notes()["quarantined"] = job.final.string();
    job.txn->results().add(host_->pluginName(), {{"pass", job.final.string()}});
    if (!truthy(action)) {
      return next();
    }
    const auto& code_value = action.is_array() && !action.empty() ? action[0] : action;
    auto code = codeFrom(code_value);
    if (!code) {
      host_->log(
          LogLevel::Warn,
          fmt::format("quarantine_action {} is not a code: ignored",
                      action.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
      return next();
    }
    if (action.is_array() && action.size() > 1 && action[1].is_string()) {
      return next(*code, action[1].get<std::string>());
    }
    next(*code);
  }

  Host* host_ = nullptr;
  fs::path base_;
};

} // namespace upesi::plugins::queue_quarantine

std::unique_ptr<upesi::Plugin> upesi_builtin_queue_quarantine() {
  return std::make_unique<upesi::plugins::queue_quarantine::Quarantine>();
}
