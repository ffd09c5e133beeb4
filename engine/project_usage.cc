#include "engine/project_usage.h"

#include <memory>

#include "engine/coding.h"
#include "engine/keys.h"
#include "engine/stored_record.h"

namespace stemedb::engine {
namespace {

constexpr uint8_t kFiguresVersion = 1;

// Iterates `cf` over keys starting with `prefix`.
Status ScanPrefix(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string_view prefix,
                  const std::function<Status(std::string_view key, std::string_view value)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key.substr(0, prefix.size()) != prefix) break;
    STEMEDB_RETURN_IF_ERROR(fn(key.substr(prefix.size()), it->value().ToStringView()));
  }
  if (!it->status().ok()) return Status::IOError("scan: " + it->status().ToString());
  return Status::OK();
}

}  // namespace

int64_t StoredBytesOfAssertion(std::string_view id, std::string_view record) {
  AssertionRecordView r;
  if (!DecodeAssertionRecordView(record, &r)) return 0;
  std::string key;
  AppendIndexKey(&key, IndexId::kSubject, r.project, r.subject, r.predicate, r.agent_id, r.lsn,
                 r.ordinal, id);
  return StoredBytesOfAssertion(id.size(), record.size(), key.size());
}

std::string ProjectUsage::MetaKey(std::string_view project) {
  std::string k(kMetaPrefix);
  k.append(project);
  return k;
}

std::string ProjectUsage::EncodeFigures(const ProjectFigures& f) {
  std::string v;
  v.push_back(static_cast<char>(kFiguresVersion));
  PutVarint64(&v, static_cast<uint64_t>(f.assertions));
  PutVarint64(&v, static_cast<uint64_t>(f.stored_bytes));
  PutFixed64BE(&v, static_cast<uint64_t>(f.last_write_us));
  return v;
}

bool ProjectUsage::DecodeFigures(std::string_view v, ProjectFigures* f) {
  ByteReader in(v);
  uint8_t version = 0;
  uint64_t a = 0, b = 0, t = 0;
  if (!in.GetByte(&version) || version != kFiguresVersion || !in.GetVarint64(&a) ||
      !in.GetVarint64(&b) || !in.GetFixed64BE(&t) || !in.empty()) {
    return false;
  }
  f->assertions = static_cast<int64_t>(a);
  f->stored_bytes = static_cast<int64_t>(b);
  f->last_write_us = static_cast<int64_t>(t);
  return true;
}

Status ProjectUsage::Load(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* meta,
                          rocksdb::ColumnFamilyHandle* system) {
  std::map<std::string, ProjectFigures, std::less<>> figures;
  std::map<std::string, ProjectRecord, std::less<>> limits;
  STEMEDB_RETURN_IF_ERROR(
      ScanPrefix(db, meta, kMetaPrefix, [&](std::string_view project, std::string_view v) {
        ProjectFigures f;
        if (!DecodeFigures(v, &f)) {
          return Status::Corruption("bad usage figures of project " + std::string(project));
        }
        figures.emplace(project, f);
        return Status::OK();
      }));
  STEMEDB_RETURN_IF_ERROR(ScanPrefix(db, system, SystemKey(SystemTable::kProjects, ""),
                                     [&](std::string_view project, std::string_view v) {
                                       Result<ProjectRecord> r = DecodeProjectRecord(v);
                                       if (!r) return r.error();
                                       limits.emplace(project, *r);
                                       return Status::OK();
                                     }));
  std::lock_guard<std::mutex> lock(mu_);
  figures_ = std::move(figures);
  limits_ = std::move(limits);
  dirty_.clear();
  return Status::OK();
}

void ProjectUsage::Add(std::string_view project, int64_t assertions_delta, int64_t bytes_delta,
                       int64_t write_us) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = figures_.find(project);
  if (it == figures_.end()) it = figures_.emplace(std::string(project), ProjectFigures{}).first;
  ProjectFigures& f = it->second;
  f.assertions = std::max<int64_t>(0, f.assertions + assertions_delta);
  f.stored_bytes = std::max<int64_t>(0, f.stored_bytes + bytes_delta);
  if (write_us > 0) f.last_write_us = write_us;
  if (dirty_.find(project) == dirty_.end()) dirty_.emplace(project);
}

void ProjectUsage::Forget(std::string_view project) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = figures_.find(project);
  if (it != figures_.end()) figures_.erase(it);
  if (dirty_.find(project) == dirty_.end()) dirty_.emplace(project);
}

void ProjectUsage::SetLimits(std::string_view project, const std::optional<ProjectRecord>& record) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = limits_.find(project);
  if (!record) {
    if (it != limits_.end()) limits_.erase(it);
  } else if (it == limits_.end()) {
    limits_.emplace(std::string(project), *record);
  } else {
    it->second = *record;
  }
}

bool ProjectUsage::HasLimits(std::string_view project) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = limits_.find(project);
  return it != limits_.end() && (it->second.max_assertions != 0 || it->second.max_bytes != 0);
}

Status ProjectUsage::CheckQuota(std::string_view project, int64_t assertions, int64_t bytes) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto lit = limits_.find(project);
  if (lit == limits_.end()) return Status::OK();
  ProjectFigures f;
  if (auto fit = figures_.find(project); fit != figures_.end()) f = fit->second;
  const ProjectRecord& l = lit->second;
  QuotaRefusal r;
  r.project = std::string(project);
  if (l.max_assertions != 0 &&
      static_cast<uint64_t>(f.assertions + assertions) > l.max_assertions) {
    r.quota = "max_assertions";
    r.limit = l.max_assertions;
    r.current = static_cast<uint64_t>(f.assertions);
    r.adding = static_cast<uint64_t>(assertions);
    return QuotaExceededStatus(r);
  }
  if (l.max_bytes != 0 && static_cast<uint64_t>(f.stored_bytes + bytes) > l.max_bytes) {
    r.quota = "max_bytes";
    r.limit = l.max_bytes;
    r.current = static_cast<uint64_t>(f.stored_bytes);
    r.adding = static_cast<uint64_t>(bytes);
    return QuotaExceededStatus(r);
  }
  return Status::OK();
}

void ProjectUsage::StageDirty(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* meta) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& project : dirty_) {
    auto it = figures_.find(project);
    if (it == figures_.end()) {
      batch->Delete(meta, MetaKey(project)).PermitUncheckedError();
    } else {
      batch->Put(meta, MetaKey(project), EncodeFigures(it->second)).PermitUncheckedError();
    }
  }
  dirty_.clear();
}

std::optional<ProjectFigures> ProjectUsage::Get(std::string_view project) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = figures_.find(project);
  if (it == figures_.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, ProjectFigures> ProjectUsage::All() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::map<std::string, ProjectFigures>(figures_.begin(), figures_.end());
}

std::optional<ProjectRecord> ProjectUsage::Limits(std::string_view project) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = limits_.find(project);
  if (it == limits_.end()) return std::nullopt;
  return it->second;
}

}  // namespace stemedb::engine
