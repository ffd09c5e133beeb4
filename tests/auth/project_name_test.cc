#include "auth/project_name.h"

#include <gtest/gtest.h>

#include <string>

namespace stemedb::auth {
namespace {

struct Case {
  std::string name;
  bool valid;
};

TEST(ProjectNameTest, OneRuleTable) {
  const Case cases[] = {
      // Names the docs, tests and manifests use.
      {"default", true},
      {"alpha", true},
      {"proj-0", true},
      {"smoke-0a1b2c3d", true},
      {"a", true},
      {"0", true},
      {"team-a-prod-1", true},
      {std::string(63, 'x'), true},
      // Everything else.
      {"", false},
      {std::string(64, 'x'), false},
      {".x", false},
      {".hidden", false},
      {"Foo", false},
      {"fOO", false},
      {"-alpha", false},
      {"alpha-", false},
      {"-", false},
      {"team-a.prod_1", false},
      {"al_pha", false},
      {"al.pha", false},
      {"al pha", false},
      {"a/b", false},
      {"../x", false},
      {std::string("a\0b", 3), false},
      {"caf\xc3\xa9", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(IsValidProjectName(c.name), c.valid) << "'" << c.name << "'";
  }
}

}  // namespace
}  // namespace stemedb::auth
