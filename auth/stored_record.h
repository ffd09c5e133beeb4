// Reading auth/'s stored records: each one compact JSON object in one of the
// engine's system tables (API keys, agent keys, audit records, usage
// counters). Internal to auth/; each record's own codec is next to its owner
// (key_format.h, agent_registry.cc, audit_log.cc, usage_meter.cc).
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "engine/database.h"
#include "util/status.h"

namespace stemedb::auth {

// The stored bytes as a JSON object; Corruption("<what>: not a JSON object")
// otherwise.
Result<boost::json::object> ParseStoredObject(std::string_view bytes, std::string_view what);

// A field's value, or the empty/zero value if it is missing or of another
// type: a field a later version adds reads as its default in older records.
std::string GetString(const boost::json::object& o, std::string_view name);
int64_t GetInt(const boost::json::object& o, std::string_view name);
uint64_t GetU64(const boost::json::object& o, std::string_view name);

// Decodes every record of `table` in key order: `decode(key, value)` returns
// Result<T>, `add(key, T&&)` takes each one. Stops at the first record that
// does not decode and returns its Status; a failed scan carries `what` as
// context. Nothing is added after a failure, so callers fill a local map and
// publish it only on success.
template <typename Decode, typename Add>
Status ScanStoredRecords(engine::Database* db, engine::SystemTable table, std::string_view what,
                         Decode decode, Add add) {
  Status failure;
  Status scan = db->ScanSystem(table, "", [&](std::string_view key, std::string_view value) {
    auto record = decode(key, value);
    if (!record) {
      failure = record.error();
      return false;
    }
    add(key, std::move(*record));
    return true;
  });
  if (!scan.ok()) return scan.WithContext(what);
  return failure;
}

}  // namespace stemedb::auth
