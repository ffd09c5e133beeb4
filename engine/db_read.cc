// The read path: point reads, queries (current view and history), beliefs,
// LsnAtTime and system tables. Every read is bounded by an as-of LSN and runs
// against one RocksDB snapshot, so it never waits for the writer.
#include <rocksdb/snapshot.h>

#include <map>
#include <set>
#include <shared_mutex>

#include "engine/db_impl.h"

namespace stemedb::engine {
namespace {

constexpr size_t kMaxLimit = 1000;

// One index entry that is visible as of the read's LSN.
struct Candidate {
  std::string key;
  std::string id;
};

struct IndexChoice {
  IndexId index;
  Cf cf;
  std::string prefix;
};

// Every filter combination is a key prefix of one index (keys.h), so no
// filter is ever applied after the scan.
IndexChoice ChooseIndex(const QuerySpec& q) {
  IndexChoice c{IndexId::kSubject, Cf::kIdxSubject, {}};
  AppendComponent(&c.prefix, q.project);
  if (q.subject && q.agent_id && !q.predicate) {
    c.index = IndexId::kAgent;
    c.cf = Cf::kIdxAgent;
    AppendComponent(&c.prefix, *q.agent_id);
    AppendComponent(&c.prefix, *q.subject);
  } else if (q.subject) {
    AppendComponent(&c.prefix, *q.subject);
    if (q.predicate) {
      AppendComponent(&c.prefix, *q.predicate);
      if (q.agent_id) AppendComponent(&c.prefix, *q.agent_id);
    }
  } else if (q.predicate) {
    c.index = IndexId::kPredicate;
    c.cf = Cf::kIdxPredicate;
    AppendComponent(&c.prefix, *q.predicate);
    if (q.agent_id) AppendComponent(&c.prefix, *q.agent_id);
  } else {
    c.index = IndexId::kAgent;
    c.cf = Cf::kIdxAgent;
    AppendComponent(&c.prefix, *q.agent_id);
  }
  return c;
}

}  // namespace

Lsn DbImpl::EffectiveAsOf(std::optional<Lsn> as_of) const {
  const Lsn now = applied_lsn();
  // A future LSN would let later pages see writes the first page did not.
  return as_of && *as_of < now ? *as_of : now;
}

Result<bool> DbImpl::ReadRecord(const rocksdb::ReadOptions& ro, std::string_view id,
                                rocksdb::PinnableSlice* value, AssertionRecordView* record) {
  value->Reset();
  rocksdb::Status s = db_->Get(ro, cf(Cf::kAssertions), id, value);
  if (s.IsNotFound()) return false;
  if (!s.ok()) return FromRocks(s, "read assertion");
  if (!DecodeAssertionRecordView(std::string_view(value->data(), value->size()), record)) {
    return Status::Corruption("assertion record " + std::string(id) + ": malformed");
  }
  return true;
}

Result<StoredAssertion> DbImpl::GetAssertion(std::string_view project, std::string_view id) {
  std::shared_lock<std::shared_mutex> open_lock(rocks_mu_);
  if (db_ == nullptr) return Status::Unavailable("database closed");
  const Lsn as_of = applied_lsn();
  rocksdb::PinnableSlice value;
  AssertionRecordView r;
  Result<bool> found = ReadRecord(rocksdb::ReadOptions(), id, &value, &r);
  if (!found) return found.error();
  if (!*found || r.project != project || ProjectHidden(project)) {
    return Status::NotFound("assertion not found");
  }
  return ToStored(id, r, as_of);
}

Result<StoredRetraction> DbImpl::GetRetraction(std::string_view project, std::string_view id) {
  std::shared_lock<std::shared_mutex> open_lock(rocks_mu_);
  if (db_ == nullptr) return Status::Unavailable("database closed");
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(Cf::kRetractions), id, &v);
  if (s.IsNotFound()) return Status::NotFound("retraction not found");
  if (!s.ok()) return FromRocks(s, "read retraction");
  Result<RetractionRecord> r = DecodeRetractionRecord(v);
  if (!r) return r.error();
  if (r->project != project || ProjectHidden(project)) {
    return Status::NotFound("retraction not found");
  }
  return StoredRetraction{std::move(r->json)};
}

