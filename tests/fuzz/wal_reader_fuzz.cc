// Fuzz target: one WAL segment file as LogReader sees it (wal/FORMAT.md).
// Invariants: no crash or over-read whatever the bytes; every record handed
// out lies inside the file, LSNs are consecutive from the header's first
// LSN, and valid_end()/bad_offset() never point past the end of the file.
#include <cstring>
#include <memory>
#include <string>

#include "tests/fuzz/fuzz_target.h"
#include "wal/log_reader.h"

namespace {

// The bytes of the input as a file. Reads hand out at most `n` bytes, and a
// small n is exercised too, as short reads happen on real files.
class StringFile : public stemedb::SequentialFile {
 public:
  explicit StringFile(std::string data) : data_(std::move(data)) {}
  stemedb::Status Read(size_t n, std::string_view* result, char* scratch) override {
    size_t len = std::min(n, data_.size() - pos_);
    std::memcpy(scratch, data_.data() + pos_, len);
    pos_ += len;
    *result = std::string_view(scratch, len);
    return stemedb::Status::OK();
  }
  stemedb::Status Skip(uint64_t n) override {
    pos_ += static_cast<size_t>(std::min<uint64_t>(n, data_.size() - pos_));
    return stemedb::Status::OK();
  }

 private:
  std::string data_;
  size_t pos_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using stemedb::wal::LogReader;
  std::string bytes(reinterpret_cast<const char*>(data), size);
  LogReader reader(std::make_unique<StringFile>(bytes), "fuzz.wal", size);
  stemedb::Status io;
  stemedb::wal::SegmentHeader header;
  if (reader.ReadHeader(&header, &io) != LogReader::Outcome::kRecord) {
    FUZZ_CHECK(io.ok());
    FUZZ_CHECK(reader.bad_offset() <= size);
    return 0;
  }
  uint64_t expected = header.first_lsn;
  for (;;) {
    uint64_t lsn = 0;
    std::string_view payload;
    LogReader::Outcome o = reader.Next(&lsn, &payload, &io);
    FUZZ_CHECK(io.ok());
    FUZZ_CHECK(reader.valid_end() <= size);
    if (o == LogReader::Outcome::kRecord) {
      FUZZ_CHECK(lsn == expected);
      FUZZ_CHECK(payload.size() <= size);
      ++expected;
      continue;
    }
    if (o == LogReader::Outcome::kBad) {
      FUZZ_CHECK(reader.bad_offset() <= size);
      FUZZ_CHECK(!reader.reason().empty());
    } else if (reader.at_zero_header()) {
      uint64_t nonzero_end = 0;
      FUZZ_CHECK(reader.ScanTail(&nonzero_end).ok());
      FUZZ_CHECK(nonzero_end >= reader.valid_end() && nonzero_end <= size);
    }
    break;
  }
  return 0;
}
