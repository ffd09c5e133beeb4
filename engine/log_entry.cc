#include "engine/log_entry.h"

#include <cmath>
#include <cstdint>

#include "engine/coding.h"

namespace stemedb::engine {
namespace {

enum class Kind : uint8_t {
  kAssertBatch = 1,
  kRetract = 2,
  kSystem = 3,
  kDeleteProject = 4,
  kErase = 5,
  kImport = 6,
};

// Flag bits of one assertion; any other bit set is corruption, so a future
// writer cannot be misread by this reader.
constexpr uint8_t kHasConfidence = 0x01;
constexpr uint8_t kIsSigned = 0x02;
constexpr uint8_t kKnownFlags = kHasConfidence | kIsSigned;

void PutIdempotency(std::string* dst, const std::optional<IdempotencyToken>& t) {
  if (!t) {
    dst->push_back(0);
    return;
  }
  dst->push_back(1);
  PutLengthPrefixed(dst, t->key);
  PutLengthPrefixed(dst, t->request_hash);
}

bool GetIdempotency(ByteReader* r, std::optional<IdempotencyToken>* out) {
  uint8_t present = 0;
  if (!r->GetByte(&present) || present > 1) return false;
  if (present == 0) return true;
  IdempotencyToken t;
  if (!r->GetString(&t.key) || !r->GetString(&t.request_hash)) return false;
  *out = std::move(t);
  return true;
}

// One `assertion` of FORMAT.md §1 (kinds 1 and 6).
void PutAssertion(std::string* dst, const NewAssertion& a) {
  PutLengthPrefixed(dst, a.id);
  PutLengthPrefixed(dst, a.subject);
  PutLengthPrefixed(dst, a.predicate);
  PutLengthPrefixed(dst, a.agent_id);
  PutLengthPrefixed(dst, a.value_json);
  uint8_t flags = 0;
  if (a.confidence) flags |= kHasConfidence;
  if (a.is_signed) flags |= kIsSigned;
  dst->push_back(static_cast<char>(flags));
  if (a.confidence) PutDouble(dst, *a.confidence);
  PutLengthPrefixed(dst, a.observed_at);
  PutLengthPrefixed(dst, a.signature);
}

bool GetAssertion(ByteReader* r, NewAssertion* a) {
  uint8_t flags = 0;
  if (!r->GetString(&a->id) || !r->GetString(&a->subject) || !r->GetString(&a->predicate) ||
      !r->GetString(&a->agent_id) || !r->GetString(&a->value_json) || !r->GetByte(&flags)) {
    return false;
  }
  if ((flags & ~kKnownFlags) != 0) return false;
  if (flags & kHasConfidence) {
    double c = 0;
    if (!r->GetDouble(&c) || !std::isfinite(c)) return false;
    a->confidence = c;
  }
  a->is_signed = (flags & kIsSigned) != 0;
  return r->GetString(&a->observed_at) && r->GetString(&a->signature);
}

void EncodeAssertBatch(const AssertBatchEntry& b, std::string* dst) {
  PutLengthPrefixed(dst, b.project);
  PutIdempotency(dst, b.idempotency);
  PutVarint64(dst, b.assertions.size());
  for (const NewAssertion& a : b.assertions) PutAssertion(dst, a);
}

bool DecodeAssertBatch(ByteReader* r, AssertBatchEntry* b) {
  uint64_t n = 0;
  if (!r->GetString(&b->project) || !GetIdempotency(r, &b->idempotency) || !r->GetVarint64(&n)) {
    return false;
  }
  // Each assertion takes at least 9 bytes; bounding n by what is left keeps a
  // forged count from reserving gigabytes.
  if (n > r->remaining() / 9) return false;
  b->assertions.reserve(static_cast<size_t>(n));
  for (uint64_t i = 0; i < n; ++i) {
    NewAssertion a;
    if (!GetAssertion(r, &a)) return false;
    b->assertions.push_back(std::move(a));
  }
  return true;
}

void EncodeRetract(const RetractEntry& e, std::string* dst) {
  PutLengthPrefixed(dst, e.project);
  PutLengthPrefixed(dst, e.retraction_id);
  PutLengthPrefixed(dst, e.target_id);
  PutIdempotency(dst, e.idempotency);
}

bool DecodeRetract(ByteReader* r, RetractEntry* e) {
  return r->GetString(&e->project) && r->GetString(&e->retraction_id) &&
         r->GetString(&e->target_id) && GetIdempotency(r, &e->idempotency);
}

void EncodeSystem(const SystemEntry& e, std::string* dst) {
  PutVarint64(dst, e.writes.size());
  for (const SystemWrite& w : e.writes) {
    dst->push_back(static_cast<char>(w.table));
    PutLengthPrefixed(dst, w.key);
    dst->push_back(w.value ? 1 : 0);
    if (w.value) PutLengthPrefixed(dst, *w.value);
  }
}

bool ValidTable(uint8_t t) {
  return t >= static_cast<uint8_t>(SystemTable::kApiKeys) &&
         t <= static_cast<uint8_t>(SystemTable::kHolds);
}

bool DecodeSystem(ByteReader* r, SystemEntry* e) {
  uint64_t n = 0;
  if (!r->GetVarint64(&n) || n > r->remaining() / 3) return false;
  e->writes.reserve(static_cast<size_t>(n));
  for (uint64_t i = 0; i < n; ++i) {
    SystemWrite w;
    uint8_t table = 0;
    uint8_t has_value = 0;
    if (!r->GetByte(&table) || !ValidTable(table) || !r->GetString(&w.key) ||
        !r->GetByte(&has_value) || has_value > 1) {
      return false;
    }
    w.table = static_cast<SystemTable>(table);
    if (has_value) {
      std::string v;
      if (!r->GetString(&v)) return false;
      w.value = std::move(v);
    }
    e->writes.push_back(std::move(w));
  }
  return true;
}

void EncodeDeleteProject(const DeleteProjectEntry& e, std::string* dst) {
  PutLengthPrefixed(dst, e.project);
  dst->push_back(static_cast<char>(e.step));
  PutVarint64(dst, e.max_assertions);
}

bool DecodeDeleteProject(ByteReader* r, DeleteProjectEntry* e) {
  uint8_t step = 0;
  uint64_t max = 0;
  if (!r->GetString(&e->project) || !r->GetByte(&step) ||
      step > static_cast<uint8_t>(DeleteProjectEntry::Step::kPurge) || !r->GetVarint64(&max) ||
      max > UINT32_MAX) {
    return false;
  }
  e->step = static_cast<DeleteProjectEntry::Step>(step);
  e->max_assertions = static_cast<uint32_t>(max);
  return true;
}

void EncodeErase(const EraseEntry& e, std::string* dst) {
  PutLengthPrefixed(dst, e.project);
  dst->push_back(static_cast<char>(e.reason));
  PutVarint64(dst, e.ids.size());
  for (const std::string& id : e.ids) PutLengthPrefixed(dst, id);
}

bool DecodeErase(ByteReader* r, EraseEntry* e) {
  uint8_t reason = 0;
  uint64_t n = 0;
  if (!r->GetString(&e->project) || !r->GetByte(&reason) ||
      reason > static_cast<uint8_t>(EraseEntry::Reason::kExpiry) || !r->GetVarint64(&n) ||
      n > r->remaining()) {
    return false;
  }
  e->reason = static_cast<EraseEntry::Reason>(reason);
  e->ids.reserve(static_cast<size_t>(n));
  for (uint64_t i = 0; i < n; ++i) {
    std::string id;
    if (!r->GetString(&id)) return false;
    e->ids.push_back(std::move(id));
  }
  return true;
}

// Record types of kind 6.
constexpr uint8_t kImportedAssertion = 1;
constexpr uint8_t kImportedRetraction = 2;

void EncodeImport(const ImportEntry& e, std::string* dst) {
  PutLengthPrefixed(dst, e.project);
  PutVarint64(dst, e.records.size());
  for (const ImportedRecord& rec : e.records) {
    dst->push_back(static_cast<char>(rec.is_retraction ? kImportedRetraction : kImportedAssertion));
    PutFixed64BE(dst, static_cast<uint64_t>(rec.recorded_at_us));
    if (rec.is_retraction) {
      PutLengthPrefixed(dst, rec.retraction_id);
      PutLengthPrefixed(dst, rec.target_id);
    } else {
      PutAssertion(dst, rec.assertion);
    }
  }
}

bool DecodeImport(ByteReader* r, ImportEntry* e) {
  uint64_t n = 0;
  // Each record takes at least 11 bytes (type, time, two empty strings).
  if (!r->GetString(&e->project) || !r->GetVarint64(&n) || n > r->remaining() / 11) return false;
  e->records.reserve(static_cast<size_t>(n));
  for (uint64_t i = 0; i < n; ++i) {
    ImportedRecord rec;
    uint8_t type = 0;
    uint64_t recorded = 0;
    if (!r->GetByte(&type) || !r->GetFixed64BE(&recorded)) return false;
    rec.recorded_at_us = static_cast<int64_t>(recorded);
    if (type == kImportedRetraction) {
      rec.is_retraction = true;
      if (!r->GetString(&rec.retraction_id) || !r->GetString(&rec.target_id)) return false;
    } else if (type != kImportedAssertion || !GetAssertion(r, &rec.assertion)) {
      return false;
    }
    e->records.push_back(std::move(rec));
  }
  return true;
}

}  // namespace

void EncodeWalEntry(const WalEntry& e, std::string* dst) {
  dst->push_back(static_cast<char>(kLogEntryVersion));
  Kind kind = Kind::kAssertBatch;
  if (std::holds_alternative<RetractEntry>(e.entry)) kind = Kind::kRetract;
  if (std::holds_alternative<SystemEntry>(e.entry)) kind = Kind::kSystem;
  if (std::holds_alternative<DeleteProjectEntry>(e.entry)) kind = Kind::kDeleteProject;
  if (std::holds_alternative<EraseEntry>(e.entry)) kind = Kind::kErase;
  if (std::holds_alternative<ImportEntry>(e.entry)) kind = Kind::kImport;
  dst->push_back(static_cast<char>(kind));
  PutFixed64BE(dst, static_cast<uint64_t>(e.recorded_at_us));
  switch (kind) {
    case Kind::kAssertBatch:
      EncodeAssertBatch(std::get<AssertBatchEntry>(e.entry), dst);
      break;
    case Kind::kRetract:
      EncodeRetract(std::get<RetractEntry>(e.entry), dst);
      break;
    case Kind::kSystem:
      EncodeSystem(std::get<SystemEntry>(e.entry), dst);
      break;
    case Kind::kDeleteProject:
      EncodeDeleteProject(std::get<DeleteProjectEntry>(e.entry), dst);
      break;
    case Kind::kErase:
      EncodeErase(std::get<EraseEntry>(e.entry), dst);
      break;
    case Kind::kImport:
      EncodeImport(std::get<ImportEntry>(e.entry), dst);
      break;
  }
}

std::string EncodeWalEntry(const WalEntry& e) {
  std::string out;
  EncodeWalEntry(e, &out);
  return out;
}

Result<WalEntry> DecodeWalEntry(std::string_view payload) {
  ByteReader r(payload);
  uint8_t version = 0;
  uint8_t kind = 0;
  uint64_t recorded = 0;
  if (!r.GetByte(&version)) return Status::Corruption("log entry: empty payload");
  if (version != kLogEntryVersion) {
    return Status::Corruption("log entry: unknown version " + std::to_string(version));
  }
  if (!r.GetByte(&kind) || !r.GetFixed64BE(&recorded)) {
    return Status::Corruption("log entry: truncated header");
  }
  WalEntry out;
  out.recorded_at_us = static_cast<int64_t>(recorded);
  bool ok = false;
  switch (static_cast<Kind>(kind)) {
    case Kind::kAssertBatch: {
      AssertBatchEntry b;
      ok = DecodeAssertBatch(&r, &b);
      out.entry = std::move(b);
      break;
    }
    case Kind::kRetract: {
      RetractEntry e;
      ok = DecodeRetract(&r, &e);
      out.entry = std::move(e);
      break;
    }
    case Kind::kSystem: {
      SystemEntry e;
      ok = DecodeSystem(&r, &e);
      out.entry = std::move(e);
      break;
    }
    case Kind::kDeleteProject: {
      DeleteProjectEntry e;
      ok = DecodeDeleteProject(&r, &e);
      out.entry = std::move(e);
      break;
    }
    case Kind::kErase: {
      EraseEntry e;
      ok = DecodeErase(&r, &e);
      out.entry = std::move(e);
      break;
    }
    case Kind::kImport: {
      ImportEntry e;
      ok = DecodeImport(&r, &e);
      out.entry = std::move(e);
      break;
    }
    default:
      return Status::Corruption("log entry: unknown kind " + std::to_string(kind));
  }
  if (!ok) return Status::Corruption("log entry: malformed body");
  if (!r.empty()) return Status::Corruption("log entry: trailing bytes");
  return out;
}

}  // namespace stemedb::engine