Result<QueryPage> DbImpl::Query(const QuerySpec& spec) {
  std::shared_lock<std::shared_mutex> open_lock(rocks_mu_);
  if (db_ == nullptr) return Status::Unavailable("database closed");
  if (spec.limit < 1 || spec.limit > kMaxLimit) {
    return Status::InvalidArgument("limit must be 1..1000");
  }
  if (!spec.subject && !spec.predicate && !spec.agent_id) {
    return Status::InvalidArgument("one of subject, predicate, agent_id is required");
  }
  const IndexChoice choice = ChooseIndex(spec);
  std::optional<QueryCursor> cursor;
  if (!spec.cursor.empty()) {
    Result<QueryCursor> c = DecodeCursor(spec.cursor);
    if (!c) return c.error();
    if (c->index != choice.index || c->history != spec.history ||
        !std::string_view(c->last_key).starts_with(choice.prefix) || c->as_of > applied_lsn()) {
      return Status::InvalidArgument("cursor does not belong to this query");
    }
    cursor = std::move(*c);
  }
  const Lsn as_of = cursor ? cursor->as_of : EffectiveAsOf(spec.as_of);
  // A project being deleted reads as empty (engine/project_erasure.cc).
  if (ProjectHidden(spec.project)) return QueryPage{{}, "", as_of};

  rocksdb::ManagedSnapshot snapshot(db_.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  const std::string upper = ComponentPrefixEnd(choice.prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions iter_ro = ro;
  iter_ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(iter_ro, cf(choice.cf)));

  // Resuming: skip the last key (history) or the whole last group (current
  // view). Entries with lsn > as_of are invisible, so concurrent writes can
  // neither shift nor duplicate what the remaining pages return.
  std::string skip_group;
  if (cursor) {
    ParsedIndexKey last;
    if (!ParseIndexKey(cursor->last_key, &last)) {
      return Status::InvalidArgument("cursor does not belong to this query");
    }
    skip_group.assign(last.group);
    it->Seek(cursor->last_key);
    if (spec.history && it->Valid() && it->key() == rocksdb::Slice(cursor->last_key)) it->Next();
  } else {
    it->Seek(choice.prefix);
  }

  QueryPage page;
  page.as_of = as_of;
  std::string last_emitted;
  bool more = false;
  // Emits a record if it is visible; returns false to stop (page full and one
  // more result proven to exist).
  rocksdb::PinnableSlice value;
  AssertionRecordView record;
  auto emit = [&](const Candidate& c) -> Result<bool> {
    Result<bool> found = ReadRecord(ro, c.id, &value, &record);
    if (!found) return found.error();
    if (!*found) return Status::Corruption("index entry without assertion: " + c.id);
    const bool retracted = record.retracted_lsn.value() != 0 && record.retracted_lsn <= as_of;
    if (!spec.history && retracted) return true;
    if (page.assertions.size() == spec.limit) {
      more = true;
      return false;
    }
    page.assertions.push_back(ToStored(c.id, record, as_of));
    last_emitted = c.key;
    return true;
  };

  std::string group;
  std::vector<Candidate> versions;  // visible versions of `group`, oldest first
  // Current view: the newest version of the group that is not retracted.
  auto flush_group = [&]() -> Result<bool> {
    for (auto v = versions.rbegin(); v != versions.rend(); ++v) {
      const size_t before = page.assertions.size();
      Result<bool> r = emit(*v);
      if (!r || !*r) return r;
      if (page.assertions.size() > before) {
        last_emitted = versions.back().key;  // resume after the whole group
        break;
      }
    }
    versions.clear();
    return true;
  };

  for (; it->Valid(); it->Next()) {
    ParsedIndexKey k;
    const std::string_view key(it->key().data(), it->key().size());
    if (!ParseIndexKey(key, &k)) return Status::Corruption("malformed index key");
    if (!skip_group.empty()) {
      if (k.group == skip_group && !spec.history) continue;
      skip_group.clear();
    }
    if (k.lsn > as_of) continue;
    Candidate c{std::string(key), std::string(k.id)};
    if (spec.history) {
      Result<bool> r = emit(c);
      if (!r) return r.error();
      if (!*r) break;
      continue;
    }
    if (k.group != group) {
      Result<bool> r = flush_group();
      if (!r) return r.error();
      if (!*r) break;
      group.assign(k.group);
    }
    versions.push_back(std::move(c));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "query");
  if (!spec.history && !more && !versions.empty()) {
    Result<bool> r = flush_group();
    if (!r) return r.error();
  }
  if (more) page.next_cursor = EncodeCursor({as_of, choice.index, spec.history, last_emitted});
  return page;
}

Result<std::vector<PredicateBeliefs>> DbImpl::Beliefs(std::string_view project,
                                                      std::string_view subject,
                                                      std::optional<std::string_view> predicate,
                                                      std::optional<Lsn> as_of_opt) {
  std::shared_lock<std::shared_mutex> open_lock(rocks_mu_);
  if (db_ == nullptr) return Status::Unavailable("database closed");
  const Lsn as_of = EffectiveAsOf(as_of_opt);
  if (ProjectHidden(project)) return std::vector<PredicateBeliefs>();
  std::string prefix;
  AppendComponent(&prefix, project);
  AppendComponent(&prefix, subject);
  if (predicate) AppendComponent(&prefix, *predicate);
  rocksdb::ManagedSnapshot snapshot(db_.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  const std::string upper = ComponentPrefixEnd(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions iter_ro = ro;
  iter_ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(iter_ro, cf(Cf::kIdxSubject)));

  // predicate -> value_json -> agents; std::map keeps the reply deterministic.
  std::map<std::string, std::map<std::string, std::set<std::string>>> beliefs;
  std::string group;
  std::vector<std::string> ids;  // visible versions of `group`, oldest first
  rocksdb::PinnableSlice value;
  AssertionRecordView r;
  auto flush_group = [&]() -> Status {
    for (auto id = ids.rbegin(); id != ids.rend(); ++id) {
      Result<bool> found = ReadRecord(ro, *id, &value, &r);
      if (!found) return found.error();
      if (!*found) return Status::Corruption("index entry without assertion: " + *id);
      if (r.retracted_lsn.value() != 0 && r.retracted_lsn <= as_of) continue;
      beliefs[std::string(r.predicate)][std::string(r.value_json)].emplace(r.agent_id);
      break;
    }
    ids.clear();
    return Status::OK();
  };
  it->Seek(prefix);
  for (; it->Valid(); it->Next()) {
    ParsedIndexKey k;
    if (!ParseIndexKey(std::string_view(it->key().data(), it->key().size()), &k)) {
      return Status::Corruption("malformed index key");
    }
    if (k.lsn > as_of) continue;
    if (k.group != group) {
      STEMEDB_RETURN_IF_ERROR(flush_group());
      group.assign(k.group);
    }
    ids.emplace_back(k.id);
  }
  if (!it->status().ok()) return FromRocks(it->status(), "beliefs");
  STEMEDB_RETURN_IF_ERROR(flush_group());

  std::vector<PredicateBeliefs> out;
  out.reserve(beliefs.size());
  for (auto& [pred, values] : beliefs) {
    PredicateBeliefs pb;
    pb.predicate = pred;
    pb.conflict = values.size() > 1;
    for (auto& [value, agents] : values) {
      pb.values.push_back({value, std::vector<std::string>(agents.begin(), agents.end())});
    }
    out.push_back(std::move(pb));
  }
  return out;
}

Result<Lsn> DbImpl::LsnAtTime(int64_t time_us) {
  std::shared_lock<std::shared_mutex> open_lock(rocks_mu_);
  if (db_ == nullptr) return Status::Unavailable("database closed");
  if (time_us < 0) return Lsn(0);
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kTimeIndex)));
  it->SeekForPrev(TimeKey(time_us, Lsn(UINT64_MAX)));
  if (!it->status().ok()) return FromRocks(it->status(), "time index");
  if (!it->Valid()) return Lsn(0);
  int64_t t = 0;
  Lsn lsn;
  if (!ParseTimeKey(std::string_view(it->key().data(), it->key().size()), &t, &lsn)) {
    return Status::Corruption("malformed time index key");
  }
  return lsn;
}

