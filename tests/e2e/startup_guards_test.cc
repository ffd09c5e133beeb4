// Startup guards (docs/configuration.md): every start-up guard makes the real binary exit 1 with
// one clear line on stderr, and a refused start writes nothing to the data directory.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"
#include "tests/util/dir_listing.h"

namespace stemedb::e2e {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::vector<std::string> NonEmptyLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

// Regular files below `dir` (a refused start may have created empty dirs at
// most, and only guard 6 even that).
std::vector<std::string> FilesBelow(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory()) files.push_back(it->path().string());
  }
  return files;
}

// name -> size of every WAL segment below `dir`. (prealloc.tmp is left out:
// a running server's preallocator legitimately grows it.)
std::map<std::string, uintmax_t> Snapshot(const std::string& dir) {
  std::map<std::string, uintmax_t> snap;
  for (const auto& f : FilesBelow(dir)) {
    if (f.ends_with(".wal")) snap[f] = fs::file_size(f);
  }
  return snap;
}

// Everything below `dir`, for failure messages.
std::string Listing(const std::string& dir) {
  std::string out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    out += "  " + it->path().string() + (it->is_directory() ? "/" : "") + "\n";
  }
  return out;
}

// The refusal: exit 1, one line naming `needle` (and not more than one line
// overall, apart from an optional version banner), nothing in the data dir.
void ExpectRefusal(ServerProcess& server, const std::string& needle,
                   bool allow_empty_dirs = false) {
  ServerProcess::ExitResult r = server.RunExpectExit();
  ASSERT_FALSE(r.timed_out) << "server did not exit; stderr:\n" << r.stderr_text;
  EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
  std::vector<std::string> lines = NonEmptyLines(r.stderr_text);
  auto hits = std::count_if(lines.begin(), lines.end(), [&](const std::string& l) {
    return l.find(needle) != std::string::npos;
  });
  EXPECT_EQ(hits, 1) << "expected one line naming " << needle << "; stderr:\n" << r.stderr_text;
  EXPECT_LE(lines.size(), 2u) << "a refusal is one clear line; stderr:\n" << r.stderr_text;
  if (!server.root_key().empty()) {
    EXPECT_EQ(r.stderr_text.find(server.root_key()), std::string::npos) << "stderr echoes the key";
  }
  if (allow_empty_dirs) {
    EXPECT_TRUE(FilesBelow(server.data_dir()).empty()) << "refused start wrote files:\n"
                                                       << Listing(server.data_dir());
  } else {
    EXPECT_TRUE(!fs::exists(server.data_dir()) || fs::is_empty(server.data_dir()))
        << "refused start created something in " << server.data_dir() << ":\n"
        << Listing(server.data_dir());
  }
}

TEST(StartupGuards, AuthWithUnsafeSkipSignaturesRefuses) {
  ServerProcess server;
  server.SetEnv("STEMEDB_UNSAFE_SKIP_SIGNATURES", "true");
  ExpectRefusal(server, "STEMEDB_UNSAFE_SKIP_SIGNATURES");
}

TEST(StartupGuards, UnsafeSkipSignaturesAllowedWithoutAuthOnLoopback) {
  // The control case of guard 1: the flag alone is fine on a dev loopback.
  ServerProcess server;
  server.SetEnv("STEMEDB_UNSAFE_SKIP_SIGNATURES", "true");
  server.SetEnv("STEMEDB_AUTH_ENABLED", "false");
  server.UnsetEnv("STEMEDB_ROOT_API_KEY");
  ASSERT_TRUE(server.Start().ok()) << server.Stderr();
  EXPECT_EQ(server.Stop(), 0);
}

TEST(StartupGuards, AuthDisabledOnNonLoopbackRefuses) {
  ServerProcess server;
  server.SetEnv("STEMEDB_AUTH_ENABLED", "false");
  server.SetEnv("STEMEDB_BIND_ADDR", "0.0.0.0:" + std::to_string(server.port()));
  ExpectRefusal(server, "STEMEDB_AUTH_ENABLED");
}

