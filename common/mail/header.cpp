#include "common/mail/header.hpp"

#include "common/util/text.hpp"

#include <algorithm>

namespace upesi::mail {

namespace {

std::string_view trimWsp(std::string_view s) {
  while (!s.empty() && text::isWsp(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && text::isWsp(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

} // namespace

std::string HeaderField::value() const {
  std::string out;
  out.reserve(raw_value.size());
  // Unfold: a line break inside a field always precedes WSP, so dropping the CRLF joins the
  // continuation lines and keeps their leading whitespace.
  for (std::size_t i = 0; i < raw_value.size(); ++i) {
    if (raw_value[i] == '\r' && i + 1 < raw_value.size() && raw_value[i + 1] == '\n') {
      ++i;
      continue;
    }
    out.push_back(raw_value[i]);
  }
  std::string_view trimmed = trimWsp(out);
  return std::string(trimmed);
}

bool Header::validName(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 33 && u <= 126 && c != ':';
  });
}

bool Header::validValue(std::string_view value) {
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\0' || c == '\n') {
      return false;
    }
    if (c == '\r') {
      // Only a fold is allowed: CRLF followed by SP or HTAB, then something visible before the
      // next line break (a whitespace-only line reads as the empty line to some parsers).
      if (i + 2 >= value.size() || value[i + 1] != '\n' || !text::isWsp(value[i + 2])) {
        return false;
      }
      std::size_t j = i + 2;
      while (j < value.size() && text::isWsp(value[j])) {
        ++j;
      }
      if (j == value.size() || value[j] == '\r') {
        return false;
      }
      i = j - 1;
    }
  }
  return true;
}

Header Header::parse(std::string_view block, const HeaderOptions& options) {
  Header h;
  h.original_.reserve(block.size() + 2);
  bool open_field = false; // the last field may take continuation lines
  std::size_t pos = 0;
  while (pos < block.size()) {
    std::size_t end = block.find('\n', pos);
    std::size_t next = end == std::string_view::npos ? block.size() : end + 1;
    std::string_view line = block.substr(pos, next - pos);
    if (!line.empty() && line.back() == '\n') {
      line.remove_suffix(1);
    }
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.empty()) {
      break; // the empty line that ends the header block
    }
    pos = next;

    if (text::isWsp(line.front()) && !open_field) {
      // A continuation with nothing to continue (only the first line can be one). Kept as it
      // is, it would fold into whatever is written before it, such as the Received field we
      // prepend. It is no fold of anything (Postfix ends the header before it, making it all
      // body; here the fields after it stay fields): its leading WSP goes and the rest reads as
      // a line of its own, as a reader of what we write out will read it. A line of WSP alone
      // goes altogether (written back, it would be the empty line that ends the header).
      h.malformed_ = true;
      while (!line.empty() && text::isWsp(line.front())) {
        line.remove_prefix(1);
      }
      if (line.empty()) {
        continue;
      }
    }
    ++h.parsed_lines_;

    if (text::isWsp(line.front()) && open_field) {
      Field& field = h.fields_.back();
      h.original_ += "\r\n";
      h.original_ += line;
      field.length = h.original_.size() - field.offset;
      continue;
    }

    if (!h.original_.empty()) {
      h.original_ += "\r\n";
    }
    Field field;
    field.offset = h.original_.size();
    field.length = line.size();
    h.original_ += line;
    open_field = true;

    std::size_t colon = line.find(':');
    std::string_view name =
        colon == std::string_view::npos ? std::string_view{} : line.substr(0, colon);
    // RFC 5322 obsolete syntax allows WSP between the name and the colon.
    while (!name.empty() && text::isWsp(name.back())) {
      name.remove_suffix(1);
    }
    if (!validName(name)) {
      h.malformed_ = true; // kept raw, written back unchanged
    } else if (h.parsed_lines_ > options.max_lines) {
      h.capped_ = true;
    } else {
      field.name_length = name.size();
      field.colon = colon;
    }
    h.fields_.push_back(std::move(field));
  }
  if (!h.original_.empty()) {
    h.original_ += "\r\n";
  }
  return h;
}

std::string_view Header::rawOf(const Field& field) const {
  if (field.is_owned) {
    return field.owned;
  }
  return std::string_view(original_).substr(field.offset, field.length);
}

HeaderField Header::field(std::size_t index) const {
  const Field& f = fields_.at(index);
  HeaderField out;
  out.raw = rawOf(f);
  if (f.name_length > 0) {
    out.indexed = true;
    out.name = out.raw.substr(0, f.name_length);
    out.raw_value = out.raw.substr(f.colon + 1);
  }
  return out;
}

