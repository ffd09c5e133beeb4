#include "engine/store_identity.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <sodium.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <filesystem>
#include <optional>

#include "engine/coding.h"
#include "engine/keys.h"
#include "wal/log_format.h"
#include "wal/segment_scan.h"

namespace stemedb::engine {
namespace {

constexpr std::string_view kMarkerHeader = "stemedb-store";

std::string Join(const std::string& dir, std::string_view leaf) {
  if (!dir.empty() && dir.back() == '/') return dir + std::string(leaf);
  return dir + "/" + std::string(leaf);
}

// For comparing configured paths: "a/b/", "./a/b" and "a//b" are one place.
std::string Normal(const std::string& path) {
  std::string p = std::filesystem::path(path).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p.empty() ? "." : p;
}

// RocksDB must not write its LOG while we only look.
class NullLogger final : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

bool IsRocksFile(std::string_view name) {
  return name == "CURRENT" || name.starts_with("MANIFEST-") || name.ends_with(".sst");
}

std::string ShortList(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 3; ++i) {
    if (i > 0) out += ", ";
    out += names[i];
  }
  if (names.size() > 3) out += ", ... (" + std::to_string(names.size()) + " entries)";
  return out;
}

// What a DB dir holds.
struct DbState {
  enum class Kind { kEmpty, kFiles, kStore } kind = Kind::kEmpty;
  std::vector<std::string> entries;  // kFiles: what is there
  std::string store_id;              // kStore: "" if none (created before identities)
  uint64_t applied_lsn = 0;
};

// What a WAL dir holds.
struct WalState {
  std::optional<StoreMarker> marker;
  size_t segments = 0;
  uint64_t oldest_lsn = 0;  // first LSN of the oldest segment (if any)
  bool empty() const { return !marker && segments == 0; }
};

}  // namespace

