// `stemectl restore` killed with SIGKILL mid-way (a pod evicted, a node
// lost), against the real binaries: the stemectl executable, rclone with a
// local remote, the stemedb server (backup/restore.h, docs/backup.md).
//
// After every kill:
//   (a) the server, started on a copy of what is left, either refuses with
//       exit 1 and one "stemedb: ..." line, or is ready and serves EVERY
//       assertion of the snapshot; it never serves an empty or partial store;
//   (b) re-running the same restore exits 0 and the server then serves every
//       assertion of the snapshot.
// Kill points: byte offsets of the unpacked data (rclone throttled with
// RCLONE_BWLIMIT; SIGKILL once that many bytes are on disk), in both
// layouts, and every directory-changing step after the download starts
// (create, fsync, rename, marker), through the test build's
// STEMECTL_FAILPOINT=kill_before_op=N.
//
// The stemectl binary is STEMEDB_E2E_STEMECTL if set (e.g. an older build,
// to show what this test catches), else the one CMake built.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "backup/child_process.h"
#include "backup/restore.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"

namespace stemedb::e2e {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string StemectlBinary() {
  if (const char* p = std::getenv("STEMEDB_E2E_STEMECTL"); p && *p) return p;
  return STEMECTL_BINARY;
}

struct CtlRun {
  int code = -1;
  std::string out, err;
};

// The environment of the stemectl child is this process's (ChildProcess
// inherits it): tests set RCLONE_BWLIMIT / STEMECTL_FAILPOINT around a run.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (!value.empty()) ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

Result<std::unique_ptr<backup::ChildProcess>> SpawnCtl(const std::vector<std::string>& args) {
  backup::ChildOptions options;
  options.argv = {StemectlBinary()};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.stdout_mode = backup::ChildOptions::Output::kCapture;
  return backup::ChildProcess::Start(options);
}

CtlRun Finish(backup::ChildProcess& child) {
  CtlRun run;
  auto exit = child.Wait();
  if (!exit) {
    run.err = exit.error().ToString();
    return run;
  }
  run.code = exit->code;
  run.out = exit->stdout_text;
  run.err = exit->stderr_text;
  return run;
}

CtlRun RunCtl(const std::vector<std::string>& args) {
  auto child = SpawnCtl(args);
  if (!child) return {.code = -1, .out = "", .err = child.error().ToString()};
  return Finish(**child);
}

// Bytes of regular files under `dir`, tolerating files that vanish or move
// while it counts.
uint64_t BytesUnder(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ec2;
    if (it->is_regular_file(ec2)) {
      uint64_t n = it->file_size(ec2);
      if (!ec2) total += n;
    }
  }
  return total;
}

std::string RandomText(size_t n, std::mt19937& rng) {
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string s(n, 'x');
  for (char& c : s) c = kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return s;
}

// One target layout under `root`: the server's default (--data-dir) or the
// deployment's (--wal-dir/--db-dir, RocksDB one level below the DB volume).
struct Layout {
  bool deployment = false;
  std::string root;

  std::string data_dir() const { return deployment ? root + "/dbvol" : root + "/data"; }
  std::string wal_dir() const { return deployment ? root + "/walvol" : root + "/data/wal"; }
  std::string db_dir() const { return deployment ? root + "/dbvol/rocksdb" : root + "/data/db"; }
  std::vector<std::string> Flags() const {
    if (!deployment) return {"--data-dir", data_dir()};
    return {"--wal-dir", wal_dir(), "--db-dir", db_dir()};
  }
  Layout MovedTo(const std::string& other) const { return {deployment, other}; }
};

// Written once per test process (ctest runs each TEST in its own): a store,
// its backup in a local rclone remote, and what every assertion read back.
struct Snapshot {
  std::string tmp;
  std::string remote_dir;  // testremote:<tmp>/remote
  std::string object;      // remote_dir/NAME
  std::string root_key, writer_key;
  std::map<std::string, std::string> bodies;  // id -> GET /v1/assertions/{id}
  uint64_t archive_bytes = 0;
  uint64_t data_bytes = 0;  // sum of the unpacked files
};
Snapshot* snap = nullptr;

