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

using LogEntry = std::variant<AssertBatchEntry, RetractEntry, SystemEntry>;

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
