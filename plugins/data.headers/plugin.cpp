// data.headers: checks the message header against RFC 5322 3.6 (a subset of Haraka's headers
// plugin): fields that may appear once, fields that must appear, and a sane Date.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>
#include <upesi/text.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace upesi::plugins::data_headers {

namespace {

const std::vector<std::string> Booleans = {
    "+check.duplicate_singular",  "+check.missing_required",  "-check.invalid_date",
    "+reject.duplicate_singular", "-reject.missing_required", "-reject.invalid_date"};

// RFC 5322 3.6: the fields that may occur at most once.
const std::vector<std::string> DefaultSingular = {
    "Date", "From",       "Sender",      "Reply-To",   "To",     "Cc",
    "Bcc",  "Message-Id", "In-Reply-To", "References", "Subject"};
// RFC 5322 3.6: the fields that must occur.
const std::vector<std::string> DefaultRequired = {"Date", "From"};

std::vector<std::string> commaList(const nlohmann::json& value,
                                   const std::vector<std::string>& fallback) {
  if (!value.is_string()) {
    return fallback;
  }
  std::vector<std::string> out;
  std::string current;
  for (const char c : value.get<std::string>() + ",") {
    if (c == ',') {
      auto first = current.find_first_not_of(" \t");
      auto last = current.find_last_not_of(" \t");
      if (first != std::string::npos) {
        out.push_back(current.substr(first, last - first + 1));
      }
      current.clear();
    } else {
      current += c;
    }
  }
  return out;
}

bool isDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

int toInt(std::string_view s) {
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

} // namespace

/// Seconds since the epoch of an RFC 5322 date-time (obsolete forms included: two-digit
/// years, zone names, comments), or nullopt.
std::optional<std::int64_t> parseDate(std::string_view text) {
  if (text.size() > 200) {
    return std::nullopt;
  }
  std::vector<std::string> tokens;
  std::string current;
  int depth = 0;
  for (const char c : text) {
    if (c == '(') {
      ++depth;
    } else if (c == ')' && depth > 0) {
      --depth;
    } else if (depth == 0 && c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != ',') {
      current += c;
      continue;
    }
    if (!current.empty()) {
      tokens.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) {
    tokens.push_back(std::move(current));
  }
  static const std::array<std::string_view, 7> days = {"mon", "tue", "wed", "thu",
                                                       "fri", "sat", "sun"};
  std::size_t i = 0;
  if (i < tokens.size() &&
      std::find(days.begin(), days.end(), text::toLower(tokens[i])) != days.end()) {
    ++i;
  }
  if (tokens.size() < i + 4) {
    return std::nullopt;
  }
  static const std::array<std::string_view, 12> months = {"jan", "feb", "mar", "apr", "may", "jun",
                                                          "jul", "aug", "sep", "oct", "nov", "dec"};
  const auto& day = tokens[i];
  auto month_it = std::find(months.begin(), months.end(), text::toLower(tokens[i + 1]));
  const auto& year_text = tokens[i + 2];
  const auto& time_text = tokens[i + 3];
  if (!isDigits(day) || day.size() > 2 || month_it == months.end() || !isDigits(year_text) ||
      year_text.size() > 4) {
    return std::nullopt;
  }
  int year = toInt(year_text);
  if (year_text.size() == 2) {
    year += year < 50 ? 2000 : 1900;
  } else if (year_text.size() == 3) {
    year += 1900;
  }
  // hh:mm[:ss]
  int hms[3] = {0, 0, 0};
  std::size_t part = 0;
  std::string_view rest = time_text;
  while (part < 3) {
    auto colon = rest.find(':');
    auto piece = rest.substr(0, colon);
    if (!isDigits(piece) || piece.size() > 2) {
      return std::nullopt;
    }
    hms[part++] = toInt(piece);
    if (colon == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(colon + 1);
  }
  if (part < 2 || hms[0] > 23 || hms[1] > 59 || hms[2] > 60 || toInt(day) < 1 || toInt(day) > 31) {
    return std::nullopt;
  }
  int offset_minutes = 0;
  if (tokens.size() > i + 4) {
    const auto zone = tokens[i + 4];
    if ((zone[0] == '+' || zone[0] == '-') && zone.size() == 5 && isDigits(zone.substr(1))) {
      int hhmm = toInt(zone.substr(1));
      offset_minutes = (hhmm / 100) * 60 + hhmm % 100;
      if (zone[0] == '-') {
        offset_minutes = -offset_minutes;
      }
    } else {
      static const std::array<std::pair<std::string_view, int>, 10> names = {{{"ut", 0},
                                                                              {"gmt", 0},
                                                                              {"est", -5},
                                                                              {"edt", -4},
                                                                              {"cst", -6},
                                                                              {"cdt", -5},
                                                                              {"mst", -7},
                                                                              {"mdt", -6},
                                                                              {"pst", -8},
                                                                              {"pdt", -7}}};
      auto z = text::toLower(zone);
      bool known = z == "z" || z == "utc";
      for (const auto& [name, hours] : names) {
        if (z == name) {
          offset_minutes = hours * 60;
          known = true;
        }
      }
      if (!known && !(z.size() == 1 && z[0] >= 'a' && z[0] <= 'z')) {
        return std::nullopt; // military zones are "-0000" (unknown) per RFC 5322 4.3
      }
    }
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = static_cast<int>(month_it - months.begin());
  tm.tm_mday = toInt(day);
  tm.tm_hour = hms[0];
  tm.tm_min = hms[1];
  tm.tm_sec = hms[2];
  std::time_t t = ::timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(t) - offset_minutes * 60;
}

class DataHeaders final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    load();
    host.onConfigChange("data.headers.ini", [this] { load(); });
    // Registered always, switched by config at call time, so a change needs no reload.
    registrar.registerHook(
        Hook::DataPost,
        [this](Next next, Connection& c, const HookParams&) { duplicateSingular(next, c); }, 0,
        "duplicate_singular");
    registrar.registerHook(
        Hook::DataPost,
        [this](Next next, Connection& c, const HookParams&) { missingRequired(next, c); }, 0,
        "missing_required");
    registrar.registerHook(
        Hook::DataPost,
        [this](Next next, Connection& c, const HookParams&) { invalidDate(next, c); }, 0,
        "invalid_date");
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"data.headers.ini", "ini", Booleans}};
  }

private:
  void load() { cfg_ = host_->config("data.headers.ini", "ini", Booleans); }

