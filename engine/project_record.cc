#include "engine/project_record.h"

#include <charconv>

#include "engine/coding.h"

namespace stemedb::engine {
namespace {

constexpr uint8_t kProjectRecordVersion = 1;

bool TakeNumber(std::string_view* s, std::string_view label, uint64_t* out) {
  if (s->substr(0, label.size()) != label) return false;
  s->remove_prefix(label.size());
  const char* end = s->data() + s->size();
  auto [p, ec] = std::from_chars(s->data(), end, *out);
  if (ec != std::errc()) return false;
  s->remove_prefix(static_cast<size_t>(p - s->data()));
  return true;
}

}  // namespace

bool operator==(const ProjectRecord& a, const ProjectRecord& b) {
  return a.max_assertions == b.max_assertions && a.max_bytes == b.max_bytes &&
         a.retain_days == b.retain_days && a.created_at_us == b.created_at_us;
}

std::string EncodeProjectRecord(const ProjectRecord& r) {
  std::string v;
  v.push_back(static_cast<char>(kProjectRecordVersion));
  PutVarint64(&v, r.max_assertions);
  PutVarint64(&v, r.max_bytes);
  PutVarint64(&v, r.retain_days);
  PutFixed64BE(&v, static_cast<uint64_t>(r.created_at_us));
  return v;
}

Result<ProjectRecord> DecodeProjectRecord(std::string_view v) {
  ByteReader in(v);
  uint8_t version = 0;
  ProjectRecord r;
  uint64_t created = 0;
  if (!in.GetByte(&version) || version != kProjectRecordVersion ||
      !in.GetVarint64(&r.max_assertions) || !in.GetVarint64(&r.max_bytes) ||
      !in.GetVarint64(&r.retain_days) || !in.GetFixed64BE(&created) || !in.empty()) {
    return Status::Corruption("bad project record");
  }
  r.created_at_us = static_cast<int64_t>(created);
  return r;
}

// "quota_exceeded: project P: max_bytes limit L, current C, adding A"
Status QuotaExceededStatus(const QuotaRefusal& r) {
  return Status::QuotaExceeded("quota_exceeded: project " + r.project + ": " + r.quota + " limit " +
                               std::to_string(r.limit) + ", current " + std::to_string(r.current) +
                               ", adding " + std::to_string(r.adding));
}

std::optional<QuotaRefusal> ParseQuotaRefusal(const Status& s) {
  if (s.code() != Status::Code::kQuotaExceeded) return std::nullopt;
  std::string_view m = s.message();
  constexpr std::string_view kHead = "quota_exceeded: project ";
  if (m.substr(0, kHead.size()) != kHead) return std::nullopt;
  m.remove_prefix(kHead.size());
  QuotaRefusal r;
  const size_t colon = m.find(": ");
  if (colon == std::string_view::npos) return std::nullopt;
  r.project = std::string(m.substr(0, colon));
  m.remove_prefix(colon + 2);
  const size_t space = m.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  r.quota = std::string(m.substr(0, space));
  m.remove_prefix(space);
  if (!TakeNumber(&m, " limit ", &r.limit) || !TakeNumber(&m, ", current ", &r.current) ||
      !TakeNumber(&m, ", adding ", &r.adding) || !m.empty()) {
    return std::nullopt;
  }
  return r;
}

}  // namespace stemedb::engine
