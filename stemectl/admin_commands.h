// `stemectl usage`, `stemectl audit`, `stemectl health` (docs/stemectl.md).
#pragma once

#include <string>
#include <vector>

#include "stemectl/cli_common.h"

namespace stemedb::ctl {

int RunUsageCommand(const GlobalOptions& options, const std::vector<std::string>& args);
int RunAuditCommand(const GlobalOptions& options, const std::vector<std::string>& args);
int RunHealthCommand(const GlobalOptions& options, const std::vector<std::string>& args);

}  // namespace stemedb::ctl
