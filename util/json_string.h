// JSON string literals: the one escaper of the server.
//
// Escapes exactly what RFC 8259 requires and nothing else: '"', '\\' and
// the control characters below 0x20 (\b \t \n \f \r as short escapes, the
// rest as \u00xx, lowercase hex). That is byte for byte what
// boost::json::serialize writes for a string, and the string form of RFC
// 8785 canonical JSON (auth/canonical_json.h), so stored JSON, replies and
// signed payloads agree. Bytes >= 0x80 are copied: callers pass UTF-8 that
// was validated on the way in.
//
// Here rather than a boost::json::serialize call per string because the
// write path builds several string literals per assertion and serialize
// allocates a std::string for each.
#pragma once

#include <string>
#include <string_view>

namespace stemedb {

// Appends `s` as a quoted, escaped JSON string.
void AppendJsonString(std::string* out, std::string_view s);

}  // namespace stemedb
