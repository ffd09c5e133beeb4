#include "stemectl/export_command.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "stemectl/http_client.h"
#include "util/env.h"

namespace stemedb::ctl {
namespace json = boost::json;

namespace {

const char* kExportUsage =
    "usage: stemectl export --project P [--as-of lsn:N|RFC3339] [--out FILE]\n"
    "  Streams every assertion and retraction of project P, with history, as NDJSON\n"
    "  consistent at one LSN (docs/projects.md). Default: stdout. With --out the\n"
    "  export goes to FILE.partial and is renamed to FILE once complete. A broken\n"
    "  connection is resumed where it stopped, with the same as_of.\n";

const char* kImportUsage =
    "usage: stemectl import --project P [--new-ids] [--batch-lines N] FILE\n"
    "  Imports an export file into project P (this or another server), keeping ids,\n"
    "  recorded_at and signatures. At most N records per request (default 5000,\n"
    "  each request atomic). Ids already in P are skipped, so a re-run is safe.\n"
    "  --new-ids: copy into another project of the server that holds the source;\n"
    "  ids are instance-wide, so the copy gets ids derived from the originals\n"
    "  (the same on every run, so a re-run is still safe).\n";

constexpr std::string_view kHeaderStart = R"({"stemedb_export":)";
constexpr std::string_view kTrailerStart = R"({"end":)";
constexpr std::string_view kIdStart = R"({"id":")";
constexpr size_t kIdLength = 32;
// Bytes of one import request body: under the server's default
// STEMEDB_MAX_BODY_BYTES (1 MiB) with room for a long last line.
constexpr size_t kImportBodyBytes = 768 * 1024;

bool WantsHelp(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

// Where export lines go: stdout, or FILE.partial renamed to FILE by Commit.
class Output {
 public:
  Status Open(const std::string& path) {
    path_ = path;
    if (path.empty()) return Status::OK();
    auto file = Env::Default()->NewWritableFile(path + ".partial");
    if (!file) return file.error();
    file_ = std::move(*file);
    return Status::OK();
  }
  Status Write(std::string_view line) {
    if (!file_) {
      std::cout.write(line.data(), static_cast<std::streamsize>(line.size()));
      std::cout.put('\n');
      return std::cout ? Status::OK() : Status::IOError("stdout: write failed");
    }
    STEMEDB_RETURN_IF_ERROR(file_->Append(line));
    return file_->Append("\n");
  }
  // Durable before it gets its name: a FILE that exists is complete.
  Status Commit() {
    if (!file_) {
      std::cout.flush();
      return std::cout ? Status::OK() : Status::IOError("stdout: write failed");
    }
    STEMEDB_RETURN_IF_ERROR(file_->Sync());
    STEMEDB_RETURN_IF_ERROR(file_->Close());
    file_.reset();
    Env* env = Env::Default();
    STEMEDB_RETURN_IF_ERROR(env->RenameFile(path_ + ".partial", path_));
    std::string dir = std::filesystem::path(path_).parent_path().string();
    return env->SyncDir(dir.empty() ? "." : dir);
  }

 private:
  std::string path_;
  std::unique_ptr<WritableFile> file_;
};

// Test builds only: STEMECTL_FAILPOINT=export_cut_after_bytes=N makes the
// first download fail after N bytes, as a broken connection would.
uint64_t CutAfterBytes() {
#ifdef STEMEDB_FAILPOINTS
  const char* spec = std::getenv("STEMECTL_FAILPOINT");
  constexpr std::string_view kKey = "export_cut_after_bytes=";
  if (spec != nullptr && std::string_view(spec).starts_with(kKey)) {
    return std::strtoull(spec + kKey.size(), nullptr, 10);
  }
#endif
  return 0;
}

// The export's state across resumed downloads.
struct ExportState {
  std::string as_of;  // the as_of parameter: the user's, then "lsn:N" from the header
  bool have_header = false;
  bool done = false;    // the trailer arrived
  std::string last_id;  // id of the last complete record line written
  uint64_t lines = 0;   // record lines written
  std::string pending;  // an incomplete line of the current download
};

// Handles one complete line of a download.
Status TakeLine(std::string_view line, ExportState* st, Output* out) {
  if (line.starts_with(kHeaderStart)) {
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    const json::value* lsn =
        ec || !v.is_object() ? nullptr : v.as_object().if_contains("as_of_lsn");
    if (lsn == nullptr || !lsn->is_number()) return Status::Corruption("export header unreadable");
    const std::string pinned = "lsn:" + json::serialize(*lsn);
    // A resumed download repeats the header; the output has it once.
    if (st->have_header) {
      if (pinned != st->as_of) return Status::Corruption("resumed export has another as_of");
      return Status::OK();
    }
    st->have_header = true;
    st->as_of = pinned;
    return out->Write(line);
  }
  if (!st->have_header) return Status::Corruption("export does not start with its header");
  if (line.starts_with(kTrailerStart)) {
    st->done = true;
    return out->Write(line);
  }
  if (!line.starts_with(kIdStart) || line.size() < kIdStart.size() + kIdLength) {
    return Status::Corruption("export line without an id");
  }
  STEMEDB_RETURN_IF_ERROR(out->Write(line));
  st->last_id.assign(line.substr(kIdStart.size(), kIdLength));
  ++st->lines;
  return Status::OK();
}

// "HTTP 400 invalid_field: ..." for a non-200 download.
std::string DownloadError(const client::HttpResponse& r) { return ErrorFromResponse(r).message; }

}  // namespace

int RunExportCommand(const GlobalOptions& options, const std::vector<std::string>& args) {
  if (WantsHelp(args)) {
    std::cout << kExportUsage;
    return kExitOk;
  }
  std::string project, out_path;
  ExportState st;
  for (size_t i = 0; i < args.size(); ++i) {
    auto value = [&]() -> const std::string* { return i + 1 < args.size() ? &args[++i] : nullptr; };
    const std::string& a = args[i];
    const std::string* v = nullptr;
    if ((a == "--project" || a == "--as-of" || a == "--out") && (v = value()) == nullptr) {
      return ReportError(a + " needs a value", kExitUsage);
    }
    if (a == "--project") {
      project = *v;
    } else if (a == "--as-of") {
      st.as_of = *v;
    } else if (a == "--out") {
      out_path = *v;
    } else {
      std::cerr << "stemectl: unexpected argument '" << a << "'\n" << kExportUsage;
      return kExitUsage;
    }
  }
  if (project.empty()) return ReportError("export needs --project P", kExitUsage);
  const std::string key = AdminKeyFromEnv();
  if (key.empty()) return ReportError("set STEMEDB_ADMIN_KEY to an admin API key", kExitAuth);

  Output out;
  if (Status s = out.Open(out_path); !s.ok()) return ReportError(s.ToString(), kExitFailed);
  client::HttpClient http(options.url);
  const auto deadline = std::chrono::steady_clock::now() + options.retry_timeout;
  std::chrono::milliseconds backoff{200};
  uint64_t cut_after = CutAfterBytes();
  for (int attempt = 1;; ++attempt) {
    std::string target = "/v1/admin/projects/" + QueryEscape(project) + "/export";
    char sep = '?';
    if (!st.as_of.empty()) {
      target += sep + std::string("as_of=") + QueryEscape(st.as_of);
      sep = '&';
    }
    if (!st.last_id.empty()) target += sep + std::string("after=") + st.last_id;
    st.pending.clear();
    uint64_t received = 0;
    Status line_error;
    auto got = http.Download(target, {{"X-API-Key", key}}, [&](std::string_view chunk) -> Status {
      bool cut = false;
      if (cut_after > 0 && received + chunk.size() >= cut_after) {
        chunk = chunk.substr(0, cut_after - received);  // what arrived before the cut
        cut_after = 0;                                  // once
        cut = true;
      }
      received += chunk.size();
      size_t start = 0;
      for (size_t nl = chunk.find('\n'); nl != std::string_view::npos;
           nl = chunk.find('\n', start)) {
        std::string_view line = chunk.substr(start, nl - start);
        if (!st.pending.empty()) {
          st.pending.append(line);
          line_error = TakeLine(st.pending, &st, &out);
          st.pending.clear();
        } else {
          line_error = TakeLine(line, &st, &out);
        }
        if (!line_error.ok()) return line_error;
        start = nl + 1;
      }
      st.pending.append(chunk.substr(start));
      return cut ? Status::Unavailable("failpoint: connection cut") : Status::OK();
    });
    if (!line_error.ok()) return ReportError(line_error.ToString(), kExitFailed);
    if (got && got->status != 200) {
      ApiError e = ErrorFromResponse(*got);
      const bool retryable = got->status == 429 || got->status == 502 || got->status == 503;
      if (!retryable) return ReportError(DownloadError(*got), e.exit_code);
    } else if (st.done) {
      break;
    }
    // Cut short (transport error, or a body without its trailer): resume.
    if (std::chrono::steady_clock::now() + backoff > deadline) {
      return ReportError(
          "export of " + project + " incomplete after " + std::to_string(attempt) +
              " attempts: " + (got ? std::string("body ended early") : got.error().ToString()),
          kExitUnreachable);
    }
    std::cerr << "stemectl: export interrupted after " << st.lines << " lines ("
              << (got ? std::string("body ended early") : got.error().ToString()) << "); resuming"
              << (st.last_id.empty() ? "" : " after " + st.last_id) << "\n";
    std::this_thread::sleep_for(backoff);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(5));
  }
  if (Status s = out.Commit(); !s.ok()) return ReportError(s.ToString(), kExitFailed);
  std::cerr << "stemectl: exported " << st.lines << " records of " << project << " as of "
            << st.as_of << (out_path.empty() ? "" : " to " + out_path) << "\n";
  return kExitOk;
}

