// The OpenAPI document (api/openapi.cc) as a generator sees it, without a
// server: operationIds are identifiers, unique and the ones docs/api.md
// promises; every reference resolves; every error reply is the shared Error
// schema; every schema has an example; request bodies refuse unknown fields.
// tests/openapi/ checks the same document against what the real server
// answers, and compiles a generated client against it.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "api/router.h"

namespace stemedb::api {
namespace {

namespace json = boost::json;

const json::object& Doc() {
  static const json::value kDoc = json::parse(Router::OpenApiJson());
  return kDoc.as_object();
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// "METHOD /path" -> operation, for every operation of the document.
std::map<std::string, const json::object*> Operations() {
  std::map<std::string, const json::object*> out;
  for (const auto& [path, item] : Doc().at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      out[Upper(std::string(method)) + " " + std::string(path)] = &op.as_object();
    }
  }
  return out;
}

// Every "$ref" string below `v`.
void CollectRefs(const json::value& v, std::vector<std::string>* out) {
  if (v.is_object()) {
    for (const auto& [k, child] : v.as_object()) {
      if (k == "$ref" && child.is_string()) out->emplace_back(child.as_string());
      CollectRefs(child, out);
    }
  } else if (v.is_array()) {
    for (const auto& child : v.as_array()) CollectRefs(child, out);
  }
}

const json::value* Resolve(std::string_view ref) {
  if (!ref.starts_with("#/")) return nullptr;
  static const json::value kRoot = Doc();
  const json::value* at = &kRoot;
  std::string_view rest = ref.substr(2);
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    if (!at->is_object() || !at->as_object().contains(part)) return nullptr;
    at = &at->as_object().at(part);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  }
  return at;
}

TEST(OpenApiTest, EveryRouteHasAnIdentifierOperationId) {
  const auto ops = Operations();
  ASSERT_EQ(ops.size(), Router::Routes().size());
  std::set<std::string> ids;
  const std::regex identifier("[a-z][A-Za-z0-9]*");
  for (const Router::Route& r : Router::Routes()) {
    const std::string key = std::string(http::to_string(r.method)) + " " + std::string(r.path);
    ASSERT_TRUE(ops.contains(key)) << key;
    const std::string id(ops.at(key)->at("operationId").as_string());
    EXPECT_TRUE(std::regex_match(id, identifier)) << key << ": " << id;
    EXPECT_TRUE(ids.insert(id).second) << "operationId used twice: " << id;
  }
}

// docs/api.md "OpenAPI and generated clients" lists route -> operationId;
// the document must say exactly the same, both ways.
TEST(OpenApiTest, OperationIdsAreTheOnesDocsApiMdPromises) {
  std::ifstream in(std::string(STEMEDB_SOURCE_DIR) + "/docs/api.md");
  ASSERT_TRUE(in) << "docs/api.md";
  std::stringstream text;
  text << in.rdbuf();
  const std::string md = text.str();
  const std::regex row(R"(\| `(GET|POST|DELETE|PUT|PATCH) (/[^`]*)` \| `([A-Za-z0-9]+)` \|)");
  std::map<std::string, std::string> documented;
  for (auto it = std::sregex_iterator(md.begin(), md.end(), row); it != std::sregex_iterator();
       ++it) {
    documented[(*it)[1].str() + " " + (*it)[2].str()] = (*it)[3].str();
  }
  std::map<std::string, std::string> served;
  for (const auto& [key, op] : Operations()) {
    served[key] = std::string(op->at("operationId").as_string());
  }
  EXPECT_EQ(documented, served) << "docs/api.md's operationId table and /v1/openapi.json differ";
}

TEST(OpenApiTest, EveryReferenceResolves) {
  std::vector<std::string> refs;
  CollectRefs(Doc(), &refs);
  ASSERT_FALSE(refs.empty());
  for (const std::string& ref : refs) EXPECT_NE(Resolve(ref), nullptr) << ref;
}

// Clients get one error type: every 4xx/5xx reply is a shared response whose
// body is #/components/schemas/Error (but the health probes' 503, which is
// the Health body a prober reads).
TEST(OpenApiTest, EveryErrorReplyIsTheSharedErrorSchema) {
  size_t errors = 0;
  for (const auto& [key, op] : Operations()) {
    for (const auto& [status, reply] : op->at("responses").as_object()) {
      if (status.front() != '4' && status.front() != '5') continue;
      if (key == "GET /v1/health" || key == "GET /v1/ready") {
        if (status == "503") continue;
      }
      ++errors;
      const json::object* r = &reply.as_object();
      ASSERT_TRUE(r->contains("$ref")) << key << " " << status << ": not a shared response";
      r = &Resolve(r->at("$ref").as_string())->as_object();
      EXPECT_EQ(r->at("content").at("application/json").at("schema").at("$ref"),
                "#/components/schemas/Error")
          << key << " " << status;
    }
  }
  EXPECT_GT(errors, 100u);
}

TEST(OpenApiTest, EverySchemaHasAnExampleAndEveryOperationAReplySchema) {
  for (const auto& [name, schema] : Doc().at("components").at("schemas").as_object()) {
    EXPECT_TRUE(schema.as_object().contains("example")) << name << " has no example";
  }
  for (const auto& [key, op] : Operations()) {
    bool success = false;
    for (const auto& [status, reply] : op->at("responses").as_object()) {
      if (status.front() != '2') continue;
      success = true;
      for (const auto& [type, media] : reply.at("content").as_object()) {
        EXPECT_TRUE(media.as_object().contains("schema")) << key << " " << status << " " << type;
      }
    }
    EXPECT_TRUE(success) << key << " has no success reply";
    if (const json::value* body = op->if_contains("requestBody")) {
      for (const auto& [type, media] : body->at("content").as_object()) {
        const json::value* schema = Resolve(media.at("schema").at("$ref").as_string());
        ASSERT_NE(schema, nullptr) << key;
        // The server refuses unknown fields (docs/api.md Conventions); an
        // NDJSON body (project import) is a text of such objects.
        if (type == "application/json") {
          EXPECT_EQ(schema->at("additionalProperties"), false) << key;
        }
      }
    }
  }
}

TEST(OpenApiTest, PathParametersAreDeclared) {
  const std::regex param(R"(\{([a-z_]+)\})");
  for (const auto& [key, op] : Operations()) {
    std::set<std::string> declared;
    if (const json::value* ps = op->if_contains("parameters")) {
      for (const auto& p : ps->as_array()) {
        if (p.at("in") == "path") {
          EXPECT_EQ(p.at("required"), true) << key;
          declared.insert(std::string(p.at("name").as_string()));
        }
      }
    }
    std::set<std::string> in_path;
    for (auto it = std::sregex_iterator(key.begin(), key.end(), param);
         it != std::sregex_iterator(); ++it) {
      in_path.insert((*it)[1].str());
    }
    EXPECT_EQ(declared, in_path) << key;
  }
}

}  // namespace
}  // namespace stemedb::api
