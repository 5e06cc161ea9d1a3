// The addresses of a To, Cc or Bcc field, or of a sendmail argument, read as forgivingly as
// Sendmail and Postfix read them: "root", "Jo <jo@example.org>", "a@b, c@d (comment)",
// "team: a@b, c@d;". Each comes back as written between its brackets (quoted local parts kept),
// unqualified ones too; the server gives those its own domain.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::maildrop {

/// At most `max` addresses (the rest are ignored).
std::vector<std::string> splitAddressList(std::string_view value, std::size_t max = 10000);

} // namespace upesi::maildrop
