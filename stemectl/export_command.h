// `stemectl export` and `stemectl import` (docs/stemectl.md, docs/projects.md
// "Export and import").
//
// export streams GET /v1/admin/projects/{P}/export: NDJSON on stdout, or with
// --out FILE into FILE.partial, fsynced and renamed to FILE once the trailer
// arrived. A broken connection is resumed (with the same as_of, after the id
// of the last complete line) until --retry-timeout is spent, so the output is
// the same bytes as an unbroken export.
//
// import reads an export file and POSTs it to /v1/admin/projects/{P}/import
// in requests of at most --batch-lines records (each request repeats the
// header line; each is atomic on the server). Re-running it imports nothing
// twice: ids already in the project are skipped. An error names the line of
// the file. --new-ids (ids=derive) copies into another project of the same
// server, with ids derived from the originals (api/router.h DerivedId).
#pragma once

#include <string>
#include <vector>

#include "stemectl/cli_common.h"

namespace stemedb::ctl {

int RunExportCommand(const GlobalOptions& options, const std::vector<std::string>& args);
int RunImportCommand(const GlobalOptions& options, const std::vector<std::string>& args);

}  // namespace stemedb::ctl
