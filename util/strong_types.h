// Distinct integer types for things that must never be mixed up: an LSN is
// not a segment number is not a byte offset. A StrongInt converts to its raw
// value only through .value(), so `Lsn lsn = offset;` does not compile.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace stemedb {

template <class Tag, class Rep = uint64_t>
class StrongInt {
 public:
  constexpr StrongInt() = default;
  constexpr explicit StrongInt(Rep v) : value_(v) {}
  constexpr Rep value() const { return value_; }
  constexpr auto operator<=>(const StrongInt&) const = default;
  constexpr StrongInt next() const { return StrongInt(value_ + 1); }

 private:
  Rep value_ = 0;
};

// Log sequence number: assigned by the WAL, strictly increasing, starting at 1.
// Lsn(0) means "nothing" (an empty log, a store that has applied nothing).
using Lsn = StrongInt<struct LsnTag>;

}  // namespace stemedb

template <class Tag, class Rep>
struct std::hash<stemedb::StrongInt<Tag, Rep>> {
  size_t operator()(const stemedb::StrongInt<Tag, Rep>& v) const noexcept {
    return std::hash<Rep>()(v.value());
  }
};
