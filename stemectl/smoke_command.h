// `stemectl smoke`: a deep smoke gate against a live server (docs/stemectl.md).
//
// With the admin key ($STEMEDB_ADMIN_KEY) it walks the paths a client
// depends on, in order, each step a named check:
//   ready        GET /v1/ready is 200
//   auth         a data route without a key is 401 (auth is on)
//   create-key   a throwaway write_agent key for a fresh project smoke-<hex>
//   write        POST /v1/assert with that key is 201
//   read         GET /v1/assertions/{id} returns what was written
//   query        GET /v1/query?subject= finds exactly that assertion
//   retract      POST /v1/retract is 201 and the query then finds none
//   signed-write an agent registers an Ed25519 key (libsodium); its unsigned
//                write is 401 bad_signature, its signed write 201 "signed":true
//   metering     GET /v1/admin/usage counts the key's requests and writes
//   metrics      GET /metrics serves and counts the project's writes
//   cleanup      the remaining assertion is retracted, the key revoked, and
//                the revoked key is refused (401)
// The project, its key and agent are new every run, so runs never collide
// and a rerun is always safe. Nothing is retried: the gate reports the
// server as it is now.
//
// Output: exit 0 and one line per step ("smoke: ok <step>: <detail>") on
// stdout; otherwise exactly one line on stderr naming the first failed step
// ("smoke: FAIL step 'query': expected 1 assertion, got 0") and a non-zero
// exit code (3 unreachable, 4 refused admin key, 1 any other failure). After
// a failure the throwaway key is still revoked (best effort).
#pragma once

#include <string>
#include <vector>

#include "stemectl/cli_common.h"

namespace stemedb::ctl {

// args: everything after "smoke". Returns the process exit code.
int RunSmokeCommand(const GlobalOptions& options, const std::vector<std::string>& args);

}  // namespace stemedb::ctl
