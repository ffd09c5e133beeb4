// Per-project figures and limits in DbImpl: loading them at Open, noting
// registry records at apply, reads and the recount (engine/project_usage.h).

#include <memory>
#include <shared_mutex>

#include "engine/coding.h"
#include "engine/db_impl.h"
#include "util/logging.h"

namespace stemedb::engine {
namespace {

// meta key: present once the figures of every project are maintained.
constexpr std::string_view kMetaUsageVersion = "usage_version";
constexpr char kUsageVersion = 1;

}  // namespace

Status DbImpl::LoadProjectUsage() {
  std::string marker;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(Cf::kMeta), kMetaUsageVersion, &marker);
  if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "read usage version");
  if (s.IsNotFound()) {
    // A store written before per-project accounting: count every record
    // once, at the applied LSN (before replay), and persist the figures with
    // the marker in one write. A crash before the next flush loses both, so
    // the next start counts again.
    std::map<std::string, ProjectFigures> figures;
    {
      std::unique_ptr<rocksdb::Iterator> it(
          db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kAssertions)));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        AssertionRecordView r;
        const std::string_view v = it->value().ToStringView();
        if (!DecodeAssertionRecordView(v, &r)) {
          return Status::Corruption("assertion record " + it->key().ToString() + ": malformed");
        }
        ProjectFigures& f = figures[std::string(r.project)];
        f.assertions += 1;
        f.stored_bytes += StoredBytesOfAssertion(it->key().ToStringView(), v);
      }
      if (!it->status().ok()) return FromRocks(it->status(), "count assertions");
    }
    {
      std::unique_ptr<rocksdb::Iterator> it(
          db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kRetractions)));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        Result<RetractionRecord> r = DecodeRetractionRecord(it->value().ToStringView());
        if (!r) return r.error();
        figures[r->project].stored_bytes +=
            StoredBytesOfRetraction(it->key().ToStringView(), it->value().ToStringView());
      }
      if (!it->status().ok()) return FromRocks(it->status(), "count retractions");
    }
    rocksdb::WriteBatch batch;
    for (const auto& [project, f] : figures) {
      batch.Put(cf(Cf::kMeta), ProjectUsage::MetaKey(project), ProjectUsage::EncodeFigures(f))
          .PermitUncheckedError();
    }
    batch.Put(cf(Cf::kMeta), kMetaUsageVersion, std::string(1, kUsageVersion))
        .PermitUncheckedError();
    rocksdb::WriteOptions wo;
    wo.disableWAL = true;
    STEMEDB_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "write project figures"));
    if (!figures.empty()) {
      log::Info("engine: counted project figures", {{"projects", std::to_string(figures.size())}});
    }
  }
  return usage_.Load(db_.get(), cf(Cf::kMeta), cf(Cf::kSystem));
}

Status DbImpl::NoteProjectRecords(const SystemEntry& e) {
  for (const SystemWrite& w : e.writes) {
    if (w.table != SystemTable::kProjects || !w.value) continue;
    if (!DecodeProjectRecord(*w.value)) {
      return Status::Conflict("invalid project record for " + w.key);
    }
  }
  for (const SystemWrite& w : e.writes) {
    if (w.table != SystemTable::kProjects) continue;
    std::optional<ProjectRecord> record;
    if (w.value) record = DecodeProjectRecord(*w.value).value();
    usage_.SetLimits(w.key, record);
  }
  return Status::OK();
}

std::optional<ProjectFigures> DbImpl::GetProjectFigures(std::string_view project) {
  return usage_.Get(project);
}

std::map<std::string, ProjectFigures> DbImpl::AllProjectFigures() { return usage_.All(); }

Result<ProjectRecount> DbImpl::RecountProject(std::string_view project) {
  std::shared_lock<std::shared_mutex> open_lock(rocks_mu_);
  if (db_ == nullptr) return Status::Unavailable("database closed");
  // The maintained figures are committed in the same batch as the records,
  // so one snapshot holds both at exactly one applied LSN.
  rocksdb::ManagedSnapshot snapshot(db_.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  ProjectRecount out;
  std::string v;
  rocksdb::Status s = db_->Get(ro, cf(Cf::kMeta), kMetaAppliedLsn, &v);
  if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "read applied LSN");
  if (s.ok() && v.size() == 8) out.as_of = Lsn(DecodeFixed64BE(v.data()));
  s = db_->Get(ro, cf(Cf::kMeta), ProjectUsage::MetaKey(project), &v);
  if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "read project figures");
  if (s.ok() && !ProjectUsage::DecodeFigures(v, &out.recorded)) {
    return Status::Corruption("bad usage figures of project " + std::string(project));
  }
  out.counted.last_write_us = out.recorded.last_write_us;
  // Every assertion of the project has exactly one idx_subject key.
  std::string prefix;
  AppendComponent(&prefix, project);
  const std::string end = ComponentPrefixEnd(prefix);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions iro = ro;
  iro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(iro, cf(Cf::kIdxSubject)));
  rocksdb::PinnableSlice value;
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    ParsedIndexKey k;
    if (!ParseIndexKey(it->key().ToStringView(), &k)) {
      return Status::Corruption("malformed index key in project " + std::string(project));
    }
    AssertionRecordView r;
    Result<bool> found = ReadRecord(ro, k.id, &value, &r);
    if (!found) return found.error();
    if (!*found) return Status::Corruption("index entry without record: " + std::string(k.id));
    out.counted.assertions += 1;
    out.counted.stored_bytes +=
        StoredBytesOfAssertion(k.id, std::string_view(value.data(), value.size()));
    if (r.retracted_lsn.value() != 0) {
      const std::string rid(r.retraction_id);
      std::string rv;
      rocksdb::Status rs = db_->Get(ro, cf(Cf::kRetractions), rid, &rv);
      if (!rs.ok()) return FromRocks(rs, "read retraction " + rid);
      out.counted.stored_bytes += StoredBytesOfRetraction(rid, rv);
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "recount");
  return out;
}

}  // namespace stemedb::engine
