// Provisioner: one API key per project for a list of projects, idempotently
// (`stemectl keys provision`).
//
// A project's key is the active key labelled "project-<name>" in project
// <name>. A run creates what is missing and skips what exists, so re-running
// after a partial failure finishes the rest and never duplicates a key.
// The one thing a rerun cannot skip is a key whose secret never reached its
// destination (server killed between commit and reply, or delivery failed):
// for file destinations a missing file means "not delivered", and the key is
// rotated so exactly one usable key exists; a key created by this run whose
// delivery fails is revoked, so the next run creates it again.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "stemectl/cli_common.h"

namespace stemedb::ctl {

// Where each new key goes. Exactly one is set.
struct KeySink {
  std::string out_dir;      // one 0600 env file per project: <dir>/<project>.env
  std::string secrets_dir;  // one Secret manifest per project: <dir>/<project>.yaml
  std::string exec;         // sh -c CMD, key on stdin, STEMEDB_PROJECT/STEMEDB_KEY_ID in env
  std::string namespace_name = "default";  // for Secret manifests
};

struct ProvisionOptions {
  std::string role = "write_agent";
  std::optional<std::string> rate_limit;
  bool rotate = false;  // rotate keys that already exist
  KeySink sink;
};

struct ProvisionOutcome {
  std::string project;
  std::string action;  // created | skipped | rotated | failed
  std::string key_id;
  std::string error;
};

// True for 1..63 chars of [a-z0-9-], starting and ending alphanumeric (a
// DNS label, so it can name Kubernetes Secrets and files safely).
bool IsValidProjectName(std::string_view name);

// Parses a projects file: one name per line, blank lines and '#' comments
// ignored. InvalidArgument listing every bad line (and duplicates).
Result<std::vector<std::string>> ParseProjectsFile(const std::string& text);

// Provisions every project; never stops at the first failure.
std::vector<ProvisionOutcome> ProvisionProjects(ApiClient& api,
                                                const std::vector<std::string>& projects,
                                                const ProvisionOptions& options);

// Renders the Secret manifest (exposed for tests).
std::string SecretManifest(const std::string& project, const std::string& key,
                           const std::string& key_id, const std::string& namespace_name);

}  // namespace stemedb::ctl
