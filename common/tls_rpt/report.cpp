#include "common/tls_rpt/report.hpp"

#include "common/mail/transfer_encoder.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <zlib.h>

namespace upesi::tls_rpt {

using nlohmann::json;

namespace {

constexpr ResultType AllResultTypes[] = {
    ResultType::StarttlsNotSupported, ResultType::CertificateHostMismatch,
    ResultType::CertificateExpired,   ResultType::CertificateNotTrusted,
    ResultType::ValidationFailure,    ResultType::TlsaInvalid,
    ResultType::DnssecInvalid,        ResultType::StsPolicyFetchError,
    ResultType::StsPolicyInvalid};

bool sameFailure(const Failure& a, const Failure& b) {
  return a.type == b.type && a.sending_ip == b.sending_ip && a.receiving_mx == b.receiving_mx &&
         a.receiving_ip == b.receiving_ip && a.reason == b.reason;
}

std::optional<ResultType> resultTypeFromName(const std::string& name) {
  for (ResultType type : AllResultTypes) {
    if (name == toString(type)) {
      return type;
    }
  }
  return std::nullopt;
}

std::vector<std::string> stringsOf(const json& j) {
  std::vector<std::string> out;
  if (j.is_array()) {
    for (const auto& item : j) {
      if (item.is_string()) {
        out.push_back(item.get<std::string>());
      }
    }
  }
  return out;
}

// "2026-12-05" -> seconds since the epoch at its 00:00:00 UTC; nullopt if not a date.
std::optional<std::int64_t> dayStart(const std::string& day) {
  std::tm tm{};
  if (day.size() != 10 || ::strptime(day.c_str(), "%Y-%m-%d", &tm) == nullptr) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(::timegm(&tm));
}

} // namespace

const char* toString(PolicyType type) {
  switch (type) {
  case PolicyType::Tlsa:
    return "tlsa";
  case PolicyType::Sts:
    return "sts";
  }
  return "?";
}

const char* toString(ResultType type) {
  switch (type) {
  case ResultType::StarttlsNotSupported:
    return "starttls-not-supported";
  case ResultType::CertificateHostMismatch:
    return "certificate-host-mismatch";
  case ResultType::CertificateExpired:
    return "certificate-expired";
  case ResultType::CertificateNotTrusted:
    return "certificate-not-trusted";
  case ResultType::ValidationFailure:
    return "validation-failure";
  case ResultType::TlsaInvalid:
    return "tlsa-invalid";
  case ResultType::DnssecInvalid:
    return "dnssec-invalid";
  case ResultType::StsPolicyFetchError:
    return "sts-policy-fetch-error";
  case ResultType::StsPolicyInvalid:
    return "sts-policy-invalid";
  }
  return "?";
}

void Tally::addFailure(const Failure& failure, std::uint64_t n) {
  failures += n;
  for (auto& [known, count] : details) {
    if (sameFailure(known, failure)) {
      count += n;
      return;
    }
  }
  if (details.size() < MaxFailureDetails) {
    details.emplace_back(failure, n);
  }
}

void Tally::merge(const Tally& other) {
  successes += other.successes;
  // Counted once here: addFailure below would count them again.
  const std::uint64_t before = failures;
  for (const auto& [failure, count] : other.details) {
    addFailure(failure, count);
  }
  failures = before + other.failures;
  if (policy.strings.empty()) {
    policy = other.policy;
  }
}

json toJson(const Tally& tally) {
  json details = json::array();
  for (const auto& [f, count] : tally.details) {
    details.push_back({{"type", toString(f.type)},
                       {"sending_ip", f.sending_ip},
                       {"receiving_mx", f.receiving_mx},
                       {"receiving_ip", f.receiving_ip},
                       {"reason", f.reason},
                       {"count", count}});
  }
  return {{"policy_type", toString(tally.policy.type)},
          {"policy_strings", tally.policy.strings},
          {"mx", tally.policy.mx},
          {"successes", tally.successes},
          {"failures", tally.failures},
          {"details", details}};
}

std::optional<Tally> tallyFromJson(const json& j) {
  if (!j.is_object() || !j.contains("policy_type") || !j["policy_type"].is_string() ||
      !j.contains("successes") || !j["successes"].is_number_unsigned() || !j.contains("failures") ||
      !j["failures"].is_number_unsigned()) {
    return std::nullopt;
  }
  Tally tally;
  const std::string type = j["policy_type"].get<std::string>();
  if (type == "tlsa") {
    tally.policy.type = PolicyType::Tlsa;
  } else if (type == "sts") {
    tally.policy.type = PolicyType::Sts;
  } else {
    return std::nullopt;
  }
  tally.policy.strings = stringsOf(j.value("policy_strings", json::array()));
  tally.policy.mx = stringsOf(j.value("mx", json::array()));
  tally.successes = j["successes"].get<std::uint64_t>();
  tally.failures = j["failures"].get<std::uint64_t>();
  if (j.contains("details") && j["details"].is_array()) {
    for (const auto& d : j["details"]) {
      if (!d.is_object() || !d.contains("type") || !d["type"].is_string() || !d.contains("count") ||
          !d["count"].is_number_unsigned()) {
        return std::nullopt;
      }
      auto result = resultTypeFromName(d["type"].get<std::string>());
      if (!result || tally.details.size() >= MaxFailureDetails) {
        return std::nullopt;
      }
      Failure f;
      f.type = *result;
      f.sending_ip = d.value("sending_ip", "");
      f.receiving_mx = d.value("receiving_mx", "");
      f.receiving_ip = d.value("receiving_ip", "");
      f.reason = d.value("reason", "");
      tally.details.emplace_back(std::move(f), d["count"].get<std::uint64_t>());
    }
  }
  return tally;
}

std::optional<std::vector<std::string>> reportAddresses(const std::vector<std::string>& txt) {
  std::optional<std::vector<std::string>> found;
  int records = 0;
  for (const auto& record : txt) {
    std::string_view r = record;
    if (!r.starts_with("v=TLSRPTv1")) {
      continue; // another record: discarded (RFC 8460 3)
    }
    ++records;
    std::vector<std::string> mailto;
    bool has_rua = false;
    bool valid = true;
    std::size_t start = 0;
    bool first = true;
    while (start <= r.size()) {
      auto semi = r.find(';', start);
      std::string_view field =
          r.substr(start, semi == std::string_view::npos ? r.npos : semi - start);
      start = semi == std::string_view::npos ? r.size() + 1 : semi + 1;
      while (!field.empty() && (field.front() == ' ' || field.front() == '\t')) {
        field.remove_prefix(1);
      }
      while (!field.empty() && (field.back() == ' ' || field.back() == '\t')) {
        field.remove_suffix(1);
      }
      if (first) {
        valid = field == "v=TLSRPTv1";
        first = false;
        continue;
      }
      if (!field.starts_with("rua=")) {
        continue; // an extension, or the trailing empty field
      }
      has_rua = true;
      std::string_view uris = field.substr(4);
      while (!uris.empty()) {
        auto comma = uris.find(',');
        std::string_view uri = uris.substr(0, comma);
        uris = comma == std::string_view::npos ? std::string_view() : uris.substr(comma + 1);
        while (!uri.empty() && uri.front() == ' ') {
          uri.remove_prefix(1);
        }
        while (!uri.empty() && uri.back() == ' ') {
          uri.remove_suffix(1);
        }
        if (uri.size() > 7 && uri.substr(0, 7) == "mailto:") {
          std::string address(uri.substr(7));
          // "mailto:reports@example.com?subject=x": the address alone (RFC 6068).
          address = address.substr(0, address.find('?'));
          if (address.find('@') != std::string::npos &&
              address.find_first_of(" <>\r\n") == std::string::npos) {
            mailto.push_back(address);
          }
        } else if (!uri.starts_with("https:")) {
          valid = false;
        }
      }
    }
    if (valid && has_rua) {
      found = std::move(mailto);
    }
  }
  if (records != 1) {
    return std::nullopt;
  }
  return found;
}

std::string reportJson(const ReportInfo& info, const std::vector<Tally>& tallies) {
  json policies = json::array();
  for (const auto& tally : tallies) {
    json policy = {{"policy-type", toString(tally.policy.type)},
                   {"policy-string", tally.policy.strings},
                   {"policy-domain", info.domain}};
    if (!tally.policy.mx.empty()) {
      policy["mx-host"] = tally.policy.mx;
    }
    json entry = {{"policy", policy},
                  {"summary",
                   {{"total-successful-session-count", tally.successes},
                    {"total-failure-session-count", tally.failures}}}};
    if (!tally.details.empty()) {
      json details = json::array();
      for (const auto& [f, count] : tally.details) {
        json d = {{"result-type", toString(f.type)}, {"failed-session-count", count}};
        if (!f.sending_ip.empty()) {
          d["sending-mta-ip"] = f.sending_ip;
        }
        if (!f.receiving_mx.empty()) {
          d["receiving-mx-hostname"] = f.receiving_mx;
        }
        if (!f.receiving_ip.empty()) {
          d["receiving-ip"] = f.receiving_ip;
        }
        if (!f.reason.empty()) {
          d["failure-reason-code"] = f.reason;
        }
        details.push_back(std::move(d));
      }
      entry["failure-details"] = std::move(details);
    }
    policies.push_back(std::move(entry));
  }
  json report = {
      {"organization-name", info.organization},
      {"date-range",
       {{"start-datetime", info.day + "T00:00:00Z"}, {"end-datetime", info.day + "T23:59:59Z"}}},
      {"contact-info", info.contact},
      {"report-id", info.report_id},
      {"policies", std::move(policies)}};
  return report.dump();
}

Result<std::string> gzip(std::string_view data) {
  z_stream stream{};
  // 15 + 16: a gzip header and trailer around the deflate stream.
  if (deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    return Error{"gzip: deflateInit2 failed"};
  }
  std::string out(deflateBound(&stream, static_cast<uLong>(data.size())), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&stream, Z_FINISH);
  const auto written = stream.total_out;
  deflateEnd(&stream);
  if (rc != Z_STREAM_END) {
    return Error{fmt::format("gzip: deflate returned {}", rc)};
  }
  out.resize(written);
  return out;
}

std::string reportMessage(const ReportInfo& info, const std::string& from,
                          const std::vector<std::string>& to, const std::string& gzipped,
                          const std::string& date, const std::string& message_id) {
  const std::int64_t begin = dayStart(info.day).value_or(0);
  const std::int64_t end = begin + 86399;
  const std::string boundary = "tlsrpt-" + info.report_id;
  // RFC 8460 5.3: submitter!policy-domain!begin!end!unique-id.json.gz
  const std::string filename = fmt::format("{}!{}!{}!{}!{}.json.gz", info.organization, info.domain,
                                           begin, end, info.report_id);
  std::string m;
  m += "From: <" + from + ">\r\n";
  m += "To: ";
  for (std::size_t i = 0; i < to.size(); ++i) {
    m += (i == 0 ? "<" : ", <") + to[i] + ">";
  }
  m += "\r\n";
  m += "Date: " + date + "\r\n";
  m += "Message-ID: <" + message_id + ">\r\n";
  m += fmt::format("Subject: Report Domain: {} Submitter: {} Report-ID: <{}>\r\n", info.domain,
                   info.organization, info.report_id);
  m += "TLS-Report-Domain: " + info.domain + "\r\n";
  m += "TLS-Report-Submitter: " + info.organization + "\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n boundary=\"" + boundary +
       "\"\r\n\r\n";
  m += "--" + boundary + "\r\n";
  m += "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
  m += fmt::format("This is an SMTP TLS report (RFC 8460) for {} on {}, from {}.\r\n\r\n",
                   info.domain, info.day, info.organization);
  m += "--" + boundary + "\r\n";
  m += "Content-Type: application/tlsrpt+gzip\r\n";
  m += "Content-Transfer-Encoding: base64\r\n";
  m += "Content-Disposition: attachment;\r\n filename=\"" + filename + "\"\r\n\r\n";
  mail::encodeBase64(gzipped, m);
  m += "\r\n--" + boundary + "--\r\n";
  return m;
}

} // namespace upesi::tls_rpt
