#include "common/auth/punycode.hpp"

#include <upesi/text.hpp>

#include "common/util/utf8_validator.hpp"

#include <cstdint>
#include <limits>
#include <vector>

namespace upesi::auth {
namespace {

// RFC 3492 section 5.
constexpr std::uint32_t Base = 36;
constexpr std::uint32_t TMin = 1;
constexpr std::uint32_t TMax = 26;
constexpr std::uint32_t Skew = 38;
constexpr std::uint32_t Damp = 700;
constexpr std::uint32_t InitialBias = 72;
constexpr std::uint32_t InitialN = 0x80;
constexpr std::size_t MaxLabel = 63;

std::optional<std::vector<std::uint32_t>> decodeUtf8(std::string_view text) {
  Utf8Validator validator;
  if (!validator.feed(text) || !validator.complete()) {
    return std::nullopt;
  }
  std::vector<std::uint32_t> points;
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    int extra = byte < 0x80 ? 0 : byte < 0xE0 ? 1 : byte < 0xF0 ? 2 : 3;
    std::uint32_t point = extra == 0 ? byte : byte & (0x3F >> extra);
    for (int k = 1; k <= extra; ++k) {
      point = (point << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    }
    points.push_back(point);
    i += extra + 1;
  }
  return points;
}

char encodeDigit(std::uint32_t digit) {
  return static_cast<char>(digit < 26 ? 'a' + digit : '0' + (digit - 26));
}

// Appends `q` as a generalized variable-length integer (RFC 3492 section 3.3).
void appendVariableLength(std::string& output, std::uint32_t q, std::uint32_t bias) {
  for (std::uint32_t k = Base;; k += Base) {
    const std::uint32_t t = k <= bias ? TMin : k >= bias + TMax ? TMax : k - bias;
    if (q < t) {
      break;
    }
    output += encodeDigit(t + (q - t) % (Base - t));
    q = (q - t) / (Base - t);
  }
  output += encodeDigit(q);
}

std::uint32_t adapt(std::uint32_t delta, std::uint32_t points, bool first) {
  delta = first ? delta / Damp : delta / 2;
  delta += delta / points;
  std::uint32_t k = 0;
  while (delta > ((Base - TMin) * TMax) / 2) {
    delta /= Base - TMin;
    k += Base;
  }
  return k + (((Base - TMin + 1) * delta) / (delta + Skew));
}

} // namespace

std::optional<std::string> punycodeEncode(std::string_view utf8) {
  auto decoded = decodeUtf8(utf8);
  if (!decoded) {
    return std::nullopt;
  }
  const std::vector<std::uint32_t>& input = *decoded;
  constexpr std::uint32_t MaxInt = std::numeric_limits<std::uint32_t>::max();
  std::string output;
  for (std::uint32_t point : input) {
    if (point < 0x80) {
      output += static_cast<char>(point);
    }
  }
  const auto basic = static_cast<std::uint32_t>(output.size());
  std::uint32_t handled = basic;
  if (basic > 0) {
    output += '-';
  }
  std::uint32_t n = InitialN;
  std::uint32_t delta = 0;
  std::uint32_t bias = InitialBias;
  while (handled < input.size()) {
    std::uint32_t m = MaxInt;
    for (std::uint32_t point : input) {
      if (point >= n && point < m) {
        m = point;
      }
    }
    if (m - n > (MaxInt - delta) / (handled + 1)) {
      return std::nullopt;
    }
    delta += (m - n) * (handled + 1);
    n = m;
    for (std::uint32_t point : input) {
      if (point < n) {
        if (++delta == 0) {
          return std::nullopt;
        }
      }
      if (point == n) {
        appendVariableLength(output, delta, bias);
        bias = adapt(delta, handled + 1, handled == basic);
        delta = 0;
        ++handled;
      }
    }
    ++delta;
    ++n;
  }
  return output;
}

std::optional<std::string> toALabels(std::string_view domain) {
  std::string out;
  out.reserve(domain.size());
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = domain.find('.', start);
    const std::string_view label =
        domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    bool ascii = true;
    for (char c : label) {
      if (static_cast<unsigned char>(c) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      out += text::toLower(label);
    } else {
      auto encoded = punycodeEncode(text::toLower(label));
      if (!encoded || encoded->size() + 4 > MaxLabel) {
        return std::nullopt;
      }
      out += "xn--";
      out += *encoded;
    }
    if (dot == std::string_view::npos) {
      break;
    }
    out += '.';
    start = dot + 1;
  }
  return out;
}

} // namespace upesi::auth