std::optional<std::string> Header::get(std::string_view name) const {
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    HeaderField f = field(i);
    if (f.indexed && text::equalsIgnoreCase(f.name, name)) {
      return f.value();
    }
  }
  return std::nullopt;
}

std::vector<std::string> Header::getAll(std::string_view name) const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    HeaderField f = field(i);
    if (f.indexed && text::equalsIgnoreCase(f.name, name)) {
      out.push_back(f.value());
    }
  }
  return out;
}

std::size_t Header::count(std::string_view name) const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    HeaderField f = field(i);
    if (f.indexed && text::equalsIgnoreCase(f.name, name)) {
      ++n;
    }
  }
  return n;
}

Result<Header::Field> Header::makeField(std::string_view name, std::string_view value) const {
  if (!validName(name)) {
    return Error{"invalid header name"};
  }
  if (!validValue(value)) {
    return Error{"invalid header value (bare CR/LF, NUL or unfolded line break)"};
  }
  Field field;
  field.is_owned = true;
  field.owned.reserve(name.size() + 2 + value.size());
  field.owned += name;
  field.owned += ": ";
  field.owned += value;
  field.length = field.owned.size();
  field.name_length = name.size();
  field.colon = name.size();
  return field;
}

Result<std::monostate> Header::add(std::string_view name, std::string_view value) {
  auto field = makeField(name, value);
  if (!field) {
    return Error{field.error()};
  }
  fields_.push_back(std::move(*field));
  edited_ = true;
  return std::monostate{};
}

Result<std::monostate> Header::addLeading(std::string_view name, std::string_view value) {
  auto field = makeField(name, value);
  if (!field) {
    return Error{field.error()};
  }
  fields_.insert(fields_.begin(), std::move(*field));
  edited_ = true;
  return std::monostate{};
}

Result<std::monostate> Header::insert(std::size_t index, std::string_view name,
                                      std::string_view value) {
  auto field = makeField(name, value);
  if (!field) {
    return Error{field.error()};
  }
  const auto at = static_cast<std::ptrdiff_t>(std::min(index, fields_.size()));
  fields_.insert(fields_.begin() + at, std::move(*field));
  edited_ = true;
  return std::monostate{};
}

Result<std::monostate> Header::change(std::string_view name, std::size_t occurrence,
                                      std::string_view value) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    const Field& f = fields_[i];
    if (f.name_length == 0 || !text::equalsIgnoreCase(rawOf(f).substr(0, f.name_length), name) ||
        ++seen != occurrence) {
      continue;
    }
    edited_ = true;
    if (value.empty()) {
      fields_.erase(fields_.begin() + static_cast<std::ptrdiff_t>(i));
      return std::monostate{};
    }
    // The field keeps its name as it was written.
    const std::string written_name(rawOf(f).substr(0, f.name_length));
    auto field = makeField(written_name, value);
    if (!field) {
      return Error{field.error()};
    }
    fields_[i] = std::move(*field);
    return std::monostate{};
  }
  if (value.empty()) {
    return std::monostate{};
  }
  return add(name, value);
}

std::size_t Header::remove(std::string_view name) {
  return removeIf(name, [](const HeaderField&) { return true; });
}

std::size_t Header::removeIf(std::string_view name,
                             const std::function<bool(const HeaderField&)>& predicate) {
  // Compacted in place: every message passes here (forged Authentication-Results), and most
  // lose nothing.
  std::size_t kept = 0;
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    const Field& f = fields_[i];
    const bool named =
        f.name_length > 0 && text::equalsIgnoreCase(rawOf(f).substr(0, f.name_length), name);
    if (named && predicate(field(i))) {
      continue;
    }
    if (kept != i) {
      fields_[kept] = std::move(fields_[i]);
    }
    ++kept;
  }
  const std::size_t removed = fields_.size() - kept;
  if (removed > 0) {
    fields_.resize(kept);
    edited_ = true;
  }
  return removed;
}

std::size_t Header::serializedSize() const {
  if (!edited_) {
    return original_.size();
  }
  std::size_t n = 0;
  for (const Field& f : fields_) {
    n += f.length + 2;
  }
  return n;
}

void Header::serializeTo(std::string& out) const {
  if (!edited_) {
    out += original_;
    return;
  }
  out.reserve(out.size() + serializedSize());
  for (const Field& f : fields_) {
    out += rawOf(f);
    out += "\r\n";
  }
}

std::string Header::serialize() const {
  std::string out;
  serializeTo(out);
  return out;
}

} // namespace upesi::mail
