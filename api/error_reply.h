// Error replies of the HTTP API: the one table that maps StemeDB's error
// kinds to docs/api.md status codes and JSON error bodies.
//
//   {"error":{"code":"invalid_field","message":"subject: must be 1..512 bytes",
//             "field":"subject"}}
//
// `code` is the contract (clients switch on it); `message` is for humans and
// may change. `field` is present only for invalid_field. Every message and
// field goes through ScrubSecrets() before it is rendered, so no reply can
// echo an API key even if a lower layer put one into a Status message by
// mistake.
//
// 429 and 503 replies carry Retry-After (whole seconds, at least 1); 405
// replies carry Allow.
//
// Both sides of the api/handler.h seam render errors here: the router, and
// the transport for what only it can see (an unparsable request, a body or
// header over its limit, a handler that threw, no handler yet).
//
// Thread-safe pure functions.
#pragma once

#include <boost/system/result.hpp>
#include <string>
#include <string_view>

#include "api/handler.h"
#include "util/status.h"

namespace stemedb::api {

// An error as the API reports it.
struct ApiError {
  unsigned status = 500;  // HTTP status code
  std::string code;       // docs/api.md code: "invalid_json", "not_found", ...
  std::string message;    // human readable, never contains a key
  std::string field;      // invalid_field only: the offending field ("assertions[3].subject")
  unsigned retry_after_seconds = 0;  // > 0 adds Retry-After (429, 503)
  std::string allow;                 // 405 only: the path's methods, sent as Allow
  // quota_exceeded only: the members "quota","limit","current","adding" (no braces),
  // rendered after "message".
  std::string quota_json;
};

// Value-or-ApiError, the return type of api/ validation and route helpers.
template <class T>
using ApiResult = boost::system::result<T, ApiError>;
[[noreturn]] void throw_exception_from_error(const ApiError& e, const boost::source_location& loc);

// Constructors for each docs/api.md error.
ApiError InvalidJson(std::string_view message);
// message becomes "<field>: <why>".
ApiError InvalidField(std::string_view field, std::string_view why);
ApiError Unauthorized(std::string_view message);
ApiError BadSignature(std::string_view message);  // 401 bad_signature
ApiError Forbidden(std::string_view message);
ApiError NotFoundError(std::string_view message);
// 405 method_not_allowed; `allow` ("GET, POST") becomes the Allow header.
ApiError MethodNotAllowed(std::string_view message, std::string_view allow = "");
ApiError ConflictError(std::string_view message);
ApiError TooLarge(std::string_view message);        // 413 too_large (a body)
ApiError HeaderTooLarge(std::string_view message);  // 431 too_large (the header)
// 400 invalid_request: the transport could not parse the HTTP request.
ApiError InvalidRequest(std::string_view message);
ApiError UnsupportedMediaType(std::string_view message);
ApiError RateLimited(unsigned retry_after_seconds);
ApiError Unavailable(std::string_view message, unsigned retry_after_seconds = 1);
ApiError InsufficientStorage(std::string_view message);
// 503 not_primary: this server does not take writes (a warm standby, or a
// primary fenced off by a promotion: docs/backup.md "Warm standby"). No
// Retry-After: retrying here does not help; the writer is elsewhere.
ApiError NotPrimary(std::string_view message);
ApiError Internal(std::string_view message);

// Maps a Status from engine/, auth/ or backup/ to an ApiError:
//   NotFound→404 not_found, InvalidArgument→400 invalid_field,
//   Conflict→409 conflict, NoSpace→507 insufficient_storage,
//   Unavailable/Busy/Failed→503 unavailable (+Retry-After),
//   PermissionDenied→403 forbidden, QuotaExceeded→403 quota_exceeded (with
//   the quota, its limit and the current figure), Unauthenticated→401 unauthorized
//   (bad_signature if the message starts with "bad_signature"),
//   Corruption/IOError→500 internal.
ApiError FromStatus(const Status& status);

// Replaces the hex digits of every "steme_live_<hex>" run in `text` with
// "...", so a key (or any prefix of one) is never echoed.
std::string ScrubSecrets(std::string_view text);

// {"error":{...}} body for `error`.
std::string ErrorJson(const ApiError& error);

// A complete JSON response (Content-Type application/json, Content-Length
// set, Cache-Control no-store) for an HTTP `version` and keep-alive choice.
Response JsonResponse(unsigned status, std::string body, unsigned version, bool keep_alive);
// The error response for `error`, with Retry-After and Allow when asked for.
Response ErrorResponse(const ApiError& error, unsigned version, bool keep_alive);

}  // namespace stemedb::api
