#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "tests/util/temp_dir.h"
#include "util/env.h"

namespace stemedb {
namespace {

using stemedb::testing::TempDir;

std::string Slurp(Env* env, const std::string& path) {
  auto r = ReadFileToString(env, path);
  EXPECT_TRUE(r) << r.error().ToString();
  return r ? *r : std::string();
}

TEST(EnvPosixTest, WriteAppendSyncReadBack) {
  TempDir tmp;
  Env* env = Env::Default();
  auto f = env->NewWritableFile(tmp.Sub("a"));
  ASSERT_TRUE(f);
  ASSERT_TRUE((*f)->Append("hello ").ok());
  std::string big(200000, 'b');  // larger than the user-space buffer
  ASSERT_TRUE((*f)->Append(big).ok());
  ASSERT_TRUE((*f)->Append("!").ok());
  EXPECT_EQ(6u + big.size() + 1, (*f)->Size());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE((*f)->Close().ok());
  EXPECT_EQ("hello " + big + "!", Slurp(env, tmp.Sub("a")));
  EXPECT_EQ(6u + big.size() + 1, env->GetFileSize(tmp.Sub("a")).value());
}

TEST(EnvPosixTest, CloseFlushesBufferedBytes) {
  TempDir tmp;
  Env* env = Env::Default();
  auto f = env->NewWritableFile(tmp.Sub("a"));
  ASSERT_TRUE((*f)->Append("buffered").ok());
  EXPECT_EQ(0u, env->GetFileSize(tmp.Sub("a")).value());  // still in user space
  ASSERT_TRUE((*f)->Flush().ok());
  EXPECT_EQ(8u, env->GetFileSize(tmp.Sub("a")).value());
  ASSERT_TRUE((*f)->Append("more").ok());
  ASSERT_TRUE((*f)->Close().ok());
  EXPECT_EQ("bufferedmore", Slurp(env, tmp.Sub("a")));
  EXPECT_FALSE((*f)->Append("x").ok());
}

TEST(EnvPosixTest, ReopenWritesAtOffsetAndKeepsTheRest) {
  TempDir tmp;
  Env* env = Env::Default();
  ASSERT_TRUE(WriteFileAtomically(env, tmp.Sub("z"), std::string(10, '0')).ok());
  auto f = env->ReopenWritableFile(tmp.Sub("z"), 3);
  ASSERT_TRUE(f);
  EXPECT_EQ(3u, (*f)->Size());
  ASSERT_TRUE((*f)->Append("abc").ok());
  EXPECT_EQ(6u, (*f)->Size());
  ASSERT_TRUE((*f)->Close().ok());
  EXPECT_EQ("000abc0000", Slurp(env, tmp.Sub("z")));
  EXPECT_FALSE(env->ReopenWritableFile(tmp.Sub("missing"), 0));
}

TEST(EnvPosixTest, SequentialReadAndSkip) {
  TempDir tmp;
  Env* env = Env::Default();
  ASSERT_TRUE(WriteFileAtomically(env, tmp.Sub("s"), "0123456789").ok());
  auto f = env->NewSequentialFile(tmp.Sub("s"));
  ASSERT_TRUE(f);
  char scratch[16];
  std::string_view got;
  ASSERT_TRUE((*f)->Read(3, &got, scratch).ok());
  EXPECT_EQ("012", got);
  ASSERT_TRUE((*f)->Skip(4).ok());
  ASSERT_TRUE((*f)->Read(16, &got, scratch).ok());
  EXPECT_EQ("789", got);
  ASSERT_TRUE((*f)->Read(16, &got, scratch).ok());
  EXPECT_TRUE(got.empty());
  auto missing = env->NewSequentialFile(tmp.Sub("nope"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(Status::Code::kIOError, missing.error().code());
}

TEST(EnvPosixTest, DirectoryOperations) {
  TempDir tmp;
  Env* env = Env::Default();
  const std::string d = tmp.Sub("x/y/z");
  ASSERT_TRUE(env->CreateDirs(d).ok());
  ASSERT_TRUE(env->CreateDirs(d).ok());  // idempotent
  ASSERT_TRUE(WriteFileAtomically(env, d + "/f1", "1").ok());
  ASSERT_TRUE(WriteFileAtomically(env, d + "/f2", "2").ok());
  auto children = env->GetChildren(d);
  ASSERT_TRUE(children);
  std::sort(children->begin(), children->end());
  EXPECT_EQ((std::vector<std::string>{"f1", "f2"}), *children);  // no .tmp left behind
  ASSERT_TRUE(env->RenameFile(d + "/f1", d + "/f3").ok());
  EXPECT_FALSE(env->FileExists(d + "/f1"));
  EXPECT_TRUE(env->FileExists(d + "/f3"));
  ASSERT_TRUE(env->TruncateFile(d + "/f3", 0).ok());
  EXPECT_EQ(0u, env->GetFileSize(d + "/f3").value());
  ASSERT_TRUE(env->RemoveFile(d + "/f3").ok());
  EXPECT_FALSE(env->FileExists(d + "/f3"));
  EXPECT_FALSE(env->RemoveFile(d + "/f3").ok());
  ASSERT_TRUE(env->SyncDir(d).ok());
  EXPECT_FALSE(env->SyncDir(tmp.Sub("missing")).ok());
  EXPECT_FALSE(env->GetChildren(tmp.Sub("missing")));
  ASSERT_TRUE(WriteFileAtomically(env, tmp.Sub("file"), "").ok());
  EXPECT_FALSE(env->CreateDirs(tmp.Sub("file")).ok());
}

TEST(EnvPosixTest, CreateDirMakesOneLevel) {
  TempDir tmp;
  Env* env = Env::Default();
  EXPECT_TRUE(env->CreateDir(tmp.Sub("d")).value());
  EXPECT_FALSE(env->CreateDir(tmp.Sub("d")).value());  // already a directory
  EXPECT_FALSE(env->CreateDir(tmp.Sub("x/y")));        // parent missing
  ASSERT_TRUE(WriteFileAtomically(env, tmp.Sub("f"), "").ok());
  auto file = env->CreateDir(tmp.Sub("f"));
  ASSERT_FALSE(file);
  EXPECT_NE(std::string::npos, file.error().message().find("not a directory"));
  EXPECT_FALSE(env->CreateDirs(tmp.Sub("f/sub")).ok());
  EXPECT_FALSE(env->CreateDirs("").ok());
}

TEST(EnvPosixTest, ParentDir) {
  EXPECT_EQ("/a/b", ParentDir("/a/b/c"));
  EXPECT_EQ("/a/b", ParentDir("/a/b/c/"));
  EXPECT_EQ("/a", ParentDir("/a//b"));
  EXPECT_EQ("/", ParentDir("/a"));
  EXPECT_EQ("/", ParentDir("/"));
  EXPECT_EQ(".", ParentDir("a"));
  EXPECT_EQ("a", ParentDir("a/b"));
  EXPECT_EQ(".", ParentDir("./a"));
  EXPECT_EQ(".", ParentDir(""));
}

TEST(EnvPosixTest, WriteFileAtomicallySetsModeAndReplaces) {
  TempDir tmp;
  Env* env = Env::Default();
  const std::string p = tmp.Sub("root.key");
  ASSERT_TRUE(WriteFileAtomically(env, p, "first", 0600).ok());
  ASSERT_TRUE(WriteFileAtomically(env, p, "second", 0600).ok());
  EXPECT_EQ("second", Slurp(env, p));
  struct stat st;
  ASSERT_EQ(0, ::stat(p.c_str(), &st));
  EXPECT_EQ(0600u, st.st_mode & 0777);
  ASSERT_TRUE(env->SetPermissions(p, 0640).ok());
  ASSERT_EQ(0, ::stat(p.c_str(), &st));
  EXPECT_EQ(0640u, st.st_mode & 0777);
  EXPECT_FALSE(WriteFileAtomically(env, tmp.Sub("no/such/dir/f"), "x").ok());
}

TEST(EnvPosixTest, LockFileIsExclusive) {
  TempDir tmp;
  Env* env = Env::Default();
  auto a = env->LockFile(tmp.Sub("LOCK"));
  ASSERT_TRUE(a);
  auto b = env->LockFile(tmp.Sub("LOCK"));
  ASSERT_FALSE(b);
  EXPECT_EQ(Status::Code::kBusy, b.error().code());
  a->reset();  // releasing = destroying the FileLock
  auto c = env->LockFile(tmp.Sub("LOCK"));
  EXPECT_TRUE(c);
}

TEST(EnvPosixTest, FreeSpace) {
  TempDir tmp;
  auto free = Env::Default()->GetFreeSpace(tmp.path());
  ASSERT_TRUE(free);
  EXPECT_GT(*free, 0u);
  EXPECT_FALSE(Env::Default()->GetFreeSpace(tmp.Sub("missing")));
}

}  // namespace
}  // namespace stemedb
