#include "common/queue/queue_file.hpp"

#include "common/queue/json_stringify.hpp"

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace upesi::queue {

namespace {

constexpr std::string_view JsonWhitespace = " \t\n\r";

ReadError corrupt(std::string message) {
  return ReadError{ReadFailure::Corrupt, std::move(message)};
}

ReadError ioError(std::string_view what, int error) {
  return ReadError{ReadFailure::Io, fmt::format("{}: {}", what, std::strerror(error))};
}

std::uint32_t readBigEndian(std::string_view bytes) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < LengthPrefixBytes; ++i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  }
  return value;
}

// Reads exactly `size` bytes at `offset`; false with errno set on failure, or with errno 0
// when the file ends first.
bool preadAll(int fd, char* data, std::size_t size, off_t offset) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t got = ::pread(fd, data + done, size - done, offset + static_cast<off_t>(done));
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    if (got == 0) {
      errno = 0;
      return false;
    }
    done += static_cast<std::size_t>(got);
  }
  return true;
}

} // namespace

std::string encodeHeaderText(const Todo& todo) {
  std::string text = "\n";
  text += jsonStringify(todo.toJson());
  text += '\n';
  return text;
}

Result<std::string> encodeHeader(const Todo& todo) {
  const std::string text = encodeHeaderText(todo);
  if (text.size() > MaxHeaderBytes) {
    return Error{fmt::format("queue header of {} bytes is over the limit of {}", text.size(),
                             MaxHeaderBytes)};
  }
  const auto length = static_cast<std::uint32_t>(text.size());
  std::string out;
  out.reserve(LengthPrefixBytes + text.size());
  out += static_cast<char>((length >> 24) & 0xFF);
  out += static_cast<char>((length >> 16) & 0xFF);
  out += static_cast<char>((length >> 8) & 0xFF);
  out += static_cast<char>(length & 0xFF);
  out += text;
  return out;
}

Result<std::string> encodeQueueFile(const Todo& todo, std::string_view message) {
  auto header = encodeHeader(todo);
  if (!header) {
    return header;
  }
  std::string out = std::move(*header);
  out += message;
  return out;
}

HeaderResult parseHeaderText(std::string_view text) {
  const std::size_t first = text.find_first_not_of(JsonWhitespace);
  if (first == std::string_view::npos) {
    return corrupt("queue header is empty");
  }
  text = text.substr(first, text.find_last_not_of(JsonWhitespace) - first + 1);
  if (text.back() != '}') {
    return corrupt("queue header does not end in '}' (wrong length or truncated)");
  }
  bool too_deep = false;
  auto json = nlohmann::ordered_json::parse(
      text,
      [&too_deep](int depth, nlohmann::ordered_json::parse_event_t, nlohmann::ordered_json&) {
        too_deep = too_deep || depth > MaxHeaderDepth;
        return !too_deep;
      },
      /*allow_exceptions=*/false);
  if (too_deep) {
    return corrupt(fmt::format("queue header nested deeper than {} levels", MaxHeaderDepth));
  }
  if (json.is_discarded()) {
    return corrupt("queue header is not valid JSON");
  }
  auto todo = Todo::fromJson(json);
  if (!todo) {
    return corrupt(todo.error());
  }
  return QueueFileHeader{std::move(*todo), 0, 0};
}

HeaderResult decodeHeader(std::string_view bytes) {
  if (bytes.empty()) {
    return corrupt("queue file is empty");
  }
  if (bytes.size() < LengthPrefixBytes) {
    return corrupt("queue file is shorter than its length prefix");
  }
  const std::uint32_t length = readBigEndian(bytes);
  if (length == 0 || length > MaxHeaderBytes) {
    return corrupt(fmt::format("queue header length {} is out of range", length));
  }
  if (bytes.size() - LengthPrefixBytes < length) {
    return corrupt(fmt::format("queue header length {} runs past the end of the file ({} bytes)",
                               length, bytes.size()));
  }
  auto header = parseHeaderText(bytes.substr(LengthPrefixBytes, length));
  if (header) {
    header->message_offset = LengthPrefixBytes + length;
  }
  return header;
}

HeaderResult readHeader(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return ioError("fstat", errno);
  }
  if (!S_ISREG(st.st_mode)) {
    return corrupt("not a regular file");
  }
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  if (file_size == 0) {
    return corrupt("queue file is empty");
  }
  if (file_size < LengthPrefixBytes) {
    return corrupt("queue file is shorter than its length prefix");
  }
  std::array<char, LengthPrefixBytes> prefix{};
  if (!preadAll(fd, prefix.data(), prefix.size(), 0)) {
    if (errno == 0) {
      return corrupt("queue file is shorter than its length prefix");
    }
    return ioError("read", errno);
  }
  const std::uint32_t length = readBigEndian(std::string_view(prefix.data(), prefix.size()));
  if (length == 0 || length > MaxHeaderBytes) {
    return corrupt(fmt::format("queue header length {} is out of range", length));
  }
  if (file_size - LengthPrefixBytes < length) {
    return corrupt(fmt::format("queue header length {} runs past the end of the file ({} bytes)",
                               length, file_size));
  }
  std::string text(length, '\0');
  if (!preadAll(fd, text.data(), text.size(), static_cast<off_t>(LengthPrefixBytes))) {
    if (errno == 0) {
      return corrupt("queue file ends inside its header");
    }
    return ioError("read", errno);
  }
  auto header = parseHeaderText(text);
  if (header) {
    header->message_offset = LengthPrefixBytes + length;
    header->file_size = file_size;
  }
  return header;
}

HeaderResult readHeader(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return ioError(fmt::format("open {}", path), errno);
  }
  auto header = readHeader(fd);
  ::close(fd);
  return header;
}

} // namespace upesi::queue
