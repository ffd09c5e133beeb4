#include "api/metrics.h"

#include <dirent.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <type_traits>
#include <unordered_map>

#include "engine/project_record.h"
#include "util/logging.h"

namespace stemedb::api {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

// 50 µs .. ~0.8 s doubling, then 1 s: fdatasync on NVMe is ~50-200 µs, on
// network block storage (Longhorn) milliseconds; a second is an outage.
Histogram::BucketBoundaries FsyncBuckets() {
  Histogram::BucketBoundaries b;
  for (double v = 50e-6; v < 1.0; v *= 2) b.push_back(v);
  b.push_back(1.0);
  return b;
}

Histogram::BucketBoundaries RequestBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

Histogram::BucketBoundaries GroupBuckets() {
  return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
}

// The labelled families: prometheus-cpp omits a family until its first
// series exists, so Render() declares these itself (see there).
struct FamilyDoc {
  const char* name;
  const char* type;
  const char* help;
};
constexpr FamilyDoc kHttpRequests{"stemedb_http_requests_total", "counter",
                                  "HTTP requests by route template, method and status"};
constexpr FamilyDoc kHttpDuration{"stemedb_http_request_duration_seconds", "histogram",
                                  "HTTP request duration by route template"};
constexpr FamilyDoc kAssertions{"stemedb_assertions_written_total", "counter",
                                "Assertions written, by project (capped; rest as _other)"};
constexpr FamilyDoc kRateLimited{"stemedb_rate_limited_total", "counter",
                                 "Requests refused by rate limit, by project (capped)"};
constexpr FamilyDoc kDiskFree{"stemedb_disk_free_bytes", "gauge",
                              "Free bytes on the volume holding the WAL or DB"};

// Registers a family of `T` (Counter, Gauge or Histogram) in `r`: labelled
// ones add their series as they appear, the others their one series at once.
template <class T>
Family<T>& NewFamily(prometheus::Registry& r, const char* name, const char* help) {
  if constexpr (std::is_same_v<T, Counter>) {
    return prometheus::BuildCounter().Name(name).Help(help).Register(r);
  } else if constexpr (std::is_same_v<T, Gauge>) {
    return prometheus::BuildGauge().Name(name).Help(help).Register(r);
  } else {
    return prometheus::BuildHistogram().Name(name).Help(help).Register(r);
  }
}

// An fsync this slow is worth a log line of its own (etcd warns at 1 s).
constexpr std::chrono::milliseconds kSlowFsync{1000};

}  // namespace