TEST(StartupGuards, MalformedRootKeyRefusesWithoutEchoingIt) {
  for (const std::string& bad :
       {std::string("steme_live_abc"), "steme_test_" + std::string(48, 'a'),
        "steme_live_" + std::string(48, 'A'), "steme_live_" + std::string(47, 'a') + "g"}) {
    SCOPED_TRACE(bad.substr(0, 12));
    ServerProcess server;
    server.SetEnv("STEMEDB_ROOT_API_KEY", bad);
    ExpectRefusal(server, "STEMEDB_ROOT_API_KEY");
    EXPECT_EQ(server.Stderr().find(bad), std::string::npos) << "stderr echoes the bad key";
  }
}

TEST(StartupGuards, NoRootKeyOnNonLoopbackRefusesNamingTheVariable) {
  ServerProcess server;
  server.UnsetEnv("STEMEDB_ROOT_API_KEY");
  server.SetEnv("STEMEDB_BIND_ADDR", "0.0.0.0:" + std::to_string(server.port()));
  ExpectRefusal(server, "STEMEDB_ROOT_API_KEY");
}

TEST(StartupGuards, NoRootKeyOnLoopbackGeneratesRootKeyFile) {
  ServerProcess server;
  server.UnsetEnv("STEMEDB_ROOT_API_KEY");
  ASSERT_TRUE(server.Start().ok()) << server.Stderr();
  const std::string path = server.data_dir() + "/root.key";
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0) << "no " << path;
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(path);
  std::string key;
  std::getline(in, key);
  EXPECT_TRUE(std::regex_match(key, std::regex("steme_live_[0-9a-f]{48}"))) << "bad format";
  const std::string log = server.Stderr();
  EXPECT_EQ(log.find(key), std::string::npos) << "the generated key was printed";
  EXPECT_NE(log.find(path), std::string::npos) << "the key file path is not logged:\n" << log;

  auto http = server.Client();
  auto r = http->Request("GET", "/v1/admin/api-keys", {}, Auth(key));
  ASSERT_TRUE(r) << Describe(r);
  EXPECT_EQ(r->status, 200) << Describe(r);
  auto created = CreateKey(*http, key, "p1", "write_agent");
  EXPECT_TRUE(created) << (created ? "" : created.error().ToString());

  // A restart reuses the same file and key; it is not regenerated.
  ASSERT_TRUE(server.Restart().ok()) << server.StderrSinceStart();
  std::ifstream again(path);
  std::string key2;
  std::getline(again, key2);
  EXPECT_EQ(key, key2);
  auto http2 = server.Client();
  r = http2->Request("GET", "/v1/admin/api-keys", {}, Auth(key));
  ASSERT_TRUE(r) << Describe(r);
  EXPECT_EQ(r->status, 200) << Describe(r);
}

TEST(StartupGuards, SecondServerOnSameDataDirRefuses) {
  ServerProcess first;
  ASSERT_TRUE(first.Start().ok()) << first.Stderr();
  auto http = first.Client();
  auto key = CreateKey(*http, first.root_key(), "p1", "write_agent");
  ASSERT_TRUE(key) << key.error().ToString();
  auto w = PostAssertion(*http, key->key, Assertion("s", "p", 1, "a"));
  ASSERT_TRUE(w && w->status == 201) << Describe(w);
  const auto before = Snapshot(first.data_dir() + "/wal");

  ServerProcess second;
  second.SetEnv("STEMEDB_DATA_DIR", first.data_dir());
  second.SetEnv("STEMEDB_ROOT_API_KEY", first.root_key());
  ServerProcess::ExitResult r = second.RunExpectExit();
  ASSERT_FALSE(r.timed_out) << r.stderr_text;
  EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find(first.data_dir()), std::string::npos)
      << "the refusal should name the data directory:\n"
      << r.stderr_text;
  EXPECT_LE(NonEmptyLines(r.stderr_text).size(), 2u) << r.stderr_text;
  EXPECT_EQ(Snapshot(first.data_dir() + "/wal"), before) << "the refused server touched the WAL";

  // The first one is unaffected.
  auto again = http->Request("GET", "/v1/ready");
  ASSERT_TRUE(again) << Describe(again);
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(first.Stop(), 0);
}

