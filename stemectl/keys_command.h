// `stemectl keys create|list|revoke|rotate|provision` (docs/stemectl.md).
#pragma once

#include <string>
#include <vector>

#include "stemectl/cli_common.h"

namespace stemedb::ctl {

// args: everything after "keys". Returns the process exit code.
int RunKeysCommand(const GlobalOptions& options, const std::vector<std::string>& args);

}  // namespace stemedb::ctl
