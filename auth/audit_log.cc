#include "auth/audit_log.h"

#include <atomic>
#include <boost/json.hpp>
#include <cstdio>
#include <deque>
#include <utility>

#include "auth/stored_record.h"
#include "util/hex.h"
#include "util/time_format.h"

namespace stemedb::auth {
namespace {

// See audit_log.h: shared by every AuditLog of the process.
std::atomic<uint64_t> g_next_seq{1};

std::string SeqKey(uint64_t seq) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(seq));
  return std::string(buf, 16);
}

bool ParseSeqKey(std::string_view key, uint64_t* seq) { return ParseHex64(key, seq); }

Result<AuditRecord> DecodeRecord(std::string_view key, std::string_view value) {
  AuditRecord record;
  if (!ParseSeqKey(key, &record.seq)) return Status::Corruption("audit record: bad key");
  Result<boost::json::object> parsed = ParseStoredObject(value, "audit record");
  if (!parsed) return parsed.error();
  const boost::json::object& o = *parsed;
  record.time_us = GetInt(o, "time_us");
  record.actor_key_id = GetString(o, "actor");
  record.action = GetString(o, "action");
  record.target = GetString(o, "target");
  record.detail = GetString(o, "detail");
  return record;
}

}  // namespace

std::string AuditRecordJson(const AuditRecord& record) {
  boost::json::object o;
  o["seq"] = record.seq;
  o["time"] = FormatRfc3339(record.time_us);
  o["actor_key_id"] = record.actor_key_id;
  o["action"] = record.action;
  o["target"] = record.target;
  o["detail"] = record.detail;
  return boost::json::serialize(o);
}

AuditLog::AuditLog(engine::Database* db) : db_(db) {}

Status AuditLog::Load() {
  uint64_t last = 0;
  Status scan =
      db_->ScanSystem(engine::SystemTable::kAudit, "", [&](std::string_view key, std::string_view) {
        uint64_t seq;
        if (ParseSeqKey(key, &seq) && seq > last) last = seq;
        return true;
      });
  if (!scan.ok()) return scan.WithContext("audit log load");
  uint64_t want = last + 1;
  uint64_t current = g_next_seq.load();
  while (current < want && !g_next_seq.compare_exchange_weak(current, want)) {
  }
  return Status::OK();
}

engine::SystemWrite AuditLog::MakeAuditWrite(AuditRecord record) {
  record.seq = g_next_seq.fetch_add(1);
  boost::json::object o;
  o["seq"] = record.seq;
  o["time_us"] = record.time_us;
  o["actor"] = record.actor_key_id;
  o["action"] = record.action;
  o["target"] = record.target;
  o["detail"] = record.detail;
  return engine::SystemWrite{engine::SystemTable::kAudit, SeqKey(record.seq),
                             boost::json::serialize(o)};
}

Result<std::vector<AuditRecord>> AuditLog::List(size_t limit, uint64_t before_seq) const {
  if (limit == 0) return std::vector<AuditRecord>{};
  std::deque<AuditRecord> newest;
  Status failure;
  const std::string stop_key = before_seq == 0 ? std::string() : SeqKey(before_seq);
  Status scan = db_->ScanSystem(engine::SystemTable::kAudit, "",
                                [&](std::string_view key, std::string_view value) {
                                  if (!stop_key.empty() && key >= stop_key) return false;
                                  Result<AuditRecord> record = DecodeRecord(key, value);
                                  if (!record) {
                                    failure = record.error();
                                    return false;
                                  }
                                  newest.push_back(std::move(*record));
                                  if (newest.size() > limit) newest.pop_front();
                                  return true;
                                });
  if (!scan.ok()) return scan.WithContext("audit log list");
  if (!failure.ok()) return failure;
  return std::vector<AuditRecord>(newest.rbegin(), newest.rend());
}

}  // namespace stemedb::auth
