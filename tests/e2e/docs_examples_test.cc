// docs/api.md promises curl examples that work: every ```sh block is run with
// bash (errexit, pipefail) against a fresh server, in document order, with
//   STEMEDB_URL         the server's base URL
//   STEMEDB_KEY         the root (admin) key   (as in the README)
//   STEMEDB_ADMIN_KEY   the same root key
//   STEMEDB_WRITE_KEY   a write_agent key of project "default"
//   STEMEDB_READ_KEY    a read_only key of project "default"
// exported, and must exit 0. Examples use `curl -fsS`, so an HTTP error fails.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"

namespace stemedb::e2e {
namespace {

struct Block {
  int line = 0;  // of the opening fence, for messages
  std::string code;
};

std::vector<Block> ShellBlocks(const std::string& markdown) {
  std::vector<Block> blocks;
  std::istringstream in(markdown);
  std::string line;
  int n = 0;
  Block* open = nullptr;
  while (std::getline(in, line)) {
    ++n;
    if (open == nullptr) {
      if (line == "```sh" || line == "```bash" || line == "```shell") {
        blocks.push_back({n, ""});
        open = &blocks.back();
      }
    } else if (line.starts_with("```")) {
      open = nullptr;
    } else {
      open->code += line + "\n";
    }
  }
  return blocks;
}

// Runs `script` with bash; returns the exit code and combined output.
std::pair<int, std::string> RunBash(const std::string& script, const std::string& dir) {
  const std::string path = dir + "/example.sh";
  std::ofstream(path) << script;
  const std::string cmd = "cd '" + dir + "' && timeout 60 bash -eo pipefail '" + path + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  std::string out;
  char buf[4096];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, got);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(DocsExamples, EveryShellBlockOfApiMdRuns) {
  const std::string doc_path = std::string(STEMEDB_SOURCE_DIR) + "/docs/api.md";
  std::ifstream in(doc_path);
  ASSERT_TRUE(in.good()) << doc_path << " is missing";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::vector<Block> blocks = ShellBlocks(ss.str());
  ASSERT_FALSE(blocks.empty()) << "docs/api.md has no ```sh examples";

  ServerProcess server;
  ASSERT_TRUE(server.Start().ok()) << server.Stderr();
  auto http = server.Client();
  auto writer = CreateKey(*http, server.root_key(), "default", "write_agent", "docs");
  auto reader = CreateKey(*http, server.root_key(), "default", "read_only", "docs");
  ASSERT_TRUE(writer && reader);
  ::setenv("STEMEDB_URL", server.url().c_str(), 1);
  ::setenv("STEMEDB_KEY", server.root_key().c_str(), 1);
  ::setenv("STEMEDB_ADMIN_KEY", server.root_key().c_str(), 1);
  ::setenv("STEMEDB_WRITE_KEY", writer->key.c_str(), 1);
  ::setenv("STEMEDB_READ_KEY", reader->key.c_str(), 1);

  for (const Block& b : blocks) {
    auto [code, output] = RunBash(b.code, server.root());
    EXPECT_EQ(code, 0) << "docs/api.md:" << b.line << " failed:\n"
                       << b.code << "--- output ---\n"
                       << output.substr(0, 2000);
  }
  EXPECT_TRUE(server.Running()) << server.Stderr();
}

}  // namespace
}  // namespace stemedb::e2e
