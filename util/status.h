// Status: the error type at every module boundary (engine/, wal/, auth/, backup/).
//
// Modelled on leveldb::Status / rocksdb::Status: a code plus a message with
// context ("wal/0000000000000001.wal offset 4096: crc mismatch"). OK is cheap
// (no allocation). Status is [[nodiscard]]: ignoring one must be spelled out
// with IgnoreError("why"), which is greppable in review.
//
// Result<T> is boost::system::result<T, Status>: a value or the Status that
// explains why there is none. Callers test `if (!r) return r.error();`.
//
// Thread-safety: a Status is a value; copies may be used from any thread.
#pragma once

#include <boost/system/result.hpp>
#include <string>
#include <string_view>
#include <utility>

namespace stemedb {

class [[nodiscard]] Status {
 public:
  // Codes are stable: api/error_reply.cc maps each one to a docs/api.md error.
  enum class Code : unsigned char {
    kOk = 0,
    kNotFound,          // the thing asked for does not exist (404)
    kCorruption,        // bytes on disk fail a checksum or framing check
    kInvalidArgument,   // caller error: bad field, bad option (400)
    kIOError,           // the OS said no (EIO, EACCES, ...)
    kNoSpace,           // ENOSPC or below the free-space floor (507)
    kUnavailable,       // transient: replaying, shutting down, overloaded (503)
    kConflict,          // idempotency key reuse with another body, etc. (409)
    kFailed,            // fail-stopped component (WAL after a sync error)
    kBusy,              // a lock is held by someone else (data dir lock)
    kPermissionDenied,  // authenticated but not allowed (403)
    kUnauthenticated,   // no or bad credentials (401)
    kQuotaExceeded,     // a project's limit would be passed (403 quota_exceeded)
  };

  Status() noexcept = default;

  static Status OK() { return Status(); }
  static Status NotFound(std::string_view msg) { return Status(Code::kNotFound, msg); }
  static Status Corruption(std::string_view msg) { return Status(Code::kCorruption, msg); }
  static Status InvalidArgument(std::string_view msg) {
    return Status(Code::kInvalidArgument, msg);
  }
  static Status IOError(std::string_view msg) { return Status(Code::kIOError, msg); }
  static Status NoSpace(std::string_view msg) { return Status(Code::kNoSpace, msg); }
  static Status Unavailable(std::string_view msg) { return Status(Code::kUnavailable, msg); }
  static Status Conflict(std::string_view msg) { return Status(Code::kConflict, msg); }
  static Status Failed(std::string_view msg) { return Status(Code::kFailed, msg); }
  static Status Busy(std::string_view msg) { return Status(Code::kBusy, msg); }
  static Status PermissionDenied(std::string_view msg) {
    return Status(Code::kPermissionDenied, msg);
  }
  static Status Unauthenticated(std::string_view msg) {
    return Status(Code::kUnauthenticated, msg);
  }
  static Status QuotaExceeded(std::string_view msg) { return Status(Code::kQuotaExceeded, msg); }
  // Maps an errno from a failed syscall to kNoSpace / kIOError with context.
  static Status FromErrno(std::string_view context, int err);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsNoSpace() const { return code_ == Code::kNoSpace; }
  const std::string& message() const { return message_; }

  // "Corruption: wal/...: crc mismatch" — for logs and CLI output.
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context + ": "`.
  Status WithContext(std::string_view context) const;

  // Explicitly drops the status. `why` documents the decision at the call site.
  void IgnoreError(const char* why) const { (void)why; }

  friend bool operator==(const Status& a, const Status& b) { return a.code_ == b.code_; }

 private:
  Status(Code code, std::string_view msg) : code_(code), message_(msg) {}

  Code code_ = Code::kOk;
  std::string message_;
};

// Required by boost::system::result when .value() is called on an error.
[[noreturn]] void throw_exception_from_error(const Status& s, const boost::source_location& loc);

template <class T>
using Result = boost::system::result<T, Status>;

// Propagates a non-OK Status out of the current function.
#define STEMEDB_RETURN_IF_ERROR(expr) \
  do {                                \
    ::stemedb::Status _st = (expr);   \
    if (!_st.ok()) return _st;        \
  } while (0)

}  // namespace stemedb
