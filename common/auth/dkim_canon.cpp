#include "common/auth/dkim_canon.hpp"

#include "common/util/text.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <new>
#include <unordered_map>

namespace upesi::dkim {
namespace {

// "\r\n" for every line end, a bare LF included.
std::string withCrlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) {
      out += '\r';
    }
    out += text[i];
  }
  return out;
}

} // namespace

struct BodyHasher::Digest {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Digest() {
    if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) {
      throw std::bad_alloc();
    }
  }
  ~Digest() { EVP_MD_CTX_free(ctx); }
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
};

std::string_view canonName(Canon canon) {
  return canon == Canon::Simple ? "simple" : "relaxed";
}

std::string_view fieldName(std::string_view field) {
  std::size_t colon = field.find(':');
  if (colon == std::string_view::npos) {
    return {};
  }
  std::string_view name = field.substr(0, colon);
  while (!name.empty() && text::isWsp(name.back())) {
    name.remove_suffix(1);
  }
  return name;
}

std::string canonicalizeHeader(Canon canon, std::string_view field) {
  if (canon == Canon::Simple) {
    std::string out = withCrlf(field);
    if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) {
      out += "\r\n";
    }
    return out;
  }
  std::size_t colon = field.find(':');
  std::string out = text::toLower(fieldName(field));
  out += ':';
  if (colon == std::string_view::npos) {
    out += "\r\n";
    return out;
  }
  // Unfold, compress whitespace runs to one space, drop it at both ends.
  bool pending_space = false;
  bool any = false;
  const std::string_view value = field.substr(colon + 1);
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\n' || (c == '\r' && i + 1 < value.size() && value[i + 1] == '\n')) {
      continue; // unfolding removes line ends only: a bare CR stays
    }
    if (text::isWsp(c)) {
      pending_space = true;
      continue;
    }
    if (pending_space && any) {
      out += ' ';
    }
    pending_space = false;
    any = true;
    out += c;
  }
  out += "\r\n";
  return out;
}

std::string signedHeaderData(Canon canon, const std::vector<std::string_view>& fields,
                             const std::vector<std::string>& signed_names,
                             std::string_view signature_field) {
  std::unordered_map<std::string, std::vector<std::size_t>> instances;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    instances[text::toLower(fieldName(fields[i]))].push_back(i);
  }
  std::string data;
  for (const std::string& name : signed_names) {
    auto found = instances.find(name);
    if (found == instances.end() || found->second.empty()) {
      continue; // not present (or oversigned): contributes nothing
    }
    data += canonicalizeHeader(canon, fields[found->second.back()]);
    found->second.pop_back();
  }
  std::string signature = canonicalizeHeader(canon, signature_field);
  signature.resize(signature.size() - 2);
  data += signature;
  return data;
}

BodyHasher::BodyHasher(Canon canon, std::optional<std::uint64_t> limit)
    : digest_(std::make_unique<Digest>()), canon_(canon), limit_(limit) {}

BodyHasher::~BodyHasher() = default;
BodyHasher::BodyHasher(BodyHasher&&) noexcept = default;
BodyHasher& BodyHasher::operator=(BodyHasher&&) noexcept = default;

void BodyHasher::emit(std::string_view bytes) {
  std::uint64_t room = bytes.size();
  if (limit_) {
    room = produced_ >= *limit_ ? 0 : std::min<std::uint64_t>(room, *limit_ - produced_);
  }
  produced_ += bytes.size();
  if (room == 0) {
    return;
  }
  // Small pieces are gathered: one digest update per line would dominate the cost.
  buffer_.append(bytes.data(), static_cast<std::size_t>(room));
  if (buffer_.size() >= BufferSize) {
    flush();
  }
}

void BodyHasher::flush() {
  if (!buffer_.empty()) {
    EVP_DigestUpdate(digest_->ctx, buffer_.data(), buffer_.size());
    buffer_.clear();
  }
}

void BodyHasher::emitEmptyLines() {
  static constexpr std::string_view crlfs =
      "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n";
  while (pending_empty_lines_ > 0) {
    std::uint64_t lines = std::min<std::uint64_t>(pending_empty_lines_, crlfs.size() / 2);
    emit(crlfs.substr(0, static_cast<std::size_t>(lines * 2)));
    pending_empty_lines_ -= lines;
  }
}

void BodyHasher::content(std::string_view run) {
  emitEmptyLines();
  if (pending_space_) {
    emit(" ");
    pending_space_ = false;
  }
  emit(run);
  line_has_content_ = true;
}

void BodyHasher::lineEnd() {
  pending_space_ = false;
  if (line_has_content_) {
    emit("\r\n");
    line_has_content_ = false;
  } else {
    ++pending_empty_lines_; // written only if content follows
  }
}

void BodyHasher::update(std::string_view chunk) {
  std::size_t i = 0;
  while (i < chunk.size()) {
    const char c = chunk[i];
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') {
        lineEnd();
        ++i;
        continue;
      }
      content("\r"); // a bare CR is content
    }
    if (c == '\r') {
      pending_cr_ = true;
      ++i;
    } else if (c == '\n') {
      lineEnd();
      ++i;
    } else if (canon_ == Canon::Relaxed && text::isWsp(c)) {
      pending_space_ = true;
      ++i;
    } else {
      // A run of bytes that need no attention goes out in one piece.
      std::size_t end = i + 1;
      while (end < chunk.size() && chunk[end] != '\r' && chunk[end] != '\n' &&
             !(canon_ == Canon::Relaxed && text::isWsp(chunk[end]))) {
        ++end;
      }
      content(chunk.substr(i, end - i));
      i = end;
    }
  }
}

std::string BodyHasher::finish() {
  if (pending_cr_) {
    pending_cr_ = false;
    content("\r");
  }
  if (line_has_content_) {
    emit("\r\n"); // a last line without its CRLF gets one
    line_has_content_ = false;
  }
  // Trailing empty lines (and a relaxed line of only whitespace) are dropped.
  pending_empty_lines_ = 0;
  if (produced_ == 0 && canon_ == Canon::Simple) {
    emit("\r\n");
  }
  flush();
  std::string digest(EVP_MAX_MD_SIZE, '\0');
  unsigned int length = 0;
  EVP_DigestFinal_ex(digest_->ctx, reinterpret_cast<unsigned char*>(digest.data()), &length);
  digest.resize(length);
  return digest;
}

std::string sha256(std::string_view data) {
  std::string digest(EVP_MAX_MD_SIZE, '\0');
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(digest.data()), &length,
             EVP_sha256(), nullptr);
  digest.resize(length);
  return digest;
}

} // namespace upesi::dkim
