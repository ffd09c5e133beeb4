#include "stemectl/projects_command.h"

#include <boost/program_options.hpp>
#include <iostream>

#include "stemectl/erase_command.h"
#include "stemectl/output.h"

namespace stemedb::ctl {
namespace json = boost::json;
namespace po = boost::program_options;

namespace {

const char* kProjectsUsage =
    "usage: stemectl projects <command> [options]\n"
    "  create P [--max-assertions N] [--max-bytes N] [--retain-days N]\n"
    "                          register a project (limits default to the server's;\n"
    "                          re-running with the same limits changes nothing)\n"
    "  list                    every project with its limits and live figures\n"
    "  describe P              one project\n"
    "  update P [--max-assertions N] [--max-bytes N] [--retain-days N]\n"
    "                          change limits (0 = unlimited)\n"
    "  recount P               count the project's records and compare with the\n"
    "                          maintained figures (exit 1 if they differ)\n"
    "  delete P                delete the project and all its data\n"
    "  hold|release P [--subject S]  legal hold: suspends expiry and erasure\n"
    "The admin key is read from $STEMEDB_ADMIN_KEY.\n";

const std::vector<std::string> kProjectColumns = {"project",        "assertions",   "stored_bytes",
                                                  "max_assertions", "max_bytes",    "retain_days",
                                                  "keys",           "last_write_at"};

void AddLimitOptions(po::options_description* desc) {
  desc->add_options()("project", po::value<std::string>()->required(), "project")(
      "max-assertions", po::value<uint64_t>(), "assertion quota (0 = unlimited)")(
      "max-bytes", po::value<uint64_t>(), "stored-bytes quota (0 = unlimited)")(
      "retain-days", po::value<uint64_t>(), "retention in days (0 = keep)");
}

json::object LimitBody(const po::variables_map& vm) {
  json::object body;
  if (vm.count("max-assertions")) body["max_assertions"] = vm["max-assertions"].as<uint64_t>();
  if (vm.count("max-bytes")) body["max_bytes"] = vm["max-bytes"].as<uint64_t>();
  if (vm.count("retain-days")) body["retain_days"] = vm["retain-days"].as<uint64_t>();
  return body;
}

int PrintProject(const GlobalOptions& options, const json::value& reply) {
  if (!reply.is_object()) return ReportError("unexpected reply", kExitFailed);
  PrintObject(std::cout, options.output, reply.as_object());
  return kExitOk;
}

int Create(ApiClient& api, const std::vector<std::string>& args) {
  po::options_description desc("projects create");
  AddLimitOptions(&desc);
  po::variables_map vm;
  if (!ParseArgs(args, desc, {"project"}, vm, kProjectsUsage)) return kExitUsage;
  json::object body = LimitBody(vm);
  body["project"] = vm["project"].as<std::string>();
  // Safe to repeat: the server answers 200 for the same limits.
  auto reply = api.Call("POST", "/v1/admin/projects", json::serialize(body));
  if (!reply) return ReportError(reply.error());
  return PrintProject(api.options(), *reply);
}

int List(ApiClient& api, const std::vector<std::string>& args) {
  po::options_description desc("projects list");
  po::variables_map vm;
  if (!ParseArgs(args, desc, {}, vm, kProjectsUsage)) return kExitUsage;
  auto reply = api.Call("GET", "/v1/admin/projects");
  if (!reply) return ReportError(reply.error());
  const json::array* rows = FirstArray(*reply);
  if (rows == nullptr) return ReportError("unexpected reply", kExitFailed);
  PrintObjects(std::cout, api.options().output, *reply, *rows, kProjectColumns);
  return kExitOk;
}

int Describe(ApiClient& api, const std::vector<std::string>& args) {
  po::options_description desc("projects describe");
  desc.add_options()("project", po::value<std::string>()->required(), "project");
  po::variables_map vm;
  if (!ParseArgs(args, desc, {"project"}, vm, kProjectsUsage)) return kExitUsage;
  auto reply =
      api.Call("GET", "/v1/admin/projects/" + QueryEscape(vm["project"].as<std::string>()));
  if (!reply) return ReportError(reply.error());
  return PrintProject(api.options(), *reply);
}

int Update(ApiClient& api, const std::vector<std::string>& args) {
  po::options_description desc("projects update");
  AddLimitOptions(&desc);
  po::variables_map vm;
  if (!ParseArgs(args, desc, {"project"}, vm, kProjectsUsage)) return kExitUsage;
  json::object body = LimitBody(vm);
  if (body.empty()) {
    return ReportError("give at least one of --max-assertions, --max-bytes, --retain-days",
                       kExitUsage);
  }
  auto reply =
      api.Call("PATCH", "/v1/admin/projects/" + QueryEscape(vm["project"].as<std::string>()),
               json::serialize(body));
  if (!reply) return ReportError(reply.error());
  return PrintProject(api.options(), *reply);
}

int Recount(ApiClient& api, const std::vector<std::string>& args) {
  po::options_description desc("projects recount");
  desc.add_options()("project", po::value<std::string>()->required(), "project");
  po::variables_map vm;
  if (!ParseArgs(args, desc, {"project"}, vm, kProjectsUsage)) return kExitUsage;
  const std::string project = vm["project"].as<std::string>();
  auto reply = api.Call("POST", "/v1/admin/projects/" + QueryEscape(project) + "/recount");
  if (!reply) return ReportError(reply.error());
  if (!reply->is_object()) return ReportError("unexpected reply", kExitFailed);
  const json::object& r = reply->as_object();
  const json::value* consistent = r.if_contains("consistent");
  const bool ok = consistent != nullptr && consistent->is_bool() && consistent->as_bool();
  if (api.options().output == OutputFormat::kJson) {
    std::cout << json::serialize(r) << "\n";
  } else {
    const json::object* counted = r.if_contains("counted") ? r.at("counted").if_object() : nullptr;
    const json::object* recorded =
        r.if_contains("recorded") ? r.at("recorded").if_object() : nullptr;
    if (counted == nullptr || recorded == nullptr) return ReportError("unexpected reply", 1);
    std::cout << "project " << project << " as of LSN " << FieldText(r, "as_of_lsn") << "\n"
              << "  counted:  " << FieldText(*counted, "assertions") << " assertions, "
              << FieldText(*counted, "stored_bytes") << " bytes\n"
              << "  recorded: " << FieldText(*recorded, "assertions") << " assertions, "
              << FieldText(*recorded, "stored_bytes") << " bytes\n"
              << (ok ? "consistent\n" : "INCONSISTENT: please report this\n");
  }
  return ok ? kExitOk : kExitFailed;
}

}  // namespace

int RunProjectsCommand(const GlobalOptions& options, const std::vector<std::string>& args) {
  return RunAdminSubcommand(options, args, "projects", kProjectsUsage,
                            {{"create", Create},
                             {"list", List},
                             {"describe", Describe},
                             {"update", Update},
                             {"recount", Recount},
                             {"delete", RunProjectsDelete},
                             {"hold", RunProjectsHold},
                             {"release", RunProjectsRelease}});
}

}  // namespace stemedb::ctl
