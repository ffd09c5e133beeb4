#include "stemectl/erase_command.h"

#include <boost/program_options.hpp>
#include <chrono>
#include <iostream>
#include <thread>

#include "stemectl/output.h"

namespace stemedb::ctl {
namespace json = boost::json;
namespace po = boost::program_options;

namespace {

const char* kRemovalUsage =
    "usage:\n"
    "  stemectl projects delete P [--wait]      delete every record and key of P (202: in\n"
    "                                           progress; --wait until it is gone)\n"
    "  stemectl projects hold P [--subject S] [--reason R]   place a legal hold\n"
    "  stemectl projects release P [--subject S]             release it\n"
    "  stemectl erase --project P (--subject S | --agent A)  erase every version\n"
    "The admin key is read from $STEMEDB_ADMIN_KEY.\n";

void Print(const GlobalOptions& options, const json::value& reply, const std::string& line) {
  if (options.output == OutputFormat::kJson) {
    std::cout << json::serialize(reply) << "\n";
  } else {
    std::cout << line << "\n";
  }
}

std::string ProjectPath(const std::string& project) {
  return "/v1/admin/projects/" + QueryEscape(project);
}

}  // namespace

int RunProjectsDelete(ApiClient& api, const std::vector<std::string>& args) {
  po::options_description desc("projects delete");
  desc.add_options()("project", po::value<std::string>()->required(), "project")(
      "wait", po::bool_switch(), "return once the deletion has finished");
  po::variables_map vm;
  if (!ParseArgs(args, desc, {"project"}, vm, kRemovalUsage)) return kExitUsage;
  const std::string project = vm["project"].as<std::string>();
  auto reply = api.Call("DELETE", ProjectPath(project));
  if (!reply && reply.error().http_status == 404) {
    // Safe to repeat: nothing left is the state the operator asked for.
    std::cerr << "stemectl: project " << project << " does not exist (already deleted?)\n";
    return kExitOk;
  }
  if (!reply) return ReportError(reply.error());
  const std::string status =
      reply->is_object() ? FieldText(reply->as_object(), "status") : std::string();
  Print(api.options(), *reply,
        project + ": " + status + " (" + FieldText(reply->as_object(), "keys_revoked") +
            " keys revoked)");
  if (!vm["wait"].as<bool>() || status != "deleting") return kExitOk;
  // The server removes the project in bounded steps; a repeated DELETE
  // answers 202 until it is gone, then 404.
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto again = api.Call("DELETE", ProjectPath(project));
    if (!again && again.error().http_status == 404) break;
    if (!again) return ReportError(again.error());
  }
  if (api.options().output == OutputFormat::kTable) std::cout << project << ": deleted\n";
  return kExitOk;
}

int RunProjectsHold(ApiClient& api, const std::vector<std::string>& args) {
  po::options_description desc("projects hold");
  desc.add_options()("project", po::value<std::string>()->required(), "project")(
      "subject", po::value<std::string>(), "hold only this subject")(
      "reason", po::value<std::string>(), "why (audited)");
  po::variables_map vm;
  if (!ParseArgs(args, desc, {"project"}, vm, kRemovalUsage)) return kExitUsage;
  json::object body;
  if (vm.count("subject")) body["subject"] = vm["subject"].as<std::string>();
  if (vm.count("reason")) body["reason"] = vm["reason"].as<std::string>();
  const std::string project = vm["project"].as<std::string>();
  auto reply = api.Call("POST", ProjectPath(project) + "/holds", json::serialize(body));
  if (!reply) return ReportError(reply.error());
  Print(api.options(), *reply,
        "hold on " + project +
            (vm.count("subject") ? " subject " + vm["subject"].as<std::string>() : std::string()));
  return kExitOk;
}

int RunProjectsRelease(ApiClient& api, const std::vector<std::string>& args) {
  po::options_description desc("projects release");
  desc.add_options()("project", po::value<std::string>()->required(), "project")(
      "subject", po::value<std::string>(), "release the hold on this subject");
  po::variables_map vm;
  if (!ParseArgs(args, desc, {"project"}, vm, kRemovalUsage)) return kExitUsage;
  const std::string project = vm["project"].as<std::string>();
  std::string target = ProjectPath(project) + "/holds";
  if (vm.count("subject")) target += "?subject=" + QueryEscape(vm["subject"].as<std::string>());
  auto reply = api.Call("DELETE", target);
  if (!reply) return ReportError(reply.error());
  Print(api.options(), *reply, "released hold on " + project);
  return kExitOk;
}

int RunEraseCommand(const GlobalOptions& options, const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h" || a == "help") {
      std::cout << kRemovalUsage;
      return kExitOk;
    }
  }
  po::options_description desc("erase");
  desc.add_options()("project", po::value<std::string>()->required(), "project")(
      "subject", po::value<std::string>(), "erase this subject")("agent", po::value<std::string>(),
                                                                 "erase this agent's assertions");
  po::variables_map vm;
  if (!ParseArgs(args, desc, {}, vm, kRemovalUsage)) return kExitUsage;
  if (vm.count("subject") == vm.count("agent")) {
    std::cerr << "stemectl: give exactly one of --subject and --agent\n" << kRemovalUsage;
    return kExitUsage;
  }
  std::string key = AdminKeyFromEnv();
  if (key.empty()) return ReportError("set STEMEDB_ADMIN_KEY to an admin API key", kExitAuth);
  ApiClient api(options, key);
  json::object body;
  if (vm.count("subject")) {
    body["subject"] = vm["subject"].as<std::string>();
  } else {
    body["agent_id"] = vm["agent"].as<std::string>();
  }
  auto reply = api.Call("POST", ProjectPath(vm["project"].as<std::string>()) + "/erase",
                        json::serialize(body));
  if (!reply) return ReportError(reply.error());
  if (!reply->is_object()) return ReportError("unexpected reply", kExitFailed);
  const json::object& o = reply->as_object();
  Print(options, *reply,
        "erased " + FieldText(o, "removed") + " records (" + FieldText(o, "kept_under_hold") +
            " kept under a legal hold); selector hash " + FieldText(o, "selector_hash"));
  return kExitOk;
}

}  // namespace stemedb::ctl