Result<std::vector<std::string>> StoreDirEntries(Env* env, const std::string& dir) {
  std::vector<std::string> out;
  if (!env->FileExists(dir)) return out;
  auto children = env->GetChildren(dir);
  if (!children) return children.error().WithContext("listing " + dir);
  for (auto& c : *children) {
    if (c == "." || c == ".." || c == "lost+found") continue;
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

Result<std::optional<StoreMarker>> ReadMarker(Env* env, const std::string& dir, bool wal) {
  const std::string path = Join(dir, kStoreMarkerName);
  if (!env->FileExists(path)) return std::optional<StoreMarker>();
  auto text = ReadFileToString(env, path);
  if (!text) return text.error().WithContext("reading " + path);
  auto marker = DecodeStoreMarker(*text, wal);
  if (!marker) {
    return Status::Corruption("store marker " + path + " is malformed (" +
                              marker.error().message() +
                              "): restore it from the volume's backup, or move it aside");
  }
  if (marker->format_version > kFormatVersion) {
    return Status::InvalidArgument(
        "store marker " + path + " has format_version " + std::to_string(marker->format_version) +
        ": written by a newer stemedb (this one knows " + std::to_string(kFormatVersion) + ")");
  }
  return std::optional<StoreMarker>(std::move(*marker));
}

// Opens `dir` read-only (no LOG, no lock, nothing written) for the meta keys.
Result<DbState> ReadDbMeta(const std::string& dir) {
  rocksdb::DBOptions o;
  o.info_log = std::make_shared<NullLogger>();
  o.max_open_files = 16;  // open tables lazily: only `meta` is read
  o.skip_stats_update_on_db_open = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  cfs.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  cfs.emplace_back(kCfMeta, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(o, dir, cfs, &handles, &raw);
  if (!s.ok()) {
    return Status::IOError("cannot read the RocksDB store in " + dir + ": " + s.ToString());
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  DbState state;
  state.kind = DbState::Kind::kStore;
  Status result;
  std::string v;
  s = db->Get(rocksdb::ReadOptions(), handles[1], kMetaStoreId, &v);
  if (s.ok()) {
    if (!IsWellFormedStoreId(v)) {
      result = Status::Corruption(dir + ": meta store_id is malformed");
    }
    state.store_id = v;
  } else if (!s.IsNotFound()) {
    result = Status::IOError(dir + ": read meta store_id: " + s.ToString());
  }
  s = db->Get(rocksdb::ReadOptions(), handles[1], kMetaAppliedLsn, &v);
  if (s.ok() && v.size() == 8) {
    state.applied_lsn = DecodeFixed64BE(v.data());
  } else if (!s.IsNotFound() && result.ok()) {
    result = Status::Corruption(dir + ": meta applied_lsn unreadable: " + s.ToString());
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  if (!result.ok()) return result;
  return state;
}

Result<DbState> InspectDb(Env* env, const std::string& dir) {
  auto entries = StoreDirEntries(env, dir);
  if (!entries) return entries.error();
  if (entries->empty()) return DbState();
  if (!env->FileExists(Join(dir, "CURRENT"))) {
    DbState state;
    state.kind = DbState::Kind::kFiles;
    state.entries = std::move(*entries);
    return state;
  }
  return ReadDbMeta(dir);
}

Result<WalState> InspectWal(Env* env, const std::string& dir) {
  WalState state;
  if (!env->FileExists(dir)) return state;
  auto marker = ReadMarker(env, dir, /*wal=*/true);
  if (!marker) return marker.error();
  state.marker = std::move(*marker);
  auto names = wal::ListSegments(env, dir);
  if (!names) return names.error().WithContext("listing " + dir);
  state.segments = names->size();
  if (!names->empty()) wal::ParseSegmentFileName(names->front(), &state.oldest_lsn);
  return state;
}

// A directory near `db_dir` that holds RocksDB files while db_dir is empty:
// the data root, $DATA_DIR/db, or db_dir's parent. "" if none.
Result<std::string> RocksElsewhere(Env* env, const StoreLayout& layout) {
  const std::string db = Normal(layout.db_dir);
  std::vector<std::string> candidates = {
      Normal(layout.data_dir), Normal(Join(layout.data_dir, "db")), Normal(ParentDir(db))};
  std::vector<std::string> seen;
  for (const std::string& dir : candidates) {
    if (dir == db || std::find(seen.begin(), seen.end(), dir) != seen.end()) continue;
    seen.push_back(dir);
    auto entries = StoreDirEntries(env, dir);
    if (!entries) continue;  // a hint only: unreadable means nothing found
    for (const auto& e : *entries) {
      if (IsRocksFile(e)) return dir;
    }
  }
  return std::string();
}

// A subdirectory of `db_dir` that holds a RocksDB store (restored one level
// too deep). "" if none.
std::string StoreBelow(Env* env, const std::string& db_dir, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    if (env->FileExists(Join(Join(db_dir, n), "CURRENT"))) return Join(db_dir, n);
  }
  return std::string();
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// 20261201T231500Z, for names.
std::string CompactUtcNow() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace

std::string NewStoreId() {
  unsigned char raw[16];
  randombytes_buf(raw, sizeof(raw));
  char hex[2 * sizeof(raw) + 1];
  sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
  return std::string(hex, 2 * sizeof(raw));
}

bool IsWellFormedStoreId(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string EncodeStoreMarker(const StoreMarker& marker, bool wal) {
  std::string out(kMarkerHeader);
  out += "\nstore_id=" + marker.store_id +
         "\nformat_version=" + std::to_string(marker.format_version) + "\n";
  if (wal) out += "wal_start_lsn=" + std::to_string(marker.wal_start_lsn.value()) + "\n";
  return out;
}

Result<StoreMarker> DecodeStoreMarker(std::string_view text, bool wal) {
  StoreMarker m;
  bool header = false, has_version = false, has_start = false;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (!header) {
      if (line != kMarkerHeader) return Status::Corruption("first line is not stemedb-store");
      header = true;
      continue;
    }
    if (line.empty()) continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) return Status::Corruption("a line without '='");
    std::string_view key = line.substr(0, eq), value = line.substr(eq + 1);
    auto number = [&](uint64_t* out) -> Status {
      uint64_t v = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (value.empty() || ec != std::errc() || p != value.data() + value.size()) {
        return Status::Corruption(std::string(key) + " is not a number");
      }
      *out = v;
      return Status::OK();
    };
    if (key == "store_id") {
      if (!IsWellFormedStoreId(value)) return Status::Corruption("store_id is not 32 hex digits");
      m.store_id = std::string(value);
    } else if (key == "format_version") {
      uint64_t v = 0;
      STEMEDB_RETURN_IF_ERROR(number(&v));
      if (v == 0 || v > UINT32_MAX) return Status::Corruption("format_version out of range");
      m.format_version = static_cast<uint32_t>(v);
      has_version = true;
    } else if (key == "wal_start_lsn") {
      uint64_t v = 0;
      STEMEDB_RETURN_IF_ERROR(number(&v));
      m.wal_start_lsn = Lsn(v);
      has_start = true;
    }
  }
  if (!header) return Status::Corruption("empty");
  if (m.store_id.empty()) return Status::Corruption("no store_id");
  if (!has_version) return Status::Corruption("no format_version");
  if (wal && (!has_start || m.wal_start_lsn.value() == 0)) {
    return Status::Corruption("no wal_start_lsn >= 1");
  }
  if (!wal) m.wal_start_lsn = Lsn(0);
  return m;
}

const char* ActionName(IdentityPlan::Action action) {
  switch (action) {
    case IdentityPlan::Action::kOpen:
      return "open";
    case IdentityPlan::Action::kInitialise:
      return "initialise";
    case IdentityPlan::Action::kAdopt:
      return "adopt";
    case IdentityPlan::Action::kRebuild:
      return "rebuild";
  }
  return "?";
}

StoreIdentity::StoreIdentity(Env* env, StoreLayout layout, IdentityOverrides overrides)
    : env_(env), layout_(std::move(layout)), overrides_(overrides) {}

Result<IdentityPlan> StoreIdentity::Decide() const {
  const std::string& wal_dir = layout_.wal_dir;
  const std::string& db_dir = layout_.db_dir;
  auto db = InspectDb(env_, db_dir);
  if (!db) return db.error();
  auto wal = InspectWal(env_, wal_dir);
  if (!wal) return wal.error();
  auto root = ReadMarker(env_, layout_.data_dir, /*wal=*/false);
  if (!root) return root.error();

  IdentityPlan plan;
  auto use_override = [&](const char* var, std::string what) {
    plan.overrides.push_back(std::string(var) + ": " + std::move(what));
  };
  // The WAL marker as it must be; written if it is absent or differs.
  auto want_wal_marker = [&](const std::string& id, Lsn start) {
    StoreMarker m{id, kFormatVersion, start};
    if (!wal->marker || wal->marker->store_id != id || wal->marker->wal_start_lsn != start) {
      plan.write_wal_marker = true;
    }
    plan.wal_marker = std::move(m);
  };
  const Lsn wal_start = wal->segments > 0 ? Lsn(wal->oldest_lsn) : Lsn(1);

  if (db->kind == DbState::Kind::kFiles) {
    // (a) An interrupted restore, a half-copied volume, files of another
    // program: creating a store here would hide them (and RocksDB would
    // delete the SSTs it does not own).
    if (!overrides_.accept_new_store) {
      std::string below = StoreBelow(env_, db_dir, db->entries);
      return Status::InvalidArgument(
          "STEMEDB_DB_DIR " + Quote(db_dir) + " holds files but no RocksDB store (no CURRENT; " +
          ShortList(db->entries) + ")" +
          (below.empty() ? ": an interrupted restore or the wrong directory?"
                         : ", but " + Quote(below) +
                               " does: did you restore into the wrong "
                               "directory?") +
          " Restore the store into it, or set STEMEDB_ACCEPT_NEW_STORE=true to move its files "
          "into a set-aside-<time> subdirectory and create a new store there");
    }
    plan.set_aside_dir = Join(db_dir, "set-aside-" + CompactUtcNow());
    plan.set_aside = db->entries;
    use_override("STEMEDB_ACCEPT_NEW_STORE",
                 "STEMEDB_DB_DIR " + Quote(db_dir) + " held files but no store (" +
                     ShortList(db->entries) + "); moved them into " + Quote(plan.set_aside_dir));
  }

  if (db->kind != DbState::Kind::kStore) {
    plan.create_db = true;
    // (e) The store is right next to where it should be.
    auto elsewhere = RocksElsewhere(env_, layout_);
    if (!elsewhere) return elsewhere.error();
    if (!elsewhere->empty()) {
      if (!overrides_.accept_new_store) {
        return Status::InvalidArgument(
            "STEMEDB_DB_DIR " + Quote(db_dir) + " is empty but " + Quote(*elsewhere) +
            " holds a RocksDB store: did you restore into the wrong directory? Move its files "
            "into STEMEDB_DB_DIR, or set STEMEDB_ACCEPT_NEW_STORE=true to start a new empty "
            "store");
      }
      use_override("STEMEDB_ACCEPT_NEW_STORE", "created the store in STEMEDB_DB_DIR " +
                                                   Quote(db_dir) + " although " +
                                                   Quote(*elsewhere) + " holds a RocksDB store");
    }
    if (wal->empty()) {
      // (d) Both dirs empty in a data root that had a store: lost volumes.
      if (root->has_value()) {
        if (!overrides_.accept_new_store) {
          return Status::InvalidArgument(
              "the data root STEMEDB_DATA_DIR " + Quote(layout_.data_dir) + " belongs to store " +
              (*root)->store_id + " but STEMEDB_WAL_DIR " + Quote(wal_dir) +
              " and STEMEDB_DB_DIR " + Quote(db_dir) +
              " are both empty: the volumes are missing or were wiped. Mount them or restore a "
              "backup, or set STEMEDB_ACCEPT_NEW_STORE=true to start a new empty store");
        }
        use_override("STEMEDB_ACCEPT_NEW_STORE",
                     "started a new empty store in the data root of "
                     "store " +
                         (*root)->store_id + " whose WAL and DB dirs were empty");
      }
      plan.action = IdentityPlan::Action::kInitialise;
      plan.store_id = NewStoreId();
      want_wal_marker(plan.store_id, Lsn(1));
      plan.write_root_marker = true;
      plan.notes.push_back("initialised a new store");
      return plan;
    }
    // The DB is gone (or never made it) but there is a WAL.
    const Lsn marker_start = wal->marker ? wal->marker->wal_start_lsn : wal_start;
    if (marker_start != Lsn(1) || wal_start != Lsn(1)) {
      // (f) Only the tail of the history is left.
      return Status::InvalidArgument(
          "STEMEDB_DB_DIR " + Quote(db_dir) + " is empty but the WAL in " + Quote(wal_dir) +
          (wal->marker ? " (store " + wal->marker->store_id + ")" : std::string()) +
          " starts at LSN " + std::to_string(std::max(marker_start, wal_start).value()) +
          ", so the store cannot be rebuilt from it: restore the DB from a backup of this store "
          "(the WAL is replayed on top), or empty STEMEDB_WAL_DIR to start a new store");
    }
    plan.store_id = wal->marker ? wal->marker->store_id : NewStoreId();
    if (root->has_value() && (*root)->store_id != plan.store_id) {
      if (!overrides_.accept_store_mismatch) {
        return Status::InvalidArgument(
            "the WAL in STEMEDB_WAL_DIR " + Quote(wal_dir) +
            (wal->marker ? " belongs to store " + plan.store_id : " has no store marker") +
            " but the data root STEMEDB_DATA_DIR " + Quote(layout_.data_dir) + " to store " +
            (*root)->store_id +
            ": mount the matching volumes, or set STEMEDB_ACCEPT_STORE_MISMATCH=true to rebuild "
            "the store from this WAL");
      }
      use_override("STEMEDB_ACCEPT_STORE_MISMATCH", "rebuilt store " + plan.store_id +
                                                        " from its WAL in the data root of store " +
                                                        (*root)->store_id);
    }
    plan.action = IdentityPlan::Action::kRebuild;
    want_wal_marker(plan.store_id, Lsn(1));
    plan.write_root_marker = !root->has_value() || (*root)->store_id != plan.store_id;
    plan.notes.push_back("STEMEDB_DB_DIR " + Quote(db_dir) +
                         " held no store: rebuilding it from the whole WAL (" +
                         std::to_string(wal->segments) + " segments)");
    return plan;
  }

  // The DB holds a store.
  if (db->store_id.empty()) {
    // Created before identities (or a crash before its id was flushed).
    std::string id = wal->marker ? wal->marker->store_id : std::string();
    if (root->has_value()) {
      if (!id.empty() && id != (*root)->store_id) {
        if (!overrides_.accept_store_mismatch) {
          return Status::InvalidArgument(
              "the WAL in STEMEDB_WAL_DIR " + Quote(wal_dir) + " belongs to store " + id +
              " but the data root STEMEDB_DATA_DIR " + Quote(layout_.data_dir) + " to store " +
              (*root)->store_id +
              ": mount the matching volumes, or set STEMEDB_ACCEPT_STORE_MISMATCH=true to keep "
              "the WAL's");
        }
        use_override(
            "STEMEDB_ACCEPT_STORE_MISMATCH",
            "kept the WAL's store id " + id + " over the data root's " + (*root)->store_id);
      }
      if (id.empty()) id = (*root)->store_id;
    }
    if (id.empty()) id = NewStoreId();
    plan.action = IdentityPlan::Action::kAdopt;
    plan.store_id = id;
    plan.create_db = false;
    want_wal_marker(id, wal->marker         ? wal->marker->wal_start_lsn
                        : wal->segments > 0 ? wal_start
                                            : Lsn(db->applied_lsn).next());
    plan.write_root_marker = !root->has_value() || (*root)->store_id != id;
    plan.notes.push_back("adopted a store that had no identity (applied LSN " +
                         std::to_string(db->applied_lsn) + ")");
    if (wal->empty() && db->applied_lsn > 0) {
      plan.notes.push_back("the WAL dir " + Quote(wal_dir) +
                           " was empty: if a WAL existed, writes after LSN " +
                           std::to_string(db->applied_lsn) + " not yet applied are gone");
    }
    return plan;
  }

  const std::string& id = db->store_id;
  plan.store_id = id;
  const Lsn next = Lsn(db->applied_lsn).next();
  if (root->has_value() && (*root)->store_id != id) {
    // (b) A DB (and WAL) of another store under this data root.
    if (!overrides_.accept_store_mismatch) {
      return Status::InvalidArgument(
          "the DB in STEMEDB_DB_DIR " + Quote(db_dir) + " belongs to store " + id +
          " but the data root STEMEDB_DATA_DIR " + Quote(layout_.data_dir) + " to store " +
          (*root)->store_id +
          ": mount the matching volumes, or set STEMEDB_ACCEPT_STORE_MISMATCH=true to make the "
          "data root store " +
          id + "'s");
    }
    use_override("STEMEDB_ACCEPT_STORE_MISMATCH",
                 "the data root of store " + (*root)->store_id + " now holds store " + id);
  }
  plan.write_root_marker = !root->has_value() || (*root)->store_id != id;

  if (wal->marker) {
    if (wal->marker->store_id != id) {
      // (b) The WAL of another store.
      if (!overrides_.accept_store_mismatch) {
        return Status::InvalidArgument(
            "the WAL in STEMEDB_WAL_DIR " + Quote(wal_dir) + " belongs to store " +
            wal->marker->store_id + " but the DB in STEMEDB_DB_DIR " + Quote(db_dir) +
            " to store " + id +
            ": mount the matching volumes, or set STEMEDB_ACCEPT_STORE_MISMATCH=true to replay "
            "this WAL into store " +
            id);
      }
      use_override("STEMEDB_ACCEPT_STORE_MISMATCH", "the WAL of store " + wal->marker->store_id +
                                                        " in " + Quote(wal_dir) + " is now store " +
                                                        id + "'s");
      want_wal_marker(id, wal->marker->wal_start_lsn);
    } else {
      plan.wal_marker = *wal->marker;
    }
    if (wal->segments == 0 && wal->marker->wal_start_lsn != next) {
      // (c) The marker survived, the segments did not (or the DB is older
      // than the WAL's start). The log always keeps its active segment.
      if (!overrides_.accept_wal_loss) {
        return Status::InvalidArgument(
            "STEMEDB_WAL_DIR " + Quote(wal_dir) +
            " holds no WAL segment although its WAL starts "
            "at LSN " +
            std::to_string(wal->marker->wal_start_lsn.value()) + " and the DB in " + Quote(db_dir) +
            " is at LSN " + std::to_string(db->applied_lsn) +
            ": the segments were deleted or the volumes do not match. Restore them, or set "
            "STEMEDB_ACCEPT_WAL_LOSS=true to continue at LSN " +
            std::to_string(next.value()));
      }
      use_override("STEMEDB_ACCEPT_WAL_LOSS", "the WAL in " + Quote(wal_dir) +
                                                  " had no segment; continued at LSN " +
                                                  std::to_string(next.value()));
      want_wal_marker(id, next);
    }
    plan.action =
        plan.write_wal_marker ? IdentityPlan::Action::kAdopt : IdentityPlan::Action::kOpen;
    if (plan.write_root_marker && plan.overrides.empty()) {
      plan.notes.push_back("marked the data root with the store id");
    }
    return plan;
  }

  if (wal->segments > 0) {
    // (b) Segments but no marker: not this store's WAL (or its marker was
    // removed by hand).
    if (!overrides_.accept_store_mismatch) {
      return Status::InvalidArgument(
          "the WAL in STEMEDB_WAL_DIR " + Quote(wal_dir) + " has " + std::to_string(wal->segments) +
          " segments but no store marker, while the DB in " + Quote(db_dir) + " belongs to store " +
          id +
          ": it is not this store's WAL. Mount the matching volume, or set "
          "STEMEDB_ACCEPT_STORE_MISMATCH=true to replay it into store " +
          id);
    }
    use_override("STEMEDB_ACCEPT_STORE_MISMATCH",
                 "the unmarked WAL in " + Quote(wal_dir) + " is now store " + id + "'s");
    want_wal_marker(id, wal_start);
    plan.action = IdentityPlan::Action::kAdopt;
    return plan;
  }

  if (layout_.restored_snapshot_lsn && *layout_.restored_snapshot_lsn == Lsn(db->applied_lsn)) {
    // A restored checkpoint: the WAL continues after the snapshot.
    want_wal_marker(id, next);
    plan.action = IdentityPlan::Action::kAdopt;
    plan.notes.push_back("opened the store restored from a snapshot at LSN " +
                         std::to_string(db->applied_lsn) + "; its WAL starts at LSN " +
                         std::to_string(next.value()));
    return plan;
  }
  // (c) The DB has an identity, the WAL dir is empty: a lost or swapped WAL
  // volume. Every acknowledged write after the applied LSN would be gone.
  if (!overrides_.accept_wal_loss) {
    return Status::InvalidArgument(
        "STEMEDB_WAL_DIR " + Quote(wal_dir) + " is empty but the DB in STEMEDB_DB_DIR " +
        Quote(db_dir) + " belongs to store " + id + " at LSN " + std::to_string(db->applied_lsn) +
        ": the WAL volume is missing or was replaced, and any write after that LSN with it. "
        "Mount it, or set STEMEDB_ACCEPT_WAL_LOSS=true to continue at LSN " +
        std::to_string(next.value()));
  }
  use_override("STEMEDB_ACCEPT_WAL_LOSS", "the WAL dir " + Quote(wal_dir) +
                                              " was empty; continued at LSN " +
                                              std::to_string(next.value()) + " (writes after LSN " +
                                              std::to_string(db->applied_lsn) + ", if any, lost)");
  want_wal_marker(id, next);
  plan.action = IdentityPlan::Action::kAdopt;
  return plan;
}

Status StoreIdentity::PrepareForOpen(const IdentityPlan& plan) const {
  if (!plan.set_aside_dir.empty()) {
    STEMEDB_RETURN_IF_ERROR(env_->CreateDirs(plan.set_aside_dir));
    for (const std::string& name : plan.set_aside) {
      STEMEDB_RETURN_IF_ERROR(
          env_->RenameFile(Join(layout_.db_dir, name), Join(plan.set_aside_dir, name)));
    }
    STEMEDB_RETURN_IF_ERROR(env_->SyncDir(plan.set_aside_dir));
    STEMEDB_RETURN_IF_ERROR(env_->SyncDir(layout_.db_dir));
  }
  if (!plan.write_wal_marker) return Status::OK();
  STEMEDB_RETURN_IF_ERROR(env_->CreateDirs(layout_.wal_dir));
  return WriteFileAtomically(env_, Join(layout_.wal_dir, kStoreMarkerName),
                             EncodeStoreMarker(plan.wal_marker, /*wal=*/true));
}

void StoreIdentity::ApplyTo(const IdentityPlan& plan, DatabaseOptions* options) {
  options->store_id = plan.store_id;
  options->create_if_missing = plan.create_db;
  options->create_in_non_empty_dir = !plan.set_aside_dir.empty();
}

Status StoreIdentity::WriteRootMarker(const IdentityPlan& plan) const {
  if (!plan.write_root_marker) return Status::OK();
  return WriteFileAtomically(env_, Join(layout_.data_dir, kStoreMarkerName),
                             EncodeStoreMarker(StoreMarker{plan.store_id, kFormatVersion, Lsn(0)},
                                               /*wal=*/false));
}

}  // namespace stemedb::engine
