// An Env whose Sync/SyncDir only flush: for loops that open a WAL hundreds
// of times, where the durability of each attempt is not what is tested.
#pragma once

#include <memory>

#include "util/env.h"

namespace stemedb::testing {

class NoSyncEnv : public EnvWrapper {
 public:
  NoSyncEnv() : EnvWrapper(Env::Default()) {}

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& p) override {
    return Wrap(target()->NewWritableFile(p));
  }
  Result<std::unique_ptr<WritableFile>> ReopenWritableFile(const std::string& p,
                                                           uint64_t off) override {
    return Wrap(target()->ReopenWritableFile(p, off));
  }
  Status SyncDir(const std::string&) override { return Status::OK(); }

 private:
  class File : public WritableFile {
   public:
    explicit File(std::unique_ptr<WritableFile> f) : f_(std::move(f)) {}
    Status Append(std::string_view d) override { return f_->Append(d); }
    Status Flush() override { return f_->Flush(); }
    Status Sync() override { return f_->Flush(); }
    Status Close() override { return f_->Close(); }
    uint64_t Size() const override { return f_->Size(); }

   private:
    std::unique_ptr<WritableFile> f_;
  };
  static Result<std::unique_ptr<WritableFile>> Wrap(Result<std::unique_ptr<WritableFile>> r) {
    if (!r) return r.error();
    return std::unique_ptr<WritableFile>(new File(std::move(*r)));
  }
};

}  // namespace stemedb::testing
