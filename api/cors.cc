#include "api/cors.h"

namespace stemedb::api {

std::string CorsOrigin(const std::vector<std::string>& allowed, const Request& req) {
  auto it = req.find(http::field::origin);
  if (it == req.end()) return {};
  std::string_view origin = it->value();
  for (const auto& a : allowed) {
    if (a == origin || a == "*") return std::string(origin);
  }
  return {};
}

void SetCorsHeaders(std::string_view origin, Response* res) {
  if (origin.empty()) return;
  res->set(http::field::access_control_allow_origin, origin);
  res->set(http::field::vary, "Origin");
  res->set(http::field::access_control_expose_headers, "Retry-After");
}

void SetPreflightHeaders(std::string_view origin, std::string_view methods, Response* res) {
  if (origin.empty()) return;
  res->set(http::field::access_control_allow_methods, methods);
  res->set(http::field::access_control_allow_headers, kCorsAllowHeaders);
  // Ten minutes: browsers cap it lower anyway (Chromium: 2 h, Firefox: 24 h).
  res->set(http::field::access_control_max_age, "600");
}

}  // namespace stemedb::api
