// The project registry record (SystemTable::kProjects, engine/FORMAT.md §8)
// and the quota refusal the apply path reports. The engine owns these bytes:
// it reads a project's limits from the record when it applies the record's
// SystemEntry, so every later write of the project is decided against them,
// live and on replay alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/status.h"

namespace stemedb::engine {

// Limits of one project; 0 = unlimited. The defaults a server applies to
// new projects are resolved into the record when it is written, so a restart
// with other defaults never re-decides logged writes (docs/projects.md).
struct ProjectRecord {
  uint64_t max_assertions = 0;
  uint64_t max_bytes = 0;
  uint64_t retain_days = 0;   // stored here; expiry is engine/project_erasure's
  int64_t created_at_us = 0;  // wall clock of the create request
};

bool operator==(const ProjectRecord& a, const ProjectRecord& b);

std::string EncodeProjectRecord(const ProjectRecord& r);
// Errors: Corruption (not a record this engine wrote).
Result<ProjectRecord> DecodeProjectRecord(std::string_view v);

// Why a write was refused: the Status::QuotaExceeded message carries these
// figures in a fixed form (FormatQuotaRefusal), so api/ can render them as
// fields without a second lookup.
struct QuotaRefusal {
  std::string project;
  std::string quota;  // "max_assertions" | "max_bytes"
  uint64_t limit = 0;
  uint64_t current = 0;  // the project's figure before the refused write
  uint64_t adding = 0;   // what the refused write would have added
};
Status QuotaExceededStatus(const QuotaRefusal& r);
// nullopt if `s` is not a QuotaExceeded status made by QuotaExceededStatus.
std::optional<QuotaRefusal> ParseQuotaRefusal(const Status& s);

}  // namespace stemedb::engine
