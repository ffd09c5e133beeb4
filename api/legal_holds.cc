#include "api/legal_holds.h"

#include <boost/json.hpp>

#include "util/time_format.h"

namespace stemedb::api {
namespace {

std::string HoldKey(std::string_view project, std::string_view subject) {
  std::string k(project);
  k.push_back('\0');
  k.append(subject);
  return k;
}

std::string EncodeHold(const LegalHold& h) {
  boost::json::object o;
  o["placed_at_us"] = h.placed_at_us;
  o["actor"] = h.actor_key_id;
  o["reason"] = h.reason;
  return boost::json::serialize(o);
}

Result<LegalHold> DecodeHold(std::string_view key, std::string_view value) {
  const size_t nul = key.find('\0');
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(value, ec);
  const boost::json::object* o = ec ? nullptr : v.if_object();
  const boost::json::value* at = o ? o->if_contains("placed_at_us") : nullptr;
  const boost::json::value* actor = o ? o->if_contains("actor") : nullptr;
  const boost::json::value* reason = o ? o->if_contains("reason") : nullptr;
  if (nul == std::string_view::npos || at == nullptr || !at->is_int64() || actor == nullptr ||
      !actor->is_string() || reason == nullptr || !reason->is_string()) {
    return Status::Corruption("legal hold record: malformed");
  }
  LegalHold h;
  h.project = std::string(key.substr(0, nul));
  h.subject = std::string(key.substr(nul + 1));
  h.placed_at_us = at->as_int64();
  h.actor_key_id = std::string(actor->as_string());
  h.reason = std::string(reason->as_string());
  return h;
}

}  // namespace

std::string LegalHoldJson(const LegalHold& h) {
  boost::json::object o;
  o["project"] = h.project;
  if (h.subject.empty()) {
    o["subject"] = nullptr;
  } else {
    o["subject"] = h.subject;
  }
  o["placed_at"] = FormatRfc3339(h.placed_at_us);
  o["placed_by"] = h.actor_key_id;
  o["reason"] = h.reason;
  return boost::json::serialize(o);
}

LegalHolds::LegalHolds(engine::Database* db, auth::AuditLog* audit) : db_(db), audit_(audit) {}

Result<std::vector<LegalHold>> LegalHolds::List(std::string_view project) const {
  std::vector<LegalHold> out;
  Status bad = Status::OK();
  STEMEDB_RETURN_IF_ERROR(db_->ScanSystem(engine::SystemTable::kHolds, HoldKey(project, ""),
                                          [&](std::string_view key, std::string_view value) {
                                            Result<LegalHold> h = DecodeHold(key, value);
                                            if (!h) {
                                              bad = h.error();
                                              return false;
                                            }
                                            out.push_back(std::move(*h));
                                            return true;
                                          }));
  if (!bad.ok()) return bad;
  return out;
}

Result<bool> LegalHolds::ProjectHeld(std::string_view project) const {
  Result<std::optional<std::string>> v =
      db_->GetSystem(engine::SystemTable::kHolds, HoldKey(project, ""));
  if (!v) return v.error();
  return v->has_value();
}

Result<bool> LegalHolds::SubjectHeld(std::string_view project, std::string_view subject) const {
  Result<bool> whole = ProjectHeld(project);
  if (!whole || *whole) return whole;
  Result<std::optional<std::string>> v =
      db_->GetSystem(engine::SystemTable::kHolds, HoldKey(project, subject));
  if (!v) return v.error();
  return v->has_value();
}

Result<bool> LegalHolds::Place(const LegalHold& hold) {
  const std::string key = HoldKey(hold.project, hold.subject);
  Result<std::optional<std::string>> existing = db_->GetSystem(engine::SystemTable::kHolds, key);
  if (!existing) return existing.error();
  if (existing->has_value()) return false;
  auth::AuditRecord audit;
  audit.time_us = hold.placed_at_us;
  audit.actor_key_id = hold.actor_key_id;
  audit.action = "hold.place";
  audit.target = hold.project;
  audit.detail = hold.subject.empty() ? "project" : "subject=" + hold.subject;
  if (!hold.reason.empty()) audit.detail += " reason=" + hold.reason;
  engine::SystemEntry entry;
  entry.writes.push_back({engine::SystemTable::kHolds, key, EncodeHold(hold)});
  entry.writes.push_back(audit_->MakeAuditWrite(std::move(audit)));
  Result<engine::CommitInfo> done = db_->Submit(std::move(entry));
  if (!done) return done.error().WithContext("legal hold commit");
  return true;
}

Status LegalHolds::Release(std::string_view project, std::string_view subject,
                           std::string_view actor_key_id, int64_t now_us) {
  const std::string key = HoldKey(project, subject);
  Result<std::optional<std::string>> existing = db_->GetSystem(engine::SystemTable::kHolds, key);
  if (!existing) return existing.error();
  if (!existing->has_value()) return Status::NotFound("no such legal hold");
  auth::AuditRecord audit;
  audit.time_us = now_us;
  audit.actor_key_id = std::string(actor_key_id);
  audit.action = "hold.release";
  audit.target = std::string(project);
  audit.detail = subject.empty() ? "project" : "subject=" + std::string(subject);
  engine::SystemEntry entry;
  entry.writes.push_back({engine::SystemTable::kHolds, key, std::nullopt});
  entry.writes.push_back(audit_->MakeAuditWrite(std::move(audit)));
  Result<engine::CommitInfo> done = db_->Submit(std::move(entry));
  if (!done) return done.error().WithContext("legal hold commit");
  return Status::OK();
}

}  // namespace stemedb::api
