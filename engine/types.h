// Value types that cross the engine/ boundary: what api/ and auth/ hand to the
// engine to write, and what the engine hands back from reads.
//
// The engine does not validate user input (api/ does that, docs/api.md); it does
// enforce its own invariants (a retraction names an existing assertion of the
// same project) and reports violations as Status.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "util/strong_types.h"

namespace stemedb::engine {

// One assertion to be written, already validated by api/.
struct NewAssertion {
  std::string id;          // server-assigned, unique (api/ makes it), [0-9a-z]
  std::string subject;     // 1..512 bytes UTF-8
  std::string predicate;   // 1..256
  std::string agent_id;    // 1..128
  std::string value_json;  // canonical JSON text of the value (keys sorted)
  std::optional<double> confidence;
  std::string observed_at;  // RFC 3339 as given, "" if absent
  std::string signature;    // base64 as given, "" if absent
  bool is_signed = false;   // signature verified by auth/
};

// Remembers a write made under an Idempotency-Key so a retry gets the first
// reply. Scoped by project and key; request_hash is BLAKE2b of method, route
// and body, so the same key with another body is detected (409).
struct IdempotencyToken {
  std::string key;           // the client's Idempotency-Key header
  std::string request_hash;  // hex
};

// POST /v1/assert and /v1/assert/batch: all assertions share one LSN and
// commit atomically (one WAL record).
struct AssertBatchEntry {
  std::string project;
  std::vector<NewAssertion> assertions;
  std::optional<IdempotencyToken> idempotency;
};

// POST /v1/retract. The retraction is itself a recorded fact with its own id.
struct RetractEntry {
  std::string project;
  std::string retraction_id;  // server-assigned
  std::string target_id;      // the assertion retracted
  std::optional<IdempotencyToken> idempotency;
};

// Tables for the small state that other modules own: auth/ keys and agent
// keys, the audit trail, metering snapshots. The engine stores opaque bytes.
enum class SystemTable : uint8_t {
  kApiKeys = 1,    // key_id -> auth/ key record
  kAgentKeys = 2,  // project \0 agent_id -> public key record
  kAudit = 3,      // time-ordered audit records
  kUsage = 4,      // key_id -> metering counters
  kSettings = 5,   // misc small settings
  kProjects = 6,   // project -> registry record (engine/project_record.h)
  kHolds = 7,      // project \0 subject ("" = whole project) -> legal hold (api/)
};

struct SystemWrite {
  SystemTable table;
  std::string key;
  std::optional<std::string> value;  // nullopt deletes the key
};

// Writes to system tables that commit together (e.g. rotate = put new key,
// update old key, append audit record).
struct SystemEntry {
  std::vector<SystemWrite> writes;
};

// Deletes a whole project (engine/FORMAT.md §1 kind 4, §7). kMark hides the
// project at once (reads empty, writes refused) and records a durable marker;
// kPurge removes up to `max_assertions` of its assertions, and, once none is
// left, its index ranges, idempotency records, agent keys, registry record,
// holds and the marker. The engine submits the kPurge steps itself from a
// background thread while a marker exists, also after a restart.
struct DeleteProjectEntry {
  enum class Step : uint8_t { kMark = 0, kPurge = 1 };
  std::string project;
  Step step = Step::kMark;
  uint32_t max_assertions = 0;  // kPurge only
};

// Erases assertions of `project` by id (kind 5): each record, its
// retraction and its index entries are deleted; ids of another project or
// already gone are skipped. The selector (subject, agent) never enters the
// log: api/ resolves it to ids, so the WAL holds no erased value.
struct EraseEntry {
  enum class Reason : uint8_t { kErasure = 0, kExpiry = 1 };
  std::string project;
  Reason reason = Reason::kErasure;
  std::vector<std::string> ids;
};

// One record of an import (kind 6, docs/projects.md "Export and import"): an
// assertion or a retraction exported from a project, with its original id
// and recorded_at. An assertion carries every NewAssertion field (id and
// is_signed included); a retraction names its own id and its target.
struct ImportedRecord {
  int64_t recorded_at_us = 0;  // the original recorded_at (kept in the stored JSON)
  bool is_retraction = false;
  NewAssertion assertion;     // !is_retraction
  std::string retraction_id;  // is_retraction
  std::string target_id;      // is_retraction
};

// One bounded chunk of a project's export (Database::ExportScan).
struct ExportChunk {
  std::vector<std::string> lines;  // record lines, no newline (docs/projects.md)
  std::string last_id;             // id of the last line: the `after` that resumes past it
  uint64_t assertions = 0;         // lines of each kind in `lines`
  uint64_t retractions = 0;
  bool done = false;  // the export has nothing after this chunk
};

// POST /v1/admin/projects/{project}/import: records written in order under
// one LSN, atomically. Ids already stored in `project` are skipped (a re-run
// imports nothing twice); an id of another project rejects the entry.
struct ImportEntry {
  std::string project;
  std::vector<ImportedRecord> records;
};
// The words of the Conflict an ImportEntry gets for an id stored in another
// project; api/ recognises them to say how to copy into another project.
inline constexpr std::string_view kIdInAnotherProject = "is stored in another project";

using LogEntry = std::variant<AssertBatchEntry, RetractEntry, SystemEntry, DeleteProjectEntry,
                              EraseEntry, ImportEntry>;

// What a committed write reports back.
struct CommitInfo {
  Lsn lsn;
  int64_t recorded_at_us = 0;  // wall clock at submit, microseconds since epoch
  // Assertion ids of a batch, or the retraction id (empty for SystemEntry).
  // For a deduplicated retry these are the ids of the first write, so api/
  // can repeat the first reply without a second lookup.
  std::vector<std::string> ids;
  // True when an idempotency token matched an earlier write with the same
  // request hash: nothing was written and lsn/recorded_at/ids are the first
  // write's. The retry's own LSN was consumed as a no-op.
  bool deduplicated = false;
  // DeleteProjectEntry and EraseEntry: records removed (assertions plus
  // retractions); for a kPurge step, whether the project is now gone.
  uint64_t removed = 0;
  bool finished = false;
  // ImportEntry: records already stored and skipped (ids holds the written ones).
  uint64_t skipped = 0;
};

// Per-project figures (engine/project_usage.h defines stored bytes).
struct ProjectFigures {
  int64_t assertions = 0;     // assertion records stored (retracted ones included)
  int64_t stored_bytes = 0;   // engine/FORMAT.md §8
  int64_t last_write_us = 0;  // recorded_at of the last write that changed them; 0 = none
};

// Database::RecountProject: the figures recomputed from the records and the
// maintained ones, both read from one snapshot (so they must be equal).
struct ProjectRecount {
  Lsn as_of;
  ProjectFigures counted;   // last_write_us is the maintained one
  ProjectFigures recorded;  // zeros if the project has no figures
};

// An assertion as stored. `json` is the full object of docs/api.md (id, project,
// subject, predicate, value, agent_id, confidence?, observed_at?, signature?,
// signed, lsn, recorded_at) as compact JSON text, ready to splice into replies.
struct StoredAssertion {
  std::string json;
  std::string id;
  Lsn lsn;
  // Set if a retraction with lsn <= the read's as-of LSN exists.
  std::optional<Lsn> retracted_lsn;
  std::string retraction_id;
};

// A retraction record as stored (GET /v1/assertions/{retraction_id}).
struct StoredRetraction {
  std::string json;  // {"id","project","retracts","lsn","recorded_at","kind":"retraction"}
};

struct IdempotencyRecord {
  std::string request_hash;
  Lsn lsn;
  int64_t recorded_at_us = 0;
  std::vector<std::string> ids;  // assertion ids, or the retraction id
};

// GET /v1/query. At least one of subject/predicate/agent_id (api/ checks).
struct QuerySpec {
  std::string project;
  std::optional<std::string> subject;
  std::optional<std::string> predicate;
  std::optional<std::string> agent_id;
  // Read the state as of this LSN. nullopt = the applied LSN when the first
  // page was read (pinned in the cursor, so pages are one consistent view).
  std::optional<Lsn> as_of;
  bool history = false;  // every version, not just the current view
  size_t limit = 100;    // 1..1000
  std::string cursor;    // "" for the first page; else from QueryPage::next_cursor
};

struct QueryPage {
  std::vector<StoredAssertion> assertions;
  std::string next_cursor;  // "" when there are no more results
  Lsn as_of;                // the LSN this page reflects
};

// GET /v1/beliefs: per predicate of a subject, the current values and which
// agents hold each; conflict when more than one distinct value is held.
struct BeliefValue {
  std::string value_json;
  std::vector<std::string> agents;
};
struct PredicateBeliefs {
  std::string predicate;
  bool conflict = false;
  std::vector<BeliefValue> values;
};

}  // namespace stemedb::engine
