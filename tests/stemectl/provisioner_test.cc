#include "stemectl/provisioner.h"

#include <gtest/gtest.h>

namespace stemedb::ctl {
namespace {

TEST(ProjectsFile, UsesTheServersProjectRule) {
  // One rule (auth/project_name.h): what the server refuses, the file refuses.
  for (const char* bad : {".x", "Foo", "al_pha", "team-a.prod_1", "-a"}) {
    auto projects = ParseProjectsFile(std::string(bad) + "\n");
    ASSERT_FALSE(projects) << bad;
    EXPECT_NE(projects.error().message().find("DNS label"), std::string::npos)
        << projects.error().message();
  }
  EXPECT_TRUE(ParseProjectsFile("default\nalpha-01\n" + std::string(63, 'x') + "\n"));
}

TEST(ProjectsFile, SkipsBlankLinesAndComments) {
  auto projects = ParseProjectsFile("# projects\n\nalpha\n  beta  # the second\r\n\t\ngamma");
  ASSERT_TRUE(projects) << projects.error().ToString();
  EXPECT_EQ(*projects, (std::vector<std::string>{"alpha", "beta", "gamma"}));
}

TEST(ProjectsFile, ReportsEveryBadLineWithItsNumber) {
  auto projects = ParseProjectsFile("alpha\nBad Name\nbeta\nalpha\n");
  ASSERT_FALSE(projects);
  const std::string message = projects.error().message();
  EXPECT_NE(message.find("line 2"), std::string::npos) << message;
  EXPECT_NE(message.find("line 4: duplicate project 'alpha'"), std::string::npos) << message;
  EXPECT_EQ(message.find("line 3"), std::string::npos) << message;
}

TEST(ProjectsFile, EmptyFileIsNoProjects) {
  auto projects = ParseProjectsFile("# nothing here\n\n");
  ASSERT_TRUE(projects);
  EXPECT_TRUE(projects->empty());
}

TEST(SecretManifest, IsASecretNamedAfterTheProject) {
  std::string yaml =
      SecretManifest("alpha", "steme_live_" + std::string(48, 'a'), "0123456789abcdef", "apps");
  EXPECT_NE(yaml.find("kind: Secret\n"), std::string::npos);
  EXPECT_NE(yaml.find("  name: stemedb-key-alpha\n"), std::string::npos);
  EXPECT_NE(yaml.find("  namespace: apps\n"), std::string::npos);
  EXPECT_NE(yaml.find("STEMEDB_API_KEY: \"steme_live_"), std::string::npos);
  EXPECT_NE(yaml.find("STEMEDB_KEY_ID: \"0123456789abcdef\""), std::string::npos);
}

}  // namespace
}  // namespace stemedb::ctl