class Metrics::Impl : public wal::WalProbe {
 public:
  Impl()
      : http_requests_(NewFamily<Counter>(registry_, kHttpRequests.name, kHttpRequests.help)),
        http_duration_(NewFamily<Histogram>(registry_, kHttpDuration.name, kHttpDuration.help)),
        fsync_(NewFamily<Histogram>(registry_, "stemedb_wal_fsync_latency_seconds",
                                    "WAL fdatasync latency")
                   .Add({}, FsyncBuckets())),
        wal_bytes_(NewFamily<Counter>(registry_, "stemedb_wal_bytes_written_total",
                                      "Bytes written to the WAL")
                       .Add({})),
        group_records_(NewFamily<Histogram>(registry_, "stemedb_wal_group_commit_records",
                                            "Records per WAL group commit")
                           .Add({}, GroupBuckets())),
        replay_seconds_(NewFamily<Gauge>(registry_, "stemedb_wal_replay_seconds",
                                         "Seconds the last startup WAL replay took")
                            .Add({})),
        applied_lsn_(
            NewFamily<Gauge>(registry_, "stemedb_applied_lsn", "Highest LSN applied to the store")
                .Add({})),
        durable_lsn_(NewFamily<Gauge>(registry_, "stemedb_wal_durable_lsn",
                                      "Highest LSN known fsynced to the WAL")
                         .Add({})),
        assertions_(NewFamily<Counter>(registry_, kAssertions.name, kAssertions.help)),
        rate_limited_(NewFamily<Counter>(registry_, kRateLimited.name, kRateLimited.help)),
        disk_free_(NewFamily<Gauge>(registry_, kDiskFree.name, kDiskFree.help)),
        pending_compaction_(NewFamily<Gauge>(registry_, "stemedb_rocksdb_pending_compaction_bytes",
                                             "RocksDB estimated pending compaction bytes")
                                .Add({})),
        live_sst_(NewFamily<Gauge>(registry_, "stemedb_rocksdb_live_sst_bytes",
                                   "RocksDB live SST file size")
                      .Add({})),
        memtable_(
            NewFamily<Gauge>(registry_, "stemedb_rocksdb_memtable_bytes", "RocksDB memtable size")
                .Add({})),
        archive_lsn_(NewFamily<Gauge>(registry_, "stemedb_wal_archived_lsn",
                                      "Every record up to this LSN is in the WAL archive")
                         .Add({})),
        archive_lag_seconds_(NewFamily<Gauge>(registry_, "stemedb_wal_archive_lag_seconds",
                                              "Age of the oldest WAL record not yet archived")
                                 .Add({})),
        archive_lag_bytes_(NewFamily<Gauge>(registry_, "stemedb_wal_archive_lag_bytes",
                                            "WAL bytes not yet archived (about)")
                               .Add({})),
        archive_failures_(NewFamily<Counter>(registry_, "stemedb_wal_archive_failures_total",
                                             "Failed WAL archive uploads and listings")
                              .Add({})),
        standby_(NewFamily<Gauge>(registry_, "stemedb_standby",
                                  "1 while this server is a warm standby following the archive")
                     .Add({})),
        standby_lag_lsn_(NewFamily<Gauge>(registry_, "stemedb_standby_lag_lsn",
                                          "Records in the archive the standby has not applied")
                             .Add({})),
        standby_lag_seconds_(
            NewFamily<Gauge>(registry_, "stemedb_standby_lag_seconds",
                             "Seconds since the standby last had everything the archive held")
                .Add({})),
        writer_epoch_(NewFamily<Gauge>(registry_, "stemedb_writer_epoch",
                                       "The writer epoch this server archives as")
                          .Add({})),
        fenced_(NewFamily<Gauge>(registry_, "stemedb_fenced",
                                 "1 once a higher writer epoch fenced this server off")
                    .Add({})),
        wal_healthy_(NewFamily<Gauge>(registry_, "stemedb_wal_healthy",
                                      "1 while the WAL accepts writes, 0 after a fail-stop")
                         .Add({})),
        ready_(
            NewFamily<Gauge>(registry_, "stemedb_ready", "1 while /v1/ready answers 200").Add({})),
        connections_(
            NewFamily<Gauge>(registry_, "stemedb_http_connections_active", "Open HTTP connections")
                .Add({})),
        connections_rejected_(
            NewFamily<Counter>(registry_, "stemedb_http_connections_rejected_total",
                               "Connections closed at once: connection cap reached")
                .Add({})),
        resident_(NewFamily<Gauge>(registry_, "process_resident_memory_bytes",
                                   "Resident memory size in bytes")
                      .Add({})),
        open_fds_(NewFamily<Gauge>(registry_, "process_open_fds", "Number of open file descriptors")
                      .Add({})),
        cpu_seconds_(NewFamily<Counter>(registry_, "process_cpu_seconds_total",
                                        "Total user and system CPU time in seconds")
                         .Add({})),
        start_time_(NewFamily<Gauge>(registry_, "process_start_time_seconds",
                                     "Start time of the process since the epoch in seconds")
                        .Add({})) {
    NewFamily<Gauge>(registry_, "stemedb_build_info", "Build information; value 1")
        .Add({{"version", STEMEDB_VERSION}})
        .Set(1);
    start_time_.Set(static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count()));
  }

  // --- WalProbe (WAL writer thread) ----------------------------------------
  void OnFsync(std::chrono::nanoseconds duration) override {
    fsync_.Observe(std::chrono::duration<double>(duration).count());
    if (duration >= kSlowFsync) {
      log::Warn("slow WAL fdatasync",
                {{"duration_ms", std::to_string(duration.count() / 1000000)}});
    }
  }
  void OnGroupCommit(size_t records, size_t bytes) override {
    group_records_.Observe(static_cast<double>(records));
    wal_bytes_.Increment(static_cast<double>(bytes));
  }

  // Family::Add takes the family's mutex; the hot path instead finds the
  // series under a shared lock and takes the exclusive lock only for a new
  // label set (bounded by routes x methods x statuses). `labels()` builds
  // the label map only then: a std::map per request was most of the cost.
  //
  // The per-request series go through Local() first: a thread's own copy of
  // the lookups it has done, so the hot path takes no lock at all (a shared
  // lock still moves its cache line between the I/O threads on every
  // request). Series are never removed, so a cached pointer stays valid.
  template <class T, class MakeLabels, class... Args>
  T& Series(Family<T>& family, std::unordered_map<std::string, T*>& cache, const std::string& key,
            const MakeLabels& labels, Args&&... args) {
    {
      std::shared_lock lock(cache_mu_);
      auto it = cache.find(key);
      if (it != cache.end()) return *it->second;
    }
    std::unique_lock lock(cache_mu_);
    auto [it, inserted] = cache.emplace(key, nullptr);
    if (inserted) it->second = &family.Add(labels(), std::forward<Args>(args)...);
    return *it->second;
  }

  template <class T, class MakeLabels, class... Args>
  T& Local(Family<T>& family, std::unordered_map<std::string, T*>& cache, const std::string& key,
           const MakeLabels& labels, Args&&... args) {
    // Keyed by this Impl's serial number and the family's cache: Metrics
    // objects (tests make several, possibly at a reused address) never see
    // each other's series.
    thread_local std::map<std::pair<uint64_t, const void*>, std::unordered_map<std::string, void*>>
        local;
    auto& mine = local[{serial_, &cache}];
    auto it = mine.find(key);
    if (it != mine.end()) return *static_cast<T*>(it->second);
    T& series = Series(family, cache, key, labels, std::forward<Args>(args)...);
    mine.emplace(key, &series);
    return series;
  }

  // Caps `project` label values (docs/metrics.md: bounded cardinality).
  std::string ProjectLabel(std::string_view project) {
    std::string p(project.empty() ? "_none" : project);
    {
      std::shared_lock lock(cache_mu_);
      if (projects_.count(p)) return p;
      if (projects_.size() >= kMaxProjectLabels) return "_other";
    }
    std::unique_lock lock(cache_mu_);
    if (projects_.size() >= kMaxProjectLabels && !projects_.count(p)) return "_other";
    projects_.insert({p, true});
    return p;
  }

  void UpdateProcess() {
    long page = sysconf(_SC_PAGESIZE);
    std::ifstream statm("/proc/self/statm");
    uint64_t size = 0, resident = 0;
    if (statm >> size >> resident) resident_.Set(static_cast<double>(resident * page));

    size_t fds = 0;
    if (DIR* d = opendir("/proc/self/fd")) {
      while (dirent* e = readdir(d)) {
        if (e->d_name[0] != '.') ++fds;
      }
      closedir(d);
      open_fds_.Set(static_cast<double>(fds > 0 ? fds - 1 : 0));  // minus the DIR's own fd
    }

    // /proc/self/stat: fields 14 and 15 are utime and stime in clock ticks.
    // The command name (field 2) may contain spaces, so skip past its ')'.
    std::ifstream stat("/proc/self/stat");
    std::string line;
    if (std::getline(stat, line)) {
      size_t close = line.rfind(')');
      if (close != std::string::npos) {
        std::istringstream rest(line.substr(close + 2));
        std::string field;
        uint64_t utime = 0, stime = 0;
        for (int i = 3; i <= 15 && rest >> field; ++i) {
          if (i == 14) utime = std::stoull(field);
          if (i == 15) stime = std::stoull(field);
        }
        double cpu = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
        // A counter: move it forward by what was used since the last scrape.
        if (cpu > cpu_seconds_.Value()) cpu_seconds_.Increment(cpu - cpu_seconds_.Value());
      }
    }
  }

  prometheus::Registry registry_;
  static inline std::atomic<uint64_t> next_serial_{1};
  const uint64_t serial_ = next_serial_.fetch_add(1);
  std::shared_mutex cache_mu_;
  std::unordered_map<std::string, Counter*> request_counters_;
  std::unordered_map<std::string, Histogram*> request_durations_;
  std::unordered_map<std::string, Counter*> assertion_counters_;
  std::unordered_map<std::string, Counter*> rate_limited_counters_;
  std::unordered_map<std::string, Gauge*> disk_gauges_;
  std::unordered_map<std::string, bool> projects_;

  Family<Counter>& http_requests_;
  Family<Histogram>& http_duration_;
  Histogram& fsync_;
  Counter& wal_bytes_;
  Histogram& group_records_;
  Gauge& replay_seconds_;
  Gauge& applied_lsn_;
  Gauge& durable_lsn_;
  Family<Counter>& assertions_;
  Family<Counter>& rate_limited_;
  Family<Gauge>& disk_free_;
  Gauge& pending_compaction_;
  Gauge& live_sst_;
  Gauge& memtable_;
  Gauge& archive_lsn_;
  Gauge& archive_lag_seconds_;
  Gauge& archive_lag_bytes_;
  Counter& archive_failures_;
  Gauge& standby_;
  Gauge& standby_lag_lsn_;
  Gauge& standby_lag_seconds_;
  Gauge& writer_epoch_;
  Gauge& fenced_;
  Gauge& wal_healthy_;
  Gauge& ready_;
  Gauge& connections_;
  Counter& connections_rejected_;
  Gauge& resident_;
  Gauge& open_fds_;
  Counter& cpu_seconds_;
  Gauge& start_time_;

  // Per-project figures and limits (engine/project_usage.h), refreshed from
  // the database at each scrape; a project that is gone loses its series.
  Family<Gauge>& project_bytes_ = NewFamily<Gauge>(registry_, "stemedb_project_stored_bytes",
                                                   "Bytes a project stores (docs/projects.md)");
  Family<Gauge>& project_assertions_ = NewFamily<Gauge>(registry_, "stemedb_project_assertions",
                                                        "Assertion records a project stores");
  Family<Gauge>& project_max_bytes_ = NewFamily<Gauge>(
      registry_, "stemedb_project_max_bytes", "A project's stored-bytes quota; 0 = unlimited");
  Family<Gauge>& project_max_assertions_ = NewFamily<Gauge>(
      registry_, "stemedb_project_max_assertions", "A project's assertion quota; 0 = unlimited");
  std::mutex project_mu_;
  std::map<std::string, std::array<Gauge*, 4>> project_series_;  // under project_mu_

  void UpdateProjects(engine::Database& db) {
    std::map<std::string, std::array<double, 4>> now;
    for (const auto& [project, f] : db.AllProjectFigures()) {
      now[project] = {static_cast<double>(f.stored_bytes), static_cast<double>(f.assertions), 0, 0};
    }
    db.ScanSystem(engine::SystemTable::kProjects, "",
                  [&](std::string_view project, std::string_view value) {
                    auto r = engine::DecodeProjectRecord(value);
                    if (!r) return true;
                    auto& v = now[std::string(project)];
                    v[2] = static_cast<double>(r->max_bytes);
                    v[3] = static_cast<double>(r->max_assertions);
                    return true;
                  })
        .IgnoreError("a scrape shows what it could read");
    std::lock_guard<std::mutex> lock(project_mu_);
    for (auto it = project_series_.begin(); it != project_series_.end();) {
      if (now.count(it->first) != 0) {
        ++it;
        continue;
      }
      project_bytes_.Remove(it->second[0]);
      project_assertions_.Remove(it->second[1]);
      project_max_bytes_.Remove(it->second[2]);
      project_max_assertions_.Remove(it->second[3]);
      it = project_series_.erase(it);
    }
    for (const auto& [project, v] : now) {
      auto it = project_series_.find(project);
      if (it == project_series_.end()) {
        // Bounded cardinality: projects past the cap (in name order) get no series.
        if (project_series_.size() >= kMaxProjectLabels) continue;
        const std::map<std::string, std::string> labels{{"project", project}};
        it = project_series_
                 .emplace(project, std::array<Gauge*, 4>{&project_bytes_.Add(labels),
                                                         &project_assertions_.Add(labels),
                                                         &project_max_bytes_.Add(labels),
                                                         &project_max_assertions_.Add(labels)})
                 .first;
      }
      for (size_t i = 0; i < 4; ++i) it->second[i]->Set(v[i]);
    }
  }
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

