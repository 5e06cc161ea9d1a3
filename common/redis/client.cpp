#include "common/redis/client.hpp"

#include "common/redis/subscriber.hpp"

#include <fmt/format.h>

namespace upesi::redis {
namespace {

LinkOptions commandLinkOptions(const RedisConfig& config, const ClientTuning& tuning) {
  LinkOptions options;
  options.endpoint = config.server;
  options.connect_timeout = config.connect_timeout;
  options.limits.max_bytes = config.max_reply_bytes;
  options.backoff_min = tuning.backoff_min;
  options.backoff_max = tuning.backoff_max;
  options.label = "redis";
  return options;
}

CommandResult failedWith(CommandFailure::Kind kind, std::string detail) {
  CommandResult result;
  result.failure = {kind, std::move(detail)};
  return result;
}

} // namespace

std::string CommandResult::describe() const {
  if (ok) {
    return reply.describe();
  }
  const char* kind = "unavailable";
  switch (failure.kind) {
  case CommandFailure::Kind::Unavailable:
    break;
  case CommandFailure::Kind::Timeout:
    kind = "timeout";
    break;
  case CommandFailure::Kind::Overloaded:
    kind = "overloaded";
    break;
  case CommandFailure::Kind::Closed:
    kind = "closed";
    break;
  }
  return fmt::format("{}: {}", kind, failure.detail);
}

RedisClient::RedisClient(uv_loop_t* loop, RedisConfig config, ClientTuning tuning)
    : loop_(loop), config_(std::move(config)), tuning_(tuning),
      link_(loop, commandLinkOptions(config_, tuning_), *this), timeout_timer_(loop),
      deferred_timer_(loop) {}

RedisClient::~RedisClient() {
  close();
}

void RedisClient::start() {
  if (!started_ && !closed_) {
    started_ = true;
    link_.start();
  }
}

RedisSubscriber& RedisClient::subscriber() {
  if (subscriber_ == nullptr) {
    LinkOptions options = commandLinkOptions(config_, tuning_);
    options.endpoint = config_.pubsub;
    options.select_db = false;
    options.label = "redis pubsub";
    subscriber_ = std::make_unique<RedisSubscriber>(
        loop_, std::move(options), tuning_.pubsub_keepalive, config_.command_timeout);
  }
  return *subscriber_;
}

void RedisClient::subscribe(const std::string& channel, MessageCallback on_message) {
  if (!closed_) {
    subscriber().subscribe(channel, std::move(on_message));
  }
}

void RedisClient::psubscribe(const std::string& pattern, MessageCallback on_message) {
  if (!closed_) {
    subscriber().psubscribe(pattern, std::move(on_message));
  }
}

void RedisClient::unsubscribe(const std::string& channel) {
  if (subscriber_ != nullptr) {
    subscriber_->unsubscribe(channel);
  }
}

void RedisClient::punsubscribe(const std::string& pattern) {
  if (subscriber_ != nullptr) {
    subscriber_->punsubscribe(pattern);
  }
}

bool RedisClient::subscriberUp() const {
  return subscriber_ != nullptr && subscriber_->up();
}

void RedisClient::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  link_.stop();
  subscriber_.reset();
  timeout_timer_.stop();
  failAll(CommandFailure::Kind::Closed, "the Redis client was closed");
  while (!deferred_.empty()) { // answers may come with more commands, answered as Closed
    answerDeferred();
  }
  deferred_timer_.stop();
}

void RedisClient::command(std::vector<std::string> args, CommandCallback done) {
  Pending pending;
  pending.bytes = encodeCommand(args);
  pending.done = std::move(done);
  submit(std::move(pending));
}

void RedisClient::evalScript(const LuaScript& script, std::vector<std::string> keys,
                             std::vector<std::string> args, CommandCallback done) {
  std::vector<std::string> words{"EVALSHA", script.sha1, std::to_string(keys.size())};
  words.insert(words.end(), keys.begin(), keys.end());
  words.insert(words.end(), args.begin(), args.end());
  Pending pending;
  pending.bytes = encodeCommand(words);
  words[0] = "EVAL";
  words[1] = script.source;
  pending.eval_instead = std::make_shared<const std::string>(encodeCommand(words));
  pending.done = std::move(done);
  submit(std::move(pending));
}

