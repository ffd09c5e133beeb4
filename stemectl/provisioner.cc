#include "stemectl/provisioner.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

#include "util/env.h"

extern char** environ;

namespace stemedb::ctl {
namespace json = boost::json;

bool IsValidProjectName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  for (char c : name) {
    if (!alnum(c) && c != '-') return false;
  }
  return alnum(name.front()) && alnum(name.back());
}

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
    if (!IsValidProjectName(name)) {
      problems += "\n  line " + std::to_string(number) + ": invalid project name '" + name +
                  "' (1-63 of a-z 0-9 -, starting and ending alphanumeric)";
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

std::string Label(const std::string& project) { return "project-" + project; }

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

// Active keys by label, for the projects we manage.
Result<std::map<std::string, std::string>> ListProjectKeys(ApiClient& api) {
  auto reply = api.Call("GET", "/v1/admin/api-keys");
  if (!reply) return Status::Unavailable(reply.error().message);
  std::map<std::string, std::string> by_label;
  const json::array* keys = FirstArray(*reply);
  if (keys == nullptr) return Status::Corruption("key list reply has no array");
  for (const auto& item : *keys) {
    if (!item.is_object()) continue;
    const auto& key = item.as_object();
    const json::value* revoked = key.if_contains("revoked");
    if (revoked && revoked->is_bool() && revoked->as_bool()) continue;
    std::string label = FieldText(key, "label");
    if (label.rfind("project-", 0) == 0 && FieldText(key, "project") == label.substr(8)) {
      by_label[label] = FieldText(key, "key_id");
    }
  }
  return by_label;
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

}  // namespace

std::vector<ProvisionOutcome> ProvisionProjects(ApiClient& api,
                                                const std::vector<std::string>& projects,
                                                const ProvisionOptions& options) {
  std::vector<ProvisionOutcome> outcomes;
  if (!options.sink.out_dir.empty() || !options.sink.secrets_dir.empty()) {
    const std::string& dir =
        options.sink.out_dir.empty() ? options.sink.secrets_dir : options.sink.out_dir;
    Status made = Env::Default()->CreateDirs(dir);
    if (!made.ok()) {
      for (const auto& p : projects) outcomes.push_back({p, "failed", "", made.ToString()});
      return outcomes;
    }
  }
  auto existing = ListProjectKeys(api);
  if (!existing) {
    for (const auto& p : projects) {
      outcomes.push_back({p, "failed", "", existing.error().message()});
    }
    return outcomes;
  }
  for (const auto& project : projects) {
    ProvisionOutcome outcome{project, "", "", ""};
    const std::string label = Label(project);
    auto found = existing->find(label);
    const std::string sink_path = SinkPath(options.sink, project);
    const bool undelivered =
        found != existing->end() && !sink_path.empty() && !Env::Default()->FileExists(sink_path);
    Result<Issued> issued = Status::NotFound("no key issued");
    if (found != existing->end() && !options.rotate && !undelivered) {
      outcomes.push_back({project, "skipped", found->second, ""});
      continue;
    }
    bool created = false;
    if (found != existing->end()) {
      issued = IssuedFrom(api.Call("POST", "/v1/admin/api-keys/" + found->second + "/rotate",
                                   "{\"grace_seconds\":0}"));
      outcome.action = "rotated";
    } else {
      json::object body{{"label", label}, {"role", options.role}, {"project", project}};
      if (options.rate_limit) body["rate_limit"] = *options.rate_limit;
      bool ambiguous = false;
      auto reply = api.Call("POST", "/v1/admin/api-keys", json::serialize(body), &ambiguous);
      if (!reply && ambiguous) {
        // The server may have committed the key before the connection broke:
        // look again, and if it is there its secret is lost, so rotate it.
        auto again = ListProjectKeys(api);
        if (again && again->count(label)) {
          reply = api.Call("POST", "/v1/admin/api-keys/" + again->at(label) + "/rotate",
                           "{\"grace_seconds\":0}");
          outcome.action = "rotated";
        } else {
          reply = api.Call("POST", "/v1/admin/api-keys", json::serialize(body));
        }
      }
      issued = IssuedFrom(reply);
      if (outcome.action.empty()) {
        outcome.action = "created";
        created = true;
      }
    }
    if (!issued) {
      outcome.action = "failed";
      outcome.error = issued.error().message();
      outcomes.push_back(outcome);
      continue;
    }
    outcome.key_id = issued->key_id;
    Status delivered = Deliver(options.sink, project, issued->key, issued->key_id);
    if (!delivered.ok()) {
      outcome.action = "failed";
      outcome.error = "delivery: " + delivered.ToString();
      if (created) {
        // Nobody has this key's secret: revoke it so the next run creates one.
        auto revoked = api.Call("DELETE", "/v1/admin/api-keys/" + issued->key_id);
        if (!revoked) outcome.error += "; revoking the undelivered key failed too";
      }
    }
    outcomes.push_back(outcome);
  }
  return outcomes;
}

}  // namespace stemedb::ctl
