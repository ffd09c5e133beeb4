// The one definition of a project name, used by every layer that accepts
// one: key creation (auth/key_store.h), the HTTP API's ?project= and key
// routes (api/), and stemectl's provisioning (stemectl/provisioner.h).
//
// A project name is a DNS label (RFC 1123): 1..63 characters of [a-z0-9-],
// starting and ending with a letter or digit. It is embedded in storage
// keys, URLs, file names (`<project>.env`) and Kubernetes object names
// (`stemedb-key-<project>`), and a DNS label is safe in all of them, so a
// key can never be minted for a project that some other layer refuses.
// "default" (the project of unauthenticated development servers) is one.
#pragma once

#include <string_view>

namespace stemedb::auth {

inline constexpr size_t kMaxProjectNameBytes = 63;

// True iff `name` is a valid project name (see above).
bool IsValidProjectName(std::string_view name);

// The rule in words, for error messages and CLI output:
// "must be a DNS label: 1..63 of a-z, 0-9 and '-', starting and ending with
// a letter or digit".
inline constexpr std::string_view kProjectNameRule =
    "must be a DNS label: 1..63 of a-z, 0-9 and '-', starting and ending with a letter or digit";

}  // namespace stemedb::auth
