#include "common/redis/resp.hpp"

#include <fmt/format.h>

#include <climits>
#include <hiredis/hiredis.h>
#include <new>
#include <utility>

namespace upesi::redis {

Reply Reply::status(std::string text) {
  Reply r;
  r.type = Type::Status;
  r.text = std::move(text);
  return r;
}

Reply Reply::error(std::string text) {
  Reply r;
  r.type = Type::Error;
  r.text = std::move(text);
  return r;
}

Reply Reply::number(long long value) {
  Reply r;
  r.type = Type::Integer;
  r.integer = value;
  return r;
}

Reply Reply::bulk(std::string text) {
  Reply r;
  r.type = Type::Bulk;
  r.text = std::move(text);
  return r;
}

Reply Reply::nil() {
  return Reply{};
}

Reply Reply::array(std::vector<Reply> elements) {
  Reply r;
  r.type = Type::Array;
  r.elements = std::move(elements);
  return r;
}

bool Reply::is(std::string_view expected) const {
  return (type == Type::Status || type == Type::Bulk) && text == expected;
}

std::string Reply::describe() const {
  constexpr std::size_t Shown = 200; // a log line, not a dump
  auto cut = [](const std::string& s) {
    return s.size() <= Shown ? s : s.substr(0, Shown) + fmt::format("...({} bytes)", s.size());
  };
  switch (type) {
  case Type::Status:
    return cut(text);
  case Type::Error:
    return "(error) " + cut(text);
  case Type::Integer:
    return fmt::format("(integer) {}", integer);
  case Type::Bulk:
    return "\"" + cut(text) + "\"";
  case Type::Nil:
    return "(nil)";
  case Type::Array:
    break;
  }
  std::string out = "[";
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (i == 8) {
      out += fmt::format(", ... {} more", elements.size() - i);
      break;
    }
    out += (i == 0 ? "" : ", ") + elements[i].describe();
  }
  return out + "]";
}

// What the creation callbacks share with the reader: the limits, the size of the reply being
// built, and why a callback refused (hiredis reports any refusal as "Out of memory").
struct ReplyReader::Building {
  ReplyLimits limits;
  std::size_t size = 0;
  std::string refused;
};

namespace {

using Building = ReplyReader::Building;

Building& buildingOf(const redisReadTask* task) {
  return *static_cast<Building*>(task->privdata);
}

int arrayDepthOf(const redisReadTask* task) {
  int depth = 0;
  for (const redisReadTask* t = task->parent; t != nullptr; t = t->parent) {
    ++depth;
  }
  return depth;
}

bool chargeReply(Building& building, std::size_t bytes) {
  if (bytes > building.limits.max_bytes || building.size > building.limits.max_bytes - bytes) {
    building.refused = fmt::format("a reply over {} bytes", building.limits.max_bytes);
    return false;
  }
  building.size += bytes;
  return true;
}

// Stores `value` where the task says: the root is a heap object (hiredis hands it back or frees
// it), an element goes into its array's slot, sized when the array was created.
void* placeReply(const redisReadTask* task, Reply value) {
  if (task->parent == nullptr) {
    return new Reply(std::move(value));
  }
  auto* parent = static_cast<Reply*>(task->parent->obj);
  Reply& slot = parent->elements[static_cast<std::size_t>(task->idx)];
  slot = std::move(value);
  return &slot;
}

void* startReply(const redisReadTask* task, std::size_t bytes) {
  Building& building = buildingOf(task);
  if (task->parent == nullptr) {
    building.size = 0;
  }
  return chargeReply(building, sizeof(Reply) + bytes) ? &building : nullptr;
}

void* createStringReply(const redisReadTask* task, char* text, std::size_t length) {
  if (startReply(task, length) == nullptr) {
    return nullptr;
  }
  std::string value(text, length);
  switch (task->type) {
  case REDIS_REPLY_ERROR:
    return placeReply(task, Reply::error(std::move(value)));
  case REDIS_REPLY_STATUS:
    return placeReply(task, Reply::status(std::move(value)));
  default:
    return placeReply(task, Reply::bulk(std::move(value)));
  }
}

// hiredis 0.14 counts elements in an int, 1.x in a size_t.
template <typename Count> void* createArrayReply(const redisReadTask* task, Count count) {
  Building& building = buildingOf(task);
  if (arrayDepthOf(task) >= building.limits.max_depth) {
    building.refused = fmt::format("arrays nested deeper than {}", building.limits.max_depth);
    return nullptr;
  }
  const auto elements = static_cast<std::size_t>(count);
  // Charged before anything is allocated: "*2000000000\r\n" is refused at once.
  if (startReply(task, 0) == nullptr || elements > building.limits.max_bytes / sizeof(Reply) ||
      !chargeReply(building, elements * sizeof(Reply))) {
    if (building.refused.empty()) {
      building.refused = fmt::format("a reply over {} bytes", building.limits.max_bytes);
    }
    return nullptr;
  }
  Reply array;
  array.type = Reply::Type::Array;
  array.elements.resize(elements);
  return placeReply(task, std::move(array));
}

void* createIntegerReply(const redisReadTask* task, long long value) {
  return startReply(task, 0) == nullptr ? nullptr : placeReply(task, Reply::number(value));
}

void* createNilReply(const redisReadTask* task) {
  return startReply(task, 0) == nullptr ? nullptr : placeReply(task, Reply::nil());
}

// hiredis frees only the root (on an error, or with a reply never taken).
void freeReply(void* reply) {
  delete static_cast<Reply*>(reply);
}

redisReplyObjectFunctions* replyFunctions() {
  static redisReplyObjectFunctions functions = [] {
    redisReplyObjectFunctions f{};
    f.createString = createStringReply;
    f.createArray = createArrayReply;
    f.createInteger = createIntegerReply;
    f.createNil = createNilReply;
    f.freeObject = freeReply;
    return f;
  }();
  return &functions;
}

redisReader* asReader(void* reader) {
  return static_cast<redisReader*>(reader);
}

} // namespace