  bool flag(const char* section, const char* key) const {
    return cfg_.is_object() && cfg_.contains(section) && cfg_[section].is_object() &&
           cfg_[section].contains(key) && cfg_[section][key].is_boolean() &&
           cfg_[section][key].get<bool>();
  }
  const nlohmann::json& mainKey(const char* key) const {
    static const nlohmann::json none;
    if (!cfg_.is_object() || !cfg_.contains("main") || !cfg_["main"].is_object() ||
        !cfg_["main"].contains(key)) {
      return none;
    }
    return cfg_["main"][key];
  }
  long long mainNumber(const char* key, long long fallback) const {
    const auto& v = mainKey(key);
    if (v.is_number_integer()) {
      return v.get<long long>();
    }
    if (v.is_string()) {
      try {
        return std::stoll(v.get<std::string>());
      } catch (const std::exception&) {
      }
    }
    return fallback;
  }

  void duplicateSingular(const Next& next, Connection& connection) {
    auto* txn = connection.transaction();
    if (txn == nullptr || !flag("check", "duplicate_singular")) {
      return next();
    }
    const auto& name = host_->pluginName();
    std::vector<std::string> failures;
    for (const auto& header : commaList(mainKey("singular"), DefaultSingular)) {
      if (txn->headers(header).size() > 1) {
        txn->results().add(name, {{"fail", "duplicate:" + header}});
        failures.push_back(header);
      }
    }
    if (failures.empty()) {
      txn->results().add(name, {{"pass", "duplicate"}});
      return next();
    }
    if (flag("reject", "duplicate_singular")) {
      return next(Code::Deny, fmt::format("Only one {} header allowed. See RFC 5322, Section 3.6",
                                          failures.front()));
    }
    next();
  }

  void missingRequired(const Next& next, Connection& connection) {
    auto* txn = connection.transaction();
    if (txn == nullptr || !flag("check", "missing_required")) {
      return next();
    }
    const auto& name = host_->pluginName();
    std::vector<std::string> failures;
    for (const auto& header : commaList(mainKey("required"), DefaultRequired)) {
      if (txn->headers(header).empty()) {
        txn->results().add(name, {{"fail", "missing:" + header}});
        failures.push_back(header);
      }
    }
    if (failures.empty()) {
      txn->results().add(name, {{"pass", "missing"}});
      return next();
    }
    if (flag("reject", "missing_required")) {
      return next(Code::Deny, fmt::format("Required header '{}' missing", failures.front()));
    }
    next();
  }

  void invalidDate(const Next& next, Connection& connection) {
    auto* txn = connection.transaction();
    if (txn == nullptr || !flag("check", "invalid_date")) {
      return next();
    }
    auto dates = txn->headers("Date");
    if (dates.empty()) {
      return next(); // missing_required's business
    }
    const auto& name = host_->pluginName();
    const bool reject = flag("reject", "invalid_date");
    auto when = parseDate(dates.front());
    if (!when) {
      txn->results().add(name, {{"fail", "invalid_date(unparsable)"}});
      return reject ? next(Code::Deny, "The Date header is not a valid date") : next();
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const long long future_days = mainNumber("date_future_days", 2);
    const long long past_days = mainNumber("date_past_days", 15);
    if (future_days > 0 && *when > now + future_days * 86400) {
      txn->results().add(name, {{"fail", "invalid_date(future)"}});
      return reject ? next(Code::Deny, "The Date header is too far in the future") : next();
    }
    if (past_days > 0 && *when < now - past_days * 86400) {
      txn->results().add(name, {{"fail", "invalid_date(past)"}});
      return reject ? next(Code::Deny, "The Date header is too old") : next();
    }
    txn->results().add(name, {{"pass", "invalid_date"}});
    next();
  }

  Host* host_ = nullptr;
  nlohmann::json cfg_;
};

} // namespace upesi::plugins::data_headers

std::unique_ptr<upesi::Plugin> upesi_builtin_data_headers() {
  return std::make_unique<upesi::plugins::data_headers::DataHeaders>();
}
