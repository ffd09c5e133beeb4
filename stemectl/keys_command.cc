#include "stemectl/keys_command.h"

#include <boost/program_options.hpp>
#include <iostream>

#include "stemectl/output.h"
#include "stemectl/provisioner.h"
#include "util/env.h"

namespace stemedb::ctl {
namespace json = boost::json;
namespace po = boost::program_options;

namespace {

const char* kKeysUsage =
    "usage: stemectl keys <command> [options]\n"
    "  create --label L --role admin|write_agent|read_only|backup [--project P]\n"
    "         [--rate-limit R/s,B] [--expires-at RFC3339]   create a key (shown once)\n"
    "  list [--project P] [--include-revoked]                list keys (no secrets)\n"
    "  revoke KEY_ID                                         revoke at once\n"
    "  rotate KEY_ID [--grace-seconds N]                     new key; the old one works\n"
    "                                                        N more s (default 86400)\n"
    "  provision PROJECTS_FILE (--out-dir D | --k8s-secrets D | --exec CMD)\n"
    "         [--role R] [--rate-limit R/s,B] [--namespace NS]\n"
    "         [--rotate [--grace-seconds N]]                live keys are skipped unless\n"
    "                                                        --rotate (grace default 86400)\n"
    "The admin key is read from $STEMEDB_ADMIN_KEY.\n";

const std::vector<std::string> kKeyColumns = {
    "key_id", "label", "role", "project", "created_at", "last_used_at", "expires_at", "revoked"};

int PrintIssued(const GlobalOptions& options, const json::value& reply) {
  if (!reply.is_object()) return ReportError("unexpected reply", kExitFailed);
  PrintObject(std::cout, options.output, reply.as_object());
  if (options.output == OutputFormat::kTable) {
    std::cerr << "stemectl: store the key now; it cannot be shown again\n";
  }
  return kExitOk;
}

int Create(ApiClient& api, const std::vector<std::string>& args) {
  po::options_description desc("keys create");
  desc.add_options()("label", po::value<std::string>()->required(), "label")(
      "role", po::value<std::string>()->required(), "role")("project", po::value<std::string>(),
                                                            "project")(
      "rate-limit", po::value<std::string>(), "R/s,B")("expires-at", po::value<std::string>(),
                                                       "RFC 3339");
  po::variables_map vm;
  if (!ParseArgs(args, desc, {}, vm, kKeysUsage)) return kExitUsage;
  json::object body{{"label", vm["label"].as<std::string>()},
                    {"role", vm["role"].as<std::string>()}};
  if (vm.count("project")) body["project"] = vm["project"].as<std::string>();
  if (vm.count("rate-limit")) body["rate_limit"] = vm["rate-limit"].as<std::string>();
  if (vm.count("expires-at")) body["expires_at"] = vm["expires-at"].as<std::string>();
  auto reply = api.Call("POST", "/v1/admin/api-keys", json::serialize(body));
  if (!reply) return ReportError(reply.error());
  return PrintIssued(api.options(), *reply);
}

int List(ApiClient& api, const std::vector<std::string>& args) {
  po::options_description desc("keys list");
  desc.add_options()("project", po::value<std::string>(), "only this project")(
      "include-revoked", po::bool_switch(), "show revoked keys too");
  po::variables_map vm;
  if (!ParseArgs(args, desc, {}, vm, kKeysUsage)) return kExitUsage;
  auto reply = api.Call("GET", "/v1/admin/api-keys");
  if (!reply) return ReportError(reply.error());
  const json::array* keys = FirstArray(*reply);
  if (keys == nullptr) return ReportError("unexpected reply", kExitFailed);
  json::array shown;
  for (const auto& key : *keys) {
    if (!key.is_object()) continue;
    const auto& object = key.as_object();
    if (vm.count("project") && FieldText(object, "project") != vm["project"].as<std::string>()) {
      continue;
    }
    const json::value* revoked = object.if_contains("revoked");
    if (!vm["include-revoked"].as<bool>() && revoked && revoked->is_bool() && revoked->as_bool()) {
      continue;
    }
    shown.push_back(key);
  }
  PrintObjects(std::cout, api.options().output, json::object{{"keys", shown}}, shown, kKeyColumns);
  return kExitOk;
}

int Revoke(ApiClient& api, const std::vector<std::string>& args) {
  po::options_description desc("keys revoke");
  desc.add_options()("key-id", po::value<std::string>()->required(), "key id");
  po::variables_map vm;
  if (!ParseArgs(args, desc, {"key-id"}, vm, kKeysUsage)) return kExitUsage;
  auto reply = api.Call("DELETE", "/v1/admin/api-keys/" + vm["key-id"].as<std::string>());
  if (!reply) return ReportError(reply.error());
  if (api.options().output == OutputFormat::kJson) {
    std::cout << json::serialize(*reply) << "\n";
  } else {
    std::cout << "revoked " << vm["key-id"].as<std::string>() << "\n";
  }
  return kExitOk;
}

int Rotate(ApiClient& api, const std::vector<std::string>& args) {
  po::options_description desc("keys rotate");
  desc.add_options()("key-id", po::value<std::string>()->required(), "key id")(
      "grace-seconds", po::value<int64_t>()->default_value(kDefaultGraceSeconds),
      "old key keeps working this long");
  po::variables_map vm;
  if (!ParseArgs(args, desc, {"key-id"}, vm, kKeysUsage)) return kExitUsage;
  json::object body{{"grace_seconds", vm["grace-seconds"].as<int64_t>()}};
  auto reply = api.Call("POST", "/v1/admin/api-keys/" + vm["key-id"].as<std::string>() + "/rotate",
                        json::serialize(body));
  if (!reply) return ReportError(reply.error());
  return PrintIssued(api.options(), *reply);
}

int Provision(ApiClient& api, const std::vector<std::string>& args) {
  po::options_description desc("keys provision");
  desc.add_options()("file", po::value<std::string>()->required(), "projects file")(
      "out-dir", po::value<std::string>(), "env file per project")(
      "k8s-secrets", po::value<std::string>(), "Secret manifest per project")(
      "exec", po::value<std::string>(), "command per key (key on stdin)")(
      "namespace", po::value<std::string>()->default_value("default"), "Secret namespace")(
      "role", po::value<std::string>()->default_value("write_agent"), "role of new keys")(
      "rate-limit", po::value<std::string>(), "R/s,B")("rotate", po::bool_switch(),
                                                       "rotate and redeliver live keys")(
      "grace-seconds", po::value<int64_t>()->default_value(kDefaultGraceSeconds),
      "how long a rotated key keeps working");
  po::variables_map vm;
  if (!ParseArgs(args, desc, {"file"}, vm, kKeysUsage)) return kExitUsage;
  ProvisionOptions options;
  options.role = vm["role"].as<std::string>();
  options.rotate = vm["rotate"].as<bool>();
  options.grace_seconds = vm["grace-seconds"].as<int64_t>();
  if (options.grace_seconds < 0) return ReportError("--grace-seconds must be >= 0", kExitUsage);
  if (vm.count("rate-limit")) options.rate_limit = vm["rate-limit"].as<std::string>();
  options.sink.namespace_name = vm["namespace"].as<std::string>();
  int sinks = 0;
  if (vm.count("out-dir")) options.sink.out_dir = vm["out-dir"].as<std::string>(), ++sinks;
  if (vm.count("k8s-secrets"))
    options.sink.secrets_dir = vm["k8s-secrets"].as<std::string>(), ++sinks;
  if (vm.count("exec")) options.sink.exec = vm["exec"].as<std::string>(), ++sinks;
  if (sinks != 1) {
    return ReportError("give exactly one of --out-dir, --k8s-secrets, --exec", kExitUsage);
  }
  auto text = ReadFileToString(Env::Default(), vm["file"].as<std::string>());
  if (!text) return ReportError(text.error().ToString(), kExitUsage);
  auto projects = ParseProjectsFile(*text);
  if (!projects) return ReportError(projects.error().message(), kExitUsage);

  auto outcomes = ProvisionProjects(api, *projects, options);
  size_t created = 0, skipped = 0, rotated = 0, failed = 0;
  json::array rows;
  for (const auto& o : outcomes) {
    created += o.action == "created";
    skipped += o.action == "skipped";
    rotated += o.action == "rotated";
    failed += o.action == "failed";
    json::object row{
        {"project", o.project}, {"action", o.action}, {"key_id", o.key_id}, {"detail", o.detail}};
    rows.push_back(std::move(row));
  }
  json::object summary{
      {"created", created}, {"skipped", skipped}, {"rotated", rotated}, {"failed", failed}};
  PrintObjects(std::cout, api.options().output,
               json::object{{"projects", rows}, {"summary", summary}}, rows,
               {"project", "action", "key_id", "detail"});
  if (api.options().output == OutputFormat::kTable) {
    std::cout << "created " << created << ", skipped " << skipped << ", rotated " << rotated
              << ", failed " << failed << "\n";
  }
  return failed ? kExitFailed : kExitOk;
}

}  // namespace

int RunKeysCommand(const GlobalOptions& options, const std::vector<std::string>& args) {
  return RunAdminSubcommand(options, args, "keys", kKeysUsage,
                            {{"create", Create},
                             {"list", List},
                             {"revoke", Revoke},
                             {"rotate", Rotate},
                             {"provision", Provision}});
}

}  // namespace stemedb::ctl
