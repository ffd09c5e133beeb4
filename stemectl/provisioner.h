// Provisioner: one API key per project for a list of projects, safe to
// repeat (`stemectl keys provision`, docs/stemectl.md).
//
// A project's key is the live key labelled "project-<name>" in project
// <name> (live: not revoked, not expired, not rotated away). The rules:
//   - A run creates what is missing and never duplicates a key.
//   - A run NEVER changes what is live implicitly. A project that already
//     has a live key is skipped ("exists, not re-delivered"), whatever the
//     destination holds: every CI pipeline starts from a fresh workspace, so
//     a missing file does not mean a missing client.
//   - Redelivery is explicit (`rotate`): the live key is rotated with a
//     grace period (default kDefaultGraceSeconds), so clients holding the old
//     key keep working until they are redeployed.
//   - The one secret that can be lost is a key issued whose reply or
//     delivery never completed (the server died between commit and reply,
//     stemectl was killed). For file destinations a hidden marker
//     `<dir>/.<project>.pending` is written durably before the key is
//     requested and removed once it is delivered; a later run that finds the
//     marker rotates that key (with the same grace) and delivers the new one.
//     A key created by this run whose delivery fails is revoked at once
//     (nobody holds it), so the next run creates it again.
//   - A destination file is written atomically and durably and never
//     overwritten with other content silently: a file left for a project
//     that has no live key is refused (a stale key), and a file replaced by
//     an explicit rotation is reported as replaced.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stemectl/cli_common.h"

namespace stemedb::ctl {

// How long an old key keeps working after a rotation stemectl asks for,
// unless --grace-seconds says otherwise: a day to redeploy every client.
inline constexpr int64_t kDefaultGraceSeconds = 24 * 3600;

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
  // Rotate (and redeliver) keys that are already live. Without it a live
  // key is never touched.
  bool rotate = false;
  // Grace of every rotation the provisioner makes (explicit or recovery).
  int64_t grace_seconds = kDefaultGraceSeconds;
  KeySink sink;
};

struct ProvisionOutcome {
  std::string project;
  std::string action;  // created | skipped | rotated | failed
  std::string key_id;
  std::string detail;  // why skipped/rotated, or the error of a failure
};

// Parses a projects file: one name per line, blank lines and '#' comments
// ignored, names checked with auth::IsValidProjectName (the server's rule).
// InvalidArgument listing every bad line (and duplicates).
Result<std::vector<std::string>> ParseProjectsFile(const std::string& text);

// Provisions every project; never stops at the first failure.
std::vector<ProvisionOutcome> ProvisionProjects(ApiClient& api,
                                                const std::vector<std::string>& projects,
                                                const ProvisionOptions& options);

// Renders the Secret manifest (exposed for tests).
std::string SecretManifest(const std::string& project, const std::string& key,
                           const std::string& key_id, const std::string& namespace_name);

}  // namespace stemedb::ctl
