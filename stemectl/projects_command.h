// `stemectl projects create|list|describe|update|recount` (docs/stemectl.md,
// docs/projects.md): the project registry, its limits and live figures;
// delete, hold and release are stemectl/erase_command.h's.
#pragma once

#include <string>
#include <vector>

#include "stemectl/cli_common.h"

namespace stemedb::ctl {

// args: everything after "projects". Returns the process exit code.
int RunProjectsCommand(const GlobalOptions& options, const std::vector<std::string>& args);

}  // namespace stemedb::ctl
