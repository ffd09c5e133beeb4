#include "stemectl/admin_commands.h"

#include <cctype>
#include <iostream>

#include "stemectl/output.h"

namespace stemedb::ctl {
namespace json = boost::json;

namespace {

bool WantsHelp(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

int UnexpectedArgument(const std::string& arg, const char* usage) {
  std::cerr << "stemectl: unexpected argument '" << arg << "'\n" << usage;
  return kExitUsage;
}

// GET `target` with the admin key of $STEMEDB_ADMIN_KEY into *reply; on
// failure the error is printed and its exit code returned.
int AdminGet(const GlobalOptions& options, const std::string& target, json::value* reply) {
  std::string key = AdminKeyFromEnv();
  if (key.empty()) return ReportError("set STEMEDB_ADMIN_KEY to an admin API key", kExitAuth);
  ApiClient api(options, key);
  auto got = api.Call("GET", target);
  if (!got) return ReportError(got.error());
  *reply = std::move(*got);
  return kExitOk;
}

const std::vector<std::string> kUsageColumns = {
    "key_id",   "project",   "requests",     "assertions_written",
    "bytes_in", "bytes_out", "rate_limited", "last_used_at"};

}  // namespace

int RunUsageCommand(const GlobalOptions& options, const std::vector<std::string>& args) {
  const char* usage =
      "usage: stemectl usage [--project P]\n"
      "  Per-key and per-project metering (admin). The admin key is read from\n"
      "  $STEMEDB_ADMIN_KEY.\n";
  if (WantsHelp(args)) {
    std::cout << usage;
    return kExitOk;
  }
  std::string target = "/v1/admin/usage";
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--project" && i + 1 < args.size()) {
      target += "?project=" + QueryEscape(args[++i]);
    } else {
      return UnexpectedArgument(args[i], usage);
    }
  }
  json::value reply;
  if (int code = AdminGet(options, target, &reply); code != kExitOk) return code;
  if (options.output == OutputFormat::kJson || !reply.is_object()) {
    std::cout << json::serialize(reply) << "\n";
    return kExitOk;
  }
  const auto& object = reply.as_object();
  for (const char* section : {"projects", "keys"}) {
    const json::value* rows = object.if_contains(section);
    if (rows == nullptr || !rows->is_array()) continue;
    std::cout << section << ":\n";
    std::vector<std::string> columns = kUsageColumns;
    if (std::string_view(section) == "projects") columns.erase(columns.begin());
    PrintObjects(std::cout, options.output, reply, rows->as_array(), columns);
    std::cout << "\n";
  }
  return kExitOk;
}

int RunAuditCommand(const GlobalOptions& options, const std::vector<std::string>& args) {
  const char* usage =
      "usage: stemectl audit [--limit N]\n"
      "  Admin actions, newest first. The admin key is read from $STEMEDB_ADMIN_KEY.\n";
  if (WantsHelp(args)) {
    std::cout << usage;
    return kExitOk;
  }
  std::string target = "/v1/admin/audit";
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--limit" && i + 1 < args.size()) {
      const std::string& n = args[++i];
      if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos) {
        return ReportError("--limit must be a positive number", kExitUsage);
      }
      target += "?limit=" + n;
    } else {
      return UnexpectedArgument(args[i], usage);
    }
  }
  json::value reply;
  if (int code = AdminGet(options, target, &reply); code != kExitOk) return code;
  const json::array* records = FirstArray(reply);
  if (records == nullptr) return ReportError("unexpected reply", kExitFailed);
  PrintObjects(std::cout, options.output, reply, *records,
               {"time", "actor_key_id", "action", "target", "detail"});
  return kExitOk;
}

int RunHealthCommand(const GlobalOptions& options, const std::vector<std::string>& args) {
  if (WantsHelp(args)) {
    std::cout << "usage: stemectl health\n  Liveness and readiness of the server (no key "
                 "needed). Exit 0 when ready.\n";
    return kExitOk;
  }
  // No retries: report the state now rather than wait it out.
  client::HttpClient http(options.url);
  auto health = http.Request("GET", "/v1/health");
  if (!health) return ReportError("cannot reach " + options.url, kExitUnreachable);
  auto ready = http.Request("GET", "/v1/ready");
  if (!ready) return ReportError("cannot reach " + options.url, kExitUnreachable);
  boost::system::error_code ec;
  json::value health_body = json::parse(health->body, ec);
  if (ec) health_body = json::value(nullptr);
  json::value ready_body = json::parse(ready->body, ec);
  if (ec) ready_body = json::value(nullptr);
  json::object report{{"url", options.url},
                      {"live", health->status == 200},
                      {"ready", ready->status == 200},
                      {"health", health_body},
                      {"readiness", ready_body}};
  if (options.output == OutputFormat::kJson) {
    std::cout << json::serialize(report) << "\n";
  } else {
    std::cout << "url:   " << options.url << "\nlive:  " << (health->status == 200 ? "yes" : "no")
              << " " << health->body << "\nready: " << (ready->status == 200 ? "yes" : "no") << " "
              << ready->body << "\n";
  }
  return ready->status == 200 ? kExitOk : kExitFailed;
}

int RunPromoteCommand(const GlobalOptions& options, const std::vector<std::string>& args) {
  const char* usage =
      "usage: stemectl promote\n"
      "  Promotes the warm standby at --url to primary: it applies everything archived,\n"
      "  claims the next writer epoch in the archive (the old primary is fenced off)\n"
      "  and takes writes. Only after the primary is gone (docs/backup.md \"Warm\n"
      "  standby\"). Safe to repeat. The admin key is read from $STEMEDB_ADMIN_KEY.\n";
  if (WantsHelp(args)) {
    std::cout << usage;
    return kExitOk;
  }
  if (!args.empty()) return UnexpectedArgument(args[0], usage);
  std::string key = AdminKeyFromEnv();
  if (key.empty()) return ReportError("set STEMEDB_ADMIN_KEY to an admin API key", kExitAuth);
  ApiClient api(options, key);
  auto reply = api.Call("POST", "/v1/admin/promote");
  if (!reply) return ReportError(reply.error());
  if (options.output == OutputFormat::kJson || !reply->is_object()) {
    std::cout << json::serialize(*reply) << "\n";
    return kExitOk;
  }
  const auto& o = reply->as_object();
  std::cout << "promoted: primary, writer epoch " << json::serialize(o.at("writer_epoch"));
  if (const json::value* first = o.if_contains("first_lsn")) {
    std::cout << " from lsn " << json::serialize(*first);
  }
  if (o.contains("already_promoted")) std::cout << " (already promoted)";
  std::cout << "\n";
  return kExitOk;
}

}  // namespace stemedb::ctl