// `variable` names a directory nobody can create: the refusal names it. chmod
// does not stop root (CI runs as root): a path below a regular file does.
void ExpectUncreatableDirRefused(const std::string& variable, const std::string& leaf) {
  ServerProcess server;
  const std::string blocker = server.root() + "/not-a-dir";
  std::ofstream(blocker) << "x";
  server.SetEnv(variable, blocker + "/" + leaf);
  ExpectRefusal(server, blocker + "/" + leaf, /*allow_empty_dirs=*/true);
}

TEST(StartupGuards, UncreatableWalDirRefuses) {
  ExpectUncreatableDirRefused("STEMEDB_WAL_DIR", "wal");
}

TEST(StartupGuards, UncreatableDbDirRefuses) {
  ExpectUncreatableDirRefused("STEMEDB_DB_DIR", "db");
}

TEST(StartupGuards, CorruptSealedWalSegmentRefusesNamingFileAndOffset) {
  ServerProcess server;
  server.SetEnv("STEMEDB_WAL_SEGMENT_BYTES", "65536");
  ASSERT_TRUE(server.Start().ok()) << server.Stderr();
  auto http = server.Client();
  auto key = CreateKey(*http, server.root_key(), "p1", "write_agent");
  ASSERT_TRUE(key) << key.error().ToString();
  // ~40 batches of 10 x 1 KiB: several 64 KiB segments.
  const std::string filler(1000, 'v');
  for (int b = 0; b < 40; ++b) {
    json::array batch;
    for (int i = 0; i < 10; ++i) {
      batch.push_back(Assertion("s" + std::to_string(b * 10 + i), "p", json::string(filler), "a"));
    }
    auto r = http->Request("POST", "/v1/assert/batch",
                           Serialize(json::object{{"assertions", batch}}), Auth(key->key));
    ASSERT_TRUE(r && r->status == 201) << Describe(r);
  }
  // kill -9: no clean-shutdown flush may retire the segments.
  server.Kill();

  std::vector<fs::path> segments;
  for (const auto& e : fs::directory_iterator(server.data_dir() + "/wal")) {
    if (e.path().extension() == ".wal") segments.push_back(e.path());
  }
  std::sort(segments.begin(), segments.end());
  ASSERT_GE(segments.size(), 3u) << "expected several segments";
  const fs::path victim = segments[1];  // sealed: not the newest
  const auto offset = static_cast<std::streamoff>(fs::file_size(victim) / 2);
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(offset);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(offset);
    f.write(&c, 1);
  }
  const auto before = Snapshot(server.data_dir() + "/wal");

  ServerProcess::ExitResult r = server.RunExpectExit(60s);
  ASSERT_FALSE(r.timed_out) << r.stderr_text;
  EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find(victim.filename().string()), std::string::npos)
      << "the refusal should name " << victim.filename() << ":\n"
      << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("offset"), std::string::npos) << r.stderr_text;
  EXPECT_EQ(Snapshot(server.data_dir() + "/wal"), before) << "refused start changed the WAL";
}

TEST(StartupGuards, UnknownVariableWarnsNamingClosestKnownOne) {
  ServerProcess server;
  server.SetEnv("STEMEDB_WAL_SYNCH", "always");
  ASSERT_TRUE(server.Start().ok()) << server.Stderr();
  const std::string log = server.Stderr();
  // One line naming both the unknown variable and the known one (not
  // followed by "H", so the unknown name itself does not count).
  const std::regex known("STEMEDB_WAL_SYNC(?!H)");
  bool found = false;
  for (const auto& line : NonEmptyLines(log)) {
    if (line.find("STEMEDB_WAL_SYNCH") != std::string::npos && std::regex_search(line, known)) {
      found = true;
    }
  }
  EXPECT_TRUE(found) << "no warning naming STEMEDB_WAL_SYNCH and STEMEDB_WAL_SYNC:\n" << log;
  EXPECT_EQ(server.Stop(), 0);
}

