// Project export and import (docs/projects.md "Export and import"):
//   GET  /v1/admin/projects/{project}/export[?as_of=…][&after=ID]  NDJSON stream
//   POST /v1/admin/projects/{project}/import[?line_offset=N][&ids=derive]  NDJSON body
// The export streams through the transport's producer threads like the backup
// (api/handler.h StreamingReply); the engine reads it in bounded chunks at one
// pinned LSN (Database::ExportScan). An import request is one WAL entry
// (engine::ImportEntry, kind 6): all of its lines or none. With ids=derive
// the records get DerivedId ids here, before the entry is built, so the WAL
// holds the ids that are stored and replay derives nothing.
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <charconv>

#include "api/json_validation.h"
#include "api/router.h"
#include "auth/audit_log.h"
#include "auth/signature.h"
#include "util/logging.h"
#include "util/time_format.h"

namespace stemedb::api {
namespace {

// The format version in every export header; an import refuses others.
constexpr int64_t kExportFormat = 1;
// Lines read per ExportScan: bounds the producer's memory and each snapshot's life.
constexpr size_t kExportChunkLines = 1000;
// Record lines per import request (the body limit bounds it too).
constexpr size_t kMaxImportLines = 10000;

// {"stemedb_export":1,"project":"p","as_of_lsn":N}
std::string HeaderLine(std::string_view project, Lsn as_of) {
  std::string out = R"({"stemedb_export":)" + std::to_string(kExportFormat) + R"(,"project":)";
  AppendJsonString(&out, project);
  out += R"(,"as_of_lsn":)" + std::to_string(as_of.value()) + "}\n";
  return out;
}

// {"end":true,"assertions":A,"retractions":R}: the counts of the whole export,
// also when this response resumed it.
std::string TrailerLine(uint64_t assertions, uint64_t retractions) {
  return R"({"end":true,"assertions":)" + std::to_string(assertions) + R"(,"retractions":)" +
         std::to_string(retractions) + "}\n";
}

Response ExportHead(unsigned version, std::string_view project, Lsn as_of) {
  Response head{http::status::ok, version};
  head.keep_alive(false);
  head.set(http::field::content_type, "application/x-ndjson");
  head.set(http::field::cache_control, "no-store");
  head.set(http::field::content_disposition, "attachment; filename=\"" + std::string(project) +
                                                 "-" + std::to_string(as_of.value()) + ".ndjson\"");
  return head;
}

// Streams the export. A raw Database pointer is enough: the transport joins
// the producer before the App closes the database (api/stream_jobs.h).
decltype(StreamingReply::produce) ExportProducer(engine::Database* db, std::string project,
                                                 Lsn as_of, std::string after) {
  return [db, project = std::move(project), as_of,
          after = std::move(after)](const std::function<bool(std::string_view)>& write) {
    auto fail = [&](const Status& s) {
      // The body ends without its trailer: the client knows it is incomplete.
      log::Warn("export stream failed", {{"project", project}, {"error", s.ToString()}});
      return false;
    };
    if (!write(HeaderLine(project, as_of))) return false;
    uint64_t assertions = 0, retractions = 0;
    std::string cursor = after;
    std::string buf;
    for (;;) {
      Result<engine::ExportChunk> chunk = db->ExportScan(project, as_of, cursor, kExportChunkLines);
      if (!chunk) return fail(chunk.error());
      buf.clear();
      for (const std::string& line : chunk->lines) {
        buf.append(line);
        buf.push_back('\n');
      }
      if (!buf.empty() && !write(buf)) return false;
      assertions += chunk->assertions;
      retractions += chunk->retractions;
      if (chunk->done) break;
      cursor = chunk->last_id;
    }
    if (!after.empty()) {
      // The trailer counts the whole export: add what came before `after`.
      assertions = retractions = 0;
      cursor.clear();
      for (;;) {
        Result<engine::ExportChunk> chunk =
            db->ExportScan(project, as_of, cursor, kExportChunkLines);
        if (!chunk) return fail(chunk.error());
        assertions += chunk->assertions;
        retractions += chunk->retractions;
        if (chunk->done) break;
        cursor = chunk->last_id;
      }
    }
    if (!write(TrailerLine(assertions, retractions))) return false;
    log::Info("project exported", {{"project", project},
                                   {"as_of_lsn", std::to_string(as_of.value())},
                                   {"assertions", std::to_string(assertions)},
                                   {"retractions", std::to_string(retractions)}});
    return true;
  };
}

// An error about line `line` of the caller's file: "line 7: subject: …".
ApiError LineError(uint64_t line, ApiError e) {
  const std::string where = "line " + std::to_string(line);
  e.message = where + ": " + e.message;
  e.field = e.field.empty() ? where : where + "." + e.field;
  return e;
}

// 400 invalid_field about a line as a whole (no field inside it).
ApiError LineProblem(std::string_view why) {
  ApiError e = InvalidField("line", why);
  e.message = std::string(why);
  e.field.clear();
  return e;
}

ApiError LineError(uint64_t line, std::string_view why) {
  return LineError(line, LineProblem(why));
}

// The source project named by an export header line.
ApiResult<std::string> ParseHeader(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  const boost::json::object* o = v.if_object();
  const boost::json::value* format = o ? o->if_contains("stemedb_export") : nullptr;
  if (ec || format == nullptr) {
    return LineProblem(R"(the first line must be the export header {"stemedb_export":1,...})");
  }
  if (!format->is_int64() || format->get_int64() != kExportFormat) {
    return InvalidField("stemedb_export", "unsupported export format (this server reads 1)");
  }
  if (auto r = CheckKnownFields(*o, {"stemedb_export", "project", "as_of_lsn"}, ""); !r) {
    return r.error();
  }
  const boost::json::value* p = o->if_contains("project");
  if (p == nullptr || !p->is_string()) return InvalidField("project", "is required");
  std::string project(p->get_string());
  if (auto valid = CheckProjectName(project); !valid) return valid.error();
  return project;
}

// A retraction line: {"id","retracts","lsn","recorded_at","kind":"retraction"}.
ApiResult<engine::ImportedRecord> ParseRetractionLine(const boost::json::object& o) {
  if (auto r = CheckKnownFields(o, {"id", "project", "retracts", "lsn", "recorded_at", "kind"}, "");
      !r) {
    return r.error();
  }
  engine::ImportedRecord rec;
  rec.is_retraction = true;
  auto id = RequiredString(o, "id", 1, 64, "");
  if (!id) return id.error();
  if (!IsWellFormedId(*id)) return InvalidField("id", "must be an id (32 lowercase hex)");
  auto target = RequiredString(o, "retracts", 1, 64, "");
  if (!target) return target.error();
  if (!IsWellFormedId(*target)) return InvalidField("retracts", "must be an id (32 lowercase hex)");
  auto recorded = RequiredString(o, "recorded_at", 1, 64, "");
  if (!recorded) return recorded.error();
  auto us = ParseRfc3339(*recorded);
  if (!us) return InvalidField("recorded_at", "must be an RFC 3339 date-time");
  rec.retraction_id = *id;
  rec.target_id = *target;
  rec.recorded_at_us = *us;
  return rec;
}

// An assertion line: the docs/api.md object (project optional, see below).
ApiResult<engine::ImportedRecord> ParseAssertionLine(const boost::json::object& o) {
  if (auto r = CheckKnownFields(
          o,
          {"id", "project", "subject", "predicate", "value", "agent_id", "confidence",
           "observed_at", "signature", "signed", "lsn", "recorded_at"},
          "");
      !r) {
    return r.error();
  }
  // The written fields go through the one assertion validator, as on POST
  // /v1/assert; the server-assigned ones are checked here.
  boost::json::object fields(o.storage());
  for (const auto& kv : o) {
    const std::string_view k = kv.key();
    if (k != "id" && k != "project" && k != "signed" && k != "lsn" && k != "recorded_at") {
      fields.emplace(k, kv.value());
    }
  }
  auto a = ValidateAssertion(fields, "");
  if (!a) return a.error();
  engine::ImportedRecord rec;
  rec.assertion = std::move(*a);
  auto id = RequiredString(o, "id", 1, 64, "");
  if (!id) return id.error();
  if (!IsWellFormedId(*id)) return InvalidField("id", "must be an id (32 lowercase hex)");
  rec.assertion.id = *id;
  const boost::json::value* s = o.if_contains("signed");
  if (s == nullptr || !s->is_bool()) return InvalidField("signed", "must be true or false");
  rec.assertion.is_signed = s->get_bool();
  if (rec.assertion.is_signed && rec.assertion.signature.empty()) {
    return InvalidField("signature", "is required when signed is true");
  }
  auto recorded = RequiredString(o, "recorded_at", 1, 64, "");
  if (!recorded) return recorded.error();
  auto us = ParseRfc3339(*recorded);
  if (!us) return InvalidField("recorded_at", "must be an RFC 3339 date-time");
  rec.recorded_at_us = *us;
  return rec;
}

}  // namespace

void Router::ExportProject(const std::shared_ptr<Call>& call) {
  const std::string project = call->path_param;
  if (auto valid = CheckProjectName(project); !valid) return SendError(call, valid.error());
  call->meta->project = project;
  auto as_of = ParseAsOf(*s_.db, call->Param("as_of"));
  if (!as_of) return SendError(call, as_of.error());
  std::string after;
  if (const std::string* a = call->Param("after")) {
    if (!*as_of) {
      return SendError(call, InvalidField("after",
                                          "needs the as_of of the export it resumes "
                                          "(as_of=lsn:N, N from the header)"));
    }
    if (!IsWellFormedId(*a)) {
      return SendError(call, InvalidField("after", "must be the id of a line of the export"));
    }
    // Checked before the 200 goes out: a bad cursor is a 400, not a cut stream.
    auto probe = s_.db->ExportScan(project, **as_of, *a, 0);
    if (!probe) return SendError(call, FromStatus(probe.error()));
    after = *a;
  }

  // Handing a project's data out is an admin action: audit it, durably,
  // before the first byte leaves.
  auth::AuditRecord rec;
  rec.time_us = call->now_us;
  rec.actor_key_id = call->principal->key_id;
  rec.action = "project.export";
  rec.target = project;
  if (*as_of) rec.detail = "as_of=lsn:" + std::to_string((*as_of)->value());
  if (!after.empty()) rec.detail += " after=" + after;
  engine::SystemEntry entry;
  entry.writes.push_back(s_.audit->MakeAuditWrite(std::move(rec)));
  const std::optional<Lsn> pinned = *as_of;
  s_.db->SubmitAsync(std::move(entry), [this, call, project, pinned, after = std::move(after)](
                                           Result<engine::CommitInfo> r) mutable {
    if (!r) return SendError(call, FromStatus(r.error()));
    // Without as_of the export is as of its own audit record: every write
    // acknowledged before the request is in it.
    const Lsn as_of = pinned ? *pinned : r->lsn;
    StreamingReply reply;
    reply.head = ExportHead(call->req.version(), project, as_of);
    reply.produce = ExportProducer(s_.db, project, as_of, std::move(after));
    StartStream(call, std::move(reply));
  });
}

void Router::ImportProject(const std::shared_ptr<Call>& call) {
  const std::string project = call->path_param;
  if (auto valid = CheckProjectName(project); !valid) return SendError(call, valid.error());
  call->meta->project = project;
  uint64_t line_offset = 0;
  if (const std::string* o = call->Param("line_offset")) {
    auto n = ParseUint(*o);
    if (!n) return SendError(call, InvalidField("line_offset", "must be a decimal integer"));
    line_offset = *n;
  }
  // ids=derive: a copy into another project of this server, whose ids (which
  // are instance-wide) the source keeps.
  bool derive = false;
  if (const std::string* ids = call->Param("ids")) {
    if (*ids != "keep" && *ids != "derive") {
      return SendError(call, InvalidField("ids", "must be keep or derive"));
    }
    derive = *ids == "derive";
  }
  std::string_view body = call->req.body();
  if (!body.empty() && body.back() == '\n') body.remove_suffix(1);
  if (body.empty()) return SendError(call, InvalidField("body", "is empty: send the export"));

  engine::ImportEntry entry;
  entry.project = project;
  std::string source;  // the header's project
  uint64_t line = 0;
  bool ended = false;
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t nl = body.find('\n', pos);
    if (nl == std::string_view::npos) nl = body.size();
    const std::string_view text = body.substr(pos, nl - pos);
    pos = nl + 1;
    ++line;
    const uint64_t at = line + line_offset;
    if (line == 1) {
      auto header = ParseHeader(text);
      if (!header) return SendError(call, LineError(line, header.error()));
      source = std::move(*header);
      if (derive && source == project) {
        const std::string why = "derive copies into another project, but this is an export of " +
                                project + " itself: import it without ids=derive";
        return SendError(call, InvalidField("ids", why));
      }
      continue;
    }
    if (ended) return SendError(call, LineError(at, "a line after the trailer"));
    if (!IsValidUtf8(text)) return SendError(call, LineError(at, "is not valid UTF-8"));
    boost::json::monotonic_resource mr;
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(text, ec, &mr);
    if (ec || !v.is_object()) {
      return SendError(call, LineError(at, InvalidJson("is not a JSON object")));
    }
    const boost::json::object& o = v.get_object();
    if (o.contains("end")) {
      ended = true;  // the trailer: its counts describe the whole file
      continue;
    }
    // A line names its project only if it came from elsewhere (a GET reply);
    // then it must be the export's.
    if (const boost::json::value* p = o.if_contains("project")) {
      if (!p->is_string() || p->get_string() != source) {
        return SendError(
            call, LineError(at, InvalidField("project", "is not the header's project " + source)));
      }
    }
    const boost::json::value* kind = o.if_contains("kind");
    const bool retraction =
        kind != nullptr && kind->is_string() && kind->get_string() == "retraction";
    auto rec = retraction ? ParseRetractionLine(o) : ParseAssertionLine(o);
    if (!rec) return SendError(call, LineError(at, rec.error()));
    if (derive) {
      // One function maps every id, so a retraction in a later request
      // finds its target's copy.
      if (retraction) {
        rec->retraction_id = DerivedId(project, rec->retraction_id);
        rec->target_id = DerivedId(project, rec->target_id);
      } else {
        rec->assertion.id = DerivedId(project, rec->assertion.id);
      }
    }
    if (!retraction && rec->assertion.is_signed) {
      // The signature covers the project (docs/signatures.md): it still
      // verifies only in a project of the same name. Where the agent's key is
      // registered here, it must verify.
      if (source != project) {
        rec->assertion.is_signed = false;
      } else if (!s_.config->unsafe_skip_signatures) {
        if (auto key = s_.agents->Find(project, rec->assertion.agent_id)) {
          const engine::NewAssertion& a = rec->assertion;
          auth::SignedFields f{project,    a.subject,    a.predicate,  a.value_json,
                               a.agent_id, a.confidence, a.observed_at};
          Status st = auth::VerifyAssertionSignature(f, a.signature, key->public_key_b64);
          if (!st.ok()) return SendError(call, LineError(at, BadSignature(st.message())));
        }
      }
    }
    if (entry.records.size() == kMaxImportLines) {
      return SendError(call, LineError(at, "more than 10000 records in one request"));
    }
    entry.records.push_back(std::move(*rec));
  }
  // Registered (or refused under a strict registry) like the target of any
  // admin write, so the project's default limits apply to the import too.
  call->project = project;
  if (auto known = CheckProjectRegistered(*call); !known) return SendError(call, known.error());
  if (auto admitted = AdmitWrite(); !admitted) return SendError(call, admitted.error());
  const size_t lines = entry.records.size();
  // Audited before the records: the audit entry takes the lower LSN, so it
  // is durable whenever the import is. The outcome is in the reply.
  auth::AuditRecord rec;
  rec.time_us = call->now_us;
  rec.actor_key_id = call->principal->key_id;
  rec.action = "project.import";
  rec.target = project;
  rec.detail = "from=" + source + " records=" + std::to_string(lines);
  if (derive) rec.detail += " ids=derive";
  engine::SystemEntry audit;
  audit.writes.push_back(s_.audit->MakeAuditWrite(std::move(rec)));
  s_.db->SubmitAsync(std::move(audit), [](Result<engine::CommitInfo>) {});
  s_.db->SubmitAsync(std::move(entry), [this, call, lines, derive](Result<engine::CommitInfo> r) {
    WriteDone();
    if (!r) {
      // NotFound is a retraction whose target is not in the project: the
      // request conflicts with what is stored, like an id of another project.
      if (r.error().IsNotFound()) return SendError(call, ConflictError(r.error().message()));
      if (!derive && r.error().code() == Status::Code::kConflict &&
          r.error().message().find(engine::kIdInAnotherProject) != std::string::npos) {
        return SendError(call, ConflictError(r.error().message() +
                                             ": ids are unique on a server; to copy the records "
                                             "into another project of it, import with "
                                             "ids=derive (stemectl import --new-ids)"));
      }
      return SendError(call, FromStatus(r.error()));
    }
    SendJson(call, 200,
             R"({"records":)" + std::to_string(lines) + R"(,"imported":)" +
                 std::to_string(r->ids.size()) + R"(,"skipped":)" + std::to_string(r->skipped) +
                 R"(,"lsn":)" + std::to_string(r->lsn.value()) + "}");
  });
}

}  // namespace stemedb::api
