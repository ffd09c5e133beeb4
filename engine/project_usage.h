// ProjectUsage: the exact per-project figures (assertions, stored bytes, last
// write) and the projects' limits, as of the LSN the apply path has staged.
//
// The apply path (engine/db_write.cc) is the only writer: it calls Add when it
// stages an entry that adds or removes a project's records, and at commit
// writes the figures of every project changed since the last commit into the
// same RocksDB WriteBatch as the data (meta CF, engine/FORMAT.md §8), so after
// any crash the persisted figures equal the data at exactly the applied LSN
// and replay recomputes the rest identically. Open loads them (Load) before
// replay, together with the limits from SystemTable::kProjects.
//
// "Stored bytes" has one definition, StoredBytesOf*: the key and value sizes
// of the project's records as the engine writes them (an assertion: id +
// AssertionRecord + its three index keys; a retraction: id +
// RetractionRecord, plus the growth of the retracted assertion's record).
//
// THREAD-SAFETY: Add, Forget, SetLimits, CheckQuota and StageDirty are for the
// apply-token holder (db_impl.h); Get, All and Limits may be called from any
// thread (an internal mutex).
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "engine/project_record.h"
#include "engine/types.h"
#include "util/status.h"

namespace stemedb::engine {

// The stored bytes of one assertion whose record (the value in the
// `assertions` CF) is `record`: id + record + 3 index keys. 0 if `record`
// does not decode.
int64_t StoredBytesOfAssertion(std::string_view id, std::string_view record);
// The same from sizes the apply path already has (every index key of an
// assertion has the same length).
inline int64_t StoredBytesOfAssertion(size_t id_bytes, size_t record_bytes,
                                      size_t index_key_bytes) {
  return static_cast<int64_t>(id_bytes + record_bytes + 3 * index_key_bytes);
}
// A retraction record: id + RetractionRecord. (The retracted assertion's
// record grows too; that growth is the difference of StoredBytesOfAssertion
// before and after.)
inline int64_t StoredBytesOfRetraction(std::string_view retraction_id, std::string_view record) {
  return static_cast<int64_t>(retraction_id.size() + record.size());
}

class ProjectUsage {
 public:
  // meta CF key of a project's persisted figures: "usage:" + project.
  static std::string MetaKey(std::string_view project);
  static constexpr std::string_view kMetaPrefix = "usage:";

  // Loads the persisted figures (meta CF) and the limits (system CF,
  // SystemTable::kProjects). Replaces what was loaded before.
  Status Load(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* meta,
              rocksdb::ColumnFamilyHandle* system);

  // --- apply-token holder ---------------------------------------------------
  // Adds deltas (negative to remove) and, if write_us > 0, sets the last write
  // time. Figures never go below 0.
  void Add(std::string_view project, int64_t assertions_delta, int64_t bytes_delta,
           int64_t write_us);
  // Drops the project's figures (its data was deleted); the persisted key is
  // deleted at the next StageDirty.
  void Forget(std::string_view project);
  // The project's limits from its registry record; nullopt = no record
  // (unlimited).
  void SetLimits(std::string_view project, const std::optional<ProjectRecord>& record);
  // OK, or QuotaExceeded (project_record.h) if adding `assertions` and
  // `bytes` would take the project past a limit.
  Status CheckQuota(std::string_view project, int64_t assertions, int64_t bytes) const;
  // True if the project has a nonzero limit (the apply path then measures a
  // batch before deciding).
  bool HasLimits(std::string_view project) const;
  // Puts (or deletes) the persisted figures of every project changed since
  // the last call into `batch`.
  void StageDirty(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* meta);

  // --- any thread -------------------------------------------------------------
  std::optional<ProjectFigures> Get(std::string_view project) const;
  std::map<std::string, ProjectFigures> All() const;
  std::optional<ProjectRecord> Limits(std::string_view project) const;

  static std::string EncodeFigures(const ProjectFigures& f);
  static bool DecodeFigures(std::string_view v, ProjectFigures* f);

 private:
  mutable std::mutex mu_;
  std::map<std::string, ProjectFigures, std::less<>> figures_;
  std::map<std::string, ProjectRecord, std::less<>> limits_;
  std::set<std::string, std::less<>> dirty_;
};

}  // namespace stemedb::engine