TEST(StartupGuards, BadValueRefusesNamingTheVariable) {
  ServerProcess server;
  server.SetEnv("STEMEDB_WAL_SYNC", "sometimes");
  ExpectRefusal(server, "STEMEDB_WAL_SYNC");
}

// --- Guard 8: the store's identity (engine/FORMAT.md §6) -------------------

// A refused start must leave every path below `dirs` exactly as it was.
std::map<std::string, intmax_t> Tree(const std::vector<std::string>& dirs) {
  return stemedb::testing::TreeListing(dirs);
}

std::string StoreIdOf(ServerProcess& server) {
  auto http = server.Client();
  auto r = http->Request("GET", "/v1/health");
  if (!r || r->status != 200) return "";
  return Str(ParseJson(r->body), "store_id");
}

std::string AuditBody(ServerProcess& server) {
  auto http = server.Client();
  auto r = http->Request("GET", "/v1/admin/audit?limit=100", {}, Auth(server.root_key()));
  return r && r->status == 200 ? r->body : Describe(r);
}

// A started store holding one acknowledged assertion; returns its id.
std::string StartWithOneWrite(ServerProcess& server) {
  EXPECT_TRUE(server.Start().ok()) << server.Stderr();
  auto http = server.Client();
  auto key = CreateKey(*http, server.root_key(), "p1", "write_agent");
  EXPECT_TRUE(key) << key.error().ToString();
  if (!key) return "";
  auto w = PostAssertion(*http, key->key, Assertion("s", "p", 1, "a"));
  EXPECT_TRUE(w && w->status == 201) << Describe(w);
  return w && w->status == 201 ? Str(ParseJson(w->body), "id") : "";
}

// Exit 1, one line holding every needle, nothing below `dirs` changed.
void ExpectIdentityRefusal(ServerProcess& server, const std::vector<std::string>& needles,
                           const std::vector<std::string>& dirs) {
  const auto before = Tree(dirs);
  ServerProcess::ExitResult r = server.RunExpectExit();
  ASSERT_FALSE(r.timed_out) << "server did not exit; stderr:\n" << r.stderr_text;
  EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
  std::vector<std::string> lines = NonEmptyLines(r.stderr_text);
  EXPECT_EQ(lines.size(), 1u) << "a refusal is one line; stderr:\n" << r.stderr_text;
  for (const auto& n : needles) {
    EXPECT_NE(r.stderr_text.find(n), std::string::npos) << "no '" << n << "' in:\n"
                                                        << r.stderr_text;
  }
  EXPECT_EQ(Tree(dirs), before) << "the refused start changed the directories";
}

TEST(StartupGuards, HealthShowsStoreIdStableAcrossRestarts) {
  ServerProcess server;
  ASSERT_TRUE(server.Start().ok()) << server.Stderr();
  const std::string id = StoreIdOf(server);
  EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{32}"))) << id;
  std::ifstream wal_marker(server.data_dir() + "/wal/STORE"),
      root_marker(server.data_dir() + "/STORE");
  std::stringstream w, r;
  w << wal_marker.rdbuf();
  r << root_marker.rdbuf();
  EXPECT_NE(w.str().find("store_id=" + id), std::string::npos) << w.str();
  EXPECT_NE(w.str().find("wal_start_lsn=1"), std::string::npos) << w.str();
  EXPECT_NE(r.str().find("store_id=" + id), std::string::npos) << r.str();
  EXPECT_NE(server.Stderr().find(id), std::string::npos) << "the startup log names the store id";
  ASSERT_TRUE(server.Restart().ok()) << server.StderrSinceStart();
  EXPECT_EQ(StoreIdOf(server), id);
  server.Kill();
  ASSERT_TRUE(server.Start().ok()) << server.StderrSinceStart();
  EXPECT_EQ(StoreIdOf(server), id);
}

