// The request log: one line per finished request (issue 5), through
// util/logging.h so STEMEDB_LOG_FORMAT=json makes it one JSON object:
//   {"ts":..,"level":"info","msg":"request","method":"POST",
//    "route":"/v1/assert","status":"201","duration_ms":"1.234",
//    "key_id":"9f2c...","project":"acme","bytes_in":"312","bytes_out":"97"}
// Only the route *template* is logged, never the raw path or query (they
// may hold subjects a project considers private), never a header (keys
// travel in headers) and never a body.
#pragma once

#include "api/session.h"

namespace stemedb::api {

// 5xx replies are logged at warn, everything else at info.
void LogRequest(const CompletedRequest& request);

}  // namespace stemedb::api
