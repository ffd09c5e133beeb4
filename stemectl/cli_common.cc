#include "stemectl/cli_common.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <thread>

namespace stemedb::ctl {
namespace json = boost::json;

std::string AdminKeyFromEnv() {
  const char* key = std::getenv("STEMEDB_ADMIN_KEY");
  return key ? std::string(key) : std::string();
}

std::string DefaultUrl() {
  const char* url = std::getenv("STEMEDB_URL");
  return url && *url ? std::string(url) : std::string("http://127.0.0.1:18180");
}

Result<OutputFormat> ParseOutputFormat(std::string_view text) {
  if (text == "table") return OutputFormat::kTable;
  if (text == "json") return OutputFormat::kJson;
  return Status::InvalidArgument("--output must be table or json");
}

ApiClient::ApiClient(const GlobalOptions& options, std::string admin_key)
    : options_(options), admin_key_(std::move(admin_key)), http_(options.url) {}

namespace {

bool IsRetryableStatus(int status) { return status == 429 || status == 502 || status == 503; }

std::chrono::milliseconds RetryAfter(const client::HttpResponse& response,
                                     std::chrono::milliseconds fallback) {
  std::string value = response.Header("retry-after");
  if (value.empty()) return fallback;
  char* end = nullptr;
  long seconds = std::strtol(value.c_str(), &end, 10);
  if (end == value.c_str() || seconds < 0) return fallback;
  return std::chrono::milliseconds(std::min<long>(seconds, 60) * 1000);
}

}  // namespace

ApiError ErrorFromResponse(const client::HttpResponse& response) {
  ApiError error;
  error.http_status = response.status;
  error.exit_code = (response.status == 401 || response.status == 403) ? kExitAuth : kExitFailed;
  error.message = "HTTP " + std::to_string(response.status);
  boost::system::error_code ec;
  json::value body = json::parse(response.body, ec);
  if (!ec && body.is_object()) {
    if (const json::value* err = body.as_object().if_contains("error"); err && err->is_object()) {
      error.code = FieldText(err->as_object(), "code");
      error.message += " " + error.code + ": " + FieldText(err->as_object(), "message");
    }
  }
  return error;
}

boost::system::result<json::value, ApiError> ApiClient::Call(std::string_view method,
                                                             std::string_view target,
                                                             std::string_view body, bool* ambiguous,
                                                             std::string_view content_type) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!admin_key_.empty()) headers.emplace_back("X-API-Key", admin_key_);
  if (!body.empty()) headers.emplace_back("Content-Type", std::string(content_type));
  const auto deadline = std::chrono::steady_clock::now() + options_.retry_timeout;
  std::chrono::milliseconds backoff{200};
  const bool idempotent = method == "GET" || method == "DELETE";
  for (int attempt = 1;; ++attempt) {
    Result<client::HttpResponse> response = http_.Request(method, target, body, headers);
    std::chrono::milliseconds wait = backoff;
    ApiError error;
    if (!response) {
      // A transport error on a POST may have happened after the server
      // committed; the caller decides whether to re-check before retrying.
      if (!idempotent && ambiguous) *ambiguous = true;
      error.exit_code = kExitUnreachable;
      error.message = "cannot reach " + options_.url + ": " + response.error().message();
    } else if (response->status >= 200 && response->status < 300) {
      if (response->body.empty()) return json::value(nullptr);
      boost::system::error_code ec;
      json::value parsed = json::parse(response->body, ec);
      if (ec) {
        return ApiError{kExitFailed, response->status, "", "server sent invalid JSON"};
      }
      return parsed;
    } else if (IsRetryableStatus(response->status)) {
      error = ErrorFromResponse(*response);
      error.exit_code = kExitUnreachable;
      wait = RetryAfter(*response, backoff);
    } else {
      return ErrorFromResponse(*response);
    }
    if (ambiguous && *ambiguous) return error;
    if (std::chrono::steady_clock::now() + wait > deadline) return error;
    std::cerr << "stemectl: " << error.message << "; retrying in " << wait.count() << " ms"
              << " (attempt " << attempt << ")\n";
    std::this_thread::sleep_for(wait);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(5));
  }
}

std::string QueryEscape(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

int ReportError(const ApiError& error) { return ReportError(error.message, error.exit_code); }

int ReportError(std::string_view message, int exit_code) {
  std::cerr << "stemectl: " << message << "\n";
  return exit_code;
}

const json::array* FirstArray(const json::value& value) {
  if (value.is_array()) return &value.as_array();
  if (!value.is_object()) return nullptr;
  for (const auto& member : value.as_object()) {
    if (member.value().is_array()) return &member.value().as_array();
  }
  return nullptr;
}

std::string FieldText(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || value->is_null()) return "-";
  if (value->is_string()) return std::string(value->as_string());
  return json::serialize(*value);
}

bool ParseArgs(const std::vector<std::string>& args,
               const boost::program_options::options_description& desc,
               const std::vector<std::string>& positional,
               boost::program_options::variables_map& vm, std::string_view usage) {
  namespace po = boost::program_options;
  po::positional_options_description pos;
  for (const auto& name : positional) pos.add(name.c_str(), 1);
  try {
    po::store(po::command_line_parser(args).options(desc).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "stemectl: " << e.what() << "\n" << usage;
    return false;
  }
  return true;
}

int RunAdminSubcommand(const GlobalOptions& options, const std::vector<std::string>& args,
                       std::string_view group, std::string_view usage,
                       std::initializer_list<AdminSubcommand> subcommands) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << usage;
    return args.empty() ? kExitUsage : kExitOk;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const auto& a : rest) {
    if (a == "--help" || a == "-h") {
      std::cout << usage;
      return kExitOk;
    }
  }
  for (const AdminSubcommand& sub : subcommands) {
    if (sub.name != args[0]) continue;
    std::string key = AdminKeyFromEnv();
    if (key.empty()) return ReportError("set STEMEDB_ADMIN_KEY to an admin API key", kExitAuth);
    ApiClient api(options, std::move(key));
    return sub.run(api, rest);
  }
  std::cerr << "stemectl: unknown " << group << " command '" << args[0] << "'\n" << usage;
  return kExitUsage;
}

}  // namespace stemedb::ctl
