#include "common/log/logger.hpp"

#include "common/log/escape.hpp"

#include <cerrno>
#include <chrono>
#include <ctime>
#include <fcntl.h>
#include <unistd.h>

namespace upesi::log {
namespace {

void appendTimestamp(std::string& out) {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 static_cast<int>(ms.count()));
}

// A JSON string of the line-safe text: what a reader sees is what the default format shows.
void appendJsonString(std::string& out, std::string_view value) {
  std::string plain;
  appendLineSafe(plain, value);
  out += '"';
  for (char c : plain) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  out += '"';
}

// logfmt values are quoted when they hold a space, quote or equals sign.
void appendLogfmtValue(std::string& out, std::string_view value) {
  bool quote = value.empty() || value.find_first_of(" =\"") != std::string_view::npos;
  if (quote) {
    out += '"';
  }
  if (quote) {
    std::string plain;
    appendLineSafe(plain, value);
    for (char c : plain) {
      if (c == '"' || c == '\\') {
        out += '\\';
      }
      out += c;
    }
  } else {
    appendLineSafe(out, value);
  }
  if (quote) {
    out += '"';
  }
}

} // namespace

Logger& Logger::instance() {
  static Logger logger;
  return logger;
}

void Logger::configure(const Settings& settings) {
  level_.store(static_cast<int>(settings.level));
  timestamps_.store(settings.timestamps);
  format_.store(static_cast<int>(settings.format));
}

Settings Logger::settings() const {
  return Settings{static_cast<Level>(level_.load()), timestamps_.load(),
                  static_cast<Format>(format_.load())};
}

bool Logger::setFile(const std::string& path) {
  std::lock_guard lock(file_mutex_);
  int fd = 2;
  if (!path.empty()) {
    // No symlink: whoever can write the log's directory must not aim root's writes elsewhere.
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) {
      return false;
    }
  }
  if (fd_ != 2) {
    ::close(fd_);
  }
  fd_ = fd;
  file_path_ = path;
  return true;
}

void Logger::reopen() {
  std::string path;
  {
    std::lock_guard lock(file_mutex_);
    path = file_path_;
  }
  if (!path.empty()) {
    setFile(path);
  }
}

std::string Logger::formatRecord(Level level, const Context& context,
                                 std::string_view message) const {
  std::string out;
  out.reserve(message.size() + 96);
  std::string_view source = context.source.empty() ? std::string_view("core") : context.source;
  auto format = static_cast<Format>(format_.load(std::memory_order_relaxed));
  bool stamp = timestamps_.load(std::memory_order_relaxed);
  int pid = ::getpid();
  switch (format) {
  case Format::Default:
    if (stamp) {
      appendTimestamp(out);
      out += ' ';
    }
    fmt::format_to(std::back_inserter(out), "[{}] [{}] [", toString(level), pid);
    appendLineSafe(out, context.uuid.empty() ? std::string_view("-") : context.uuid);
    out += "] [";
    appendLineSafe(out, source);
    out += "] ";
    appendLineSafe(out, message);
    break;
  case Format::Logfmt:
    if (stamp) {
      out += "timestamp=";
      appendTimestamp(out);
      out += ' ';
    }
    fmt::format_to(std::back_inserter(out), "level={} pid={} uuid=", toString(level), pid);
    appendLogfmtValue(out, context.uuid);
    out += " source=";
    appendLogfmtValue(out, source);
    out += " message=";
    appendLogfmtValue(out, message);
    break;
  case Format::Json:
    out += '{';
    if (stamp) {
      out += "\"timestamp\":\"";
      appendTimestamp(out);
      out += "\",";
    }
    fmt::format_to(std::back_inserter(out),
                   "\"level\":\"{}\",\"pid\":{},\"uuid\":", toString(level), pid);
    appendJsonString(out, context.uuid);
    out += ",\"source\":";
    appendJsonString(out, source);
    out += ",\"message\":";
    appendJsonString(out, message);
    out += '}';
    break;
  }
  out += '\n';
  return out;
}

void Logger::write(Level level, const Context& context, std::string_view message) {
  std::string line = formatRecord(level, context, message);
  std::lock_guard lock(file_mutex_);
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return; // nowhere left to report a logging failure
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

} // namespace upesi::log
