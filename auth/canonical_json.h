// Canonical JSON as defined by RFC 8785 (JSON Canonicalization Scheme, JCS):
// the encoding agents sign (docs/signatures.md).
//
//  * no whitespace;
//  * object members sorted by their names compared as UTF-16 code units;
//  * strings: only '"', '\\' and U+0000..U+001F escaped ("\b \t \n \f \r",
//    else "\u00xx" lowercase), everything else as literal UTF-8;
//  * numbers as ECMAScript Number.prototype.toString of the IEEE-754 double
//    (1.0 -> "1", 0.5 -> "0.5", 1e21 -> "1e+21", 1e-7 -> "1e-7"); integers
//    beyond 2^53 lose precision exactly as in JavaScript.
//
// JCS was chosen because ready-made implementations exist for the languages
// agents are written in (Python "jcs", JavaScript "canonicalize", Go
// "cyberphone/json-canonicalization", Java, .NET, Rust "serde_jcs").
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "util/status.h"

namespace stemedb::auth {

// Appends the canonical form of `value` to `*out`.
void AppendCanonicalJson(const boost::json::value& value, std::string* out);
// Appends a JSON string literal (quotes included) in canonical form.
// `utf8` must be valid UTF-8.
void AppendCanonicalString(std::string_view utf8, std::string* out);
// Appends a number in ECMAScript form. NaN and infinities have no JSON form
// and are written as "null" (JSON parsers never produce them).
void AppendCanonicalNumber(double number, std::string* out);

// Parses `json_text` and returns its canonical form. InvalidArgument if it is
// not valid JSON.
Result<std::string> CanonicalizeJson(std::string_view json_text);

}  // namespace stemedb::auth
