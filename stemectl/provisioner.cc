#include "stemectl/provisioner.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

#include "auth/project_name.h"
#include "util/env.h"

extern char** environ;

namespace stemedb::ctl {
namespace json = boost::json;

Result<std::vector<std::string>> ParseProjectsFile(const std::string& text) {
  std::vector<std::string> projects;
  std::set<std::string> seen;
  std::string problems;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    const auto last = line.find_last_not_of(" \t\r");
    std::string name = line.substr(first, last - first + 1);
    if (!auth::IsValidProjectName(name)) {
      problems += "\n  line " + std::to_string(number) + ": invalid project name '" + name + "' (" +
                  std::string(auth::kProjectNameRule) + ")";
    } else if (!seen.insert(name).second) {
      problems += "\n  line " + std::to_string(number) + ": duplicate project '" + name + "'";
    } else {
      projects.push_back(std::move(name));
    }
  }
  if (!problems.empty()) return Status::InvalidArgument("projects file:" + problems);
  return projects;
}

std::string SecretManifest(const std::string& project, const std::string& key,
                           const std::string& key_id, const std::string& namespace_name) {
  return "apiVersion: v1\n"
         "kind: Secret\n"
         "metadata:\n"
         "  name: stemedb-key-" +
         project +
         "\n"
         "  namespace: " +
         namespace_name +
         "\n"
         "  labels:\n"
         "    app.kubernetes.io/managed-by: stemectl\n"
         "    stemedb.dev/project: " +
         project +
         "\n"
         "type: Opaque\n"
         "stringData:\n"
         "  STEMEDB_API_KEY: \"" +
         key + "\"\n  STEMEDB_KEY_ID: \"" + key_id + "\"\n";
}

namespace {

std::string Label(std::string_view project) { return "project-" + std::string(project); }

// Runs `sh -c command` with `input` on its stdin and extra environment.
Status RunWithStdin(const std::string& command, const std::string& input,
                    const std::vector<std::string>& extra_env) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return Status::FromErrno("pipe", errno);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[0], STDIN_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[1]);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  std::vector<std::string> env_strings = extra_env;
  for (char** e = environ; *e; ++e) {
    // The admin key is ours, not the hook's: never hand it to the command.
    if (std::strncmp(*e, "STEMEDB_ADMIN_KEY=", 18) != 0) env_strings.emplace_back(*e);
  }
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string sh = "/bin/sh", dash_c = "-c", cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, "/bin/sh", &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[0]);
  if (rc != 0) {
    close(pipe_fds[1]);
    return Status::FromErrno("spawn /bin/sh", rc);
  }
  size_t written = 0;
  while (written < input.size()) {
    ssize_t n = write(pipe_fds[1], input.data() + written, input.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;  // the command need not read stdin; its exit status decides
    written += static_cast<size_t>(n);
  }
  close(pipe_fds[1]);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return Status::OK();
  return Status::Failed("--exec command exited with status " +
                        std::to_string(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128));
}

std::string SinkPath(const KeySink& sink, const std::string& project) {
  if (!sink.out_dir.empty()) return sink.out_dir + "/" + project + ".env";
  if (!sink.secrets_dir.empty()) return sink.secrets_dir + "/" + project + ".yaml";
  return "";
}

// The "key requested, not yet delivered" marker of a file destination
// (provisioner.h); hidden, so `kubectl apply -f DIR` ignores it.
std::string PendingPath(const KeySink& sink, const std::string& project) {
  if (!sink.out_dir.empty()) return sink.out_dir + "/." + project + ".pending";
  if (!sink.secrets_dir.empty()) return sink.secrets_dir + "/." + project + ".pending";
  return "";
}

Status Deliver(const KeySink& sink, const std::string& project, const std::string& key,
               const std::string& key_id) {
  Env* env = Env::Default();
  if (!sink.out_dir.empty()) {
    std::string text = "STEMEDB_API_KEY=" + key + "\nSTEMEDB_KEY_ID=" + key_id +
                       "\nSTEMEDB_PROJECT=" + project + "\n";
    return WriteFileAtomically(env, SinkPath(sink, project), text, 0600);
  }
  if (!sink.secrets_dir.empty()) {
    return WriteFileAtomically(env, SinkPath(sink, project),
                               SecretManifest(project, key, key_id, sink.namespace_name), 0600);
  }
  return RunWithStdin(sink.exec, key, {"STEMEDB_PROJECT=" + project, "STEMEDB_KEY_ID=" + key_id});
}

