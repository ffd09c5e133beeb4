// `stemectl projects delete|hold|release P` and `stemectl erase`
// (docs/stemectl.md, docs/projects.md). `projects` dispatches its delete,
// hold and release subcommands here (stemectl/projects_command.cc).
#pragma once

#include <string>
#include <vector>

#include "stemectl/cli_common.h"

namespace stemedb::ctl {

// args: everything after the subcommand name ("delete", "hold", "release").
// Each returns the process exit code.
int RunProjectsDelete(ApiClient& api, const std::vector<std::string>& args);
int RunProjectsHold(ApiClient& api, const std::vector<std::string>& args);
int RunProjectsRelease(ApiClient& api, const std::vector<std::string>& args);

// args: everything after "erase".
int RunEraseCommand(const GlobalOptions& options, const std::vector<std::string>& args);

}  // namespace stemedb::ctl
