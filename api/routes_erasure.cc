// Admin routes that remove data (docs/api.md, docs/projects.md): project
// deletion, erasure of a subject's or an agent's assertions, and the legal
// holds that suspend both. The engine does the removal through the WAL
// (engine/project_erasure.cc); these routes decide what may be removed,
// revoke the project's API keys, and write the audit records.
#include <sodium.h>

#include <boost/json.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <unordered_set>

#include "api/json_validation.h"
#include "api/legal_holds.h"
#include "api/router.h"
#include "auth/audit_log.h"
#include "util/json_string.h"

namespace stemedb::api {
namespace {

// Ids per EraseEntry: one WAL record and one apply step of bounded size.
constexpr size_t kEraseChunk = 500;
// Full passes over the selector: writes that land while an erasure runs are
// caught by the next pass; a selector still growing after this many passes
// is being written faster than it is erased (the reply says how many).
constexpr int kErasePasses = 3;

// BLAKE2b-256 of the selector, so the audit trail can show that a given
// request was carried out without holding the erased value. It is not
// anonymisation: anyone who guesses the value can confirm the guess.
std::string SelectorHash(std::string_view project, std::string_view kind, std::string_view value) {
  crypto_generichash_state st;
  unsigned char out[32];
  crypto_generichash_init(&st, nullptr, 0, sizeof out);
  const unsigned char zero = 0;
  for (std::string_view part : {project, kind, value}) {
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(part.data()),
                              part.size());
    crypto_generichash_update(&st, &zero, 1);
  }
  crypto_generichash_final(&st, out, sizeof out);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, out, sizeof out);
  return std::string(hex, 64);
}

std::string SubjectOf(const engine::StoredAssertion& a) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(a.json, ec);
  if (ec || !v.is_object()) return {};
  const boost::json::value* s = v.as_object().if_contains("subject");
  return s != nullptr && s->is_string() ? std::string(s->as_string()) : std::string();
}

struct EraseOutcome {
  uint64_t removed = 0;        // records: assertions and their retractions
  uint64_t held = 0;           // assertions kept because their subject is held
  bool still_growing = false;  // the last pass still found new assertions
};

}  // namespace

void Router::DeleteProject(const std::shared_ptr<Call>& call) {
  const std::string& project = call->path_param;
  if (auto valid = CheckProjectName(project); !valid) return SendError(call, valid.error());
  LegalHolds holds(s_.db, s_.audit);
  Result<bool> held = holds.ProjectHeld(project);
  if (!held) return SendError(call, FromStatus(held.error()));
  if (*held) {
    return SendError(
        call, ConflictError("project " + project + " is under a legal hold; release it first"));
  }
  Result<engine::Database::ProjectState> state = s_.db->GetProjectState(project);
  if (!state) return SendError(call, FromStatus(state.error()));
  std::vector<std::string> live_keys;
  for (const auth::KeyRecord& k : s_.keys->List()) {
    if (k.project == project && (k.revoked_at_us == 0 || k.revoked_at_us > call->now_us)) {
      live_keys.push_back(k.key_id);
    }
  }
  if (*state == engine::Database::ProjectState::kAbsent && live_keys.empty()) {
    return SendError(call, NotFoundError("no such project (or already deleted)"));
  }
  // Absent but with keys left: marked all the same, so every DELETE that
  // finds something answers alike (the first purge step finds nothing else).
  if (*state != engine::Database::ProjectState::kDeleting) {
    auth::AuditRecord audit;
    audit.time_us = call->now_us;
    audit.actor_key_id = call->principal->key_id;
    audit.action = "project.delete";
    audit.target = project;
    audit.detail = "keys=" + std::to_string(live_keys.size());
    Result<engine::CommitInfo> a =
        s_.db->Submit(engine::SystemEntry{{s_.audit->MakeAuditWrite(std::move(audit))}});
    if (!a) return SendError(call, FromStatus(a.error()));
    Result<engine::CommitInfo> mark = s_.db->Submit(engine::DeleteProjectEntry{project});
    if (!mark) return SendError(call, FromStatus(mark.error()));
  }
  // After the mark: a crash in between leaves keys of a hidden project,
  // which a repeated DELETE revokes.
  for (const std::string& key_id : live_keys) {
    Status st = s_.keys->Revoke(key_id, call->principal->key_id, call->now_us);
    if (!st.ok()) return SendError(call, FromStatus(st));
  }
  s_.agents->ForgetProject(project);
  std::string out = R"({"project":)";
  AppendJsonString(&out, project);
  out += R"(,"status":"deleting","keys_revoked":)" + std::to_string(live_keys.size()) + "}";
  SendJson(call, 202, std::move(out));
}

