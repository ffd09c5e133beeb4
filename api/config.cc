#include "api/config.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/program_options.hpp>
#include <charconv>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "api/server.h"

extern char** environ;

namespace stemedb::api {
namespace po = boost::program_options;

namespace {

Status Bad(std::string_view var, std::string_view what, std::string_view got) {
  return Status::InvalidArgument(std::string(var) + ": expected " + std::string(what) + ", got '" +
                                 std::string(got) + "'");
}

Result<uint64_t> ParseU64(std::string_view var, std::string_view text, uint64_t min, uint64_t max) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty() || v < min || v > max) {
    return Bad(var, "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]",
               text);
  }
  return v;
}

Result<bool> ParseBool(std::string_view var, std::string_view text) {
  std::string t(text);
  std::transform(t.begin(), t.end(), t.begin(), [](char c) { return std::tolower(c); });
  if (t == "true" || t == "1" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "0" || t == "no" || t == "off") return false;
  return Bad(var, "true|false", text);
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    start = end + 1;
  }
  return out;
}

// A setter parses one setting's text into the config; `var` is the
// environment name for messages.
using Setter = Status (*)(std::string_view var, const std::string& text, ServerConfig* c);

template <auto kField>
Status SetString(std::string_view, const std::string& text, ServerConfig* c) {
  c->*kField = text;
  return Status::OK();
}

template <auto kField>
Status SetBool(std::string_view var, const std::string& text, ServerConfig* c) {
  Result<bool> v = ParseBool(var, text);
  if (!v) return v.error();
  c->*kField = *v;
  return Status::OK();
}

template <auto kField, uint64_t kMin, uint64_t kMax>
Status SetUnsigned(std::string_view var, const std::string& text, ServerConfig* c) {
  Result<uint64_t> v = ParseU64(var, text, kMin, kMax);
  if (!v) return v.error();
  c->*kField = static_cast<std::remove_reference_t<decltype(c->*kField)>>(*v);
  return Status::OK();
}

template <auto kField, uint64_t kMin, uint64_t kMax>
Status SetMillis(std::string_view var, const std::string& text, ServerConfig* c) {
  Result<uint64_t> v = ParseU64(var, text, kMin, kMax);
  if (!v) return v.error();
  c->*kField = std::chrono::milliseconds(*v);
  return Status::OK();
}

// "host:port", "[v6]:port" or ":port" (all interfaces).
Status SetBindAddr(std::string_view var, const std::string& text, ServerConfig* c) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return Bad(var, "host:port", text);
  std::string host = text.substr(0, colon);
  std::string_view port = std::string_view(text).substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  if (host != "localhost") {
    boost::system::error_code ec;
    boost::asio::ip::make_address(host, ec);
    if (ec) return Bad(var, "an IP address or localhost before ':port'", text);
  }
  auto p = ParseU64(var, port, 0, 65535);
  if (!p) return Bad(var, "host:port with port 0..65535", text);
  c->bind_addr = text;
  c->bind_host = host == "localhost" ? "127.0.0.1" : host;
  c->bind_port = static_cast<uint16_t>(*p);
  return Status::OK();
}

Status SetDataDir(std::string_view var, const std::string& text, ServerConfig* c) {
  if (text.empty()) return Bad(var, "a directory", text);
  c->data_dir = text;
  return Status::OK();
}

Status SetWalSync(std::string_view var, const std::string& text, ServerConfig* c) {
  auto p = wal::ParseSyncPolicy(text);
  if (!p) return Bad(var, "always|interval|none", text);
  c->wal_sync = *p;
  return Status::OK();
}

Status SetRateLimit(std::string_view var, const std::string& text, ServerConfig* c) {
  auto spec = auth::ParseRateLimit(text);
  if (!spec) return Bad(var, "<rate>/s,<burst> (e.g. 200/s,400)", text);
  c->rate_limit = text;
  c->rate_limit_spec = *spec;
  return Status::OK();
}

Status SetOrigins(std::string_view, const std::string& text, ServerConfig* c) {
  c->allowed_origins = SplitList(text);
  return Status::OK();
}

