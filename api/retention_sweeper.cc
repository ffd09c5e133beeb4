#include "api/retention_sweeper.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "api/legal_holds.h"
#include "api/router.h"
#include "engine/project_record.h"
#include "util/logging.h"
#include "util/thread_name.h"
#include "util/time_format.h"

namespace stemedb::api {
namespace {

constexpr int64_t kMicrosPerDay = 86400LL * 1000 * 1000;

// What a sweep needs to know of one project with retention.
struct Policy {
  std::string id_bound;  // ids below it are expired
  std::set<std::string, std::less<>> held_subjects;
};

}  // namespace

std::chrono::microseconds RetentionPause(size_t ids, std::chrono::microseconds spent,
                                         uint64_t max_per_second) {
  if (ids == 0 || max_per_second == 0) return std::chrono::microseconds(0);
  const auto budget = std::chrono::microseconds(
      static_cast<int64_t>((static_cast<unsigned __int128>(ids) * 1000000) / max_per_second));
  return std::max(budget - spent, std::chrono::microseconds(0));
}

RetentionSweeper::RetentionSweeper(engine::Database* db, RetentionOptions options)
    : db_(db), options_(std::move(options)) {}

RetentionSweeper::~RetentionSweeper() { Stop(); }

void RetentionSweeper::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] {
    SetThreadName("stemedb-retain");
    Loop();
  });
}

void RetentionSweeper::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool RetentionSweeper::Stopping() {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_;
}

void RetentionSweeper::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, options_.interval, [this] { return stop_; })) {
    lock.unlock();
    // A store that does not take writes (a warm standby) gets the primary's
    // expiry through the log; its own sweeps would all be refused.
    if (db_->write_refusal().ok() && db_->writable()) {
      Result<uint64_t> r = SweepOnce();
      if (!r) log::Warn("retention sweep failed", {{"error", r.error().ToString()}});
    }
    lock.lock();
  }
}

Result<uint64_t> RetentionSweeper::SweepOnce() {
  const int64_t now = options_.now_us ? options_.now_us() : UnixMicrosNow();
  std::map<std::string, Policy, std::less<>> policies;
  Status bad = Status::OK();
  STEMEDB_RETURN_IF_ERROR(db_->ScanSystem(
      engine::SystemTable::kProjects, "", [&](std::string_view project, std::string_view value) {
        Result<engine::ProjectRecord> rec = engine::DecodeProjectRecord(value);
        if (!rec) {
          bad = rec.error();
          return false;
        }
        if (rec->retain_days == 0) return true;
        const int64_t cutoff = now - static_cast<int64_t>(rec->retain_days) * kMicrosPerDay;
        if (cutoff <= 0) return true;
        policies[std::string(project)].id_bound = NewIdTimeBound(cutoff);
        return true;
      }));
  if (!bad.ok()) return bad;
  LegalHolds holds(db_, nullptr);
  std::string scan_bound;
  for (auto it = policies.begin(); it != policies.end();) {
    Result<std::vector<LegalHold>> list = holds.List(it->first);
    if (!list) return list.error();
    bool whole = false;
    for (const LegalHold& h : *list) {
      if (h.subject.empty()) whole = true;
      it->second.held_subjects.insert(h.subject);
    }
    if (whole) {  // a hold on the project suspends its expiry
      it = policies.erase(it);
      continue;
    }
    scan_bound = std::max(scan_bound, it->second.id_bound);
    ++it;
  }
  if (policies.empty()) return uint64_t{0};

  uint64_t removed = 0;
  std::string after;
  for (;;) {
    const auto began = std::chrono::steady_clock::now();
    // Collects one entry's worth of ids of one project, then erases them.
    std::string project;
    std::vector<std::string> ids;
    std::string last;
    bool more = false;
    STEMEDB_RETURN_IF_ERROR(db_->ScanAssertionIds(
        after, scan_bound, [&](std::string_view id, std::string_view p, std::string_view subject) {
          if (!project.empty() && p != project) {
            more = true;
            return false;  // the next entry starts here
          }
          last = std::string(id);
          auto pol = policies.find(p);
          if (pol == policies.end() || std::string_view(id) >= pol->second.id_bound ||
              pol->second.held_subjects.count(subject) != 0) {
            return true;
          }
          project = std::string(p);
          ids.push_back(std::string(id));
          if (ids.size() >= options_.batch) {
            more = true;
            return false;
          }
          return true;
        }));
    const size_t erasing = ids.size();
    if (!ids.empty()) {
      Result<engine::CommitInfo> r = db_->Submit(
          engine::EraseEntry{project, engine::EraseEntry::Reason::kExpiry, std::move(ids)});
      if (!r) return r.error();
      removed += r->removed;
      removed_total_.fetch_add(r->removed);
    }
    if (!more || Stopping()) break;
    // After the last id read; an id of another project that ended the scan
    // was not read and starts the next one.
    after = std::move(last);
    const std::chrono::microseconds pause =
        RetentionPause(erasing,
                       std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::steady_clock::now() - began),
                       options_.max_per_second);
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, pause, [this] { return stop_; })) break;
  }
  if (removed > 0) log::Info("retention sweep", {{"removed", std::to_string(removed)}});
  return removed;
}

}  // namespace stemedb::api
