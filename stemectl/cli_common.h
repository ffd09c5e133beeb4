// What every stemectl subcommand shares: global options, exit codes, and an
// API client that retries through a restarting server.
//
// The single StemeDB pod restarts with the `Recreate` strategy (seconds of
// connection refused / 503 while it replays), so an operator's run must ride
// through that: ApiClient retries connection failures, 502, 503 and 429 with
// exponential backoff, honouring Retry-After, until `retry_timeout` is spent.
#pragma once

#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stemectl/http_client.h"
#include "util/status.h"

namespace stemedb::ctl {

// Documented in docs/stemectl.md; stable for scripts.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,       // the operation failed (server said no, partial provisioning, bad WAL)
  kExitUsage = 2,        // bad command line or input file
  kExitUnreachable = 3,  // server unreachable or unavailable after all retries
  kExitAuth = 4,         // 401/403: missing, wrong or insufficient admin key
};

enum class OutputFormat { kTable, kJson };

struct GlobalOptions {
  std::string url;  // --url, else $STEMEDB_URL, else http://127.0.0.1:18180
  OutputFormat output = OutputFormat::kTable;
  std::chrono::seconds retry_timeout{120};
};

// Admin key from $STEMEDB_ADMIN_KEY only: a flag would land in shell history
// and in `ps`. Empty if unset.
std::string AdminKeyFromEnv();
std::string DefaultUrl();
Result<OutputFormat> ParseOutputFormat(std::string_view text);

// A failed API call, already turned into a message and an exit code.
struct ApiError {
  int exit_code = kExitFailed;
  int http_status = 0;
  std::string code;  // docs/api.md error code, "" for transport errors
  std::string message;
};

class ApiClient {
 public:
  ApiClient(const GlobalOptions& options, std::string admin_key);

  // Sends the request, retrying retryable failures. Returns the parsed JSON
  // body of a 2xx reply (null for an empty body), or the error.
  // `ambiguous` (optional) is set when a non-idempotent request may have
  // reached the server before the connection failed. A body is sent as
  // `content_type`.
  boost::system::result<boost::json::value, ApiError> Call(
      std::string_view method, std::string_view target, std::string_view body = {},
      bool* ambiguous = nullptr, std::string_view content_type = "application/json");
  const GlobalOptions& options() const { return options_; }
  const std::string& admin_key() const { return admin_key_; }

 private:
  GlobalOptions options_;
  std::string admin_key_;
  client::HttpClient http_;
};

// Parses a subcommand's `args` with `desc`; `positional` names the
// positional arguments in order. On a usage error prints it and `usage` to
// stderr and returns false (the caller exits kExitUsage).
bool ParseArgs(const std::vector<std::string>& args,
               const boost::program_options::options_description& desc,
               const std::vector<std::string>& positional,
               boost::program_options::variables_map& vm, std::string_view usage);

// One subcommand of a command group that calls the admin API.
struct AdminSubcommand {
  std::string_view name;
  int (*run)(ApiClient& api, const std::vector<std::string>& args);
};

// Runs `args[0]` of `group` (e.g. "keys") with the rest of `args` and an
// ApiClient holding the admin key: `usage` on help (exit 0) or no or an
// unknown subcommand (exit 2), kExitAuth without $STEMEDB_ADMIN_KEY.
int RunAdminSubcommand(const GlobalOptions& options, const std::vector<std::string>& args,
                       std::string_view group, std::string_view usage,
                       std::initializer_list<AdminSubcommand> subcommands);

// Percent-encodes a query parameter value (project names are validated by
// the server; this keeps odd input from breaking the request line).
std::string QueryEscape(std::string_view text);

// The ApiError of a non-2xx reply: "HTTP 400 invalid_field: <message>";
// exit code kExitAuth for 401/403, else kExitFailed.
ApiError ErrorFromResponse(const client::HttpResponse& response);

// Prints "stemectl: <message>" to stderr and returns the error's exit code.
int ReportError(const ApiError& error);
int ReportError(std::string_view message, int exit_code);

// Finds the first array in a reply: `[...]` itself or the first array-valued
// member of an object ({"keys":[...]}).
const boost::json::array* FirstArray(const boost::json::value& value);
// A JSON member as text: strings unquoted, null as "-", others serialized.
std::string FieldText(const boost::json::object& object, std::string_view key);

}  // namespace stemedb::ctl
