// Banners (Haraka's transaction.set_banner): text added at the end of every text/plain part of
// a message and before the </body> of every text/html part, attachments excepted. A part is
// decoded, given the banner (in the part's charset when that is ISO-8859-1 or Windows-1252,
// else as UTF-8) and encoded again in its own transfer encoding, so the rest of the message is
// written as it came.
#pragma once

#include "common/mail/mime_part.hpp"
#include "worker/smtp/message_stream.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::smtp {

struct Banner {
  std::string text;
  std::string html; ///< empty: the text, each line break preceded by "<br/>"
};

/// Parts whose stored body is longer are left without a banner: each is rewritten in memory.
inline constexpr std::size_t MaxBannerPartBytes = 8 * 1024 * 1024;

/// The edits that add `banner` to the parts of a parsed message (see MimePart::body_begin).
std::vector<BodyEdit> bannerEdits(const mail::MimePart& root, const Banner& banner);

/// `stored`, the body of `part` as received, with the banner added.
std::string withBanner(std::string_view stored, const mail::MimePart& part, const Banner& banner);

} // namespace upesi::smtp