wal::WalProbe* Metrics::wal_probe() { return impl_.get(); }

void Metrics::ObserveRequest(std::string_view route, std::string_view method, unsigned status,
                             std::chrono::nanoseconds duration) {
  // Lookup keys in buffers of the calling (I/O) thread: no allocation once
  // they have grown to the longest route.
  thread_local std::string key;
  char status_text[4] = {static_cast<char>('0' + status / 100 % 10),
                         static_cast<char>('0' + status / 10 % 10),
                         static_cast<char>('0' + status % 10), '\0'};
  key.assign(route).append(1, '\0').append(method).append(1, '\0').append(status_text, 3);
  impl_
      ->Local(impl_->http_requests_, impl_->request_counters_, key,
              [&] {
                return prometheus::Labels{{"route", std::string(route)},
                                          {"method", std::string(method)},
                                          {"status", std::string(status_text, 3)}};
              })
      .Increment();
  key.assign(route);
  impl_
      ->Local(
          impl_->http_duration_, impl_->request_durations_, key,
          [&] {
            return prometheus::Labels{{"route", std::string(route)}};
          },
          RequestBuckets())
      .Observe(std::chrono::duration<double>(duration).count());
}

void Metrics::AddAssertionsWritten(std::string_view project, uint64_t count) {
  std::string label = impl_->ProjectLabel(project);
  impl_
      ->Series(impl_->assertions_, impl_->assertion_counters_, label,
               [&] {
                 return prometheus::Labels{{"project", label}};
               })
      .Increment(static_cast<double>(count));
}