ReplyReader::ReplyReader(ReplyLimits limits)
    : limits_(limits), building_(std::make_unique<Building>()),
      reader_(redisReaderCreateWithFunctions(replyFunctions())) {
  building_->limits = limits_;
  if (reader_ == nullptr) {
    error_ = "out of memory";
    return;
  }
  asReader(reader_)->privdata = building_.get();
}

ReplyReader::~ReplyReader() {
  if (reader_ != nullptr) {
    redisReaderFree(asReader(reader_));
  }
}

void ReplyReader::fail(std::string why) {
  if (error_.empty()) {
    error_ = std::move(why);
  }
}

bool ReplyReader::feed(std::string_view bytes) {
  if (failed()) {
    return false;
  }
  if (redisReaderFeed(asReader(reader_), bytes.data(), bytes.size()) != REDIS_OK) {
    fail(asReader(reader_)->errstr);
    return false;
  }
  return true;
}

std::optional<Reply> ReplyReader::next() {
  if (failed()) {
    return std::nullopt;
  }
  redisReader* reader = asReader(reader_);
  void* made = nullptr;
  if (redisReaderGetReply(reader, &made) != REDIS_OK) {
    fail(building_->refused.empty() ? std::string(reader->errstr) : building_->refused);
    return std::nullopt;
  }
  if (made == nullptr) {
    // Incomplete: what waits for the rest is bounded like a reply (a bulk string's bytes stay
    // in hiredis's buffer until the last one arrives).
    if (reader->len - reader->pos > limits_.max_bytes) {
      fail(fmt::format("a reply over {} bytes", limits_.max_bytes));
    }
    return std::nullopt;
  }
  std::unique_ptr<Reply> reply(static_cast<Reply*>(made));
  return std::move(*reply);
}

std::string encodeCommand(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  char* formatted = nullptr;
  const auto length = redisFormatCommandArgv(&formatted, static_cast<int>(args.size()), argv.data(),
                                             lengths.data());
  if (length < 0 || formatted == nullptr) {
    throw std::bad_alloc(); // its only failure
  }
  std::string out(formatted, static_cast<std::size_t>(length));
  redisFreeCommand(formatted);
  return out;
}

} // namespace upesi::redis
