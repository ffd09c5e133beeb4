// Values of the `assertions`, `retractions` and `idempotency` column families
// (engine/FORMAT.md §2) and the docs/api.md JSON built from them.
//
// Each value starts with a version byte; decoders are strict and return
// Corruption for anything they did not write.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/types.h"
#include "util/status.h"
#include "util/strong_types.h"

namespace stemedb::engine {

// assertions CF: id -> AssertionRecord. The index fields are kept so a
// retraction or a belief read needs no JSON parsing. Retraction state lives on
// the record (set once, by the retraction's apply), so an as-of read compares
// retracted_lsn with its LSN.
struct AssertionRecord {
  std::string project;
  std::string subject;
  std::string predicate;
  std::string agent_id;
  std::string value_json;
  std::string json;  // docs/api.md object, immutable
  Lsn lsn;
  uint32_t ordinal = 0;  // position in its batch (index keys carry it too)
  Lsn retracted_lsn;     // Lsn(0): not retracted
  std::string retraction_id;
};

// The same record as views into its encoded bytes (valid while they are):
// reads decode this and copy only what they return.
struct AssertionRecordView {
  std::string_view project;
  std::string_view subject;
  std::string_view predicate;
  std::string_view agent_id;
  std::string_view value_json;
  std::string_view json;
  Lsn lsn;
  uint32_t ordinal = 0;
  Lsn retracted_lsn;
  std::string_view retraction_id;

  // A view of `r`'s fields (valid while `r` is).
  static AssertionRecordView Of(const AssertionRecord& r);
};

// retractions CF: retraction id -> RetractionRecord.
struct RetractionRecord {
  std::string project;
  std::string target_id;
  Lsn lsn;
  std::string json;
};

std::string EncodeAssertionRecord(const AssertionRecord& r);
// The one encoder of the record: appends `r` to *out. EncodeAssertionRecord
// is this into a fresh string; the apply path passes views of the new
// assertion's fields, so it builds no AssertionRecord and no temporaries.
void AppendAssertionRecord(std::string* out, const AssertionRecordView& r);
Result<AssertionRecord> DecodeAssertionRecord(std::string_view v);
// Same checks as DecodeAssertionRecord; false (never a partial view) if `v`
// is not a well-formed record.
bool DecodeAssertionRecordView(std::string_view v, AssertionRecordView* out);
std::string EncodeRetractionRecord(const RetractionRecord& r);
Result<RetractionRecord> DecodeRetractionRecord(std::string_view v);
std::string EncodeIdempotencyRecord(const IdempotencyRecord& r);
Result<IdempotencyRecord> DecodeIdempotencyRecord(std::string_view v);

// The docs/api.md assertion object; value_json is spliced in verbatim (it is
// canonical JSON from api/), strings are escaped by Boost.JSON.
std::string BuildAssertionJson(std::string_view project, const NewAssertion& a, Lsn lsn,
                               int64_t recorded_at_us);
void AppendAssertionJson(std::string* out, std::string_view project, const NewAssertion& a, Lsn lsn,
                         int64_t recorded_at_us);
std::string BuildRetractionJson(std::string_view project, std::string_view id,
                                std::string_view target_id, Lsn lsn, int64_t recorded_at_us);

// The StoredAssertion a read returns when reading as of `as_of`.
StoredAssertion ToStored(std::string_view id, const AssertionRecordView& r, Lsn as_of);

}  // namespace stemedb::engine
