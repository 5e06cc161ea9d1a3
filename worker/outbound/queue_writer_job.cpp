#include "worker/outbound/queue_writer_job.hpp"

#include "common/queue/queue_file_name.hpp"
#include "common/queue/queue_writer.hpp"
#include "common/util/clock.hpp"

#include <fmt/format.h>

#include <chrono>
#include <map>
#include <unistd.h>

namespace upesi::outbound {
namespace {

struct WriteJob {
  uv_work_t req{};
  std::shared_ptr<Transaction> txn;
  std::vector<QueuedFile> files;
  std::string queue_dir;
  std::string error;
  std::function<void(Result<std::vector<QueuedFile>>)> done;
};

} // namespace

std::vector<QueuedFile> planQueueFiles(Transaction& txn, const config::OutboundConfig& config,
                                       const std::string& hostname) {
  // Haraka's grouping: one file per recipient domain, in the order domains first appear.
  std::vector<std::pair<std::string, std::vector<Address>>> groups;
  std::map<std::string, std::size_t> index;
  for (const auto& rcpt : txn.rcptTo()) {
    if (config.always_split) {
      groups.push_back({rcpt.host, {rcpt}});
      continue;
    }
    auto [it, fresh] = index.emplace(rcpt.host, groups.size());
    if (fresh) {
      groups.push_back({rcpt.host, {}});
    }
    groups[it->second].second.push_back(rcpt);
  }
  // Converted as they are, not through dump(): a note may hold bytes from the network that are
  // not UTF-8 (dump() throws on them); the queue file's writer repairs those (U+FFFD).
  nlohmann::ordered_json notes = txn.notes();
  if (!notes.is_object()) {
    notes = nlohmann::ordered_json::object();
  }
  if (!notes.contains("skip_plugins")) {
    notes["skip_plugins"] = nlohmann::ordered_json::array();
  }
  std::vector<QueuedFile> files;
  std::int64_t now = epochMs();
  for (std::size_t k = 0; k < groups.size(); ++k) {
    QueuedFile file;
    file.name = queue::QueueFileName::makeNew(now, ::getpid(), hostname).format();
    file.todo.queue_time = now;
    file.todo.domain = groups[k].first;
    for (const auto& rcpt : groups[k].second) {
      auto json = queue::addressToJson(rcpt);
      queue::setRcptOptions(json, txn.rcptOptions(rcpt));
      file.todo.rcpt_to.push_back(std::move(json));
    }
    file.todo.mail_from = queue::addressToJson(txn.mailFrom());
    file.todo.notes = notes;
    file.todo.uuid = fmt::format("{}.{}", txn.uuid(), k + 1);
    const MailOptions& options = txn.mailOptions();
    file.todo.dsn_ret = options.dsn_ret;
    file.todo.dsn_envid = options.dsn_envid;
    file.todo.requiretls = options.requiretls;
    if (options.has_mt_priority) {
      file.todo.mt_priority = options.mt_priority;
    }
    files.push_back(std::move(file));
  }
  return files;
}

void writeQueueFiles(uv_loop_t* loop, std::shared_ptr<Transaction> txn,
                     std::vector<QueuedFile> files, std::string queue_dir,
                     std::function<void(Result<std::vector<QueuedFile>>)> done) {
  auto* job = new WriteJob{};
  job->txn = std::move(txn);
  job->files = std::move(files);
  job->queue_dir = std::move(queue_dir);
  job->done = std::move(done);
  job->req.data = job;
  uv_queue_work(
      loop, &job->req,
      [](uv_work_t* req) {
        auto* j = static_cast<WriteJob*>(req->data);
        std::vector<std::string> written;
        for (const auto& file : j->files) {
          auto result =
              queue::writeQueueFile(j->queue_dir, file.name, file.todo,
                                    [j](const queue::ByteSink& sink) -> Result<std::monostate> {
                                      Result<std::monostate> status = std::monostate{};
                                      bool ok = j->txn->writeMessage(
                                          [&](std::string_view bytes) {
                                            status = sink(bytes);
                                            return status.ok();
                                          },
                                          MessageWriteOptions{true, true});
                                      if (!ok && status.ok()) {
                                        return Error{"the message could not be read"};
                                      }
                                      return status;
                                    });
          if (!result) {
            j->error = result.error();
            for (const auto& name : written) {
              (void)queue::removeQueueFile(j->queue_dir, name);
            }
            return;
          }
          written.push_back(file.name);
        }
      },
      [](uv_work_t* req, int /*status*/) {
        std::unique_ptr<WriteJob> j(static_cast<WriteJob*>(req->data));
        if (!j->error.empty()) {
          j->done(Error{j->error});
        } else {
          j->done(std::move(j->files));
        }
      });
}

} // namespace upesi::outbound
