// Export and import of a project (docs/projects.md "Export and import"):
// ExportScan reads a project's records as of one LSN in bounded chunks;
// ApplyImport applies an ImportEntry (WAL kind 6, engine/FORMAT.md §1).
#include <rocksdb/snapshot.h>

#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

#include "engine/db_impl.h"
#include "util/json_string.h"

namespace stemedb::engine {
namespace {

// Appends a stored object without its "project" member: an export names its
// project once, in the header, so it can be imported into another project and
// compare equal there. Project names are DNS labels, so the member's text is
// exactly ,"project":"<name>".
void AppendWithoutProject(std::string* out, std::string_view json, std::string_view member) {
  const size_t pos = json.find(member);
  if (pos == std::string_view::npos) {
    out->append(json);
    return;
  }
  out->append(json.substr(0, pos));
  out->append(json.substr(pos + member.size()));
}

}  // namespace

Result<ExportChunk> DbImpl::ExportScan(std::string_view project, Lsn as_of_in,
                                       std::string_view after, size_t max_lines) {
  std::shared_lock<std::shared_mutex> open_lock(rocks_mu_);
  if (db_ == nullptr) return Status::Unavailable("database closed");
  const Lsn as_of = EffectiveAsOf(as_of_in);
  rocksdb::ManagedSnapshot snapshot(db_.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();

  ExportChunk chunk;
  // A project being deleted reads as empty (engine/project_erasure.cc).
  if (ProjectHidden(project)) {
    chunk.done = true;
    return chunk;
  }
  std::string member = ",\"project\":";
  AppendJsonString(&member, project);
  auto emit_retraction = [&](std::string_view retraction_id) -> Status {
    std::string v;
    rocksdb::Status s = db_->Get(ro, cf(Cf::kRetractions), retraction_id, &v);
    if (!s.ok()) return FromRocks(s, "read retraction " + std::string(retraction_id));
    Result<RetractionRecord> rr = DecodeRetractionRecord(v);
    if (!rr) return rr.error();
    std::string line;
    AppendWithoutProject(&line, rr->json, member);
    chunk.lines.push_back(std::move(line));
    chunk.last_id.assign(retraction_id);
    ++chunk.retractions;
    return Status::OK();
  };
  auto visible_retraction = [&](const AssertionRecordView& r) {
    return r.retracted_lsn.value() != 0 && r.retracted_lsn <= as_of;
  };

  std::string prefix;
  AppendComponent(&prefix, project);
  std::string start = prefix;
  bool skip_start = false;
  if (!after.empty()) {
    const Status not_here =
        Status::InvalidArgument("after: " + std::string(after) + " is not a line of this export");
    rocksdb::PinnableSlice value;
    AssertionRecordView r;
    Result<bool> found = ReadRecord(ro, after, &value, &r);
    if (!found) return found.error();
    std::string target_id(after);
    bool retraction_pending = false;
    if (!*found) {
      // A retraction line: resume after its target (already followed by it).
      std::string v;
      rocksdb::Status s = db_->Get(ro, cf(Cf::kRetractions), after, &v);
      if (s.IsNotFound()) return not_here;
      if (!s.ok()) return FromRocks(s, "read retraction");
      Result<RetractionRecord> rr = DecodeRetractionRecord(v);
      if (!rr) return rr.error();
      if (rr->project != project || rr->lsn > as_of) return not_here;
      target_id = rr->target_id;
      found = ReadRecord(ro, target_id, &value, &r);
      if (!found) return found.error();
      if (!*found) return not_here;
    } else {
      retraction_pending = visible_retraction(r);
    }
    if (r.project != project || r.lsn > as_of) return not_here;
    start = IndexKey(IndexId::kSubject, project, r.subject, r.predicate, r.agent_id, r.lsn,
                     r.ordinal, target_id);
    skip_start = true;
    if (retraction_pending) {
      STEMEDB_RETURN_IF_ERROR(emit_retraction(std::string(r.retraction_id)));
    }
  }

  const std::string upper = ComponentPrefixEnd(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions iter_ro = ro;
  iter_ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(iter_ro, cf(Cf::kIdxSubject)));
  rocksdb::PinnableSlice value;
  AssertionRecordView r;
  for (it->Seek(start); it->Valid(); it->Next()) {
    if (chunk.lines.size() >= max_lines) return chunk;  // done stays false
    const std::string_view key(it->key().data(), it->key().size());
    if (skip_start && key == start) continue;
    ParsedIndexKey parsed;
    if (!ParseIndexKey(key, &parsed)) return Status::Corruption("idx_subject: malformed key");
    if (parsed.lsn > as_of) continue;
    Result<bool> found = ReadRecord(ro, parsed.id, &value, &r);
    if (!found) return found.error();
    if (!*found) {
      return Status::Corruption("idx_subject names a missing assertion " + std::string(parsed.id));
    }
    std::string line;
    AppendWithoutProject(&line, r.json, member);
    chunk.lines.push_back(std::move(line));
    chunk.last_id.assign(parsed.id);
    ++chunk.assertions;
    if (visible_retraction(r)) {
      STEMEDB_RETURN_IF_ERROR(emit_retraction(std::string(r.retraction_id)));
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "export scan");
  chunk.done = true;
  return chunk;
}

Result<CommitInfo> DbImpl::ApplyImport(Lsn lsn, int64_t recorded, const ImportEntry& e,
                                       rocksdb::WriteBatch* batch) {
  // All or nothing: a rejection rolls back what this entry staged.
  batch->SetSavePoint();
  auto reject = [batch](Status s) -> Result<CommitInfo> {
    batch->RollbackToSavePoint().PermitUncheckedError();
    return s;
  };
  CommitInfo info;
  info.lsn = lsn;
  info.recorded_at_us = recorded;
  // Assertion records this entry writes (new ones, and targets it retracts):
  // written once at the end, so a retraction may follow its target here.
  struct Staged {
    AssertionRecord record;
    size_t stored_bytes = 0;     // of the record before this entry; 0 for a new one
    size_t index_key_bytes = 0;  // a new one's (its three index keys have one length)
  };
  std::unordered_map<std::string, Staged> staged;
  int64_t bytes = 0;  // ProjectUsage's stored bytes this entry adds
  std::unordered_set<std::string> staged_retractions;
  uint32_t ordinal = 0;
  ApplyScratch& s = scratch_;
  for (const ImportedRecord& rec : e.records) {
    if (!rec.is_retraction) {
      const NewAssertion& a = rec.assertion;
      if (staged.count(a.id) != 0 || staged_retractions.count(a.id) != 0) {
        ++info.skipped;
        continue;
      }
      rocksdb::PinnableSlice value;
      AssertionRecordView existing;
      Result<bool> found = ReadRecord(rocksdb::ReadOptions(), a.id, &value, &existing);
      if (!found) return reject(found.error());
      if (*found) {
        if (existing.project != e.project) {
          return reject(Status::Conflict("id " + a.id + " " + std::string(kIdInAnotherProject)));
        }
        ++info.skipped;
        continue;
      }
      if (KeyExists(Cf::kRetractions, a.id)) {
        return reject(Status::Conflict("id " + a.id + " is stored as a retraction"));
      }
      AssertionRecord r;
      r.project = e.project;
      r.subject = a.subject;
      r.predicate = a.predicate;
      r.agent_id = a.agent_id;
      r.value_json = a.value_json;
      r.json = BuildAssertionJson(e.project, a, lsn, rec.recorded_at_us);
      r.lsn = lsn;
      r.ordinal = ordinal++;
      for (auto [index, c] : {std::pair{IndexId::kSubject, Cf::kIdxSubject},
                              std::pair{IndexId::kPredicate, Cf::kIdxPredicate},
                              std::pair{IndexId::kAgent, Cf::kIdxAgent}}) {
        s.key.clear();
        AppendIndexKey(&s.key, index, e.project, a.subject, a.predicate, a.agent_id, lsn, r.ordinal,
                       a.id);
        batch->Put(cf(c), s.key, rocksdb::Slice()).PermitUncheckedError();
      }
      staged.emplace(a.id, Staged{std::move(r), 0, s.key.size()});
      info.ids.push_back(a.id);
      continue;
    }
    const std::string& rid = rec.retraction_id;
    if (staged_retractions.count(rid) != 0) {
      ++info.skipped;
      continue;
    }
    std::string v;
    rocksdb::Status st = db_->Get(rocksdb::ReadOptions(), cf(Cf::kRetractions), rid, &v);
    if (st.ok()) {
      Result<RetractionRecord> prior = DecodeRetractionRecord(v);
      if (!prior) return reject(prior.error());
      if (prior->project != e.project) {
        return reject(Status::Conflict("id " + rid + " " + std::string(kIdInAnotherProject)));
      }
      ++info.skipped;
      continue;
    }
    if (!st.IsNotFound()) return reject(FromRocks(st, "read retraction"));
    if (staged.count(rid) != 0 || KeyExists(Cf::kAssertions, rid)) {
      return reject(Status::Conflict("id " + rid + " is stored as an assertion"));
    }
    auto target = staged.find(rec.target_id);
    if (target == staged.end()) {
      rocksdb::PinnableSlice value;
      AssertionRecordView view;
      Result<bool> found = ReadRecord(rocksdb::ReadOptions(), rec.target_id, &value, &view);
      if (!found) return reject(found.error());
      if (!*found || view.project != e.project) {
        return reject(Status::NotFound("retraction " + rid + ": its target " + rec.target_id +
                                       " is not in the project"));
      }
      Result<AssertionRecord> decoded =
          DecodeAssertionRecord(std::string_view(value.data(), value.size()));
      if (!decoded) return reject(decoded.error());
      target = staged.emplace(rec.target_id, Staged{std::move(*decoded), value.size(), 0}).first;
    }
    AssertionRecord& t = target->second.record;
    if (t.retracted_lsn.value() != 0) {
      return reject(Status::Conflict("retraction " + rid + ": " + rec.target_id +
                                     " is already retracted by " + t.retraction_id));
    }
    t.retracted_lsn = lsn;
    t.retraction_id = rid;
    RetractionRecord rr;
    rr.project = e.project;
    rr.target_id = rec.target_id;
    rr.lsn = lsn;
    rr.json = BuildRetractionJson(e.project, rid, rec.target_id, lsn, rec.recorded_at_us);
    const std::string rr_value = EncodeRetractionRecord(rr);
    batch->Put(cf(Cf::kRetractions), rid, rr_value).PermitUncheckedError();
    bytes += StoredBytesOfRetraction(rid, rr_value);
    staged_retractions.insert(rid);
    info.ids.push_back(rid);
  }
  int64_t count = 0;
  for (const auto& [id, st] : staged) {
    const std::string v = EncodeAssertionRecord(st.record);
    batch->Put(cf(Cf::kAssertions), id, v).PermitUncheckedError();
    if (st.stored_bytes == 0) {
      ++count;
      bytes += StoredBytesOfAssertion(id.size(), v.size(), st.index_key_bytes);
    } else {
      bytes += static_cast<int64_t>(v.size()) - static_cast<int64_t>(st.stored_bytes);
    }
  }
  // Imports count against the project's quota like any write (all or nothing).
  if (usage_.HasLimits(e.project)) {
    Status quota = usage_.CheckQuota(e.project, count, bytes);
    if (!quota.ok()) return reject(quota);
  }
  batch->PopSavePoint().PermitUncheckedError();
  usage_.Add(e.project, count, bytes, recorded);
  return info;
}

}  // namespace stemedb::engine
