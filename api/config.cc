#include "api/config.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/program_options.hpp>
#include <charconv>
#include <cstdlib>
#include <sstream>
#include <thread>

extern char** environ;

namespace stemedb::api {
namespace po = boost::program_options;

namespace {

// One row per setting: the single table behind --help, env lookup, unknown
// variable suggestions and docs/configuration.md (kept in sync by a test).
struct VarSpec {
  const char* env;
  const char* def;  // "" = no default
  const char* help;
};

const VarSpec kVars[] = {
    {"STEMEDB_BIND_ADDR", "127.0.0.1:18180", "listen address host:port"},
    {"STEMEDB_DATA_DIR", "./stemedb-data", "data root; WAL and DB default below it"},
    {"STEMEDB_WAL_DIR", "", "WAL directory (default $DATA_DIR/wal)"},
    {"STEMEDB_DB_DIR", "", "RocksDB directory (default $DATA_DIR/db)"},
    {"STEMEDB_WAL_SYNC", "always", "always | interval | none"},
    {"STEMEDB_WAL_SYNC_INTERVAL_MS", "10", "sync period for wal-sync=interval"},
    {"STEMEDB_WAL_SEGMENT_BYTES", "67108864", "WAL segment size"},
    {"STEMEDB_AUTH_ENABLED", "true", "require API keys (false only on loopback)"},
    {"STEMEDB_ROOT_API_KEY", "", "root admin key, seeded at start"},
    {"STEMEDB_UNSAFE_SKIP_SIGNATURES", "false", "skip Ed25519 verification (dev only)"},
    {"STEMEDB_METER_ENABLED", "true", "per-key usage accounting"},
    {"STEMEDB_RATE_LIMIT", "200/s,400", "default per-key token bucket <rate>/s,<burst>"},
    {"STEMEDB_MAX_BODY_BYTES", "1048576", "larger request bodies get 413"},
    {"STEMEDB_MIN_FREE_BYTES", "268435456", "below this free space writes get 507"},
    {"STEMEDB_ALLOWED_ORIGINS", "", "CORS allow-list, comma separated"},
    {"STEMEDB_TLS_CERT_PATH", "", "PEM certificate chain for in-process TLS"},
    {"STEMEDB_TLS_KEY_PATH", "", "PEM private key for in-process TLS"},
    {"STEMEDB_LOG_FORMAT", "text", "text | json"},
    {"STEMEDB_LOG_LEVEL", "info", "debug | info | warn | error"},
    {"STEMEDB_DRAIN_TIMEOUT_MS", "20000", "graceful shutdown: time for in-flight requests"},
    {"STEMEDB_MAX_CONNECTIONS", "1024", "concurrent connections; more are closed"},
    {"STEMEDB_HEADER_TIMEOUT_MS", "10000", "request header (and keep-alive idle) timeout"},
    {"STEMEDB_BODY_TIMEOUT_MS", "30000", "request body read timeout"},
    {"STEMEDB_IO_THREADS", "0", "I/O threads; 0 = max(2, cores)"},
    {"STEMEDB_USAGE_FLUSH_INTERVAL_MS", "10000", "how often usage counters are persisted"},
    {"STEMEDB_MAX_INFLIGHT_WRITES", "4096", "writes in flight before 503"},
    {"STEMEDB_ACCEPT_NEW_STORE", "false",
     "start a new store although the DB dir holds files, the data root had a store, or a "
     "RocksDB store sits next to the DB dir (audited)"},
    {"STEMEDB_ACCEPT_STORE_MISMATCH", "false",
     "open a WAL, DB and data root that belong to different stores (audited)"},
    {"STEMEDB_ACCEPT_WAL_LOSS", "false",
     "open a DB whose WAL dir is empty or lost its segments (audited)"},
};

// STEMEDB_WAL_SYNC -> wal-sync
std::string FlagName(std::string_view env) {
  std::string flag(env.substr(std::string_view("STEMEDB_").size()));
  for (char& c : flag) c = c == '_' ? '-' : static_cast<char>(std::tolower(c));
  return flag;
}

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

// "host:port", "[v6]:port" or ":port" (all interfaces).
Status ParseBindAddr(std::string_view text, ServerConfig* c) {
  const std::string_view var = "STEMEDB_BIND_ADDR";
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return Bad(var, "host:port", text);
  std::string host(text.substr(0, colon));
  std::string_view port = text.substr(colon + 1);
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
  c->bind_addr = std::string(text);
  c->bind_host = host == "localhost" ? "127.0.0.1" : host;
  c->bind_port = static_cast<uint16_t>(*p);
  return Status::OK();
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

std::string JoinPath(const std::string& dir, const char* leaf) {
  if (!dir.empty() && dir.back() == '/') return dir + leaf;
  return dir + "/" + leaf;
}

// Applies one setting; `var` is the env name for messages.
Status Apply(std::string_view var, const std::string& v, ServerConfig* c) {
  auto ms = [&](uint64_t min, uint64_t max, std::chrono::milliseconds* out) -> Status {
    auto r = ParseU64(var, v, min, max);
    if (!r) return r.error();
    *out = std::chrono::milliseconds(*r);
    return Status::OK();
  };
  auto u64 = [&](uint64_t min, uint64_t max, auto* out) -> Status {
    auto r = ParseU64(var, v, min, max);
    if (!r) return r.error();
    *out = static_cast<std::remove_pointer_t<decltype(out)>>(*r);
    return Status::OK();
  };
  auto boolean = [&](bool* out) -> Status {
    auto r = ParseBool(var, v);
    if (!r) return r.error();
    *out = *r;
    return Status::OK();
  };
  constexpr uint64_t kMax = UINT64_MAX;
  if (var == "STEMEDB_BIND_ADDR") return ParseBindAddr(v, c);
  if (var == "STEMEDB_DATA_DIR") {
    if (v.empty()) return Bad(var, "a directory", v);
    c->data_dir = v;
    return Status::OK();
  }
  if (var == "STEMEDB_WAL_DIR") return c->wal_dir = v, Status::OK();
  if (var == "STEMEDB_DB_DIR") return c->db_dir = v, Status::OK();
  if (var == "STEMEDB_WAL_SYNC") {
    auto p = wal::ParseSyncPolicy(v);
    if (!p) return Bad(var, "always|interval|none", v);
    c->wal_sync = *p;
    return Status::OK();
  }
  if (var == "STEMEDB_WAL_SYNC_INTERVAL_MS") return ms(1, 60000, &c->wal_sync_interval);
  if (var == "STEMEDB_WAL_SEGMENT_BYTES") {
    return u64(1 << 16, uint64_t{1} << 34, &c->wal_segment_bytes);
  }
  if (var == "STEMEDB_AUTH_ENABLED") return boolean(&c->auth_enabled);
  if (var == "STEMEDB_ROOT_API_KEY") return c->root_api_key = v, Status::OK();
  if (var == "STEMEDB_UNSAFE_SKIP_SIGNATURES") return boolean(&c->unsafe_skip_signatures);
  if (var == "STEMEDB_METER_ENABLED") return boolean(&c->meter_enabled);
  if (var == "STEMEDB_RATE_LIMIT") {
    auto spec = auth::ParseRateLimit(v);
    if (!spec) return Bad(var, "<rate>/s,<burst> (e.g. 200/s,400)", v);
    c->rate_limit = v;
    c->rate_limit_spec = *spec;
    return Status::OK();
  }
  if (var == "STEMEDB_MAX_BODY_BYTES") return u64(1024, uint64_t{1} << 32, &c->max_body_bytes);
  if (var == "STEMEDB_MIN_FREE_BYTES") return u64(0, kMax, &c->min_free_bytes);
  if (var == "STEMEDB_ALLOWED_ORIGINS") return c->allowed_origins = SplitList(v), Status::OK();
  if (var == "STEMEDB_TLS_CERT_PATH") return c->tls_cert_path = v, Status::OK();
  if (var == "STEMEDB_TLS_KEY_PATH") return c->tls_key_path = v, Status::OK();
  if (var == "STEMEDB_LOG_FORMAT") {
    if (v == "text")
      c->log_format = log::Format::kText;
    else if (v == "json")
      c->log_format = log::Format::kJson;
    else
      return Bad(var, "text|json", v);
    return Status::OK();
  }
  if (var == "STEMEDB_LOG_LEVEL") {
    if (!log::ParseLevel(v, &c->log_level)) return Bad(var, "debug|info|warn|error", v);
    return Status::OK();
  }
  if (var == "STEMEDB_DRAIN_TIMEOUT_MS") return ms(0, 3600000, &c->drain_timeout);
  if (var == "STEMEDB_MAX_CONNECTIONS") return u64(1, 1000000, &c->max_connections);
  if (var == "STEMEDB_HEADER_TIMEOUT_MS") return ms(100, 3600000, &c->header_timeout);
  if (var == "STEMEDB_BODY_TIMEOUT_MS") return ms(100, 3600000, &c->body_timeout);
  if (var == "STEMEDB_IO_THREADS") return u64(0, 256, &c->io_threads);
  if (var == "STEMEDB_USAGE_FLUSH_INTERVAL_MS") {
    return ms(100, 3600000, &c->usage_flush_interval);
  }
  if (var == "STEMEDB_MAX_INFLIGHT_WRITES") return u64(1, 1000000, &c->max_inflight_writes);
  if (var == "STEMEDB_ACCEPT_NEW_STORE") return boolean(&c->accept_new_store);
  if (var == "STEMEDB_ACCEPT_STORE_MISMATCH") return boolean(&c->accept_store_mismatch);
  if (var == "STEMEDB_ACCEPT_WAL_LOSS") return boolean(&c->accept_wal_loss);
  return Status::InvalidArgument(std::string(var) + ": unhandled setting");
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

  // Unknown variables: a typo such as STEMEDB_WAL_SYNCH would otherwise be
  // silently ignored and the default used.
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
    out.warnings.push_back("unknown environment variable " + name + " ignored (closest: " + *best +
                           ")");
  }

  ServerConfig& c = out.config;
  for (const VarSpec& s : kVars) {
    std::string flag = FlagName(s.env);
    const std::string* value = nullptr;
    if (vm.count(flag)) {
      value = &vm[flag].as<std::string>();
    } else if (auto it = env.find(s.env); it != env.end()) {
      value = &it->second;
    }
    if (value == nullptr) continue;
    STEMEDB_RETURN_IF_ERROR(Apply(s.env, *value, &c));
  }
  if (c.wal_dir.empty()) c.wal_dir = JoinPath(c.data_dir, "wal");
  if (c.db_dir.empty()) c.db_dir = JoinPath(c.data_dir, "db");
  if (c.wal_dir == c.db_dir) {
    return Status::InvalidArgument("STEMEDB_WAL_DIR and STEMEDB_DB_DIR must differ, both are '" +
                                   c.wal_dir + "'");
  }
  if (c.tls_cert_path.empty() != c.tls_key_path.empty()) {
    return Status::InvalidArgument(
        "STEMEDB_TLS_CERT_PATH and STEMEDB_TLS_KEY_PATH must be set together");
  }
  if (c.io_threads == 0) {
    c.io_threads = std::max<size_t>(2, std::thread::hardware_concurrency());
  }
  return out;
}

}  // namespace stemedb::api