int RunImportCommand(const GlobalOptions& options, const std::vector<std::string>& args) {
  if (WantsHelp(args)) {
    std::cout << kImportUsage;
    return kExitOk;
  }
  std::string project, path;
  size_t batch_lines = 5000;
  bool new_ids = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--new-ids") {
      new_ids = true;
    } else if (a == "--project" || a == "--batch-lines") {
      if (i + 1 >= args.size()) return ReportError(a + " needs a value", kExitUsage);
      const std::string& v = args[++i];
      if (a == "--project") {
        project = v;
      } else {
        char* end = nullptr;
        batch_lines = std::strtoull(v.c_str(), &end, 10);
        if (*end != '\0' || batch_lines < 1 || batch_lines > 10000) {
          return ReportError("--batch-lines must be 1..10000", kExitUsage);
        }
      }
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "stemectl: unexpected argument '" << a << "'\n" << kImportUsage;
      return kExitUsage;
    } else if (path.empty()) {
      path = a;
    } else {
      std::cerr << "stemectl: unexpected argument '" << a << "'\n" << kImportUsage;
      return kExitUsage;
    }
  }
  if (project.empty() || path.empty()) {
    std::cerr << "stemectl: import needs --project P and FILE\n" << kImportUsage;
    return kExitUsage;
  }
  const std::string key = AdminKeyFromEnv();
  if (key.empty()) return ReportError("set STEMEDB_ADMIN_KEY to an admin API key", kExitAuth);
  std::ifstream in(path, std::ios::binary);
  if (!in) return ReportError("cannot read " + path, kExitUsage);
  std::string header;
  if (!std::getline(in, header) || !header.starts_with(kHeaderStart)) {
    return ReportError(path + ":1: not a StemeDB export header", kExitUsage);
  }

  ApiClient api(options, key);
  uint64_t imported = 0, skipped = 0, records = 0;
  uint64_t line_no = 1;
  std::string body, line;
  bool eof = false;
  while (!eof) {
    body = header + "\n";
    const uint64_t first = line_no + 1;  // file line of the body's second line
    size_t n = 0;
    while (n < batch_lines && body.size() < kImportBodyBytes) {
      if (!std::getline(in, line)) {
        eof = true;
        break;
      }
      ++line_no;
      if (line.empty() && in.peek() == EOF) continue;  // the final newline
      body += line;
      body.push_back('\n');
      ++n;
    }
    if (n == 0) break;
    // Body line i (i >= 2) is file line first + i - 2.
    const std::string target = "/v1/admin/projects/" + QueryEscape(project) +
                               "/import?line_offset=" + std::to_string(first - 2) +
                               (new_ids ? "&ids=derive" : "");
    // Safe to retry: ids already imported are skipped.
    auto reply = api.Call("POST", target, body, nullptr, "application/x-ndjson");
    if (!reply) {
      ApiError e = reply.error();
      return ReportError(path + ": " + e.message, e.exit_code);
    }
    const json::object* o = reply->if_object();
    auto count = [&](const char* name) -> uint64_t {
      const json::value* v = o ? o->if_contains(name) : nullptr;
      boost::system::error_code ec;
      const uint64_t n = v ? v->to_number<uint64_t>(ec) : 0;
      return ec ? 0 : n;
    };
    imported += count("imported");
    skipped += count("skipped");
    records += count("records");
  }
  if (options.output == OutputFormat::kJson) {
    std::cout << R"({"project":)" << json::serialize(json::value(project)) << R"(,"records":)"
              << records << R"(,"imported":)" << imported << R"(,"skipped":)" << skipped << "}\n";
  } else {
    std::cout << "imported " << imported << " records into " << project << " (" << skipped
              << " already there, " << records << " read)\n";
  }
  return kExitOk;
}

}  // namespace stemedb::ctl
