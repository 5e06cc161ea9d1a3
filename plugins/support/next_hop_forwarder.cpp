#include "plugins/support/next_hop_forwarder.hpp"

#include "plugins/support/forward_verdict.hpp"

#include <fmt/format.h>

#include <string_view>
#include <utility>

namespace upesi::plugins {

NextHopForwarder::NextHopForwarder(ForwardKind kind) : kind_(std::move(kind)) {}

void NextHopForwarder::load(Host& host) {
  host_ = &host;
  resolver_.emplace([&host](const std::string& name, DnsType type, DnsCallback done) {
    host.dnsQuery(name, type, std::move(done));
  });
  ForwardConfigReading reading =
      readForwardConfig(host.config(kind_.config_file, "ini", booleans()), kind_);
  config_ = std::move(reading.config);
  for (const auto& problem : reading.problems) {
    host.log(LogLevel::Error, fmt::format("{}: {}", kind_.config_file, problem));
  }
}

void NextHopForwarder::forward(const Next& next, Connection& connection, bool outbound) {
  auto txn = connection.sharedTransaction();
  if (!txn || txn->rcptTo().empty()) {
    return next();
  }
  const ForwardRoute& route = selectRoute(config_, *txn);
  if (outbound && !route.enable_outbound) {
    return next(); // the outbound queue delivers it
  }
  if (route.host.empty()) {
    host_->log(LogLevel::Error, fmt::format("{}: no host for [{}]; not forwarding {}",
                                            kind_.config_file, route.section, txn->uuid()));
    return next();
  }
  auto job = std::make_shared<Job>();
  job->txn = std::move(txn);
  job->next = next;
  job->route = route;
  job->uuid = job->txn->uuid();
  jobs_.insert(job);
  host_->runInThreadPool(
      [job] {
        job->read_ok = job->txn->writeMessage(
            [&](std::string_view chunk) {
              job->bytes.append(chunk);
              return true;
            },
            MessageWriteOptions{true, true});
      },
      [this, job] {
        if (!job->read_ok) {
          finish(job, Code::DenySoft, "Message not forwarded: reading it failed, try again later",
                 "reading the message failed");
          return;
        }
        resolve(job);
      });
}

void NextHopForwarder::shutdown() {
  for (const auto& job : jobs_) {
    if (job->client) {
      job->client->close();
      job->client.reset();
    }
    job->done = true;
  }
  jobs_.clear();
  quitting_.dropAll();
}

std::string NextHopForwarder::where(const Job& job, const std::string& ip) const {
  return ip.empty() || ip == job.route.host
             ? fmt::format("{}:{}", job.route.host, job.route.port)
             : fmt::format("{} [{}]:{}", job.route.host, ip, job.route.port);
}

void NextHopForwarder::resolve(const JobPtr& job) {
  if (job->done) {
    return;
  }
  resolver_->lookupNextHop(job->route.host, [this, job](Result<std::string> ip) {
    if (job->done) {
      return;
    }
    if (!ip) {
      return finish(job, Code::DenySoft, "Next hop unavailable: its address did not resolve",
                    fmt::format("resolving {}: {}", job->route.host, ip.error()));
    }
    connect(job, *ip);
  });
}

void NextHopForwarder::connect(const JobPtr& job, const std::string& ip) {
  if (job->done) {
    return;
  }
  if (!job->next.pending()) {
    return finish(job, Code::DenySoft, "", "the hook was answered before the next hop was tried");
  }
  smtp_client::ClientOptions options;
  options.ip = ip;
  options.port = job->route.port;
  options.host = job->route.host;
  options.helo = host_->me();
  options.lmtp = kind_.lmtp;
  options.timeouts.connect = job->route.connect_timeout;
  options.timeouts.greeting = job->route.command_timeout;
  options.timeouts.command = job->route.command_timeout;
  options.timeouts.data = job->route.command_timeout;
  options.timeouts.data_block = job->route.command_timeout;
  options.timeouts.final_dot = job->route.command_timeout;
  options.log_id = job->uuid;
  job->client =
      std::make_unique<smtp_client::SmtpClient>(static_cast<uv_loop_t*>(host_->uvLoop()), options);
  job->client->connect([this, job, ip](const smtp_client::Status& status) {
    if (job->done) {
      return;
    }
    if (!status.ok()) {
      // The next hop did not judge the message: never a permanent refusal for the client.
      return finish(job, Code::DenySoft, fmt::format("Next hop unavailable: {}", replyText(status)),
                    fmt::format("{}: {}", where(*job, ip), status.reason));
    }
    if (!job->next.pending()) {
      return finish(job, Code::DenySoft, "", "the hook was answered before the message was sent");
    }
    smtp_client::Envelope envelope;
    envelope.sender = job->txn->mailFrom();
    envelope.recipients = job->txn->rcptTo();
    envelope.size = job->bytes.size();
    auto source = smtp_client::memorySource(std::move(job->bytes));
    job->client->send(
        std::move(envelope), std::move(source),
        [this, job, ip](const smtp_client::DeliveryResult& result) { sent(job, ip, result); });
  });
}

void NextHopForwarder::sent(const JobPtr& job, const std::string& ip,
                            const smtp_client::DeliveryResult& result) {
  if (job->done) {
    return;
  }
  const ForwardVerdict verdict = forwardVerdict(result, kind_.lmtp);
  const std::string mode = kind_.lmtp ? "LMTP" : "SMTP";
  for (const auto& refused : verdict.refused) {
    if (verdict.code == Code::Ok) {
      // Haraka's smtp_forward does the same: the client has its 250, this copy is lost.
      host_->log(LogLevel::Warn,
                 fmt::format("{} {}: {} refused <{}> after the client was told it was accepted, "
                             "and it is not bounced: {}",
                             mode, job->uuid, where(*job, ip), refused.address,
                             refused.status.reason));
    } else {
      host_->log(LogLevel::Info,
                 fmt::format("{} {}: {} refused <{}>: {}", mode, job->uuid, where(*job, ip),
                             refused.address, refused.status.reason));
    }
  }
  if (kind_.lmtp && verdict.code != Code::Ok && verdict.refused.size() < result.recipients.size()) {
    host_->log(LogLevel::Warn,
               fmt::format("LMTP {}: {} of {} recipient(s) took the message; refusing it whole "
                           "so the client retries (they may get it twice)",
                           job->uuid, result.recipients.size() - verdict.refused.size(),
                           result.recipients.size()));
  }
  std::string detail = fmt::format("{} via {}: {}", mode, where(*job, ip), result.message.reason);
  finish(job, verdict.code, verdict.text, std::move(detail));
}

void NextHopForwarder::finish(const JobPtr& job, Code code, const std::string& text,
                              const std::string& detail) {
  if (job->done) {
    return;
  }
  job->done = true;
  jobs_.erase(job);
  if (job->client) {
    quitting_.quitAndRelease(std::move(job->client)); // QUIT politely
  }
  const bool ok = code == Code::Ok;
  host_->log(ok ? LogLevel::Info : LogLevel::Warn,
             fmt::format("{} {} {}: {}", ok ? "forwarded" : "not forwarded", job->uuid,
                         ok                   ? "OK"
                         : code == Code::Deny ? "DENY"
                                              : "DENYSOFT",
                         detail));
  job->next(code, text);
}

} // namespace upesi::plugins
