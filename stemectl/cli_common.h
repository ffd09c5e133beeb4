// What every stemectl subcommand shares: global options, exit codes, and an
// API client that retries through a restarting server.
//
// The single StemeDB pod restarts with the `Recreate` strategy (seconds of
// connection refused / 503 while it replays), so an operator's run must ride
// through that: ApiClient retries connection failures, 502, 503 and 429 with
// exponential backoff, honouring Retry-After, until `retry_timeout` is spent.
#pragma once

#include <boost/json.hpp>
#include <chrono>
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
  // reached the server before the connection failed.
  boost::system::result<boost::json::value, ApiError> Call(std::string_view method,
                                                           std::string_view target,
                                                           std::string_view body = {},
                                                           bool* ambiguous = nullptr);
  const GlobalOptions& options() const { return options_; }
  const std::string& admin_key() const { return admin_key_; }

 private:
  GlobalOptions options_;
  std::string admin_key_;
  client::HttpClient http_;
};

// Prints "stemectl: <message>" to stderr and returns the error's exit code.
int ReportError(const ApiError& error);
int ReportError(std::string_view message, int exit_code);

// Finds the first array in a reply: `[...]` itself or the first array-valued
// member of an object ({"keys":[...]}).
const boost::json::array* FirstArray(const boost::json::value& value);
// A JSON member as text: strings unquoted, null as "-", others serialized.
std::string FieldText(const boost::json::object& object, std::string_view key);

}  // namespace stemedb::ctl
