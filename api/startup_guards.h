// Startup guards (docs/configuration.md): the checks that make `stemedb` refuse to start
// (exit 1, one line on stderr) instead of running in a dangerous state.
//
//   1  auth enabled and STEMEDB_UNSAFE_SKIP_SIGNATURES=true     CheckConfig
//   2  auth disabled on a non-loopback bind                    CheckConfig
//   3  STEMEDB_ROOT_API_KEY set but malformed                  CheckConfig
//   4  auth on, key store empty, no root key:                  CheckRootKeyBeforeOpen
//      loopback -> generate $DATA_DIR/root.key (0600), seed;    + EnsureRootKey
//      otherwise refuse naming STEMEDB_ROOT_API_KEY
//   8  the store's identity shows lost or mixed-up data:       engine::StoreIdentity
//      (a) DB dir with files but no store, (b) WAL/DB/data       ::Decide, read-only,
//      root of different stores, (c) DB with an id next to an   before any directory
//      empty WAL dir, (d) data root whose WAL and DB dirs are   is created, and again
//      both empty, (e) empty DB dir next to a RocksDB store,    under the lock
//      (f) empty DB dir and a WAL not starting at LSN 1
//      (engine/FORMAT.md §6). a-e name an override
//      (STEMEDB_ACCEPT_NEW_STORE / _STORE_MISMATCH / _WAL_LOSS),
//      whose use is logged and audited (store.override)
//   6  WAL/DB (or data) directory missing and not creatable,
//      or not writable                                         PrepareDirectories
//   5  another process holds $DATA_DIR/LOCK                    LockDataDirectory
//   7  sealed WAL segment corrupt: engine::Database::Open returns Corruption
//
// The App runs them in the order of the table (pure config checks first, so
// a misconfiguration writes nothing at all); when $DATA_DIR/LOCK exists
// already, guard 5 runs before 8 (taking an existing lock writes nothing).
// Guard 4 is checked twice: before the store is opened when the DB directory
// is still empty (a fresh volume: the key store is necessarily empty, so
// refuse before creating any file), and after the key store is loaded.
//
// Every error is a Status whose message is one line, suitable for
// "stemedb: <message>" on stderr. No message ever contains a key.
#pragma once

#include <memory>
#include <string>

#include "api/config.h"
#include "auth/key_store.h"
#include "util/env.h"
#include "util/status.h"

namespace stemedb::api {

// Guards 1, 2, 3. Touches nothing.
Status CheckConfig(const ServerConfig& config);

// Guard 6: creates the data, WAL and DB directories if missing and checks
// each is a writable directory. Names the variable and the path on failure.
Status PrepareDirectories(Env* env, const ServerConfig& config);

// Guard 5: takes the exclusive advisory lock $DATA_DIR/LOCK, held for the
// life of the returned object. Busy -> "data directory ... is in use by
// another process". REQUIRES: PrepareDirectories succeeded.
Result<std::unique_ptr<FileLock>> LockDataDirectory(Env* env, const ServerConfig& config);

// Guard 4, before the store is opened: on a non-loopback bind with auth on
// and no root key, refuses if the DB directory holds no store yet (fresh
// volume: no key can exist). Other cases are decided by EnsureRootKey.
Status CheckRootKeyBeforeOpen(Env* env, const ServerConfig& config);

// What EnsureRootKey did, for the startup log (never the key itself).
struct RootKeyOutcome {
  bool seeded_from_config = false;  // STEMEDB_ROOT_API_KEY was newly inserted
  bool generated = false;           // a key was generated into key_file
  bool reused_key_file = false;     // an existing root.key was seeded
  std::string key_file;             // $DATA_DIR/root.key when used
};

// Guard 4 after KeyStore::Load(), and root key seeding:
//  - STEMEDB_ROOT_API_KEY given: seed it (idempotent).
//  - auth on, store empty, no key given, loopback: seed $DATA_DIR/root.key,
//    generating it first (auth::GenerateKey, written 0600 atomically) if the
//    file does not exist; a malformed existing file is an error.
//  - auth on, store empty, no key given, other bind: refuse.
Result<RootKeyOutcome> EnsureRootKey(Env* env, const ServerConfig& config, auth::KeyStore* keys,
                                     int64_t now_us);

// $DATA_DIR/root.key and $DATA_DIR/LOCK.
std::string RootKeyPath(const ServerConfig& config);
std::string LockPath(const ServerConfig& config);

}  // namespace stemedb::api