class RestoreKillTest : public ::testing::Test {
 protected:
  static constexpr int kAssertions = 240;
  static constexpr size_t kValueBytes = 8 << 10;

  static void SetUpTestSuite() {
    snap = new Snapshot;
    char tmpl[] = "/tmp/stemedb-restore-kill-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    snap->tmp = tmpl;
    ::setenv("RCLONE_CONFIG_TESTREMOTE_TYPE", "local", 1);
    ::setenv("RCLONE_CONFIG", (snap->tmp + "/no-rclone.conf").c_str(), 1);
    snap->remote_dir = "testremote:" + snap->tmp + "/remote";

    ServerProcess server;
    Status started = server.Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
    snap->root_key = server.root_key();
    auto http = server.Client();
    auto key = CreateKey(*http, server.root_key(), "restore", "write_agent", "kill");
    ASSERT_TRUE(key) << key.error().ToString();
    snap->writer_key = key->key;
    // Values that compress poorly, so the archive spans several SSTs and
    // enough bytes to kill at many offsets.
    std::mt19937 rng(7);
    for (int i = 0; i < kAssertions; ++i) {
      auto r = PostAssertion(*http, snap->writer_key,
                             Assertion("s" + std::to_string(i % 17), "p",
                                       json::value(RandomText(kValueBytes, rng)), "agent-1"));
      ASSERT_TRUE(r && r->status == 201) << Describe(r);
      snap->bodies[Str(ParseJson(r->body), "id")] = "";
    }
    for (auto& [id, body] : snap->bodies) {
      auto r = http->Request("GET", "/v1/assertions/" + id, {}, Auth(snap->writer_key));
      ASSERT_TRUE(r && r->status == 200) << Describe(r);
      body = r->body;
    }
    {
      ScopedEnv admin("STEMEDB_ADMIN_KEY", server.root_key());
      CtlRun b = RunCtl({"backup", "--remote", snap->remote_dir, "--url", server.url()});
      ASSERT_EQ(b.code, 0) << b.out << b.err;
      std::smatch m;
      ASSERT_TRUE(std::regex_search(b.out, m, std::regex("backup (\\S+)\\n"))) << b.out;
      snap->object = m[1];
      ASSERT_TRUE(std::regex_search(b.out, m, std::regex("bytes +(\\d+)"))) << b.out;
      snap->archive_bytes = std::stoull(m[1]);
    }
    ASSERT_EQ(server.Stop(), 0);

    // A clean restore: the reference size, and proof the snapshot restores.
    Layout clean{false, snap->tmp + "/clean"};
    CtlRun r = RunCtl(Restore(clean));
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    snap->data_bytes = BytesUnder(clean.db_dir());
    std::cout << "snapshot: " << snap->bodies.size() << " assertions, archive "
              << snap->archive_bytes << " bytes, " << snap->data_bytes << " bytes unpacked\n";
  }

  static void TearDownTestSuite() {
    if (snap == nullptr) return;
    std::error_code ec;
    if (std::getenv("STEMEDB_E2E_KEEP") == nullptr) fs::remove_all(snap->tmp, ec);
    delete snap;
    snap = nullptr;
  }

  void SetUp() override {
    if (snap == nullptr || snap->object.empty() || snap->data_bytes == 0) {
      GTEST_SKIP() << "suite setup failed";
    }
  }

  static std::vector<std::string> Restore(const Layout& layout) {
    std::vector<std::string> args{"restore", "--remote", snap->object};
    for (const std::string& f : layout.Flags()) args.push_back(f);
    return args;
  }

  static void ConfigureServer(ServerProcess& server, const Layout& layout) {
    server.SetEnv("STEMEDB_DATA_DIR", layout.data_dir());
    server.SetEnv("STEMEDB_WAL_DIR", layout.wal_dir());
    server.SetEnv("STEMEDB_DB_DIR", layout.db_dir());
    server.SetEnv("STEMEDB_ROOT_API_KEY", snap->root_key);
  }

