// Data routes of docs/api.md: assertions, retractions, queries, beliefs, agent
// keys, usage. Every route here runs after Router::Handle authenticated the
// key, applied the rate limit and role check and resolved call->project.
#include <algorithm>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <charconv>

#include "api/json_validation.h"
#include "api/router.h"
#include "auth/signature.h"
#include "util/time_format.h"

namespace stemedb::api {
namespace {

void AppendUint(std::string* out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

// ,"lsn":N,"recorded_at":"<RFC 3339>": the commit facts every write reply ends with.
void AppendCommit(std::string* out, Lsn lsn, int64_t recorded_at_us) {
  out->append(R"(,"lsn":)");
  AppendUint(out, lsn.value());
  out->append(R"(,"recorded_at":")");
  AppendRfc3339(out, recorded_at_us);
  out->push_back('"');
}

// {"id","project","lsn","recorded_at","signed"}: the reply of POST /v1/assert.
std::string AssertReply(std::string_view id, std::string_view project, Lsn lsn,
                        int64_t recorded_at_us, bool is_signed) {
  std::string out;
  out.reserve(128 + id.size() + project.size());  // one allocation for the reply
  out += R"({"id":)";
  AppendJsonString(&out, id);
  out += R"(,"project":)";
  AppendJsonString(&out, project);
  AppendCommit(&out, lsn, recorded_at_us);
  out += is_signed ? R"(,"signed":true})" : R"(,"signed":false})";
  return out;
}

// {"assertions":[{"id","lsn"},...],"lsn","recorded_at"}: POST /v1/assert/batch.
std::string BatchReply(const std::vector<std::string>& ids, Lsn lsn, int64_t recorded_at_us) {
  std::string out;
  out.reserve(96 + ids.size() * 64);
  out += R"({"assertions":[)";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += R"({"id":)";
    AppendJsonString(&out, ids[i]);
    out += R"(,"lsn":)";
    AppendUint(&out, lsn.value());
    out.push_back('}');
  }
  out.push_back(']');
  AppendCommit(&out, lsn, recorded_at_us);
  out.push_back('}');
  return out;
}

// {"id","retracts","lsn","recorded_at"}: POST /v1/retract.
std::string RetractReply(std::string_view id, std::string_view target, Lsn lsn,
                         int64_t recorded_at_us) {
  std::string out = R"({"id":)";
  AppendJsonString(&out, id);
  out += R"(,"retracts":)";
  AppendJsonString(&out, target);
  AppendCommit(&out, lsn, recorded_at_us);
  out.push_back('}');
  return out;
}

// Appends the stored object with its retraction state spliced in before the
// closing brace (the stored JSON is immutable; retraction is a later fact).
void AppendStored(std::string* out, const engine::StoredAssertion& a, bool always) {
  std::string_view json = a.json;
  if (json.empty() || json.back() != '}' || (!always && !a.retracted_lsn)) {
    out->append(json);
    return;
  }
  out->append(json.substr(0, json.size() - 1));
  if (a.retracted_lsn) {
    out->append(R"(,"retracted":true,"retracted_lsn":)");
    AppendUint(out, a.retracted_lsn->value());
    out->append(R"(,"retraction_id":)");
    AppendJsonString(out, a.retraction_id);
    out->push_back('}');
  } else {
    out->append(R"(,"retracted":false})");
  }
}

// Reads "signed" back from a stored assertion, to repeat a first reply.
bool StoredSigned(engine::Database& db, std::string_view project, std::string_view id) {
  auto stored = db.GetAssertion(project, id);
  if (!stored) return false;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(stored->json, ec);
  if (ec || !v.is_object()) return false;
  const boost::json::value* s = v.get_object().if_contains("signed");
  return s != nullptr && s->is_bool() && s->get_bool();
}

}  // namespace

std::string EncodeQueryPage(const engine::QueryPage& page) {
  std::string out;
  size_t reserve = 64;
  for (const auto& a : page.assertions) reserve += a.json.size() + 1;
  out.reserve(reserve);
  out += R"({"assertions":[)";
  for (size_t i = 0; i < page.assertions.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendStored(&out, page.assertions[i], false);
  }
  out += R"(],"next_cursor":)";
  if (page.next_cursor.empty()) {
    out += "null";
  } else {
    AppendJsonString(&out, page.next_cursor);
  }
  out += R"(,"as_of_lsn":)";
  AppendUint(&out, page.as_of.value());
  out.push_back('}');
  return out;
}

// Parses as_of: "lsn:N" or an RFC 3339 time (resolved to the last LSN
// recorded at or before it). nullopt when absent = the current state.
ApiResult<std::optional<Lsn>> ParseAsOf(engine::Database& db, const std::string* text) {
  if (text == nullptr) return std::optional<Lsn>();
  if (text->rfind("lsn:", 0) == 0) {
    auto n = ParseUint(std::string_view(*text).substr(4));
    if (!n) return InvalidField("as_of", "lsn:N needs a decimal LSN");
    if (*n > db.applied_lsn().value()) {
      return InvalidField("as_of", "lsn " + std::to_string(*n) + " is beyond the applied LSN " +
                                       std::to_string(db.applied_lsn().value()));
    }
    return std::optional<Lsn>(Lsn(*n));
  }
  auto us = ParseRfc3339(*text);
  if (!us) return InvalidField("as_of", "must be an RFC 3339 date-time or lsn:N");
  auto lsn = db.LsnAtTime(*us);
  if (!lsn) return FromStatus(lsn.error());
  return std::optional<Lsn>(*lsn);
}

ApiResult<void> Router::CheckSignature(const Call& call, engine::NewAssertion* a) const {
  a->is_signed = false;
  if (s_.config->unsafe_skip_signatures) return {};
  auto key = s_.agents->Find(call.project, a->agent_id);
  // An unregistered agent may write unsigned; a signature it sends cannot be
  // checked against anything, so it is stored but `signed` stays false.
  if (!key) return {};
  if (a->signature.empty()) {
    return BadSignature("agent " + a->agent_id +
                        " has a registered public key: the assertion must be signed");
  }
  auth::SignedFields f{call.project, a->subject,    a->predicate,  a->value_json,
                       a->agent_id,  a->confidence, a->observed_at};
  Status st = auth::VerifyAssertionSignature(f, a->signature, key->public_key_b64);
  if (!st.ok()) return BadSignature(st.message());
  a->is_signed = true;
  return {};
}

namespace {

// Idempotency-Key handling shared by the write routes. On return with a
// value, either `replay` holds the first write's record (same body: answer
// it) or `token` is what to submit with the new write.
struct Idempotency {
  std::optional<engine::IdempotencyToken> token;
  std::optional<engine::IdempotencyRecord> replay;
};

// A pipelined write whose successor has arrived leaves its WAL commit to be
// shared with it (api/handler.h RequestMeta::next_request_waiting).
wal::AppendHint CommitHint(const Router::Call& call) {
  return call.meta->next_request_waiting ? wal::AppendHint::kMoreFollows : wal::AppendHint::kNone;
}

ApiResult<Idempotency> CheckIdempotency(engine::Database& db, const Router::Call& call) {
  Idempotency out;
  auto it = call.req.find("Idempotency-Key");
  if (it == call.req.end()) return out;
  std::string_view key = it->value();
  if (key.empty() || key.size() > 255 ||
      !std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
    return InvalidField("Idempotency-Key", "must be 1..255 printable ASCII characters");
  }
  std::string hash =
      RequestHash(http::to_string(call.req.method()), call.route->path, call.req.body());
  auto prior = db.GetIdempotency(call.project, key);
  if (!prior) return FromStatus(prior.error());
  if (*prior) {
    if ((*prior)->request_hash != hash) {
      return ConflictError("Idempotency-Key was already used with a different request");
    }
    out.replay = std::move(**prior);
    return out;
  }
  out.token = engine::IdempotencyToken{std::string(key), std::move(hash)};
  return out;
}

}  // namespace

void Router::Assert(const std::shared_ptr<Call>& call) {
  unsigned char buf[4096];
  boost::json::monotonic_resource mr(buf, sizeof buf);
  auto obj = ParseJsonObject(call->req.body(), &mr);
  if (!obj) return SendError(call, obj.error());
  auto a = ValidateAssertion(*obj, "");
  if (!a) return SendError(call, a.error());
  std::vector<engine::NewAssertion> list;
  list.push_back(std::move(*a));
  SubmitAssertions(call, std::move(list), false);
}

void Router::AssertBatch(const std::shared_ptr<Call>& call) {
  boost::json::monotonic_resource mr;
  auto obj = ParseJsonObject(call->req.body(), {"assertions"}, &mr);
  if (!obj) return SendError(call, obj.error());
  const boost::json::value* arr = obj->if_contains("assertions");
  if (arr == nullptr) return SendError(call, InvalidField("assertions", "is required"));
  if (!arr->is_array()) return SendError(call, InvalidField("assertions", "must be an array"));
  const auto& items = arr->get_array();
  if (items.empty() || items.size() > kMaxBatchAssertions) {
    return SendError(call, InvalidField("assertions", "must hold 1..1000 assertions, got " +
                                                          std::to_string(items.size())));
  }
  std::vector<engine::NewAssertion> list;
  list.reserve(items.size());
  std::string prefix;
  for (size_t i = 0; i < items.size(); ++i) {
    prefix = "assertions[" + std::to_string(i) + "].";
    if (!items[i].is_object()) {
      return SendError(call,
                       InvalidField(prefix.substr(0, prefix.size() - 1), "must be an object"));
    }
    auto a = ValidateAssertion(items[i].get_object(), prefix);
    if (!a) return SendError(call, a.error());
    list.push_back(std::move(*a));
  }
  SubmitAssertions(call, std::move(list), true);
}

void Router::SubmitAssertions(const std::shared_ptr<Call>& call,
                              std::vector<engine::NewAssertion> list, bool batch) {
  auto idem = CheckIdempotency(*s_.db, *call);
  if (!idem) return SendError(call, idem.error());
  if (idem->replay) {
    const engine::IdempotencyRecord& r = *idem->replay;
    if (batch) return SendJson(call, 201, BatchReply(r.ids, r.lsn, r.recorded_at_us));
    std::string id = r.ids.empty() ? std::string() : r.ids.front();
    return SendJson(call, 201,
                    AssertReply(id, call->project, r.lsn, r.recorded_at_us,
                                StoredSigned(*s_.db, call->project, id)));
  }
  for (size_t i = 0; i < list.size(); ++i) {
    auto ok = CheckSignature(*call, &list[i]);
    if (!ok) {
      ApiError e = ok.error();
      if (batch) e.message = "assertions[" + std::to_string(i) + "]: " + e.message;
      return SendError(call, e);
    }
    list[i].id = NewId();
  }
  if (auto known = CheckProjectRegistered(*call); !known) return SendError(call, known.error());
  if (auto admitted = AdmitWrite(); !admitted) return SendError(call, admitted.error());

  const size_t n = list.size();
  const bool first_signed = list.front().is_signed;
  std::vector<std::string> ids;
  ids.reserve(n);
  for (const auto& a : list) ids.push_back(a.id);

  engine::AssertBatchEntry entry{call->project, std::move(list), std::move(idem->token)};
  s_.db->SubmitAsync(
      std::move(entry),
      [this, call, batch, n, first_signed,
       ids = std::move(ids)](Result<engine::CommitInfo> r) mutable {
        WriteDone();
        if (!r) return SendError(call, FromStatus(r.error()));
        const engine::CommitInfo& ci = *r;
        // A concurrent retry that lost the race to the first write: the
        // engine hands back the first write's ids; repeat its reply.
        const std::vector<std::string>& out_ids = ci.ids.empty() ? ids : ci.ids;
        bool is_signed = first_signed;
        if (ci.deduplicated) {
          if (!batch && !out_ids.empty()) {
            is_signed = StoredSigned(*s_.db, call->project, out_ids.front());
          }
        } else {
          // The transport's request observer adds meta->assertions_written
          // to stemedb_assertions_written_total{project}.
          call->meta->assertions_written = n;
          if (s_.meter != nullptr && call->principal) {
            s_.meter->RecordAssertions(call->principal->key_id, call->principal->project, n);
          }
        }
        if (batch) return SendJson(call, 201, BatchReply(out_ids, ci.lsn, ci.recorded_at_us));
        SendJson(call, 201,
                 AssertReply(out_ids.empty() ? std::string() : out_ids.front(), call->project,
                             ci.lsn, ci.recorded_at_us, is_signed));
      },
      CommitHint(*call));
}

void Router::Retract(const std::shared_ptr<Call>& call) {
  unsigned char buf[1024];
  boost::json::monotonic_resource mr(buf, sizeof buf);
  auto obj = ParseJsonObject(call->req.body(), {"id"}, &mr);
  if (!obj) return SendError(call, obj.error());
  auto id = RequiredString(*obj, "id", 1, 64, "");
  if (!id) return SendError(call, id.error());
  if (!IsWellFormedId(*id)) {
    return SendError(call, InvalidField("id", "must be an assertion id (32 lowercase hex)"));
  }
  std::string target(*id);

  auto idem = CheckIdempotency(*s_.db, *call);
  if (!idem) return SendError(call, idem.error());
  if (idem->replay) {
    const engine::IdempotencyRecord& r = *idem->replay;
    return SendJson(call, 201,
                    RetractReply(r.ids.empty() ? std::string() : r.ids.front(), target, r.lsn,
                                 r.recorded_at_us));
  }
  if (auto admitted = AdmitWrite(); !admitted) return SendError(call, admitted.error());
  engine::RetractEntry entry{call->project, NewId(), target, std::move(idem->token)};
  std::string rid = entry.retraction_id;
  s_.db->SubmitAsync(
      std::move(entry),
      [this, call, rid = std::move(rid), target = std::move(target)](Result<engine::CommitInfo> r) {
        WriteDone();
        if (!r) {
          // Same reply for "no such id" and "another project's id" (isolation).
          if (r.error().IsNotFound()) return SendError(call, NotFoundError("no such assertion"));
          return SendError(call, FromStatus(r.error()));
        }
        const std::string& id = r->ids.empty() ? rid : r->ids.front();
        SendJson(call, 201, RetractReply(id, target, r->lsn, r->recorded_at_us));
      },
      CommitHint(*call));
}

void Router::GetAssertion(const std::shared_ptr<Call>& call) {
  const std::string& id = call->path_param;
  if (!IsWellFormedId(id)) return SendError(call, NotFoundError("no such assertion"));
  auto a = s_.db->GetAssertion(call->project, id);
  if (a) {
    std::string out;
    out.reserve(a->json.size() + 96);
    AppendStored(&out, *a, true);
    return SendJson(call, 200, std::move(out));
  }
  if (!a.error().IsNotFound()) return SendError(call, FromStatus(a.error()));
  auto rt = s_.db->GetRetraction(call->project, id);
  if (rt) return SendJson(call, 200, std::move(rt->json));
  if (!rt.error().IsNotFound()) return SendError(call, FromStatus(rt.error()));
  SendError(call, NotFoundError("no such assertion"));
}

void Router::Query(const std::shared_ptr<Call>& call) {
  engine::QuerySpec spec;
  spec.project = call->project;
  struct Filter {
    const char* name;
    size_t max;
    std::optional<std::string>* dst;
  };
  for (const Filter& f : {Filter{"subject", kMaxSubjectBytes, &spec.subject},
                          Filter{"predicate", kMaxPredicateBytes, &spec.predicate},
                          Filter{"agent_id", kMaxAgentIdBytes, &spec.agent_id}}) {
    const std::string* v = call->Param(f.name);
    if (v == nullptr) continue;
    if (v->empty() || v->size() > f.max || v->find('\0') != std::string::npos) {
      return SendError(
          call, InvalidField(f.name, "must be 1.." + std::to_string(f.max) + " bytes without NUL"));
    }
    *f.dst = *v;
  }
  if (!spec.subject && !spec.predicate && !spec.agent_id) {
    return SendError(call, InvalidField("subject",
                                        "at least one of subject, predicate, agent_id "
                                        "is required"));
  }
  if (const std::string* h = call->Param("history")) {
    if (*h != "true" && *h != "false") {
      return SendError(call, InvalidField("history", "must be true or false"));
    }
    spec.history = *h == "true";
  }
  spec.limit = kDefaultQueryLimit;
  if (const std::string* l = call->Param("limit")) {
    auto n = ParseUint(*l);
    if (!n || *n < 1 || *n > kMaxQueryLimit) {
      return SendError(call, InvalidField("limit", "must be an integer 1..1000"));
    }
    spec.limit = *n;
  }
  if (const std::string* c = call->Param("cursor")) {
    if (c->size() > 1024) return SendError(call, InvalidField("cursor", "is not a valid cursor"));
    spec.cursor = *c;
  }
  auto as_of = ParseAsOf(*s_.db, call->Param("as_of"));
  if (!as_of) return SendError(call, as_of.error());
  spec.as_of = *as_of;

  auto page = s_.db->Query(spec);
  if (!page) {
    if (page.error().code() == Status::Code::kInvalidArgument && !spec.cursor.empty()) {
      return SendError(call, InvalidField("cursor", page.error().message()));
    }
    return SendError(call, FromStatus(page.error()));
  }
  std::string out = EncodeQueryPage(*page);
  SendJson(call, 200, std::move(out));
}

void Router::Beliefs(const std::shared_ptr<Call>& call) {
  const std::string* subject = call->Param("subject");
  if (subject == nullptr) return SendError(call, InvalidField("subject", "is required"));
  if (subject->empty() || subject->size() > kMaxSubjectBytes) {
    return SendError(call, InvalidField("subject", "must be 1..512 bytes"));
  }
  std::optional<std::string_view> predicate;
  if (const std::string* p = call->Param("predicate")) {
    if (p->empty() || p->size() > kMaxPredicateBytes) {
      return SendError(call, InvalidField("predicate", "must be 1..256 bytes"));
    }
    predicate = *p;
  }
  auto as_of = ParseAsOf(*s_.db, call->Param("as_of"));
  if (!as_of) return SendError(call, as_of.error());
  auto beliefs = s_.db->Beliefs(call->project, *subject, predicate, *as_of);
  if (!beliefs) return SendError(call, FromStatus(beliefs.error()));
  std::string out = R"({"subject":)";
  AppendJsonString(&out, *subject);
  out += R"(,"beliefs":[)";
  for (size_t i = 0; i < beliefs->size(); ++i) {
    const engine::PredicateBeliefs& pb = (*beliefs)[i];
    if (i > 0) out.push_back(',');
    out += R"({"predicate":)";
    AppendJsonString(&out, pb.predicate);
    out += pb.conflict ? R"(,"conflict":true,"values":[)" : R"(,"conflict":false,"values":[)";
    for (size_t j = 0; j < pb.values.size(); ++j) {
      if (j > 0) out.push_back(',');
      out += R"({"value":)";
      out += pb.values[j].value_json;  // stored canonical JSON
      out += R"(,"agents":[)";
      for (size_t k = 0; k < pb.values[j].agents.size(); ++k) {
        if (k > 0) out.push_back(',');
        AppendJsonString(&out, pb.values[j].agents[k]);
      }
      out += "]}";
    }
    out += "]}";
  }
  out += "]}";
  SendJson(call, 200, std::move(out));
}

void Router::RegisterAgent(const std::shared_ptr<Call>& call) {
  unsigned char buf[1024];
  boost::json::monotonic_resource mr(buf, sizeof buf);
  auto obj = ParseJsonObject(call->req.body(), {"agent_id", "public_key"}, &mr);
  if (!obj) return SendError(call, obj.error());
  auto agent = RequiredString(*obj, "agent_id", 1, kMaxAgentIdBytes, "");
  if (!agent) return SendError(call, agent.error());
  auto key = RequiredString(*obj, "public_key", 1, 128, "");
  if (!key) return SendError(call, key.error());
  if (!IsBase64OfSize(*key, 32)) {
    return SendError(
        call, InvalidField("public_key", "must be standard base64 of a 32-byte Ed25519 key"));
  }
  if (auto known = CheckProjectRegistered(*call); !known) return SendError(call, known.error());
  // Register commits through the engine (durable before it returns).
  auto changed = s_.agents->Register(call->project, *agent, *key, IsAdmin(*call),
                                     call->principal->key_id, call->now_us);
  if (!changed) {
    if (changed.error().code() == Status::Code::kPermissionDenied) {
      return SendError(call, Forbidden("agent " + std::string(*agent) +
                                       " already has another key; changing it needs an admin key"));
    }
    if (changed.error().code() == Status::Code::kInvalidArgument) {
      return SendError(call, InvalidField("public_key", changed.error().message()));
    }
    return SendError(call, FromStatus(changed.error()));
  }
  auto stored = s_.agents->Find(call->project, *agent);
  if (!stored) return SendError(call, Internal("agent key not found after registering"));
  SendJson(call, *changed ? 201 : 200, auth::AgentKeyJson(*stored));
}

void Router::Usage(const std::shared_ptr<Call>& call) {
  const auth::Principal& p = *call->principal;
  std::optional<auth::UsageCounters> usage;
  if (s_.meter != nullptr) usage = s_.meter->ForKey(p.key_id);
  if (!usage) {
    usage.emplace();
    usage->key_id = p.key_id;
    usage->project = p.project;
  }
  SendJson(call, 200, auth::UsageJson(*usage));
}

}  // namespace stemedb::api
