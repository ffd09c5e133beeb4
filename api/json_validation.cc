#include "api/json_validation.h"

#include <sodium.h>

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_stack.hpp>
#include <charconv>
#include <vector>

#include "auth/canonical_json.h"
#include "auth/project_name.h"
#include "util/time_format.h"

namespace stemedb::api {
namespace {

std::string FieldName(std::string_view prefix, std::string_view name) {
  std::string f(prefix);
  f += name;
  return f;
}

std::string_view View(const boost::json::string& s) { return {s.data(), s.size()}; }

const char* KindName(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null:
      return "null";
    case boost::json::kind::bool_:
      return "a boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_:
      return "a number";
    case boost::json::kind::string:
      return "a string";
    case boost::json::kind::array:
      return "an array";
    case boost::json::kind::object:
      return "an object";
  }
  return "?";
}

// boost::json::parser's own handler, except that a double is re-read from
// its text with std::from_chars. Boost.JSON 1.81 has no correctly rounded
// number mode (it came in 1.83) and reads some numbers one ULP off: found by
// the json_request fuzzer, e.g. "9.999999999922999e+92" became
// 9.999999999923e+92. A stored value must be the number the client sent, and
// a signature over canonical JSON must verify, so the parse must be exact.
class PreciseNumberHandler {
 public:
  static constexpr std::size_t max_object_size = boost::json::object::max_size();
  static constexpr std::size_t max_array_size = boost::json::array::max_size();
  static constexpr std::size_t max_key_size = boost::json::string::max_size();
  static constexpr std::size_t max_string_size = boost::json::string::max_size();
  using ec_t = boost::system::error_code;
  using sv_t = boost::json::string_view;

  boost::json::value_stack st;

  bool on_document_begin(ec_t&) { return true; }
  bool on_document_end(ec_t&) { return true; }
  bool on_object_begin(ec_t&) { return true; }
  bool on_object_end(std::size_t n, ec_t&) { return st.push_object(n), true; }
  bool on_array_begin(ec_t&) { return true; }
  bool on_array_end(std::size_t n, ec_t&) { return st.push_array(n), true; }
  bool on_key_part(sv_t s, std::size_t, ec_t&) { return st.push_chars(s), true; }
  bool on_key(sv_t s, std::size_t, ec_t&) { return st.push_key(s), true; }
  bool on_string_part(sv_t s, std::size_t, ec_t&) { return st.push_chars(s), true; }
  bool on_string(sv_t s, std::size_t, ec_t&) { return st.push_string(s), true; }
  bool on_number_part(sv_t s, ec_t&) { return number_.append(s.data(), s.size()), true; }
  bool on_int64(std::int64_t i, sv_t, ec_t&) { return number_.clear(), st.push_int64(i), true; }
  bool on_uint64(std::uint64_t u, sv_t, ec_t&) { return number_.clear(), st.push_uint64(u), true; }
  bool on_double(double d, sv_t s, ec_t&) {
    number_.append(s.data(), s.size());
    double exact = 0;
    const char* end = number_.data() + number_.size();
    auto [ptr, err] = std::from_chars(number_.data(), end, exact);
    if (err == std::errc() && ptr == end) d = exact;  // else (overflow) keep Boost's
    number_.clear();
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, ec_t&) { return st.push_bool(b), true; }
  bool on_null(ec_t&) { return st.push_null(), true; }
  bool on_comment_part(sv_t, ec_t&) { return true; }
  bool on_comment(sv_t, ec_t&) { return true; }

 private:
  std::string number_;  // the text of a number split across parts
};

}  // namespace

ApiResult<boost::json::object> ParseJsonObject(std::string_view body, boost::json::storage_ptr sp) {
  if (body.empty()) return InvalidJson("request body is empty; expected a JSON object");
  boost::system::error_code ec;
  boost::json::parse_options opts;
  opts.max_depth = 64;  // bounds recursion in AppendCanonicalJson
  boost::json::basic_parser<PreciseNumberHandler> parser(opts);
  parser.handler().st.reset(std::move(sp));
  std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
  if (!ec && used < body.size()) ec = boost::json::error::extra_data;
  if (ec) return InvalidJson("request body is not valid JSON: " + ec.message());
  boost::json::value v = parser.handler().st.release();
  if (!v.is_object()) return InvalidJson("request body must be a JSON object");
  return std::move(v.get_object());
}

ApiResult<boost::json::object> ParseJsonObject(std::string_view body,
                                               std::initializer_list<std::string_view> allowed,
                                               boost::json::storage_ptr sp) {
  auto obj = ParseJsonObject(body, std::move(sp));
  if (!obj) return obj;
  if (auto known = CheckKnownFields(*obj, allowed, ""); !known) return known.error();
  return obj;
}

void AppendCanonicalJson(const boost::json::value& v, std::string* out) {
  // One canonical form for storage and signatures: auth/ owns it (RFC 8785).
  auth::AppendCanonicalJson(v, out);
}

std::string CanonicalJson(const boost::json::value& v) {
  std::string out;
  AppendCanonicalJson(v, &out);
  return out;
}

