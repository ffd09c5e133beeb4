#include "engine/stored_record.h"

#include <charconv>

#include "engine/coding.h"
#include "util/json_string.h"
#include "util/time_format.h"

namespace stemedb::engine {
namespace {

constexpr uint8_t kRecordVersion = 1;

}  // namespace

AssertionRecordView AssertionRecordView::Of(const AssertionRecord& r) {
  return AssertionRecordView{r.project, r.subject, r.predicate, r.agent_id,      r.value_json,
                             r.json,    r.lsn,     r.ordinal,   r.retracted_lsn, r.retraction_id};
}

void AppendAssertionRecord(std::string* out, const AssertionRecordView& r) {
  out->push_back(static_cast<char>(kRecordVersion));
  PutLengthPrefixed(out, r.project);
  PutLengthPrefixed(out, r.subject);
  PutLengthPrefixed(out, r.predicate);
  PutLengthPrefixed(out, r.agent_id);
  PutLengthPrefixed(out, r.value_json);
  PutLengthPrefixed(out, r.json);
  PutVarint64(out, r.lsn.value());
  PutVarint64(out, r.ordinal);
  PutVarint64(out, r.retracted_lsn.value());
  PutLengthPrefixed(out, r.retraction_id);
}

std::string EncodeAssertionRecord(const AssertionRecord& r) {
  std::string v;
  v.reserve(r.json.size() * 2 + 32);
  AppendAssertionRecord(&v, AssertionRecordView::Of(r));
  return v;
}

bool DecodeAssertionRecordView(std::string_view v, AssertionRecordView* out) {
  ByteReader in(v);
  AssertionRecordView r;
  uint8_t version = 0;
  uint64_t lsn = 0, ordinal = 0, retracted = 0;
  if (!in.GetByte(&version) || version != kRecordVersion || !in.GetLengthPrefixed(&r.project) ||
      !in.GetLengthPrefixed(&r.subject) || !in.GetLengthPrefixed(&r.predicate) ||
      !in.GetLengthPrefixed(&r.agent_id) || !in.GetLengthPrefixed(&r.value_json) ||
      !in.GetLengthPrefixed(&r.json) || !in.GetVarint64(&lsn) || !in.GetVarint64(&ordinal) ||
      ordinal > UINT32_MAX || !in.GetVarint64(&retracted) ||
      !in.GetLengthPrefixed(&r.retraction_id) || !in.empty()) {
    return false;
  }
  r.lsn = Lsn(lsn);
  r.ordinal = static_cast<uint32_t>(ordinal);
  r.retracted_lsn = Lsn(retracted);
  *out = r;
  return true;
}

Result<AssertionRecord> DecodeAssertionRecord(std::string_view v) {
  AssertionRecordView view;
  if (!DecodeAssertionRecordView(v, &view))
    return Status::Corruption("assertion record: malformed");
  AssertionRecord r;
  r.project.assign(view.project);
  r.subject.assign(view.subject);
  r.predicate.assign(view.predicate);
  r.agent_id.assign(view.agent_id);
  r.value_json.assign(view.value_json);
  r.json.assign(view.json);
  r.retraction_id.assign(view.retraction_id);
  r.lsn = view.lsn;
  r.ordinal = view.ordinal;
  r.retracted_lsn = view.retracted_lsn;
  return r;
}

std::string EncodeRetractionRecord(const RetractionRecord& r) {
  std::string v;
  v.push_back(static_cast<char>(kRecordVersion));
  PutLengthPrefixed(&v, r.project);
  PutLengthPrefixed(&v, r.target_id);
  PutVarint64(&v, r.lsn.value());
  PutLengthPrefixed(&v, r.json);
  return v;
}

Result<RetractionRecord> DecodeRetractionRecord(std::string_view v) {
  ByteReader in(v);
  RetractionRecord r;
  uint8_t version = 0;
  uint64_t lsn = 0;
  if (!in.GetByte(&version) || version != kRecordVersion || !in.GetString(&r.project) ||
      !in.GetString(&r.target_id) || !in.GetVarint64(&lsn) || !in.GetString(&r.json) ||
      !in.empty()) {
    return Status::Corruption("retraction record: malformed");
  }
  r.lsn = Lsn(lsn);
  return r;
}

std::string EncodeIdempotencyRecord(const IdempotencyRecord& r) {
  std::string v;
  v.push_back(static_cast<char>(kRecordVersion));
  PutLengthPrefixed(&v, r.request_hash);
  PutVarint64(&v, r.lsn.value());
  PutFixed64BE(&v, static_cast<uint64_t>(r.recorded_at_us));
  PutVarint64(&v, r.ids.size());
  for (const std::string& id : r.ids) PutLengthPrefixed(&v, id);
  return v;
}

Result<IdempotencyRecord> DecodeIdempotencyRecord(std::string_view v) {
  ByteReader in(v);
  IdempotencyRecord r;
  uint8_t version = 0;
  uint64_t lsn = 0, recorded = 0, n = 0;
  const Status bad = Status::Corruption("idempotency record: malformed");
  if (!in.GetByte(&version) || version != kRecordVersion || !in.GetString(&r.request_hash) ||
      !in.GetVarint64(&lsn) || !in.GetFixed64BE(&recorded) || !in.GetVarint64(&n) ||
      n > in.remaining()) {
    return bad;
  }
  r.ids.resize(static_cast<size_t>(n));
  for (std::string& id : r.ids) {
    if (!in.GetString(&id)) return bad;
  }
  if (!in.empty()) return bad;
  r.lsn = Lsn(lsn);
  r.recorded_at_us = static_cast<int64_t>(recorded);
  return r;
}

std::string BuildAssertionJson(std::string_view project, const NewAssertion& a, Lsn lsn,
                               int64_t recorded_at_us) {
  std::string o;
  AppendAssertionJson(&o, project, a, lsn, recorded_at_us);
  return o;
}

void AppendAssertionJson(std::string* out, std::string_view project, const NewAssertion& a, Lsn lsn,
                         int64_t recorded_at_us) {
  std::string& o = *out;
  o.reserve(o.size() + a.value_json.size() + a.subject.size() + a.predicate.size() +
            a.signature.size() + 256);
  o.append("{\"id\":");
  AppendJsonString(&o, a.id);
  o.append(",\"project\":");
  AppendJsonString(&o, project);
  o.append(",\"subject\":");
  AppendJsonString(&o, a.subject);
  o.append(",\"predicate\":");
  AppendJsonString(&o, a.predicate);
  o.append(",\"value\":");
  o.append(a.value_json);
  o.append(",\"agent_id\":");
  AppendJsonString(&o, a.agent_id);
  if (a.confidence) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), *a.confidence);
    o.append(",\"confidence\":");
    // to_chars cannot fail for a 32-byte buffer and a finite double.
    o.append(buf, ec == std::errc() ? end : buf);
  }
  if (!a.observed_at.empty()) {
    o.append(",\"observed_at\":");
    AppendJsonString(&o, a.observed_at);
  }
  if (!a.signature.empty()) {
    o.append(",\"signature\":");
    AppendJsonString(&o, a.signature);
  }
  o.append(a.is_signed ? ",\"signed\":true" : ",\"signed\":false");
  o.append(",\"lsn\":");
  char digits[20];
  o.append(digits, std::to_chars(digits, digits + sizeof digits, lsn.value()).ptr);
  o.append(",\"recorded_at\":\"");
  AppendRfc3339(&o, recorded_at_us);
  o.append("\"}");
}

std::string BuildRetractionJson(std::string_view project, std::string_view id,
                                std::string_view target_id, Lsn lsn, int64_t recorded_at_us) {
  std::string o = "{\"id\":";
  AppendJsonString(&o, id);
  o.append(",\"project\":");
  AppendJsonString(&o, project);
  o.append(",\"retracts\":");
  AppendJsonString(&o, target_id);
  o.append(",\"lsn\":");
  o.append(std::to_string(lsn.value()));
  o.append(",\"recorded_at\":\"");
  AppendRfc3339(&o, recorded_at_us);
  o.append("\",\"kind\":\"retraction\"}");
  return o;
}

StoredAssertion ToStored(std::string_view id, const AssertionRecordView& r, Lsn as_of) {
  StoredAssertion s;
  s.json.assign(r.json);
  s.id.assign(id);
  s.lsn = r.lsn;
  if (r.retracted_lsn.value() != 0 && r.retracted_lsn <= as_of) {
    s.retracted_lsn = r.retracted_lsn;
    s.retraction_id.assign(r.retraction_id);
  }
  return s;
}

}  // namespace stemedb::engine