Status SetLogFormat(std::string_view var, const std::string& text, ServerConfig* c) {
  if (text == "text") {
    c->log_format = log::Format::kText;
  } else if (text == "json") {
    c->log_format = log::Format::kJson;
  } else {
    return Bad(var, "text|json", text);
  }
  return Status::OK();
}

Status SetLogLevel(std::string_view var, const std::string& text, ServerConfig* c) {
  if (!log::ParseLevel(text, &c->log_level)) return Bad(var, "debug|info|warn|error", text);
  return Status::OK();
}

using C = ServerConfig;
constexpr uint64_t kMaxU64 = UINT64_MAX;
constexpr uint64_t kHourMs = 3600000;

// One row per setting: the single table behind --help, env lookup, parsing,
// unknown variable suggestions and docs/configuration.md (kept in sync by a
// test).
struct VarSpec {
  const char* env;
  const char* def;  // "" = no default
  const char* help;
  Setter set;
};

const VarSpec kVars[] = {
    {"STEMEDB_BIND_ADDR", "127.0.0.1:18180", "listen address host:port", SetBindAddr},
    {"STEMEDB_DATA_DIR", "./stemedb-data", "data root; WAL and DB default below it", SetDataDir},
    {"STEMEDB_WAL_DIR", "", "WAL directory (default $DATA_DIR/wal)", SetString<&C::wal_dir>},
    {"STEMEDB_DB_DIR", "", "RocksDB directory (default $DATA_DIR/db)", SetString<&C::db_dir>},
    {"STEMEDB_WAL_SYNC", "always", "always | interval | none", SetWalSync},
    {"STEMEDB_WAL_SYNC_INTERVAL_MS", "10", "sync period for wal-sync=interval",
     SetMillis<&C::wal_sync_interval, 1, 60000>},
    {"STEMEDB_WAL_SEGMENT_BYTES", "67108864", "WAL segment size",
     SetUnsigned<&C::wal_segment_bytes, 1 << 16, uint64_t{1} << 34>},
    {"STEMEDB_AUTH_ENABLED", "true", "require API keys (false only on loopback)",
     SetBool<&C::auth_enabled>},
    {"STEMEDB_ROOT_API_KEY", "", "root admin key, seeded at start", SetString<&C::root_api_key>},
    {"STEMEDB_UNSAFE_SKIP_SIGNATURES", "false", "skip Ed25519 verification (dev only)",
     SetBool<&C::unsafe_skip_signatures>},
    {"STEMEDB_METER_ENABLED", "true", "per-key usage accounting", SetBool<&C::meter_enabled>},
    {"STEMEDB_RATE_LIMIT", "200/s,400", "default per-key token bucket <rate>/s,<burst>",
     SetRateLimit},
    {"STEMEDB_MAX_BODY_BYTES", "1048576", "larger request bodies get 413",
     SetUnsigned<&C::max_body_bytes, 1024, uint64_t{1} << 32>},
    {"STEMEDB_MIN_FREE_BYTES", "268435456", "below this free space writes get 507",
     SetUnsigned<&C::min_free_bytes, 0, kMaxU64>},
    {"STEMEDB_ALLOWED_ORIGINS", "", "CORS allow-list, comma separated", SetOrigins},
    {"STEMEDB_TLS_CERT_PATH", "", "PEM certificate chain for in-process TLS",
     SetString<&C::tls_cert_path>},
    {"STEMEDB_TLS_KEY_PATH", "", "PEM private key for in-process TLS", SetString<&C::tls_key_path>},
    {"STEMEDB_LOG_FORMAT", "text", "text | json", SetLogFormat},
    {"STEMEDB_LOG_LEVEL", "info", "debug | info | warn | error", SetLogLevel},
    {"STEMEDB_DRAIN_TIMEOUT_MS", "20000", "graceful shutdown: time for in-flight requests",
     SetMillis<&C::drain_timeout, 0, kHourMs>},
    {"STEMEDB_MAX_CONNECTIONS", "1024", "concurrent connections; more are closed",
     SetUnsigned<&C::max_connections, 1, 1000000>},
    {"STEMEDB_HEADER_TIMEOUT_MS", "10000", "request header (and keep-alive idle) timeout",
     SetMillis<&C::header_timeout, 100, kHourMs>},
    {"STEMEDB_BODY_TIMEOUT_MS", "30000", "request body read timeout",
     SetMillis<&C::body_timeout, 100, kHourMs>},
    {"STEMEDB_IO_THREADS", "0", "I/O threads; 0 = max(2, cores)",
     SetUnsigned<&C::io_threads, 0, 256>},
    {"STEMEDB_USAGE_FLUSH_INTERVAL_MS", "10000", "how often usage counters are persisted",
     SetMillis<&C::usage_flush_interval, 100, kHourMs>},
    {"STEMEDB_MAX_INFLIGHT_WRITES", "4096", "writes in flight before 503",
     SetUnsigned<&C::max_inflight_writes, 1, 1000000>},
    {"STEMEDB_ARCHIVE_REMOTE", "",
     "rclone REMOTE:PATH for continuous WAL archiving (segments under PATH/wal/); empty = off",
     SetString<&C::archive_remote>},
    {"STEMEDB_ARCHIVE_INTERVAL_MS", "1000",
     "ship the active WAL segment once its oldest record is this old (the recovery point)",
     SetMillis<&C::archive_interval, 10, kHourMs>},
    {"STEMEDB_STANDBY", "false",
     "warm standby: restore from and follow STEMEDB_ARCHIVE_REMOTE read-only until promoted",
     SetBool<&C::standby>},
    {"STEMEDB_STANDBY_POLL_MS", "1000", "how often a standby lists the archive",
     SetMillis<&C::standby_poll_interval, 10, kHourMs>},
    {"STEMEDB_PROJECT_MAX_ASSERTIONS", "0", "default assertion quota of a new project",
     SetUnsigned<&C::project_max_assertions, 0, kMaxU64>},
    {"STEMEDB_PROJECT_MAX_BYTES", "0", "default stored-bytes quota of a new project",
     SetUnsigned<&C::project_max_bytes, 0, kMaxU64>},
    {"STEMEDB_PROJECT_REGISTRY_STRICT", "false", "refuse API keys for unregistered projects",
     SetBool<&C::project_registry_strict>},
    {"STEMEDB_RETENTION_INTERVAL_MS", "300000",
     "time between retention sweeps (expiry of assertions past retain_days); 0 = off",
     SetMillis<&C::retention_interval, 0, kHourMs>},
    {"STEMEDB_RETENTION_BATCH_IDS", "100",
     "ids per erase entry of a retention sweep: what another project's write may wait behind",
     SetUnsigned<&C::retention_batch_ids, 1, 10000>},
    {"STEMEDB_RETENTION_MAX_PER_SECOND", "2000", "assertions a retention sweep erases per second",
     SetUnsigned<&C::retention_max_per_second, 1, 1000000>},
    {"STEMEDB_ACCEPT_NEW_STORE", "false",
     "start a new store although the DB dir holds files, the data root had a store, or a "
     "RocksDB store sits next to the DB dir (audited)",
     SetBool<&C::accept_new_store>},
    {"STEMEDB_ACCEPT_STORE_MISMATCH", "false",
     "open a WAL, DB and data root that belong to different stores (audited)",
     SetBool<&C::accept_store_mismatch>},
    {"STEMEDB_ACCEPT_WAL_LOSS", "false",
     "open a DB whose WAL dir is empty or lost its segments (audited)",
     SetBool<&C::accept_wal_loss>},
};