TEST(StartupGuards, WalVolumeSwappedForAnEmptyOneRefusesUntilOverridden) {
  ServerProcess server;
  const std::string written = StartWithOneWrite(server);
  const std::string id = StoreIdOf(server);
  server.Kill();  // the write is in the WAL only (not flushed)
  const std::string wal = server.data_dir() + "/wal";
  fs::rename(wal, server.root() + "/wal-volume-gone");
  fs::create_directory(wal);
  ExpectIdentityRefusal(server, {"STEMEDB_WAL_DIR", "is empty", id, "STEMEDB_ACCEPT_WAL_LOSS"},
                        {server.data_dir()});
  fs::remove(wal);  // a missing WAL dir is the same, and is not created
  ExpectIdentityRefusal(server, {"STEMEDB_ACCEPT_WAL_LOSS"}, {server.data_dir()});
  EXPECT_FALSE(fs::exists(wal));

  server.SetEnv("STEMEDB_ACCEPT_WAL_LOSS", "true");
  ASSERT_TRUE(server.Start().ok()) << server.StderrSinceStart();
  EXPECT_EQ(StoreIdOf(server), id);
  const std::string audit = AuditBody(server);
  EXPECT_NE(audit.find("store.override"), std::string::npos) << audit;
  EXPECT_NE(audit.find("STEMEDB_ACCEPT_WAL_LOSS"), std::string::npos) << audit;
  EXPECT_NE(server.StderrSinceStart().find("store identity override"), std::string::npos);
  // What the override accepted: the write that only the lost WAL held.
  auto http = server.Client();
  auto r = http->Request("GET", "/v1/assertions/" + written + "?project=p1", {},
                         Auth(server.root_key()));
  ASSERT_TRUE(r) << Describe(r);
  EXPECT_EQ(r->status, 404) << Describe(r);
  // Once accepted, the store starts without the override.
  server.UnsetEnv("STEMEDB_ACCEPT_WAL_LOSS");
  ASSERT_TRUE(server.Restart().ok()) << server.StderrSinceStart();
}

TEST(StartupGuards, DbVolumeOfAnotherStoreRefusesUntilOverridden) {
  ServerProcess a, b;
  StartWithOneWrite(a);
  const std::string id_a = StoreIdOf(a);
  ASSERT_EQ(a.Stop(), 0);
  StartWithOneWrite(b);
  const std::string id_b = StoreIdOf(b);
  ASSERT_EQ(b.Stop(), 0);
  ASSERT_NE(id_a, id_b);

  a.SetEnv("STEMEDB_DB_DIR", b.data_dir() + "/db");
  ExpectIdentityRefusal(a, {id_a, id_b, "STEMEDB_ACCEPT_STORE_MISMATCH"},
                        {a.data_dir(), b.data_dir()});

  a.AddArg("--accept-store-mismatch=true");  // the flag form of the override
  ASSERT_TRUE(a.Start().ok()) << a.StderrSinceStart();
  EXPECT_EQ(StoreIdOf(a), id_b) << "the DB's identity wins";
  const std::string audit = AuditBody(a);
  EXPECT_NE(audit.find("STEMEDB_ACCEPT_STORE_MISMATCH"), std::string::npos) << audit;
}