  // Every assertion of the snapshot, byte for byte; nothing else counts.
  static void ExpectWholeSnapshot(ServerProcess& server, const std::string& when) {
    auto http = server.Client();
    size_t missing = 0;
    std::string first_bad;
    for (const auto& [id, body] : snap->bodies) {
      auto r = http->Request("GET", "/v1/assertions/" + id, {}, Auth(snap->writer_key));
      if (!r || r->status != 200 || r->body != body) {
        if (missing++ == 0) first_bad = id + ": " + Describe(r);
      }
    }
    EXPECT_EQ(missing, 0u) << when << ": the server is ready but serves " << missing << " of "
                           << snap->bodies.size() << " assertions wrong or not at all (first "
                           << first_bad << ")";
  }

  // (a) on a copy of what the kill left: refuse, or the whole snapshot.
  void CheckServerOnLeftovers(const Layout& layout, const std::string& when) {
    const std::string copy_root = layout.root + "-copy";
    std::error_code ec;
    fs::remove_all(copy_root, ec);
    fs::copy(layout.root, copy_root, fs::copy_options::recursive, ec);
    ASSERT_FALSE(ec) << ec.message();
    const Layout copy = layout.MovedTo(copy_root);
    const bool interrupted = !fs::exists(copy.db_dir() + "/RESTORED");
    const bool scratch_left = fs::exists(backup::RestoreScratchPath(copy.db_dir()));

    ServerProcess server;
    ConfigureServer(server, copy);
    Status started = server.Start(30s);
    if (started.ok()) {
      ExpectWholeSnapshot(server, when + ", server on what was left");
      EXPECT_FALSE(interrupted) << when << ": the server started on an unfinished restore";
      server.Stop();
    } else {
      // A refused start: exit 1 with the one line the server prints.
      EXPECT_NE(started.message().find("exited with code 1"), std::string::npos)
          << when << ": " << started.ToString();
      const std::string err = server.StderrSinceStart();
      EXPECT_EQ(err.rfind("stemedb: ", 0), 0u) << when << ": " << err;
      EXPECT_NE(err.find("interrupted restore"), std::string::npos) << when << ": " << err;
      // With the scratch left (the DB dir itself may be missing, which
      // alone would make a fresh store), it is the restore guard that says so.
      if (scratch_left) {
        EXPECT_NE(err.find("is the target of an interrupted restore"), std::string::npos)
            << when << ": " << err;
      }
    }
    fs::remove_all(copy_root, ec);
  }

  // (b) the same restore again finishes, and the server serves the snapshot.
  void CheckRetryFinishes(const Layout& layout, const std::string& when) {
    CtlRun again = RunCtl(Restore(layout));
    ASSERT_EQ(again.code, 0) << when << ": retry\n" << again.out << again.err;
    EXPECT_FALSE(fs::exists(backup::RestoreScratchPath(layout.db_dir())));
    ServerProcess server;
    ConfigureServer(server, layout);
    Status started = server.Start(30s);
    ASSERT_TRUE(started.ok()) << when << ": " << started.ToString();
    ExpectWholeSnapshot(server, when + ", after the retry");
    EXPECT_EQ(server.Stop(), 0);
  }