ApiResult<void> CheckKnownFields(const boost::json::object& obj,
                                 std::initializer_list<std::string_view> allowed,
                                 std::string_view prefix) {
  for (const auto& kv : obj) {
    if (std::find(allowed.begin(), allowed.end(), kv.key()) == allowed.end()) {
      return InvalidField(FieldName(prefix, kv.key()), "unknown field");
    }
  }
  return {};
}

ApiResult<std::optional<std::string_view>> OptionalString(const boost::json::object& obj,
                                                          std::string_view name, size_t min,
                                                          size_t max, std::string_view prefix) {
  const boost::json::value* v = obj.if_contains(name);
  if (v == nullptr || v->is_null()) return std::optional<std::string_view>();
  if (!v->is_string()) {
    return InvalidField(FieldName(prefix, name),
                        std::string("must be a string, got ") + KindName(*v));
  }
  std::string_view s = View(v->get_string());
  if (s.size() < min || s.size() > max) {
    return InvalidField(FieldName(prefix, name), "must be " + std::to_string(min) + ".." +
                                                     std::to_string(max) + " bytes, got " +
                                                     std::to_string(s.size()));
  }
  if (s.find('\0') != std::string_view::npos) {
    return InvalidField(FieldName(prefix, name), "must not contain NUL");
  }
  return std::optional<std::string_view>(s);
}

ApiResult<std::string_view> RequiredString(const boost::json::object& obj, std::string_view name,
                                           size_t min, size_t max, std::string_view prefix) {
  if (!obj.contains(name)) return InvalidField(FieldName(prefix, name), "is required");
  auto r = OptionalString(obj, name, min, max, prefix);
  if (!r) return r.error();
  if (!*r) return InvalidField(FieldName(prefix, name), "must be a string, got null");
  return **r;
}

bool IsBase64OfSize(std::string_view text, size_t bytes) {
  if (text.size() != sodium_base64_ENCODED_LEN(bytes, sodium_base64_VARIANT_ORIGINAL) - 1) {
    return false;
  }
  unsigned char buf[128];
  if (bytes > sizeof buf) return false;
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(buf, sizeof buf, text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return false;
  }
  return len == bytes && end == text.data() + text.size();
}

bool IsWellFormedId(std::string_view id) {
  if (id.size() != 32) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::optional<uint64_t> ParseUint(std::string_view text) {
  uint64_t v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size()) {
    return std::nullopt;
  }
  return v;
}

ApiResult<void> CheckProjectName(std::string_view project, std::string_view field) {
  if (auth::IsValidProjectName(project)) return {};
  return InvalidField(std::string(field), std::string(auth::kProjectNameRule));
}

ApiResult<engine::NewAssertion> ValidateAssertion(const boost::json::object& obj,
                                                  std::string_view prefix) {
  if (auto r = CheckKnownFields(
          obj,
          {"subject", "predicate", "value", "agent_id", "confidence", "observed_at", "signature"},
          prefix);
      !r) {
    return r.error();
  }
  engine::NewAssertion a;
  auto subject = RequiredString(obj, "subject", 1, kMaxSubjectBytes, prefix);
  if (!subject) return subject.error();
  auto predicate = RequiredString(obj, "predicate", 1, kMaxPredicateBytes, prefix);
  if (!predicate) return predicate.error();
  auto agent = RequiredString(obj, "agent_id", 1, kMaxAgentIdBytes, prefix);
  if (!agent) return agent.error();
  a.subject = *subject;
  a.predicate = *predicate;
  a.agent_id = *agent;

  const boost::json::value* value = obj.if_contains("value");
  if (value == nullptr) return InvalidField(FieldName(prefix, "value"), "is required");
  AppendCanonicalJson(*value, &a.value_json);
  if (a.value_json.size() > kMaxValueBytes) {
    return InvalidField(FieldName(prefix, "value"), "must be at most 65536 bytes of JSON, got " +
                                                        std::to_string(a.value_json.size()));
  }

  if (const boost::json::value* c = obj.if_contains("confidence"); c != nullptr && !c->is_null()) {
    if (!c->is_number()) {
      return InvalidField(FieldName(prefix, "confidence"),
                          std::string("must be a number, got ") + KindName(*c));
    }
    boost::system::error_code ec;
    double d = c->to_number<double>(ec);
    if (ec || !(d >= 0.0 && d <= 1.0)) {
      return InvalidField(FieldName(prefix, "confidence"), "must be between 0 and 1");
    }
    a.confidence = d;
  }

  auto observed = OptionalString(obj, "observed_at", 1, 64, prefix);
  if (!observed) return observed.error();
  if (*observed) {
    if (!ParseRfc3339(**observed)) {
      return InvalidField(FieldName(prefix, "observed_at"),
                          "must be an RFC 3339 date-time such as 2026-11-22T15:38:22Z");
    }
    a.observed_at = **observed;
  }

  auto signature = OptionalString(obj, "signature", 1, 128, prefix);
  if (!signature) return signature.error();
  if (*signature) {
    if (!IsBase64OfSize(**signature, crypto_sign_BYTES)) {
      return InvalidField(FieldName(prefix, "signature"),
                          "must be standard base64 of a 64-byte Ed25519 signature");
    }
    a.signature = **signature;
  }
  return a;
}

}  // namespace stemedb::api
