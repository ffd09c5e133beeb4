// Fuzz target: request-body decoding and validation (api/json_validation.h),
// the code every POST body meets first. The input is taken as a body for
// POST /v1/assert and, when it has an "assertions" array, as a batch.
// Invariants: no crash; every rejection names a code and (for
// invalid_field) the field; whatever validates respects the docs/api.md limits;
// the canonical value is a fixed point (canonicalising it again changes
// nothing), which is what makes signatures over it verifiable.
#include <boost/json.hpp>
#include <string>

#include "api/json_validation.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

void CheckValid(const stemedb::engine::NewAssertion& a) {
  using namespace stemedb::api;
  FUZZ_CHECK(!a.subject.empty() && a.subject.size() <= kMaxSubjectBytes);
  FUZZ_CHECK(!a.predicate.empty() && a.predicate.size() <= kMaxPredicateBytes);
  FUZZ_CHECK(!a.agent_id.empty() && a.agent_id.size() <= kMaxAgentIdBytes);
  FUZZ_CHECK(a.value_json.size() <= kMaxValueBytes);
  if (a.confidence) FUZZ_CHECK(*a.confidence >= 0.0 && *a.confidence <= 1.0);
  // Re-read through the server's own parser (exact numbers; Boost.JSON's
  // plain parse is not correctly rounded in 1.81).
  auto again = ParseJsonObject("{\"v\":" + a.value_json + "}");
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(CanonicalJson(again->at("v")) == a.value_json);
}

void CheckError(const stemedb::api::ApiError& e) {
  FUZZ_CHECK(e.status >= 400 && e.status < 600);
  FUZZ_CHECK(!e.code.empty());
  FUZZ_CHECK(!e.message.empty());
  // invalid_field names the field, which may itself be "" ({"": 1}).
  if (e.code == "invalid_field") FUZZ_CHECK(e.message.find(e.field) != std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stemedb::api;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto obj = ParseJsonObject(body);
  if (!obj) {
    CheckError(obj.error());
    return 0;
  }
  if (const boost::json::value* list = obj->if_contains("assertions");
      list != nullptr && list->is_array()) {
    size_t i = 0;
    for (const boost::json::value& item : list->as_array()) {
      if (!item.is_object()) continue;
      auto a = ValidateAssertion(item.as_object(), "assertions[" + std::to_string(i++) + "].");
      if (a) {
        CheckValid(*a);
      } else {
        CheckError(a.error());
      }
    }
    return 0;
  }
  auto a = ValidateAssertion(*obj, "");
  if (a) {
    CheckValid(*a);
  } else {
    CheckError(a.error());
  }
  return 0;
}
