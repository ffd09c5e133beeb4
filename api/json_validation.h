// Request-body parsing and field validation for the HTTP API (docs/api.md).
//
// Every request body is parsed with Boost.JSON (strict RFC 8259: no comments,
// no trailing commas, invalid UTF-8 rejected by the parser) and checked field
// by field. The first problem found is reported:
//   - the body is not JSON, or not a JSON object  -> 400 invalid_json
//   - a field is missing, of the wrong type, out of range, or unknown
//                                                  -> 400 invalid_field, naming
//                                                     the field ("assertions[2].subject")
//
// UNKNOWN FIELDS ARE REJECTED. A database that silently drops a misspelled
// "confidance" stores something other than what the client meant; failing
// loudly is cheaper than discovering it in a query months later. Server-set
// fields (id, lsn, project, recorded_at, signed) are unknown input too.
//
// Limits (bytes of UTF-8, docs/api.md): subject 1..512, predicate 1..256,
// agent_id 1..128, value any JSON whose canonical form is <= 64 KiB,
// confidence a number in [0, 1], observed_at RFC 3339, signature standard
// base64 (with padding) of a 64-byte Ed25519 signature. subject, predicate
// and agent_id must not contain NUL (they are index key parts).
//
// CANONICAL JSON (what `value_json` holds, what signatures cover) is RFC 8785
// (JCS), implemented once in auth/canonical_json.h: keys sorted, no
// whitespace, numbers as ECMAScript prints them (1.0 -> 1, 1e21 -> 1e+21).
// As in JavaScript, integers beyond 2^53 lose precision; send such numbers
// as strings.
//
// Thread-safe pure functions.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api/error_reply.h"
#include "engine/types.h"
#include "util/json_string.h"

namespace stemedb::api {

inline constexpr size_t kMaxSubjectBytes = 512;
inline constexpr size_t kMaxPredicateBytes = 256;
inline constexpr size_t kMaxAgentIdBytes = 128;
inline constexpr size_t kMaxValueBytes = 64 * 1024;
inline constexpr size_t kMaxBatchAssertions = 1000;
inline constexpr size_t kMaxQueryLimit = 1000;
inline constexpr size_t kDefaultQueryLimit = 100;

// Parses `body` as one JSON object. `sp` (may be default) is where the tree is
// allocated: callers pass a monotonic_resource to keep parsing allocation-light.
ApiResult<boost::json::object> ParseJsonObject(std::string_view body,
                                               boost::json::storage_ptr sp = {});
// The same, then CheckKnownFields(obj, allowed, ""): a request body whose
// keys must all be in `allowed`.
ApiResult<boost::json::object> ParseJsonObject(std::string_view body,
                                               std::initializer_list<std::string_view> allowed,
                                               boost::json::storage_ptr sp = {});

// Appends the canonical JSON text of `v` (see above) to `out`.
void AppendCanonicalJson(const boost::json::value& v, std::string* out);
std::string CanonicalJson(const boost::json::value& v);

// AppendJsonString (a quoted, escaped JSON string literal) is
// util/json_string.h's.

// Validates one assertion object. `prefix` names its place in error fields
// ("" for POST /v1/assert, "assertions[3]." in a batch). The result has
// every field but `id` and `is_signed` set; value_json is canonical.
ApiResult<engine::NewAssertion> ValidateAssertion(const boost::json::object& obj,
                                                  std::string_view prefix);

// Rejects any key of `obj` not in `allowed` (400 invalid_field naming it).
ApiResult<void> CheckKnownFields(const boost::json::object& obj,
                                 std::initializer_list<std::string_view> allowed,
                                 std::string_view prefix);

// A required string field of `min..max` bytes without NUL.
ApiResult<std::string_view> RequiredString(const boost::json::object& obj, std::string_view name,
                                           size_t min, size_t max, std::string_view prefix);
// Like RequiredString, but nullopt when the field is absent or null.
ApiResult<std::optional<std::string_view>> OptionalString(const boost::json::object& obj,
                                                          std::string_view name, size_t min,
                                                          size_t max, std::string_view prefix);

// True if `text` is standard base64 (with padding) of exactly `bytes` bytes.
bool IsBase64OfSize(std::string_view text, size_t bytes);

// True for a server-assigned id: 32 lowercase hex digits.
bool IsWellFormedId(std::string_view id);

// A query parameter's whole text as a decimal uint64 (no sign, no spaces,
// no trailing bytes); nullopt otherwise. Callers check the range.
std::optional<uint64_t> ParseUint(std::string_view text);

// Project names have one rule, auth::IsValidProjectName (auth/project_name.h).
// `field` (a body field or query parameter) is named in the 400 invalid_field.
ApiResult<void> CheckProjectName(std::string_view project, std::string_view field = "project");

}  // namespace stemedb::api