  // Kills the restore once `bytes` of unpacked data are on disk.
  void KillAtBytes(const Layout& layout, uint64_t bytes) {
    const std::string when = "SIGKILL at " + std::to_string(bytes) + " of " +
                             std::to_string(snap->data_bytes) + " bytes (" +
                             (layout.deployment ? "deployment" : "data-dir") + " layout)";
    SCOPED_TRACE(when);
    // The download takes about three seconds whatever the archive size.
    const uint64_t kib_per_s = std::max<uint64_t>(64, snap->archive_bytes / 3 / 1024);
    auto child = [&] {
      ScopedEnv limit("RCLONE_BWLIMIT", std::to_string(kib_per_s) + "k");
      return SpawnCtl(Restore(layout));
    }();
    ASSERT_TRUE(child) << child.error().ToString();
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (BytesUnder(layout.root) < bytes && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    (*child)->Signal(SIGKILL);
    CtlRun killed = Finish(**child);
    // At the last offset the restore may commit before the poll sees it.
    ASSERT_TRUE(killed.code == 128 + SIGKILL || (killed.code == 0 && bytes >= snap->data_bytes))
        << "exit " << killed.code << "\n"
        << killed.out << killed.err;
    if (killed.code != 0) ++kills_;
    CheckServerOnLeftovers(layout, when);
    CheckRetryFinishes(layout, when);
  }

  void ByteOffsetSweep(bool deployment) {
    constexpr int kPoints = 12;
    for (int i = 0; i < kPoints; ++i) {
      // 1 byte, then evenly up to the last byte of the data.
      uint64_t at = i == 0 ? 1 : snap->data_bytes * i / (kPoints - 1);
      Layout layout{deployment,
                    snap->tmp + "/bytes-" + std::to_string(deployment) + "-" + std::to_string(i)};
      KillAtBytes(layout, at);
      if (HasFatalFailure()) return;
    }
    EXPECT_GE(kills_, kPoints - 1);
  }

  int kills_ = 0;
};

TEST_F(RestoreKillTest, KilledAtByteOffsetsDataDirLayout) { ByteOffsetSweep(false); }

TEST_F(RestoreKillTest, KilledAtByteOffsetsDeploymentLayout) { ByteOffsetSweep(true); }

// Every directory-changing step from the creation of the scratch directory
// on: unpacked files, their fsyncs, the marker, the rename, the final fsync.
// Before that step the restore has written nothing but empty directories and
// the lock file (docs/backup.md).
TEST_F(RestoreKillTest, KilledBeforeEveryStepDeploymentLayout) {
  // A clean run with the failpoint armed but never firing lists the steps.
  Layout probe{true, snap->tmp + "/steps-probe"};
  CtlRun listed = [&] {
    ScopedEnv fp("STEMECTL_FAILPOINT", "kill_before_op=0");
    return RunCtl(Restore(probe));
  }();
  ASSERT_EQ(listed.code, 0) << listed.out << listed.err;
  std::vector<std::string> steps;
  std::regex op("failpoint: op (\\d+): (.*)");
  std::istringstream lines(listed.err);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, op)) steps.push_back(m[2]);
  }
  size_t first = 0;
  while (first < steps.size() && steps[first].find(".rocksdb.restore-tmp") == std::string::npos) {
    ++first;
  }
  ASSERT_LT(first, steps.size()) << "no step creates the scratch directory:\n" << listed.err;
  ASSERT_NE(steps.back().find("SyncDir"), std::string::npos) << steps.back();
  // Step first + 1 (1-based) creates the scratch; kill before each later one.
  std::cout << steps.size() - first - 1 << " kill points, after step " << first + 1 << " ("
            << steps[first] << ") up to before step " << steps.size() << " (" << steps.back()
            << ")\n";
  ASSERT_GE(steps.size() - first - 1, 15u);

  for (size_t n = first + 2; n <= steps.size(); ++n) {
    const std::string when = "SIGKILL before step " + std::to_string(n) + ": " + steps[n - 1];
    SCOPED_TRACE(when);
    Layout layout{true, snap->tmp + "/step-" + std::to_string(n)};
    CtlRun killed = [&] {
      ScopedEnv fp("STEMECTL_FAILPOINT", "kill_before_op=" + std::to_string(n));
      return RunCtl(Restore(layout));
    }();
    ASSERT_EQ(killed.code, 128 + SIGKILL) << killed.out << killed.err;
    CheckServerOnLeftovers(layout, when);
    // The retry is itself killed early (while it clears the leftovers) on
    // every other point; the one after that must still finish.
    if (n % 2 == 0) {
      ScopedEnv fp("STEMECTL_FAILPOINT", "kill_before_op=3");
      CtlRun again = RunCtl(Restore(layout));
      EXPECT_TRUE(again.code == 128 + SIGKILL || again.code == 0) << again.out << again.err;
    }
    CheckRetryFinishes(layout, when);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace stemedb::e2e
