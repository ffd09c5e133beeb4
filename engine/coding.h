// Byte-level encoding helpers shared by the engine's codecs (engine/FORMAT.md).
//
// Writers append to a std::string. ByteReader consumes a string_view and never
// reads past its end: every Get* returns false on short or malformed input, so
// decoders built on it can turn any byte string into either a value or
// Status::Corruption (they are fuzz targets).
//
// Integers inside keys are big-endian so that byte order is numeric order;
// integers inside values are varints (LEB128, as LevelDB) or little-endian.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace stemedb::engine {

// The low N bytes of v, most significant first.
template <int N>
inline void PutFixedBE(std::string* dst, uint64_t v) {
  char buf[N];
  for (int i = N - 1; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  dst->append(buf, N);
}

template <int N>
inline uint64_t DecodeFixedBE(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < N; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

inline void PutFixed64BE(std::string* dst, uint64_t v) { PutFixedBE<8>(dst, v); }
inline void PutFixed32BE(std::string* dst, uint32_t v) { PutFixedBE<4>(dst, v); }
inline uint64_t DecodeFixed64BE(const char* p) { return DecodeFixedBE<8>(p); }
inline uint32_t DecodeFixed32BE(const char* p) {
  return static_cast<uint32_t>(DecodeFixedBE<4>(p));
}

inline void PutVarint64(std::string* dst, uint64_t v) {
  while (v >= 0x80) {
    dst->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  dst->push_back(static_cast<char>(v));
}

inline void PutLengthPrefixed(std::string* dst, std::string_view s) {
  PutVarint64(dst, s.size());
  dst->append(s);
}

// Sequential, bounds-checked reader over an encoded value.
class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}

  bool empty() const { return in_.empty(); }
  size_t remaining() const { return in_.size(); }

  bool GetByte(uint8_t* out) {
    if (in_.empty()) return false;
    *out = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }

  bool GetFixed64BE(uint64_t* out) {
    if (in_.size() < 8) return false;
    *out = DecodeFixed64BE(in_.data());
    in_.remove_prefix(8);
    return true;
  }

  // At most 10 bytes; rejects encodings that overflow 64 bits or are overlong.
  bool GetVarint64(uint64_t* out) {
    uint64_t result = 0;
    for (int shift = 0; shift <= 63; shift += 7) {
      if (in_.empty()) return false;
      const uint8_t byte = static_cast<uint8_t>(in_[0]);
      in_.remove_prefix(1);
      if (shift == 63 && byte > 1) return false;
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        // Overlong encodings (a trailing zero group) are rejected so every
        // value has exactly one encoding.
        if (byte == 0 && shift > 0) return false;
        *out = result;
        return true;
      }
    }
    return false;
  }

  // The length is checked against the bytes left before anything is copied.
  bool GetLengthPrefixed(std::string_view* out) {
    uint64_t len = 0;
    if (!GetVarint64(&len) || len > in_.size()) return false;
    *out = in_.substr(0, static_cast<size_t>(len));
    in_.remove_prefix(static_cast<size_t>(len));
    return true;
  }

  bool GetString(std::string* out) {
    std::string_view v;
    if (!GetLengthPrefixed(&v)) return false;
    out->assign(v);
    return true;
  }

  bool GetDouble(double* out) {
    uint64_t bits = 0;
    if (!GetFixed64BE(&bits)) return false;
    std::memcpy(out, &bits, sizeof(bits));
    return true;
  }

 private:
  std::string_view in_;
};

inline void PutDouble(std::string* dst, double d) {
  uint64_t bits = 0;
  std::memcpy(&bits, &d, sizeof(bits));
  PutFixed64BE(dst, bits);
}

}  // namespace stemedb::engine
