// A DMARC policy record (RFC 7489 sections 6.3 and 6.4, np= of RFC 9091) and the choice of the
// record among the TXT strings published at a _dmarc name (section 6.6.3). Pure: the caller
// does the DNS.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::dmarc {

enum class Policy { None, Quarantine, Reject };
enum class Alignment { Relaxed, Strict };

/// "none", "quarantine", "reject".
std::string_view policyName(Policy policy);
/// 'r' or 's'.
char alignmentLetter(Alignment alignment);

/// A reporting URI of rua= / ruf=: "mailto:dmarc@example.com!10m".
struct ReportUri {
  std::string uri;                       // as written, without the size
  std::optional<std::uint64_t> max_size; // in bytes, the unit applied; nullopt when not given
  std::string size_text;                 // the size as written ("10m"), empty when not given

  bool operator==(const ReportUri&) const = default;
};

struct Record {
  Policy policy = Policy::None;
  std::optional<Policy> subdomain_policy;        // sp=
  std::optional<Policy> nonexistent_policy;      // np= (RFC 9091)
  Alignment dkim_alignment = Alignment::Relaxed; // adkim=
  Alignment spf_alignment = Alignment::Relaxed;  // aspf=
  int percent = 100;                             // pct=, 0..100
  std::vector<ReportUri> aggregate_uris;         // rua=
  std::vector<ReportUri> failure_uris;           // ruf=
  std::vector<std::string> failure_options;      // fo=, lower-case; {"0"} when not given
  std::vector<std::string> report_formats;       // rf=, lower-case; {"afrf"} when not given
  std::uint32_t report_interval = 86400;         // ri=, seconds
  /// p= was missing or bad but rua= held a valid URI, so p=none was assumed (section 6.6.3).
  bool policy_assumed = false;

  bool operator==(const Record&) const = default;
};

struct RecordParse {
  Record record;
  std::string error; // why the record is invalid (no DMARC processing); empty when valid
  bool ok() const { return error.empty(); }
};

/// Bounds on what a published record may make us parse.
constexpr std::size_t MaxRecordLength = 4096;
constexpr std::size_t MaxReportUris = 32;

/// Whether a TXT string is a DMARC record: "v" "=" "DMARC1" (the value in exactly that case,
/// RFC 7489 section 6.4), whitespace allowed around '=', then ';', whitespace or the end.
bool isDmarcRecord(std::string_view txt);

/// Parses a record. v=DMARC1 must be the first tag; tag names and values other than v's are
/// case-insensitive; unknown tags are ignored. A missing or bad p=, or a bad sp=, makes the
/// record invalid unless rua= holds a valid URI, in which case p=none is assumed. Other bad
/// values fall back to the default: bad adkim/aspf → r; bad np → absent; pct out of range or not
/// a number → 100; bad ri → 86400; unknown fo options are dropped; rua/ruf URIs that are not
/// URIs (or whose size is bad) are dropped. A tag-list syntax error (tag_list.hpp), a repeated
/// tag (in any case) or a record longer than MaxRecordLength is invalid.
RecordParse parseRecord(std::string_view txt);

struct RecordSelection {
  enum class Outcome {
    None,     // no TXT string is a DMARC record
    Found,    // exactly one: `record`
    Multiple, // more than one: no policy (section 6.6.3 step 4)
  };
  Outcome outcome = Outcome::None;
  std::string record;
};

/// The DMARC record among the TXT records at a _dmarc name, each record's character-strings
/// already joined into one string (as for SPF, RFC 7208 section 3.3).
RecordSelection selectRecord(const std::vector<std::string>& txts);

/// The record written out ("v=DMARC1; p=reject; ..."): parses back to an equal Record.
std::string writeRecord(const Record& record);

} // namespace upesi::dmarc
