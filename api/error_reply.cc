#include "api/error_reply.h"

#include <stdexcept>

#include "engine/project_record.h"
#include "util/json_string.h"

namespace stemedb::api {
namespace {

ApiError Make(unsigned status, std::string_view code, std::string_view message) {
  ApiError e;
  e.status = status;
  e.code = std::string(code);
  e.message = std::string(message);
  return e;
}

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

void throw_exception_from_error(const ApiError& e, const boost::source_location&) {
  // Reached only if code calls .value() on an error result, which api/
  // never does; a logic error, not a client error.
  throw std::logic_error("ApiError accessed as value: " + e.code);
}

ApiError InvalidJson(std::string_view message) { return Make(400, "invalid_json", message); }

ApiError InvalidField(std::string_view field, std::string_view why) {
  std::string message(field);
  message += ": ";
  message += why;
  ApiError e = Make(400, "invalid_field", message);
  e.field = std::string(field);
  return e;
}

ApiError Unauthorized(std::string_view message) { return Make(401, "unauthorized", message); }
ApiError BadSignature(std::string_view message) { return Make(401, "bad_signature", message); }
ApiError Forbidden(std::string_view message) { return Make(403, "forbidden", message); }
ApiError NotFoundError(std::string_view message) { return Make(404, "not_found", message); }
ApiError MethodNotAllowed(std::string_view message, std::string_view allow) {
  ApiError e = Make(405, "method_not_allowed", message);
  e.allow = std::string(allow);
  return e;
}
ApiError ConflictError(std::string_view message) { return Make(409, "conflict", message); }
ApiError TooLarge(std::string_view message) { return Make(413, "too_large", message); }
ApiError HeaderTooLarge(std::string_view message) { return Make(431, "too_large", message); }
ApiError InvalidRequest(std::string_view message) { return Make(400, "invalid_request", message); }
ApiError UnsupportedMediaType(std::string_view message) {
  return Make(415, "unsupported_media_type", message);
}
ApiError RateLimited(unsigned retry_after_seconds) {
  ApiError e = Make(429, "rate_limited", "rate limit exceeded for this key");
  e.retry_after_seconds = retry_after_seconds == 0 ? 1 : retry_after_seconds;
  return e;
}
ApiError Unavailable(std::string_view message, unsigned retry_after_seconds) {
  ApiError e = Make(503, "unavailable", message);
  e.retry_after_seconds = retry_after_seconds == 0 ? 1 : retry_after_seconds;
  return e;
}
ApiError InsufficientStorage(std::string_view message) {
  return Make(507, "insufficient_storage", message);
}
ApiError NotPrimary(std::string_view message) { return Make(503, "not_primary", message); }
ApiError Internal(std::string_view message) { return Make(500, "internal", message); }

ApiError FromStatus(const Status& status) {
  const std::string& m = status.message();
  switch (status.code()) {
    case Status::Code::kOk:
      return Internal("unexpected OK status");
    case Status::Code::kNotFound:
      return NotFoundError(m.empty() ? "not found" : m);
    case Status::Code::kInvalidArgument: {
      ApiError e = Make(400, "invalid_field", m);
      return e;
    }
    case Status::Code::kConflict:
      return ConflictError(m);
    case Status::Code::kNoSpace:
      return InsufficientStorage(m);
    case Status::Code::kUnavailable:
    case Status::Code::kBusy:
      return Unavailable(m, 1);
    case Status::Code::kFailed:
      // A fail-stopped WAL needs a restart; the pod's restart takes seconds.
      return Unavailable(m, 5);
    case Status::Code::kPermissionDenied:
      return Forbidden(m);
    case Status::Code::kUnauthenticated:
      if (m.rfind("bad_signature", 0) == 0) return BadSignature(m);
      return Unauthorized(m);
    case Status::Code::kQuotaExceeded: {
      ApiError e = Make(403, "quota_exceeded", m);
      if (auto q = engine::ParseQuotaRefusal(status)) {
        e.quota_json = "\"quota\":\"" + q->quota + "\",\"limit\":" + std::to_string(q->limit) +
                       ",\"current\":" + std::to_string(q->current) +
                       ",\"adding\":" + std::to_string(q->adding);
      }
      return e;
    }
    case Status::Code::kCorruption:
    case Status::Code::kIOError:
      return Internal(m);
  }
  return Internal(m);
}

std::string ScrubSecrets(std::string_view text) {
  static constexpr std::string_view kPrefix = "steme_live_";
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    size_t hit = text.find(kPrefix, pos);
    if (hit == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    out.append(text.substr(pos, hit - pos + kPrefix.size()));
    size_t end = hit + kPrefix.size();
    while (end < text.size() && (IsLowerHex(text[end]) || (text[end] >= 'A' && text[end] <= 'F'))) {
      ++end;
    }
    if (end > hit + kPrefix.size()) out.append("...");
    pos = end;
  }
  return out;
}

std::string ErrorJson(const ApiError& error) {
  std::string out = R"({"error":{"code":)";
  AppendJsonString(&out, error.code);
  out += R"(,"message":)";
  AppendJsonString(&out, ScrubSecrets(error.message));
  if (!error.quota_json.empty()) {
    out.push_back(',');
    out += error.quota_json;
  }
  if (!error.field.empty()) {
    out += R"(,"field":)";
    AppendJsonString(&out, ScrubSecrets(error.field));
  }
  out += "}}";
  return out;
}

Response JsonResponse(unsigned status, std::string body, unsigned version, bool keep_alive) {
  Response res{static_cast<http::status>(status), version};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  // Content-Length is the transport's (api/session.cc writes it from the
  // body), so a reply carries only the fields that say something.
  // Connection is set only where it differs from the version's default.
  if (keep_alive != (version >= 11)) res.keep_alive(keep_alive);
  res.body() = std::move(body);
  return res;
}

Response ErrorResponse(const ApiError& error, unsigned version, bool keep_alive) {
  Response res = JsonResponse(error.status, ErrorJson(error), version, keep_alive);
  if (error.retry_after_seconds > 0) {
    res.set(http::field::retry_after, std::to_string(error.retry_after_seconds));
  }
  if (!error.allow.empty()) res.set(http::field::allow, error.allow);
  return res;
}

}  // namespace stemedb::api
