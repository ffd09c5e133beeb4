#include "util/status.h"

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace stemedb {
namespace {

const char* CodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk:
      return "OK";
    case Status::Code::kNotFound:
      return "NotFound";
    case Status::Code::kCorruption:
      return "Corruption";
    case Status::Code::kInvalidArgument:
      return "InvalidArgument";
    case Status::Code::kIOError:
      return "IOError";
    case Status::Code::kNoSpace:
      return "NoSpace";
    case Status::Code::kUnavailable:
      return "Unavailable";
    case Status::Code::kConflict:
      return "Conflict";
    case Status::Code::kFailed:
      return "Failed";
    case Status::Code::kBusy:
      return "Busy";
    case Status::Code::kPermissionDenied:
      return "PermissionDenied";
    case Status::Code::kUnauthenticated:
      return "Unauthenticated";
    case Status::Code::kQuotaExceeded:
      return "QuotaExceeded";
  }
  return "Unknown";
}

}  // namespace

Status Status::FromErrno(std::string_view context, int err) {
  std::string msg(context);
  msg += ": ";
  msg += std::strerror(err);
  // ENOSPC and EDQUOT both mean "the volume is full for us" (507, not 500).
  if (err == ENOSPC || err == EDQUOT) return NoSpace(msg);
  if (err == EACCES || err == EPERM || err == EROFS) return Status(Code::kIOError, msg);
  return IOError(msg);
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out = CodeName(code_);
  out += ": ";
  out += message_;
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string msg(context);
  msg += ": ";
  msg += message_;
  return Status(code_, msg);
}

void throw_exception_from_error(const Status& s, const boost::source_location&) {
  throw std::runtime_error(s.ToString());
}

}  // namespace stemedb