bool IsTrue(const json::object& object, std::string_view name) {
  const json::value* v = object.if_contains(name);
  return v != nullptr && v->is_bool() && v->as_bool();
}

// Live keys by project, for the projects we manage: labelled project-<name>
// in project <name>, neither revoked, expired nor rotated away (a key in its
// rotation grace still works, but its successor is the project's key).
Result<std::map<std::string, std::string>> ListProjectKeys(ApiClient& api) {
  auto reply = api.Call("GET", "/v1/admin/api-keys");
  if (!reply) return Status::Unavailable(reply.error().message);
  std::map<std::string, std::string> by_project;
  const json::array* keys = FirstArray(*reply);
  if (keys == nullptr) return Status::Corruption("key list reply has no array");
  for (const auto& item : *keys) {
    if (!item.is_object()) continue;
    const auto& key = item.as_object();
    if (IsTrue(key, "revoked") || IsTrue(key, "expired") || key.contains("rotated_to")) continue;
    std::string label = FieldText(key, "label");
    const std::string project = FieldText(key, "project");
    if (label == Label(project)) by_project[project] = FieldText(key, "key_id");
  }
  return by_project;
}

struct Issued {
  std::string key;
  std::string key_id;
};

Result<Issued> IssuedFrom(const boost::system::result<json::value, ApiError>& reply) {
  if (!reply) return Status::Failed(reply.error().message);
  if (!reply->is_object()) return Status::Corruption("reply is not an object");
  const auto& object = reply->as_object();
  Issued issued{FieldText(object, "key"), FieldText(object, "key_id")};
  if (issued.key.size() < 16 || issued.key_id == "-") {
    return Status::Corruption("reply has no key");
  }
  return issued;
}

// Provisions one project; `live_key_id` is its live key ("" if none).
class ProjectRun {
 public:
  ProjectRun(ApiClient& api, const ProvisionOptions& options, const std::string& project)
      : api_(api),
        options_(options),
        project_(project),
        sink_path_(SinkPath(options.sink, project)),
        pending_path_(PendingPath(options.sink, project)) {}

  ProvisionOutcome Run(const std::string& live_key_id) {
    Env* env = Env::Default();
    const bool file_exists = !sink_path_.empty() && env->FileExists(sink_path_);
    const bool pending = !pending_path_.empty() && env->FileExists(pending_path_);
    if (!live_key_id.empty()) {
      if (pending) {
        return RotateAndDeliver(live_key_id,
                                "recovered: an interrupted run never delivered this key");
      }
      if (options_.rotate) {
        return RotateAndDeliver(live_key_id, file_exists ? "replaced " + sink_path_ : "");
      }
      if (!file_exists) return {project_, "skipped", live_key_id, "exists, not re-delivered"};
      // Say so when the file holds some other key: it is not what is live.
      auto text = ReadFileToString(env, sink_path_);
      const bool holds_live = text && text->find(live_key_id) != std::string::npos;
      return {project_, "skipped", live_key_id,
              holds_live ? "exists, delivered to " + sink_path_
                         : "exists, not re-delivered; " + sink_path_ +
                               " holds another key (use --rotate to replace it)"};
    }
    if (file_exists && !options_.rotate) {
      return Failed(sink_path_ + " exists but " + project_ +
                    " has no live key on the server: it holds a stale key; remove it (or use "
                    "--rotate) to provision a new one");
    }
    return CreateAndDeliver(file_exists ? "replaced " + sink_path_ : "");
  }

 private:
  ProvisionOutcome Failed(std::string error, std::string key_id = "") const {
    return {project_, "failed", std::move(key_id), std::move(error)};
  }

  Status MarkPending() {
    if (pending_path_.empty()) return Status::OK();
    return WriteFileAtomically(Env::Default(), pending_path_, "project=" + project_ + "\n", 0600);
  }
  // Losing the removal is harmless: the next run rotates once more, with grace.
  void ClearPending() {
    if (pending_path_.empty() || !Env::Default()->FileExists(pending_path_)) return;
    Env::Default()->RemoveFile(pending_path_).IgnoreError("a stale marker costs one rotation");
  }

  boost::system::result<json::value, ApiError> RotateCall(const std::string& key_id,
                                                          bool* ambiguous = nullptr) {
    json::object body{{"grace_seconds", options_.grace_seconds}};
    return api_.Call("POST", "/v1/admin/api-keys/" + key_id + "/rotate", json::serialize(body),
                     ambiguous);
  }

