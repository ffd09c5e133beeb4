// `stemectl wal verify|repair DIR` (docs/stemectl.md).
#pragma once

#include <string>
#include <vector>

#include "stemectl/cli_common.h"

namespace stemedb::ctl {

int RunWalCommand(const GlobalOptions& options, const std::vector<std::string>& args);

}  // namespace stemedb::ctl