// STEMEDB_WAL_SYNC -> wal-sync
std::string FlagName(std::string_view env) {
  std::string flag(env.substr(std::string_view("STEMEDB_").size()));
  for (char& c : flag) c = c == '_' ? '-' : static_cast<char>(std::tolower(c));
  return flag;
}

std::string JoinPath(const std::string& dir, const char* leaf) {
  if (!dir.empty() && dir.back() == '/') return dir + leaf;
  return dir + "/" + leaf;
}

// --help, --version and one flag per table row.
po::options_description Flags() {
  po::options_description desc(
      "stemedb: the StemeDB server. Every flag is also an environment variable\n"
      "(--wal-sync <-> STEMEDB_WAL_SYNC); flags win. Options");
  desc.add_options()("help,h", "print this help and exit")("version", "print the version");
  for (const VarSpec& s : kVars) {
    std::string help = s.help;
    if (*s.def != '\0') help += " [" + std::string(s.def) + "]";
    help += " (" + std::string(s.env) + ")";
    desc.add_options()(FlagName(s.env).c_str(), po::value<std::string>(), help.c_str());
  }
  return desc;
}

// Unknown variables: a typo such as STEMEDB_WAL_SYNCH would otherwise be
// silently ignored and the default used.
std::vector<std::string> UnknownVariableWarnings(const std::map<std::string, std::string>& env) {
  std::vector<std::string> warnings;
  const auto& known = KnownVariables();
  for (const auto& [name, value] : env) {
    if (!name.starts_with("STEMEDB_")) continue;
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    const std::string* best = &known.front();
    size_t best_d = SIZE_MAX;
    for (const auto& k : known) {
      size_t d = EditDistance(name, k);
      if (d < best_d) best_d = d, best = &k;
    }
    warnings.push_back("unknown environment variable " + name + " ignored (closest: " + *best +
                       ")");
  }
  return warnings;
}