void Metrics::AddRateLimited(std::string_view project) {
  std::string label = impl_->ProjectLabel(project);
  impl_
      ->Series(impl_->rate_limited_, impl_->rate_limited_counters_, label,
               [&] {
                 return prometheus::Labels{{"project", label}};
               })
      .Increment();
}

void Metrics::SetDiskFree(std::string_view volume, uint64_t bytes) {
  impl_
      ->Series(impl_->disk_free_, impl_->disk_gauges_, std::string(volume),
               [&] {
                 return prometheus::Labels{{"volume", std::string(volume)}};
               })
      .Set(static_cast<double>(bytes));
}

void Metrics::SetReplaySeconds(double seconds) { impl_->replay_seconds_.Set(seconds); }

void Metrics::UpdateFromDatabase(engine::Database& db) {
  engine::DatabaseStats s = db.stats();
  impl_->applied_lsn_.Set(static_cast<double>(s.applied_lsn.value()));
  impl_->durable_lsn_.Set(static_cast<double>(s.wal.durable_lsn.value()));
  impl_->pending_compaction_.Set(static_cast<double>(s.pending_compaction_bytes));
  impl_->live_sst_.Set(static_cast<double>(s.live_sst_bytes));
  impl_->memtable_.Set(static_cast<double>(s.memtable_bytes));
  impl_->wal_healthy_.Set(db.writable() ? 1 : 0);
  impl_->UpdateProjects(db);
  if (s.replay_seconds > 0) impl_->replay_seconds_.Set(s.replay_seconds);
  // The probe counts bytes per group; if the WAL's own total is ahead (a
  // probe that reports payload bytes only), catch the counter up so it
  // stays monotonic and converges on what the WAL wrote.
  double probe_total = impl_->wal_bytes_.Value();
  double wal_total = static_cast<double>(s.wal.bytes_written);
  if (wal_total > probe_total) impl_->wal_bytes_.Increment(wal_total - probe_total);
}

