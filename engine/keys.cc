#include "engine/keys.h"

#include <sodium.h>

#include <cstring>

#include "engine/coding.h"

namespace stemedb::engine {
namespace {

constexpr uint8_t kCursorVersion = 1;

// Advances *pos past one component of `key`; false if malformed.
bool SkipComponent(std::string_view key, size_t* pos) {
  size_t i = *pos;
  while (true) {
    const size_t z = key.find('\0', i);
    if (z == std::string_view::npos || z + 1 >= key.size()) return false;
    const auto next = static_cast<unsigned char>(key[z + 1]);
    if (next == 0x01) {
      *pos = z + 2;
      return true;
    }
    if (next != 0xff) return false;
    i = z + 2;
  }
}

}  // namespace

void AppendComponent(std::string* dst, std::string_view s) {
  // Copies runs between NULs (almost always the whole string) at once.
  for (;;) {
    const void* nul = std::memchr(s.data(), '\0', s.size());
    if (nul == nullptr) break;
    const size_t n = static_cast<size_t>(static_cast<const char*>(nul) - s.data());
    dst->append(s.data(), n + 1);
    dst->push_back(static_cast<char>(0xff));
    s.remove_prefix(n + 1);
  }
  dst->append(s);
  dst->push_back('\0');
  dst->push_back('\x01');
}

std::string IndexGroupKey(IndexId index, std::string_view project, std::string_view subject,
                          std::string_view predicate, std::string_view agent) {
  std::string k;
  AppendIndexGroupKey(&k, index, project, subject, predicate, agent);
  return k;
}

void AppendIndexGroupKey(std::string* out, IndexId index, std::string_view project,
                         std::string_view subject, std::string_view predicate,
                         std::string_view agent) {
  std::string& k = *out;
  k.reserve(k.size() + project.size() + subject.size() + predicate.size() + agent.size() + 8);
  AppendComponent(&k, project);
  switch (index) {
    case IndexId::kSubject:
      AppendComponent(&k, subject);
      AppendComponent(&k, predicate);
      AppendComponent(&k, agent);
      break;
    case IndexId::kPredicate:
      AppendComponent(&k, predicate);
      AppendComponent(&k, agent);
      AppendComponent(&k, subject);
      break;
    case IndexId::kAgent:
      AppendComponent(&k, agent);
      AppendComponent(&k, subject);
      AppendComponent(&k, predicate);
      break;
  }
}

std::string IndexKey(IndexId index, std::string_view project, std::string_view subject,
                     std::string_view predicate, std::string_view agent, Lsn lsn, uint32_t ordinal,
                     std::string_view id) {
  std::string k;
  AppendIndexKey(&k, index, project, subject, predicate, agent, lsn, ordinal, id);
  return k;
}

void AppendIndexKey(std::string* out, IndexId index, std::string_view project,
                    std::string_view subject, std::string_view predicate, std::string_view agent,
                    Lsn lsn, uint32_t ordinal, std::string_view id) {
  AppendIndexGroupKey(out, index, project, subject, predicate, agent);
  PutFixed64BE(out, lsn.value());
  PutFixed32BE(out, ordinal);
  out->append(id);
}

bool ParseIndexKey(std::string_view key, ParsedIndexKey* out) {
  size_t pos = 0;
  for (int i = 0; i < 4; ++i) {
    if (!SkipComponent(key, &pos)) return false;
  }
  if (key.size() - pos < 12) return false;
  out->group = key.substr(0, pos);
  out->lsn = Lsn(DecodeFixed64BE(key.data() + pos));
  out->ordinal = DecodeFixed32BE(key.data() + pos + 8);
  out->id = key.substr(pos + 12);
  return true;
}

std::string ComponentPrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  if (!end.empty()) end.back() = static_cast<char>(end.back() + 1);
  return end;
}

std::string TimeKey(int64_t recorded_at_us, Lsn lsn) {
  std::string k;
  AppendTimeKey(&k, recorded_at_us, lsn);
  return k;
}

void AppendTimeKey(std::string* out, int64_t recorded_at_us, Lsn lsn) {
  PutFixed64BE(out, static_cast<uint64_t>(recorded_at_us < 0 ? 0 : recorded_at_us));
  PutFixed64BE(out, lsn.value());
}

bool ParseTimeKey(std::string_view key, int64_t* recorded_at_us, Lsn* lsn) {
  if (key.size() != 16) return false;
  *recorded_at_us = static_cast<int64_t>(DecodeFixed64BE(key.data()));
  *lsn = Lsn(DecodeFixed64BE(key.data() + 8));
  return true;
}

std::string IdempotencyKey(std::string_view project, std::string_view key) {
  std::string k;
  AppendComponent(&k, project);
  AppendComponent(&k, key);
  return k;
}

std::string SystemKey(SystemTable table, std::string_view key) {
  std::string k;
  k.push_back(static_cast<char>(table));
  k.append(key);
  return k;
}

std::string EncodeCursor(const QueryCursor& c) {
  std::string raw;
  raw.push_back(static_cast<char>(kCursorVersion));
  PutFixed64BE(&raw, c.as_of.value());
  raw.push_back(static_cast<char>(c.index));
  raw.push_back(c.history ? 1 : 0);
  PutLengthPrefixed(&raw, c.last_key);
  const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(raw.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                    raw.size(), variant);
  out.resize(std::char_traits<char>::length(out.c_str()));
  return out;
}

Result<QueryCursor> DecodeCursor(std::string_view text) {
  const Status bad = Status::InvalidArgument("cursor: not a valid cursor");
  if (text.empty() || text.size() > 16384) return bad;
  std::string raw(text.size(), '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), text.data(),
                        text.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return bad;
  }
  raw.resize(len);
  ByteReader r(raw);
  QueryCursor c;
  uint8_t version = 0;
  uint64_t as_of = 0;
  uint8_t index = 0;
  uint8_t history = 0;
  if (!r.GetByte(&version) || version != kCursorVersion || !r.GetFixed64BE(&as_of) ||
      !r.GetByte(&index) || index > static_cast<uint8_t>(IndexId::kAgent) || !r.GetByte(&history) ||
      history > 1 || !r.GetString(&c.last_key) || !r.empty()) {
    return bad;
  }
  c.as_of = Lsn(as_of);
  c.index = static_cast<IndexId>(index);
  c.history = history == 1;
  return c;
}

}  // namespace stemedb::engine
