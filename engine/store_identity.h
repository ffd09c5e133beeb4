// StoreIdentity: which store a WAL directory, a RocksDB directory and a data
// root belong to, and the start-up decision built on it (engine/FORMAT.md §6,
// wal/FORMAT.md "Store identity").
//
// A store gets a random 128-bit id (32 lowercase hex, libsodium) when it is
// created in a fresh place (WAL dir and DB dir both empty). The id is carried
// three times, written in this order so that a crash between two steps is
// repaired by the next start:
//   1. <wal dir>/STORE    marker file: store_id, format_version, and the LSN
//                          the WAL starts at (1, or snapshot LSN + 1 after a
//                          restore);
//   2. RocksDB meta key `store_id` (written by Database::Open, flushed);
//   3. <data dir>/STORE   marker file: store_id, format_version.
// Markers are written with WriteFileAtomically (tmp, fsync, rename, fsync dir).
//
// Decide() reads all three (nothing is written: the DB is opened read-only
// with its info log off) and returns the plan or a refusal: a Status whose
// message is one line naming the problem, the directories and the override.
// The rules (the table is in engine/FORMAT.md §6):
//   a  DB dir holds files but no RocksDB store (no CURRENT)    accept_new_store
//      (which moves them into <db dir>/set-aside-<time>/)
//   b  WAL, DB or data root belong to different stores          accept_store_mismatch
//   c  DB has an identity, WAL dir has no marker (or its
//      segments are gone)                                       accept_wal_loss
//   d  data root has a marker, WAL dir and DB dir are empty     accept_new_store
//   e  DB dir empty, but the data root, $DATA_DIR/db or the
//      parent of the DB dir holds RocksDB files                 accept_new_store
//   f  DB dir empty, WAL does not start at LSN 1 (cannot be
//      rebuilt from it)                                         none
// A restored store (a checkpoint carries the DB's id; the WAL dir is empty)
// is opened as the same store when db_dir says it was restored from a
// snapshot at exactly its applied LSN (StoreLayout::restored_snapshot_lsn);
// the caller then removes that statement, so a WAL lost later is (c).
// A store created before identities existed (a DB without the meta key, no
// markers) is adopted: a new id is written to all three places and logged.
// A DB dir that is empty while the WAL starts at LSN 1 is rebuilt from the
// WAL (logged): nothing is lost.
//
// Thread-safety: none needed (start-up, one thread). Call Decide() before
// creating any directory (so a refusal writes nothing) and again under the
// data directory lock, then PrepareForOpen(), Database::Open with
// ApplyTo(&options), WriteRootMarker().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/database.h"
#include "util/env.h"
#include "util/status.h"
#include "util/strong_types.h"

namespace stemedb::engine {

// File name of the marker in the WAL dir and in the data root.
inline constexpr std::string_view kStoreMarkerName = "STORE";

// One marker file's contents (text, one key=value per line; FORMAT.md §6).
struct StoreMarker {
  std::string store_id;         // 32 lowercase hex digits
  uint32_t format_version = 0;  // engine format version (keys.h kFormatVersion)
  Lsn wal_start_lsn;            // WAL marker: first LSN this WAL holds; Lsn(0) in the data root
};
// `wal` selects the WAL marker's layout (with wal_start_lsn).
std::string EncodeStoreMarker(const StoreMarker& marker, bool wal);
// Corruption with the reason if malformed; unknown keys are ignored.
Result<StoreMarker> DecodeStoreMarker(std::string_view text, bool wal);
// The entries of a store directory that count, sorted: everything but
// lost+found (a freshly formatted volume has one). A missing dir has none.
Result<std::vector<std::string>> StoreDirEntries(Env* env, const std::string& dir);
// A fresh id: 16 random bytes (libsodium), hex.
std::string NewStoreId();
bool IsWellFormedStoreId(std::string_view id);

// The three places of a store.
struct StoreLayout {
  std::string data_dir;
  std::string wal_dir;
  std::string db_dir;
  // The snapshot LSN db_dir says it was restored from (the RESTORED marker
  // of backup/restore.h), if it says so. A restored DB whose applied LSN is
  // that snapshot's is opened next to an empty WAL dir without override.
  std::optional<Lsn> restored_snapshot_lsn;
};

// The operator's explicit overrides (docs/configuration.md). Each one used is
// reported in IdentityPlan::overrides, to be logged and audited.
struct IdentityOverrides {
  bool accept_new_store = false;       // STEMEDB_ACCEPT_NEW_STORE (a, d, e)
  bool accept_store_mismatch = false;  // STEMEDB_ACCEPT_STORE_MISMATCH (b)
  bool accept_wal_loss = false;        // STEMEDB_ACCEPT_WAL_LOSS (c)
};

struct IdentityPlan {
  enum class Action {
    kOpen,        // everything agrees
    kInitialise,  // fresh place: a new store
    kAdopt,       // an existing store without (complete) identity: marked now
    kRebuild,     // the DB dir is empty, the WAL holds the whole history
  };
  Action action = Action::kOpen;
  std::string store_id;
  // Database::Open may create the RocksDB store (the DB dir holds none).
  bool create_db = false;
  // Override a: the DB dir's entries are moved into this subdirectory of it
  // (kept for forensics) before the store is created there. "" = none.
  std::string set_aside_dir;
  std::vector<std::string> set_aside;  // the entries to move
  // The WAL marker to write before the store is opened (absent or rewritten).
  bool write_wal_marker = false;
  StoreMarker wal_marker;
  // The data root marker to write once the store is open.
  bool write_root_marker = false;
  // One line per override used: "STEMEDB_ACCEPT_WAL_LOSS: <what it let pass>".
  std::vector<std::string> overrides;
  // Other facts for the startup log (adoption, rebuild).
  std::vector<std::string> notes;
};

const char* ActionName(IdentityPlan::Action action);

class StoreIdentity {
 public:
  StoreIdentity(Env* env, StoreLayout layout, IdentityOverrides overrides);

  // Inspects the layout (read-only) and decides. A refusal is a non-OK
  // Status (InvalidArgument, or Corruption for a malformed marker) with a
  // one-line message; IOError if something cannot be read.
  Result<IdentityPlan> Decide() const;

  // Sets the DB dir's files aside and writes the WAL marker, if the plan
  // says so. Call before Database::Open.
  Status PrepareForOpen(const IdentityPlan& plan) const;
  // Sets DatabaseOptions::store_id / create_if_missing / create_in_non_empty_dir.
  static void ApplyTo(const IdentityPlan& plan, DatabaseOptions* options);
  // Writes the data root marker if the plan says so. Call once the store is open.
  Status WriteRootMarker(const IdentityPlan& plan) const;

 private:
  Env* env_;
  StoreLayout layout_;
  IdentityOverrides overrides_;
};

}  // namespace stemedb::engine
