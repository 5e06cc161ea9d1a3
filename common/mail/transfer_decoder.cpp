#include "common/mail/transfer_decoder.hpp"

#include "common/mail/header.hpp"
#include "common/util/text.hpp"

namespace upesi::mail {
namespace {

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '+') {
    return 62;
  }
  if (c == '/') {
    return 63;
  }
  return -1;
}

std::string_view trimBlanks(std::string_view s) {
  while (!s.empty() && (text::isWsp(s.front()) || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (text::isWsp(s.back()) || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

} // namespace

TransferEncoding transferEncodingFrom(std::string_view name) {
  name = trimBlanks(name);
  if (text::equalsIgnoreCase(name, "base64")) {
    return TransferEncoding::Base64;
  }
  if (text::equalsIgnoreCase(name, "quoted-printable")) {
    return TransferEncoding::QuotedPrintable;
  }
  return TransferEncoding::Identity;
}

void TransferDecoder::data(std::string_view bytes, std::string& out) {
  switch (encoding_) {
  case TransferEncoding::Identity:
    out.append(bytes);
    return;
  case TransferEncoding::Base64:
    base64(bytes, out);
    return;
  case TransferEncoding::QuotedPrintable:
    quotedPrintable(bytes, out);
    return;
  }
}

void TransferDecoder::lineBreak(std::string& out) {
  switch (encoding_) {
  case TransferEncoding::Identity:
    out += "\r\n";
    return;
  case TransferEncoding::Base64:
    return; // line breaks carry nothing in base64
  case TransferEncoding::QuotedPrintable:
    blanks_.clear(); // trailing blanks were added in transport (RFC 2045 6.7 rule 3)
    if (escape_ == Escape::Equals || escape_ == Escape::EqualsBlank) {
      escape_ = Escape::None; // a soft line break
      escape_blanks_.clear();
      return;
    }
    flushEscape(out);
    out += "\r\n";
    return;
  }
}

void TransferDecoder::finish(std::string& out) {
  if (encoding_ == TransferEncoding::Base64) {
    // Missing padding: keep the whole bytes the sextets hold.
    if (sextets_ == 2) {
      out += static_cast<char>((quantum_ >> 4) & 0xff);
    } else if (sextets_ == 3) {
      out += static_cast<char>((quantum_ >> 10) & 0xff);
      out += static_cast<char>((quantum_ >> 2) & 0xff);
    }
    quantum_ = 0;
    sextets_ = 0;
    return;
  }
  if (encoding_ == TransferEncoding::QuotedPrintable) {
    blanks_.clear();
    if (escape_ == Escape::EqualsHex) {
      flushEscape(out);
    }
    escape_ = Escape::None;
    escape_blanks_.clear();
  }
}

void TransferDecoder::base64(std::string_view bytes, std::string& out) {
  for (char c : bytes) {
    const int value = base64Value(c);
    if (value >= 0) {
      quantum_ = (quantum_ << 6) | static_cast<unsigned>(value);
      if (++sextets_ == 4) {
        out += static_cast<char>((quantum_ >> 16) & 0xff);
        out += static_cast<char>((quantum_ >> 8) & 0xff);
        out += static_cast<char>(quantum_ & 0xff);
        quantum_ = 0;
        sextets_ = 0;
      }
    } else if (c == '=') {
      // Padding ends a quantum; what it completes is kept, a stray '=' is ignored.
      finish(out);
    }
    // Anything else is not in the alphabet: ignored (RFC 2045 6.8).
  }
}

// Writes out an escape that turned out not to be one, literally.
void TransferDecoder::flushEscape(std::string& out) {
  switch (escape_) {
  case Escape::None:
    return;
  case Escape::Equals:
    out += '=';
    break;
  case Escape::EqualsHex:
    out += '=';
    out += escape_hex_;
    break;
  case Escape::EqualsBlank:
    out += '=';
    out += escape_blanks_;
    escape_blanks_.clear();
    break;
  }
  escape_ = Escape::None;
}

void TransferDecoder::quotedPrintable(std::string_view bytes, std::string& out) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    switch (escape_) {
    case Escape::Equals:
      if (text::hexDigitValue(c) >= 0) {
        escape_ = Escape::EqualsHex;
        escape_hex_ = c;
        continue;
      }
      if (text::isWsp(c)) {
        escape_ = Escape::EqualsBlank; // "=" then padding: a soft break if the line ends here
        escape_blanks_ = c;
        continue;
      }
      flushEscape(out);
      break; // c is ordinary data, handled below
    case Escape::EqualsHex:
      if (text::hexDigitValue(c) >= 0) {
        out += static_cast<char>(text::hexDigitValue(escape_hex_) * 16 + text::hexDigitValue(c));
        escape_ = Escape::None;
        continue;
      }
      flushEscape(out);
      break;
    case Escape::EqualsBlank:
      if (text::isWsp(c) && escape_blanks_.size() < MaxPendingBlanks) {
        escape_blanks_ += c;
        continue;
      }
      flushEscape(out);
      break;
    case Escape::None:
      break;
    }
    if (text::isWsp(c)) {
      if (blanks_.size() >= MaxPendingBlanks) {
        out += blanks_;
        blanks_.clear();
      }
      blanks_ += c;
      continue;
    }
    out += blanks_;
    blanks_.clear();
    if (c == '=') {
      escape_ = Escape::Equals;
    } else {
      out += c;
    }
  }
}

} // namespace upesi::mail
