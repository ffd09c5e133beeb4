// RocksDB key layouts of the engine (engine/FORMAT.md §2) and the opaque query
// cursor. Every byte layout of a key lives here; db_*.cc only call these.
//
// Index keys are built from "components": a string whose 0x00 bytes are
// escaped as 00 FF and which ends with 00 01. This keeps keys unambiguous for
// any input (a subject may contain U+0000) and keeps byte order equal to the
// order of the component tuples, so "all versions of (s,p,a)" and "everything
// about subject s" are contiguous ranges.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/types.h"
#include "util/status.h"
#include "util/strong_types.h"

namespace stemedb::engine {

// Column family names. Order matters only for DbImpl's handle vector.
inline constexpr const char* kCfAssertions = "assertions";
inline constexpr const char* kCfRetractions = "retractions";
inline constexpr const char* kCfIdxSubject = "idx_subject";
inline constexpr const char* kCfIdxPredicate = "idx_predicate";
inline constexpr const char* kCfIdxAgent = "idx_agent";
inline constexpr const char* kCfTimeIndex = "time_index";
inline constexpr const char* kCfIdempotency = "idempotency";
inline constexpr const char* kCfSystem = "system";
inline constexpr const char* kCfMeta = "meta";

// meta CF keys.
inline constexpr std::string_view kMetaAppliedLsn = "applied_lsn";        // fixed64 BE
inline constexpr std::string_view kMetaLastRecordedAt = "last_recorded";  // fixed64 BE
inline constexpr std::string_view kMetaFormatVersion = "format_version";  // one byte
inline constexpr std::string_view kMetaStoreId = "store_id";  // 32 hex (engine/store_identity.h)
inline constexpr uint8_t kFormatVersion = 1;

// The three secondary indexes. Their component orders are chosen so that
// every combination of the filters subject/predicate/agent is a key prefix of
// one of them:  subject: (s,p,a)  predicate: (p,a,s)  agent: (a,s,p).
enum class IndexId : uint8_t { kSubject = 0, kPredicate = 1, kAgent = 2 };

// Appends one escaped, terminated component.
void AppendComponent(std::string* dst, std::string_view s);

// project, then the three fields in the index's order.
std::string IndexGroupKey(IndexId index, std::string_view project, std::string_view subject,
                          std::string_view predicate, std::string_view agent);
void AppendIndexGroupKey(std::string* out, IndexId index, std::string_view project,
                         std::string_view subject, std::string_view predicate,
                         std::string_view agent);
// group key + lsn (8 bytes BE) + ordinal within the batch (4 bytes BE) + id.
std::string IndexKey(IndexId index, std::string_view project, std::string_view subject,
                     std::string_view predicate, std::string_view agent, Lsn lsn, uint32_t ordinal,
                     std::string_view id);
// The same key appended to *out (the apply path reuses one buffer).
void AppendIndexKey(std::string* out, IndexId index, std::string_view project,
                    std::string_view subject, std::string_view predicate, std::string_view agent,
                    Lsn lsn, uint32_t ordinal, std::string_view id);

struct ParsedIndexKey {
  std::string_view group;  // project + 3 components (shared by all versions)
  Lsn lsn;
  uint32_t ordinal = 0;
  std::string_view id;
};
// False if `key` is not an index key (never for keys the engine wrote).
bool ParseIndexKey(std::string_view key, ParsedIndexKey* out);

// The smallest key greater than every key starting with `prefix`, where
// `prefix` ends with a component terminator (00 01 -> 00 02).
std::string ComponentPrefixEnd(std::string_view prefix);

// time_index: recorded_at_us (8 bytes BE) + lsn (8 bytes BE), empty value.
std::string TimeKey(int64_t recorded_at_us, Lsn lsn);
void AppendTimeKey(std::string* out, int64_t recorded_at_us, Lsn lsn);
bool ParseTimeKey(std::string_view key, int64_t* recorded_at_us, Lsn* lsn);

// idempotency: component(project) + component(key).
std::string IdempotencyKey(std::string_view project, std::string_view key);

// system: table byte + key bytes.
std::string SystemKey(SystemTable table, std::string_view key);

// Query pagination state. Encoded as base64url (no padding) of
// version, as_of, index, history flag, last index key returned.
struct QueryCursor {
  Lsn as_of;
  IndexId index = IndexId::kSubject;
  bool history = false;
  std::string last_key;
};
std::string EncodeCursor(const QueryCursor& c);
// Errors: InvalidArgument (not a cursor this engine made).
Result<QueryCursor> DecodeCursor(std::string_view text);

}  // namespace stemedb::engine