TEST(StartupGuards, SstFilesWithoutCurrentRefuseUntilOverridden) {
  ServerProcess server;
  const std::string written = StartWithOneWrite(server);
  const std::string id = StoreIdOf(server);
  ASSERT_EQ(server.Stop(), 0);
  // An interrupted restore: the SSTs arrived, CURRENT and the MANIFEST not.
  const std::string db = server.data_dir() + "/db";
  for (const auto& e : fs::directory_iterator(db)) {
    const std::string name = e.path().filename().string();
    if (name == "CURRENT" || name.starts_with("MANIFEST-")) fs::remove(e.path());
  }
  ExpectIdentityRefusal(server, {"STEMEDB_DB_DIR", "no CURRENT", "STEMEDB_ACCEPT_NEW_STORE"},
                        {server.data_dir()});

  server.SetEnv("STEMEDB_ACCEPT_NEW_STORE", "true");
  ASSERT_TRUE(server.Start().ok()) << server.StderrSinceStart();
  // Rebuilt from the WAL, which holds the whole history: nothing lost.
  EXPECT_EQ(StoreIdOf(server), id);
  auto http = server.Client();
  auto r = http->Request("GET", "/v1/assertions/" + written + "?project=p1", {},
                         Auth(server.root_key()));
  ASSERT_TRUE(r) << Describe(r);
  EXPECT_EQ(r->status, 200) << Describe(r);
  EXPECT_NE(AuditBody(server).find("STEMEDB_ACCEPT_NEW_STORE"), std::string::npos);
  bool set_aside = false;
  for (const auto& e : fs::directory_iterator(db)) {
    if (e.path().filename().string().starts_with("set-aside-")) set_aside = true;
  }
  EXPECT_TRUE(set_aside) << "the unopenable files are kept:\n" << Listing(db);
}

TEST(StartupGuards, DataRootThatLostBothVolumesRefusesUntilOverridden) {
  ServerProcess server;
  StartWithOneWrite(server);
  const std::string id = StoreIdOf(server);
  ASSERT_EQ(server.Stop(), 0);
  fs::remove_all(server.data_dir() + "/wal");
  fs::remove_all(server.data_dir() + "/db");
  ExpectIdentityRefusal(server, {id, "both empty", "STEMEDB_ACCEPT_NEW_STORE"},
                        {server.data_dir()});

  server.SetEnv("STEMEDB_ACCEPT_NEW_STORE", "true");
  ASSERT_TRUE(server.Start().ok()) << server.StderrSinceStart();
  const std::string fresh = StoreIdOf(server);
  EXPECT_NE(fresh, id);
  EXPECT_NE(AuditBody(server).find("STEMEDB_ACCEPT_NEW_STORE"), std::string::npos);
}

TEST(StartupGuards, StoreRestoredIntoTheWrongDirectoryRefuses) {
  // issue 15: STEMEDB_DB_DIR=$DATA_DIR/db/rocksdb (k3s) but the store's
  // files were moved into $DATA_DIR/db.
  ServerProcess server;
  StartWithOneWrite(server);
  ASSERT_EQ(server.Stop(), 0);
  fs::remove_all(server.data_dir() + "/wal");
  fs::remove(server.data_dir() + "/STORE");
  server.SetEnv("STEMEDB_DB_DIR", server.data_dir() + "/db/rocksdb");
  ExpectIdentityRefusal(server,
                        {"STEMEDB_DB_DIR '" + server.data_dir() + "/db/rocksdb' is empty",
                         "'" + server.data_dir() + "/db' holds a RocksDB store",
                         "did you restore into the wrong directory?", "STEMEDB_ACCEPT_NEW_STORE"},
                        {server.data_dir()});

  // The same files directly in STEMEDB_DATA_DIR.
  ServerProcess other;
  fs::create_directories(other.data_dir());
  for (const auto& e : fs::directory_iterator(server.data_dir() + "/db")) {
    fs::copy(e.path(), other.data_dir() + "/" + e.path().filename().string(),
             fs::copy_options::recursive);
  }
  ExpectIdentityRefusal(other,
                        {"'" + other.data_dir() + "' holds a RocksDB store",
                         "did you restore into the wrong directory?"},
                        {other.data_dir()});
  other.SetEnv("STEMEDB_ACCEPT_NEW_STORE", "true");
  ASSERT_TRUE(other.Start().ok()) << other.StderrSinceStart();
  EXPECT_NE(AuditBody(other).find("STEMEDB_ACCEPT_NEW_STORE"), std::string::npos);
}

}  // namespace
}  // namespace stemedb::e2e
