// CORS (docs/api.md "CORS"): which origins get Access-Control-* headers, and
// which headers they get. The one definition for every reply the router
// sends, buffered or streamed (the backup download).
//
// An origin is allowed iff it equals an entry of STEMEDB_ALLOWED_ORIGINS or
// the list holds "*"; the reply then echoes that origin (never "*", so the
// answer stays right for credentialed requests) with `Vary: Origin`. With an
// empty allow-list no CORS header is ever sent.
//
// Thread-safe pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/handler.h"

namespace stemedb::api {

// The request headers a browser may send (preflight Access-Control-Allow-Headers).
inline constexpr std::string_view kCorsAllowHeaders =
    "Authorization, Content-Type, Idempotency-Key, X-API-Key";

// The origin of `req` if `allowed` (STEMEDB_ALLOWED_ORIGINS) lets it in,
// else "" (no CORS headers for this request).
std::string CorsOrigin(const std::vector<std::string>& allowed, const Request& req);

// Adds Access-Control-Allow-Origin, Vary and Access-Control-Expose-Headers
// (Retry-After, so a browser client can honour 429 and 503) to `res`;
// nothing if `origin` is empty.
void SetCorsHeaders(std::string_view origin, Response* res);

// Adds the preflight answer for `methods` ("GET, POST, OPTIONS"):
// Access-Control-Allow-Methods, -Allow-Headers and -Max-Age; nothing if
// `origin` is empty.
void SetPreflightHeaders(std::string_view origin, std::string_view methods, Response* res);

}  // namespace stemedb::api