void Metrics::SetWalArchive(uint64_t archived_lsn, double lag_seconds, uint64_t lag_bytes,
                            uint64_t failures_total) {
  impl_->archive_lsn_.Set(static_cast<double>(archived_lsn));
  impl_->archive_lag_seconds_.Set(lag_seconds);
  impl_->archive_lag_bytes_.Set(static_cast<double>(lag_bytes));
  const double seen = impl_->archive_failures_.Value();
  if (static_cast<double>(failures_total) > seen) {
    impl_->archive_failures_.Increment(static_cast<double>(failures_total) - seen);
  }
}

void Metrics::SetStandby(bool standby, uint64_t lag_lsn, double lag_seconds) {
  impl_->standby_.Set(standby ? 1 : 0);
  impl_->standby_lag_lsn_.Set(static_cast<double>(lag_lsn));
  impl_->standby_lag_seconds_.Set(lag_seconds);
}

void Metrics::SetWriterEpoch(uint64_t epoch, bool fenced) {
  impl_->writer_epoch_.Set(static_cast<double>(epoch));
  impl_->fenced_.Set(fenced ? 1 : 0);
}

std::string Metrics::Render() {
  impl_->UpdateProcess();
  std::vector<prometheus::MetricFamily> families = impl_->registry_.Collect();
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  // prometheus-cpp leaves out a labelled family with no series yet; name it
  // anyway (HELP/TYPE only), so every name of docs/metrics.md is present from the first
  // scrape and `absent()` alerts do not fire on a fresh server.
  for (const FamilyDoc& d : {kHttpRequests, kHttpDuration, kAssertions, kRateLimited, kDiskFree}) {
    bool present = false;
    for (const auto& f : families) present = present || f.name == d.name;
    if (!present) {
      out << "# HELP " << d.name << " " << d.help << "\n# TYPE " << d.name << " " << d.type << "\n";
    }
  }
  return out.str();
}

void Metrics::SetConnectionsActive(size_t active) {
  impl_->connections_.Set(static_cast<double>(active));
}
void Metrics::AddConnectionRejected() { impl_->connections_rejected_.Increment(); }
void Metrics::SetReady(bool ready) { impl_->ready_.Set(ready ? 1 : 0); }

}  // namespace stemedb::api