  ProvisionOutcome RotateAndDeliver(const std::string& key_id, std::string detail) {
    if (Status marked = MarkPending(); !marked.ok()) {
      return Failed("marking " + pending_path_ + ": " + marked.ToString(), key_id);
    }
    Result<Issued> issued = IssuedFrom(RotateCall(key_id));
    // On failure the marker stays: if the rotation did commit, the next run
    // recovers its lost secret.
    if (!issued) return Failed(issued.error().message(), key_id);
    return Deliver(*issued, "rotated", std::move(detail));
  }

  ProvisionOutcome CreateAndDeliver(std::string detail) {
    // Registered first, with the server's default limits (a no-op when it
    // is registered): a strict registry refuses keys of unknown projects
    // (docs/projects.md). A server without the registry answers 404.
    auto registered = api_.Call("POST", "/v1/admin/projects",
                                json::serialize(json::object{{"project", project_}}));
    if (!registered && registered.error().http_status != 404) {
      return Failed("registering the project: " + registered.error().message);
    }
    if (Status marked = MarkPending(); !marked.ok()) {
      return Failed("marking " + pending_path_ + ": " + marked.ToString());
    }
    json::object body{{"label", Label(project_)}, {"role", options_.role}, {"project", project_}};
    if (options_.rate_limit) body["rate_limit"] = *options_.rate_limit;
    bool ambiguous = false;
    auto reply = api_.Call("POST", "/v1/admin/api-keys", json::serialize(body), &ambiguous);
    std::string action = "created";
    if (!reply && ambiguous) {
      // The server may have committed the key before the connection broke:
      // look again, and if it is there its secret is lost, so rotate it.
      auto again = ListProjectKeys(api_);
      if (again && again->count(project_)) {
        reply = RotateCall(again->at(project_));
        action = "rotated";
        detail = "recovered: the reply creating this key was lost";
      } else {
        reply = api_.Call("POST", "/v1/admin/api-keys", json::serialize(body));
      }
    } else if (!reply) {
      ClearPending();  // refused for certain: nothing was issued
    }
    Result<Issued> issued = IssuedFrom(reply);
    if (!issued) return Failed(issued.error().message());
    return Deliver(*issued, action, std::move(detail));
  }

  ProvisionOutcome Deliver(const Issued& issued, const std::string& action, std::string detail) {
    Status delivered = ctl::Deliver(options_.sink, project_, issued.key, issued.key_id);
    if (delivered.ok()) {
      ClearPending();
      return {project_, action, issued.key_id, std::move(detail)};
    }
    std::string error = "delivery: " + delivered.ToString();
    // Nobody holds this key's secret: revoke it, so the next run issues
    // another (a rotated-away predecessor keeps working through its grace).
    auto revoked = api_.Call("DELETE", "/v1/admin/api-keys/" + issued.key_id);
    if (revoked) {
      ClearPending();
    } else {
      error += "; revoking the undelivered key failed too";
    }
    return Failed(std::move(error), issued.key_id);
  }

  ApiClient& api_;
  const ProvisionOptions& options_;
  const std::string& project_;
  const std::string sink_path_;
  const std::string pending_path_;
};

}  // namespace

std::vector<ProvisionOutcome> ProvisionProjects(ApiClient& api,
                                                const std::vector<std::string>& projects,
                                                const ProvisionOptions& options) {
  std::vector<ProvisionOutcome> outcomes;
  if (!options.sink.out_dir.empty() || !options.sink.secrets_dir.empty()) {
    const std::string& dir =
        options.sink.out_dir.empty() ? options.sink.secrets_dir : options.sink.out_dir;
    // Durable mkdir -p: a key file synced into a directory whose own entry
    // a power loss drops would be lost with it.
    Status made = Env::Default()->CreateDirs(dir);
    if (!made.ok()) {
      for (const auto& p : projects) outcomes.push_back({p, "failed", "", made.ToString()});
      return outcomes;
    }
  }
  auto live = ListProjectKeys(api);
  if (!live) {
    for (const auto& p : projects) outcomes.push_back({p, "failed", "", live.error().message()});
    return outcomes;
  }
  for (const auto& project : projects) {
    auto found = live->find(project);
    ProjectRun run(api, options, project);
    outcomes.push_back(run.Run(found == live->end() ? "" : found->second));
  }
  return outcomes;
}

}  // namespace stemedb::ctl
