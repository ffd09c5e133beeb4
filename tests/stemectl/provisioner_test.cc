#include "stemectl/provisioner.h"

#include <gtest/gtest.h>

namespace stemedb::ctl {
namespace {

TEST(ProjectName, AcceptsDnsLabels) {
  EXPECT_TRUE(IsValidProjectName("a"));
  EXPECT_TRUE(IsValidProjectName("alpha-01"));
  EXPECT_TRUE(IsValidProjectName(std::string(63, 'x')));
}

TEST(ProjectName, RejectsEverythingElse) {
  EXPECT_FALSE(IsValidProjectName(""));
  EXPECT_FALSE(IsValidProjectName(std::string(64, 'x')));
  EXPECT_FALSE(IsValidProjectName("-alpha"));
  EXPECT_FALSE(IsValidProjectName("alpha-"));
  EXPECT_FALSE(IsValidProjectName("Alpha"));
  EXPECT_FALSE(IsValidProjectName("al pha"));
  EXPECT_FALSE(IsValidProjectName("al/pha"));
  EXPECT_FALSE(IsValidProjectName("../x"));
  EXPECT_FALSE(IsValidProjectName("al_pha"));
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
