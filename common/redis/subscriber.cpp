#include "common/redis/subscriber.hpp"

#include "common/log/logger.hpp"

#include <fmt/format.h>

namespace upesi::redis {
namespace {

// ["message", channel, payload], ["pmessage", pattern, channel, payload], and the confirmations
// ["subscribe", channel, count]...: arrays of bulk strings and an integer.
bool isBulkAt(const Reply& reply, std::size_t index) {
  return index < reply.elements.size() && reply.elements[index].type == Reply::Type::Bulk;
}

} // namespace

RedisSubscriber::RedisSubscriber(uv_loop_t* loop, LinkOptions options,
                                 std::chrono::milliseconds keepalive,
                                 std::chrono::milliseconds reply_timeout)
    : link_(loop, std::move(options), *this), keepalive_(keepalive), reply_timeout_(reply_timeout),
      ping_timer_(loop), pong_timer_(loop) {
  link_.start();
}

RedisSubscriber::~RedisSubscriber() {
  link_.stop();
}

void RedisSubscriber::subscribe(const std::string& channel, MessageCallback on_message) {
  const bool fresh = channels_.insert_or_assign(channel, std::move(on_message)).second;
  if (fresh && link_.up()) {
    link_.send(encodeCommand({"SUBSCRIBE", channel}));
  }
}

void RedisSubscriber::psubscribe(const std::string& pattern, MessageCallback on_message) {
  const bool fresh = patterns_.insert_or_assign(pattern, std::move(on_message)).second;
  if (fresh && link_.up()) {
    link_.send(encodeCommand({"PSUBSCRIBE", pattern}));
  }
}

void RedisSubscriber::unsubscribe(const std::string& channel) {
  if (channels_.erase(channel) > 0 && link_.up()) {
    link_.send(encodeCommand({"UNSUBSCRIBE", channel}));
  }
}

void RedisSubscriber::punsubscribe(const std::string& pattern) {
  if (patterns_.erase(pattern) > 0 && link_.up()) {
    link_.send(encodeCommand({"PUNSUBSCRIBE", pattern}));
  }
}

void RedisSubscriber::linkUp() {
  confirmed_ = 0;
  std::string bytes;
  for (const auto& [channel, callback] : channels_) {
    bytes += encodeCommand({"SUBSCRIBE", channel});
  }
  for (const auto& [pattern, callback] : patterns_) {
    bytes += encodeCommand({"PSUBSCRIBE", pattern});
  }
  if (!bytes.empty()) {
    link_.send(std::move(bytes));
  }
  keepAlive();
}

void RedisSubscriber::keepAlive() {
  ping_timer_.start(static_cast<std::uint64_t>(keepalive_.count()), [this] {
    link_.send(encodeCommand({"PING"}));
    pong_timer_.start(static_cast<std::uint64_t>(reply_timeout_.count()), [this] {
      link_.drop(fmt::format("no answer to PING within {} ms", reply_timeout_.count()));
    });
  });
}

void RedisSubscriber::linkDown(const std::string& /*why*/) {
  ping_timer_.stop();
  pong_timer_.stop();
  confirmed_ = 0;
}

void RedisSubscriber::linkReply(Reply reply) {
  if (reply.isError()) {
    log::error({{}, "redis pubsub"}, "the server refused: {}", reply.text);
    return;
  }
  if (reply.is("PONG")) { // the keepalive's answer once nothing is subscribed any more
    pong_timer_.stop();
    return keepAlive();
  }
  if (reply.type != Reply::Type::Array || !isBulkAt(reply, 0)) {
    return link_.drop("not a pub/sub reply: " + reply.describe());
  }
  const std::string& kind = reply.elements[0].text;
  if (kind == "message" && isBulkAt(reply, 1) && isBulkAt(reply, 2)) {
    const auto found = channels_.find(reply.elements[1].text);
    if (found != channels_.end() && found->second) {
      const MessageCallback callback = found->second; // may unsubscribe itself
      callback(PubSubMessage{{}, reply.elements[1].text, reply.elements[2].text});
    }
    return;
  }
  if (kind == "pmessage" && isBulkAt(reply, 1) && isBulkAt(reply, 2) && isBulkAt(reply, 3)) {
    const auto found = patterns_.find(reply.elements[1].text);
    if (found != patterns_.end() && found->second) {
      const MessageCallback callback = found->second;
      callback(
          PubSubMessage{reply.elements[1].text, reply.elements[2].text, reply.elements[3].text});
    }
    return;
  }
  if (kind == "pong") {
    pong_timer_.stop();
    return keepAlive();
  }
  if (kind == "subscribe" || kind == "psubscribe") {
    ++confirmed_;
  }
  // unsubscribe and punsubscribe confirmations need nothing.
}

} // namespace upesi::redis