void RedisClient::submit(Pending pending) {
  if (closed_) {
    return answerLater(std::move(pending.done),
                       failedWith(CommandFailure::Kind::Closed, "the Redis client was closed"));
  }
  if (!down_reason_.empty()) {
    return answerLater(std::move(pending.done),
                       failedWith(CommandFailure::Kind::Unavailable,
                                  fmt::format("Redis at {} is down: {}", config_.server.describe(),
                                              down_reason_)));
  }
  if (pending_.size() >= config_.max_pending) {
    return answerLater(
        std::move(pending.done),
        failedWith(CommandFailure::Kind::Overloaded,
                   fmt::format("{} commands already wait for Redis", pending_.size())));
  }
  start();
  pending.deadline = uv_now(loop_) + static_cast<std::uint64_t>(config_.command_timeout.count());
  if (link_.up()) {
    link_.send(std::move(pending.bytes));
    pending.bytes.clear();
    pending.sent = true;
  }
  pending_.push_back(std::move(pending));
  armTimeout();
}

void RedisClient::answerLater(CommandCallback done, CommandResult result) {
  deferred_.emplace_back(std::move(done), std::move(result));
  if (!deferred_timer_.armed()) {
    deferred_timer_.start(0, [this] { answerDeferred(); });
  }
}

void RedisClient::answerDeferred() {
  auto answers = std::exchange(deferred_, {});
  for (auto& [done, result] : answers) {
    if (done) {
      done(std::move(result));
    }
  }
}

void RedisClient::armTimeout() {
  if (pending_.empty() || timeout_timer_.armed()) {
    return;
  }
  // Deadlines grow along the queue: the first is the next to pass.
  const std::uint64_t now = uv_now(loop_);
  const std::uint64_t first = pending_.front().deadline;
  timeout_timer_.start(first > now ? first - now : 0, [this] { timeoutFired(); });
}

void RedisClient::timeoutFired() {
  const std::uint64_t now = uv_now(loop_);
  std::vector<CommandCallback> expired;
  bool sent_expired = false;
  while (!pending_.empty() && pending_.front().deadline <= now) {
    sent_expired = sent_expired || pending_.front().sent;
    expired.push_back(std::move(pending_.front().done));
    pending_.pop_front();
  }
  const std::string detail =
      fmt::format("no reply from Redis within {} ms", config_.command_timeout.count());
  if (sent_expired) {
    // Its reply may still come, and would be taken for the next command's: the server has
    // stopped answering in time, so the connection goes (the others fail with it).
    link_.drop(detail);
  }
  for (auto& done : expired) {
    if (done) {
      done(failedWith(CommandFailure::Kind::Timeout, detail));
    }
  }
  armTimeout();
}

void RedisClient::failAll(CommandFailure::Kind kind, const std::string& detail) {
  auto failed = std::exchange(pending_, {});
  timeout_timer_.stop();
  for (auto& pending : failed) {
    if (pending.done) {
      pending.done(failedWith(kind, detail));
    }
  }
}

void RedisClient::linkUp() {
  down_reason_.clear();
  for (auto& pending : pending_) {
    if (!pending.sent) {
      link_.send(std::move(pending.bytes));
      pending.bytes.clear();
      pending.sent = true;
    }
  }
  if (!reported_up_) {
    reported_up_ = true;
    if (on_state_) {
      on_state_(true, {});
    }
  }
}

void RedisClient::linkReply(Reply reply) {
  if (pending_.empty() || !pending_.front().sent) {
    return link_.drop("a reply to no command: " + reply.describe());
  }
  Pending answered = std::move(pending_.front());
  pending_.pop_front();
  if (answered.eval_instead != nullptr && reply.isError() && reply.text.rfind("NOSCRIPT", 0) == 0) {
    // Not in the server's script cache (a restart, SCRIPT FLUSH, another server): EVAL
    // carries the source and caches it again.
    Pending eval;
    eval.done = std::move(answered.done);
    eval.deadline = uv_now(loop_) + static_cast<std::uint64_t>(config_.command_timeout.count());
    eval.sent = true;
    link_.send(*answered.eval_instead);
    pending_.push_back(std::move(eval));
    timeout_timer_.stop(); // the queue's first deadline changed
    return armTimeout();
  }
  timeout_timer_.stop();
  armTimeout();
  if (answered.done) {
    CommandResult result;
    result.ok = true;
    result.reply = std::move(reply);
    answered.done(std::move(result));
  }
}

void RedisClient::linkDown(const std::string& why) {
  down_reason_ = why;
  failAll(CommandFailure::Kind::Unavailable,
          fmt::format("Redis at {}: {}", config_.server.describe(), why));
  if (reported_up_ || link_.failures() == 1) {
    reported_up_ = false;
    if (on_state_) {
      on_state_(false, why);
    }
  }
}

} // namespace upesi::redis