void Router::EraseProjectData(const std::shared_ptr<Call>& call) {
  const std::string& project = call->path_param;
  if (auto valid = CheckProjectName(project); !valid) return SendError(call, valid.error());
  unsigned char buf[2048];
  boost::json::monotonic_resource mr(buf, sizeof buf);
  auto obj = ParseJsonObject(call->req.body(), {"subject", "agent_id"}, &mr);
  if (!obj) return SendError(call, obj.error());
  auto subject = OptionalString(*obj, "subject", 1, 512, "");
  if (!subject) return SendError(call, subject.error());
  auto agent = OptionalString(*obj, "agent_id", 1, 128, "");
  if (!agent) return SendError(call, agent.error());
  if (subject->has_value() == agent->has_value()) {
    return SendError(call, InvalidField("subject", "give exactly one of subject and agent_id"));
  }
  const std::string_view kind = subject->has_value() ? "subject" : "agent_id";
  const std::string value(subject->has_value() ? **subject : **agent);

  LegalHolds holds(s_.db, s_.audit);
  Result<bool> held =
      subject->has_value() ? holds.SubjectHeld(project, value) : holds.ProjectHeld(project);
  if (!held) return SendError(call, FromStatus(held.error()));
  if (*held) {
    return SendError(call, ConflictError("project " + project +
                                         (subject->has_value() ? " or this subject" : "") +
                                         " is under a legal hold; erasure is suspended"));
  }
  Result<std::vector<LegalHold>> subject_holds = holds.List(project);
  if (!subject_holds) return SendError(call, FromStatus(subject_holds.error()));
  std::unordered_set<std::string> held_subjects;
  for (const LegalHold& h : *subject_holds) held_subjects.insert(h.subject);

  EraseOutcome outcome;
  std::unordered_set<std::string> kept;  // held ids, counted once
  for (int pass = 0; pass < kErasePasses; ++pass) {
    engine::QuerySpec q;
    q.project = project;
    if (subject->has_value()) {
      q.subject = value;
    } else {
      q.agent_id = value;
    }
    q.history = true;
    q.limit = 1000;
    bool found = false;
    for (;;) {
      Result<engine::QueryPage> page = s_.db->Query(q);
      if (!page) return SendError(call, FromStatus(page.error()));
      std::vector<std::string> ids;
      for (const engine::StoredAssertion& a : page->assertions) {
        if (!held_subjects.empty() && held_subjects.count(SubjectOf(a)) != 0) {
          if (kept.insert(a.id).second) ++outcome.held;
          continue;
        }
        ids.push_back(a.id);
      }
      for (size_t i = 0; i < ids.size(); i += kEraseChunk) {
        engine::EraseEntry e{project, engine::EraseEntry::Reason::kErasure, {}};
        e.ids.assign(ids.begin() + i, ids.begin() + std::min(ids.size(), i + kEraseChunk));
        Result<engine::CommitInfo> r = s_.db->Submit(std::move(e));
        if (!r) return SendError(call, FromStatus(r.error()));
        outcome.removed += r->removed;
        found = found || r->removed > 0;
      }
      if (page->next_cursor.empty()) break;
      q.cursor = page->next_cursor;
    }
    outcome.still_growing = found && pass + 1 == kErasePasses;
    if (!found) break;
  }

  // So the WAL segments holding the erased writes can go now rather than
  // after the next 256 MiB of writes (docs/projects.md "Other copies").
  if (outcome.removed > 0) {
    Result<Lsn> flushed = s_.db->FlushAndPurge();
    if (!flushed) return SendError(call, FromStatus(flushed.error()));
  }
  const std::string hash = SelectorHash(project, kind, value);
  auth::AuditRecord audit;
  audit.time_us = call->now_us;
  audit.actor_key_id = call->principal->key_id;
  audit.action = "project.erase";
  audit.target = project;
  audit.detail = "selector=" + std::string(kind) + " blake2b=" + hash +
                 " removed=" + std::to_string(outcome.removed) +
                 " held=" + std::to_string(outcome.held);
  Result<engine::CommitInfo> a =
      s_.db->Submit(engine::SystemEntry{{s_.audit->MakeAuditWrite(std::move(audit))}});
  if (!a) return SendError(call, FromStatus(a.error()));
  std::string out = R"({"project":)";
  AppendJsonString(&out, project);
  out += R"(,"selector":")" + std::string(kind) + R"(","selector_hash":")" + hash +
         R"(","removed":)" + std::to_string(outcome.removed) + R"(,"kept_under_hold":)" +
         std::to_string(outcome.held) + R"(,"complete":)" +
         (outcome.still_growing ? "false" : "true") + "}";
  SendJson(call, 200, std::move(out));
}