// Every row's value: its flag if given, else its variable, else the default
// already in ServerConfig.
Status ApplySettings(const po::variables_map& vm, const std::map<std::string, std::string>& env,
                     ServerConfig* c) {
  for (const VarSpec& s : kVars) {
    std::string flag = FlagName(s.env);
    const std::string* value = nullptr;
    if (vm.count(flag)) {
      value = &vm[flag].as<std::string>();
    } else if (auto it = env.find(s.env); it != env.end()) {
      value = &it->second;
    }
    if (value != nullptr) STEMEDB_RETURN_IF_ERROR(s.set(s.env, *value, c));
  }
  return Status::OK();
}

// Defaults that depend on other settings, and rules across settings.
Status Resolve(ServerConfig* c) {
  if (c->wal_dir.empty()) c->wal_dir = JoinPath(c->data_dir, "wal");
  if (c->db_dir.empty()) c->db_dir = JoinPath(c->data_dir, "db");
  if (c->wal_dir == c->db_dir) {
    return Status::InvalidArgument("STEMEDB_WAL_DIR and STEMEDB_DB_DIR must differ, both are '" +
                                   c->wal_dir + "'");
  }
  if (c->tls_cert_path.empty() != c->tls_key_path.empty()) {
    return Status::InvalidArgument(
        "STEMEDB_TLS_CERT_PATH and STEMEDB_TLS_KEY_PATH must be set together");
  }
  if (c->io_threads == 0) {
    c->io_threads = std::max<size_t>(2, std::thread::hardware_concurrency());
  }
  return Status::OK();
}

}  // namespace

const std::vector<std::string>& KnownVariables() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const VarSpec& s : kVars) v.emplace_back(s.env);
    return v;
  }();
  return names;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(std::string(host), ec);
  return !ec && addr.is_loopback();
}

bool ServerConfig::loopback_bind() const { return IsLoopbackHost(bind_host); }

std::string ServerConfig::Describe() const {
  std::ostringstream os;
  os << "bind=" << bind_addr << " data_dir=" << data_dir << " wal_dir=" << wal_dir
     << " db_dir=" << db_dir << " wal_sync="
     << (wal_sync == wal::SyncPolicy::kAlways     ? "always"
         : wal_sync == wal::SyncPolicy::kInterval ? "interval"
                                                  : "none")
     << " auth=" << (auth_enabled ? "on" : "off")
     << " root_key=" << (root_api_key.empty() ? "unset" : "set")
     << " meter=" << (meter_enabled ? "on" : "off") << " rate_limit=" << rate_limit
     << " max_body=" << max_body_bytes << " min_free=" << min_free_bytes
     << " tls=" << (tls_enabled() ? "on" : "off") << " max_connections=" << max_connections;
  if (!archive_remote.empty()) {
    os << " archive=" << archive_remote << " archive_interval_ms=" << archive_interval.count();
  }
  if (standby) os << " standby=true standby_poll_ms=" << standby_poll_interval.count();
  if (accept_new_store) os << " accept_new_store=true";
  if (accept_store_mismatch) os << " accept_store_mismatch=true";
  if (accept_wal_loss) os << " accept_wal_loss=true";
  return os.str();
}

