#include "worker/smtp/banner.hpp"

#include <upesi/text.hpp>

#include "common/mail/transfer_decoder.hpp"
#include "common/mail/transfer_encoder.hpp"

namespace upesi::smtp {
namespace {

bool isHtml(const mail::MimePart& part) {
  return part.content_type == "text/html";
}

bool takesBanner(const mail::MimePart& part) {
  return !part.attachment && (part.content_type == "text/plain" || isHtml(part)) &&
         part.body_end - part.body_begin <= MaxBannerPartBytes;
}

void collect(const mail::MimePart& part, const Banner& banner, std::vector<BodyEdit>& edits) {
  if (!part.children.empty()) {
    for (const auto& child : part.children) {
      collect(*child, banner, edits);
    }
    return;
  }
  if (!takesBanner(part)) {
    return;
  }
  edits.push_back({part.body_begin, part.body_end, [&part, banner](std::string_view stored) {
                     return withBanner(stored, part, banner);
                   }});
}

/// Line breaks as CRLF, whatever they were.
std::string withCrlf(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      continue; // the LF that follows writes the break
    }
    if (text[i] == '\n') {
      out += "\r\n";
    } else {
      out += text[i];
    }
  }
  return out;
}

/// UTF-8 `text` in a single-byte charset: code points it lacks become '?'.
std::string toSingleByte(std::string_view text, bool windows1252) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = lead < 0x80 ? 1 : lead >> 5 == 6 ? 2 : lead >> 4 == 14 ? 3 : 4;
    unsigned cp = length == 1 ? lead : length == 2 ? lead & 0x1fu : lead & 0x0fu;
    for (std::size_t k = 1; k < length && i + k < text.size(); ++k) {
      cp = cp << 6 | (static_cast<unsigned char>(text[i + k]) & 0x3fu);
    }
    const bool c1 = cp >= 0x80 && cp < 0xa0; // controls in Latin-1, other letters in 1252
    out += cp < 0x100 && !(windows1252 && c1) ? static_cast<char>(cp) : '?';
    i += length;
  }
  return out;
}

std::string inCharset(std::string_view utf8, const std::string& charset) {
  if (charset == "iso-8859-1" || charset == "latin1" || charset == "iso8859-1") {
    return toSingleByte(utf8, false);
  }
  if (charset == "windows-1252" || charset == "cp1252") {
    return toSingleByte(utf8, true);
  }
  return std::string(utf8);
}

std::string decode(std::string_view stored, mail::TransferEncoding encoding) {
  if (encoding == mail::TransferEncoding::Identity) {
    return std::string(stored);
  }
  mail::TransferDecoder decoder(encoding);
  std::string out;
  while (!stored.empty()) {
    const auto lf = stored.find('\n');
    std::string_view line = stored.substr(0, lf);
    if (!line.empty() && line.back() == '\r' && lf != std::string_view::npos) {
      line.remove_suffix(1);
    }
    decoder.data(line, out);
    if (lf == std::string_view::npos) {
      break;
    }
    decoder.lineBreak(out);
    stored.remove_prefix(lf + 1);
  }
  decoder.finish(out);
  return out;
}

std::size_t findClosingBody(const std::string& html) {
  static constexpr std::string_view Tag = "</body";
  for (std::size_t i = html.size(); i-- > 0;) {
    if (text::startsWithIgnoreCase(std::string_view(html).substr(i), Tag)) {
      return i;
    }
  }
  return std::string::npos;
}

std::string htmlFromText(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "<br/>";
    }
    out += c;
  }
  return out;
}

} // namespace

std::vector<BodyEdit> bannerEdits(const mail::MimePart& root, const Banner& banner) {
  std::vector<BodyEdit> edits;
  collect(root, banner, edits);
  return edits;
}

std::string withBanner(std::string_view stored, const mail::MimePart& part, const Banner& banner) {
  const mail::TransferEncoding encoding = mail::transferEncodingFrom(part.transfer_encoding);
  const bool ended_with_break = !stored.empty() && stored.back() == '\n';
  std::string text = decode(stored, encoding);
  if (isHtml(part)) {
    const std::string html = withCrlf(inCharset(
        banner.html.empty() ? htmlFromText(banner.text) : banner.html, part.charset_name));
    const std::size_t at = findClosingBody(text);
    text.insert(at == std::string::npos ? text.size() : at, html);
  } else {
    if (!text.empty() && text.back() != '\n') {
      text += "\r\n";
    }
    text += withCrlf(inCharset(banner.text, part.charset_name));
    if (ended_with_break) {
      text += "\r\n";
    }
  }
  switch (encoding) {
  case mail::TransferEncoding::Identity:
    return text;
  case mail::TransferEncoding::QuotedPrintable: {
    std::string out;
    mail::encodeQuotedPrintable(text, out);
    return out;
  }
  case mail::TransferEncoding::Base64: {
    std::string out;
    mail::encodeBase64(text, out);
    if (ended_with_break) {
      out += "\r\n";
    }
    return out;
  }
  }
  return text;
}

} // namespace upesi::smtp