void Router::PlaceHold(const std::shared_ptr<Call>& call) {
  const std::string& project = call->path_param;
  if (auto valid = CheckProjectName(project); !valid) return SendError(call, valid.error());
  unsigned char buf[2048];
  boost::json::monotonic_resource mr(buf, sizeof buf);
  auto obj = call->req.body().empty()
                 ? ApiResult<boost::json::object>(boost::json::object(&mr))
                 : ParseJsonObject(call->req.body(), {"subject", "reason"}, &mr);
  if (!obj) return SendError(call, obj.error());
  auto subject = OptionalString(*obj, "subject", 1, 512, "");
  if (!subject) return SendError(call, subject.error());
  auto reason = OptionalString(*obj, "reason", 1, 256, "");
  if (!reason) return SendError(call, reason.error());
  LegalHold hold;
  hold.project = project;
  hold.subject = subject->value_or("");
  hold.placed_at_us = call->now_us;
  hold.actor_key_id = call->principal->key_id;
  hold.reason = reason->value_or("");
  LegalHolds holds(s_.db, s_.audit);
  Result<bool> placed = holds.Place(hold);
  if (!placed) return SendError(call, FromStatus(placed.error()));
  Result<std::vector<LegalHold>> all = holds.List(project);
  if (!all) return SendError(call, FromStatus(all.error()));
  for (const LegalHold& h : *all) {
    if (h.subject == hold.subject) return SendJson(call, *placed ? 201 : 200, LegalHoldJson(h));
  }
  SendError(call, Internal("legal hold not found after commit"));
}

void Router::ReleaseHold(const std::shared_ptr<Call>& call) {
  const std::string& project = call->path_param;
  if (auto valid = CheckProjectName(project); !valid) return SendError(call, valid.error());
  const std::string* subject = call->Param("subject");
  if (subject != nullptr && subject->empty()) {
    return SendError(call, InvalidField("subject", "must not be empty"));
  }
  LegalHolds holds(s_.db, s_.audit);
  Status st =
      holds.Release(project, subject ? *subject : "", call->principal->key_id, call->now_us);
  if (!st.ok()) return SendError(call, FromStatus(st));
  std::string out = R"({"project":)";
  AppendJsonString(&out, project);
  out += R"(,"subject":)";
  if (subject != nullptr) {
    AppendJsonString(&out, *subject);
  } else {
    out += "null";
  }
  out += R"(,"released":true})";
  SendJson(call, 200, std::move(out));
}

void Router::ListHolds(const std::shared_ptr<Call>& call) {
  const std::string& project = call->path_param;
  if (auto valid = CheckProjectName(project); !valid) return SendError(call, valid.error());
  LegalHolds holds(s_.db, s_.audit);
  Result<std::vector<LegalHold>> all = holds.List(project);
  if (!all) return SendError(call, FromStatus(all.error()));
  std::string out = R"({"holds":[)";
  for (size_t i = 0; i < all->size(); ++i) {
    if (i > 0) out.push_back(',');
    out += LegalHoldJson((*all)[i]);
  }
  out += "]}";
  SendJson(call, 200, std::move(out));
}

}  // namespace stemedb::api