Result<std::optional<IdempotencyRecord>> DbImpl::GetIdempotency(std::string_view project,
                                                                std::string_view key) {
  std::shared_lock<std::shared_mutex> open_lock(rocks_mu_);
  if (db_ == nullptr) return Status::Unavailable("database closed");
  if (ProjectHidden(project)) return std::optional<IdempotencyRecord>();
  std::string v;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf(Cf::kIdempotency), IdempotencyKey(project, key), &v);
  if (s.IsNotFound()) return std::optional<IdempotencyRecord>();
  if (!s.ok()) return FromRocks(s, "read idempotency");
  Result<IdempotencyRecord> r = DecodeIdempotencyRecord(v);
  if (!r) return r.error();
  return std::optional<IdempotencyRecord>(std::move(*r));
}

Result<std::optional<std::string>> DbImpl::GetSystem(SystemTable table, std::string_view key) {
  std::shared_lock<std::shared_mutex> open_lock(rocks_mu_);
  if (db_ == nullptr) return Status::Unavailable("database closed");
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(Cf::kSystem), SystemKey(table, key), &v);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "read system table");
  return std::optional<std::string>(std::move(v));
}

Status DbImpl::ScanSystem(
    SystemTable table, std::string_view prefix,
    const std::function<bool(std::string_view key, std::string_view value)>& fn) {
  std::shared_lock<std::shared_mutex> open_lock(rocks_mu_);
  if (db_ == nullptr) return Status::Unavailable("database closed");
  const std::string start = SystemKey(table, prefix);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kSystem)));
  for (it->Seek(start); it->Valid(); it->Next()) {
    const std::string_view k(it->key().data(), it->key().size());
    if (!k.starts_with(start)) break;
    if (!fn(k.substr(1), std::string_view(it->value().data(), it->value().size()))) break;
  }
  return FromRocks(it->status(), "scan system table");
}

}  // namespace stemedb::engine