std::map<std::string, std::string> CurrentEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (!kv.starts_with("STEMEDB_")) continue;
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

Result<ConfigParseResult> ParseConfig(int argc, const char* const* argv,
                                      const std::map<std::string, std::string>& env) {
  ConfigParseResult out;
  const po::options_description desc = Flags();
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
  } catch (const po::error& e) {
    return Status::InvalidArgument(std::string(e.what()) + " (see --help)");
  }
  if (vm.count("help")) {
    std::ostringstream os;
    os << desc << "\n";
    out.exit_now = true;
    out.output = os.str();
    return out;
  }
  if (vm.count("version")) {
    out.exit_now = true;
    out.output = std::string("stemedb ") + STEMEDB_VERSION + "\n";
    return out;
  }
  out.warnings = UnknownVariableWarnings(env);
  STEMEDB_RETURN_IF_ERROR(ApplySettings(vm, env, &out.config));
  STEMEDB_RETURN_IF_ERROR(Resolve(&out.config));
  return out;
}

ServerOptions ServerOptionsFrom(const ServerConfig& config) {
  ServerOptions o;
  o.host = config.bind_host;
  o.port = config.bind_port;
  o.io_threads = config.io_threads;
  o.max_connections = config.max_connections;
  o.transport.max_body_bytes = config.max_body_bytes;
  o.transport.header_timeout = config.header_timeout;
  o.transport.body_timeout = config.body_timeout;
  o.tls_cert_path = config.tls_cert_path;
  o.tls_key_path = config.tls_key_path;
  return o;
}

engine::DatabaseOptions DatabaseOptionsFrom(const ServerConfig& config) {
  engine::DatabaseOptions o;
  o.db_dir = config.db_dir;
  o.wal.dir = config.wal_dir;
  o.wal.sync_policy = config.wal_sync;
  o.wal.sync_interval = config.wal_sync_interval;
  o.wal.segment_bytes = config.wal_segment_bytes;
  // Inline commit writes, syncs and applies a lone durable write on its I/O
  // thread; the WAL notices load by records piling up behind an inline
  // commit and hands over to its writer thread. Seeing that pile-up needs a
  // second I/O thread: a single one committing inline could not read the
  // requests its sockets hold meanwhile.
  o.wal.inline_commit = config.io_threads >= 2;
  // No segment is purged before the archiver has it in the archive.
  o.wal.hold_unarchived = !config.archive_remote.empty();
  return o;
}

backup::WalArchiverOptions WalArchiverOptionsFrom(const ServerConfig& config) {
  backup::WalArchiverOptions o;
  o.remote = config.archive_remote;
  o.wal_dir = config.wal_dir;
  o.interval = config.archive_interval;
  o.rclone.extra_args = backup::DefaultArchiverRcloneArgs();
  return o;
}

backup::WalFollowerOptions WalFollowerOptionsFrom(const ServerConfig& config) {
  backup::WalFollowerOptions o;
  o.remote = config.archive_remote;
  o.scratch_dir = JoinPath(config.data_dir, "standby-fetch");
  o.poll_interval = config.standby_poll_interval;
  o.rclone.extra_args = backup::DefaultArchiverRcloneArgs();
  return o;
}

engine::StoreLayout StoreLayoutFrom(const ServerConfig& config) {
  return engine::StoreLayout{config.data_dir, config.wal_dir, config.db_dir, std::nullopt};
}

engine::IdentityOverrides IdentityOverridesFrom(const ServerConfig& config) {
  return engine::IdentityOverrides{config.accept_new_store, config.accept_store_mismatch,
                                   config.accept_wal_loss};
}

std::vector<DiskMonitor::Volume> DiskVolumesFrom(const ServerConfig& config) {
  return {{"wal", config.wal_dir}, {"db", config.db_dir}};
}

RetentionOptions RetentionOptionsFrom(const ServerConfig& config) {
  RetentionOptions o;
  o.interval = config.retention_interval;
  o.batch = static_cast<size_t>(config.retention_batch_ids);
  o.max_per_second = config.retention_max_per_second;
  return o;
}

}  // namespace stemedb::api
