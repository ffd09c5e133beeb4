// `stemectl usage`, `stemectl audit`, `stemectl health`, `stemectl promote`
// (docs/stemectl.md).
#pragma once

#include <string>
#include <vector>

#include "stemectl/cli_common.h"

namespace stemedb::ctl {

int RunUsageCommand(const GlobalOptions& options, const std::vector<std::string>& args);
int RunAuditCommand(const GlobalOptions& options, const std::vector<std::string>& args);
int RunHealthCommand(const GlobalOptions& options, const std::vector<std::string>& args);
// `stemectl promote`: POST /v1/admin/promote (docs/backup.md "Warm standby").
int RunPromoteCommand(const GlobalOptions& options, const std::vector<std::string>& args);

}  // namespace stemedb::ctl
