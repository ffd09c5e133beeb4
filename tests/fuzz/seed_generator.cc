// Writes the binary seed corpora (WAL segments and WAL payloads) that are
// checked in under tests/fuzz/corpus/. Text seeds (JSON bodies, HTTP
// requests) are written by hand. Rerun after a format change:
//   build/tests/fuzz/fuzz_seed_generator tests/fuzz/corpus
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "engine/log_entry.h"
#include "wal/segment_scan.h"
#include "wal/wal.h"

namespace fs = std::filesystem;
using namespace stemedb;

namespace {

void WriteFile(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string ReadFile(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::vector<engine::WalEntry> Entries() {
  std::vector<engine::WalEntry> out;
  engine::AssertBatchEntry batch;
  batch.project = "acme";
  for (int i = 0; i < 3; ++i) {
    engine::NewAssertion a;
    a.id = "0000000000000000000000000000000" + std::to_string(i);
    a.subject = "sensor-" + std::to_string(i);
    a.predicate = "temp";
    a.agent_id = "alice";
    a.value_json = R"({"c":21.5,"ok":true})";
    if (i == 1) a.confidence = 0.75;
    if (i == 2) {
      a.observed_at = "2026-11-22T10:00:00Z";
      a.signature = std::string(86, 'A') + "==";
      a.is_signed = true;
    }
    batch.assertions.push_back(a);
  }
  batch.idempotency = engine::IdempotencyToken{"retry-1", std::string(64, 'f')};
  out.push_back({1764000000000000, batch});
  engine::RetractEntry retract;
  retract.project = "acme";
  retract.retraction_id = "11111111111111111111111111111111";
  retract.target_id = "00000000000000000000000000000000";
  out.push_back({1764000000000001, retract});
  engine::SystemEntry sys;
  sys.writes.push_back({engine::SystemTable::kApiKeys, "0123456789abcdef", std::string("record")});
  sys.writes.push_back({engine::SystemTable::kUsage, "0123456789abcdef", std::nullopt});
  out.push_back({1764000000000002, sys});
  // Kind 4: a project deletion's mark, and one purge step.
  engine::DeleteProjectEntry mark;
  mark.project = "gone";
  out.push_back({1764000000000003, mark});
  engine::DeleteProjectEntry purge;
  purge.project = "gone";
  purge.step = engine::DeleteProjectEntry::Step::kPurge;
  purge.max_assertions = 512;
  out.push_back({1764000000000004, purge});
  // Kind 5: an erasure and a retention expiry, by id.
  engine::EraseEntry erase;
  erase.project = "acme";
  erase.ids = {"00000000000000000000000000000001", "00000000000000000000000000000002"};
  out.push_back({1764000000000005, erase});
  engine::EraseEntry expiry;
  expiry.project = "acme";
  expiry.reason = engine::EraseEntry::Reason::kExpiry;
  expiry.ids = {"00000000000000000000000000000000"};
  out.push_back({1764000000000006, expiry});
  // Kind 6: an import of a signed assertion and a retraction of it.
  engine::ImportEntry import;
  import.project = "copy";
  engine::ImportedRecord assertion;
  assertion.recorded_at_us = 1763000000000000;
  assertion.assertion = batch.assertions[2];
  assertion.assertion.id = "22222222222222222222222222222222";
  import.records.push_back(assertion);
  engine::ImportedRecord retraction;
  retraction.recorded_at_us = 1763000000000001;
  retraction.is_retraction = true;
  retraction.retraction_id = "33333333333333333333333333333333";
  retraction.target_id = "22222222222222222222222222222222";
  import.records.push_back(retraction);
  out.push_back({1764000000000007, import});
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " CORPUS_DIR\n";
    return 2;
  }
  fs::path corpus = argv[1];
  auto entries = Entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string payload = engine::EncodeWalEntry(entries[i]);
    // A seed that does not decode would only ever exercise the error path.
    auto decoded = engine::DecodeWalEntry(payload);
    if (!decoded || engine::EncodeWalEntry(*decoded) != payload) {
      std::cerr << "seed " << i << " does not round-trip\n";
      return 1;
    }
    WriteFile(corpus / "wal_entry" / ("entry-" + std::to_string(i)), payload);
  }

  // A real segment: header, the three payloads, then a cut-down zero tail.
  fs::path dir = fs::temp_directory_path() / "stemedb-seed-wal";
  fs::remove_all(dir);
  wal::WalOptions opts;
  opts.dir = dir.string();
  opts.segment_bytes = 64 << 10;
  opts.preallocate_next_segment = false;
  auto w = wal::Wal::Open(opts, nullptr);
  if (!w) {
    std::cerr << w.error().ToString() << "\n";
    return 1;
  }
  for (const auto& e : entries) {
    if (!(*w)->Append(engine::EncodeWalEntry(e))) return 1;
  }
  if (!(*w)->Close().ok()) return 1;
  int n = 0;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().extension() != ".wal") continue;
    wal::SegmentScan scan;
    if (!wal::ScanSegment(Env::Default(), dir.string(), f.path().filename().string(), &scan).ok() ||
        scan.damaged) {
      return 1;
    }
    std::string seg = ReadFile(f.path()).substr(0, scan.valid_end);
    WriteFile(corpus / "wal_reader" / ("segment-" + std::to_string(n)), seg);
    WriteFile(corpus / "wal_reader" / ("segment-zero-tail-" + std::to_string(n)),
              seg + std::string(64, '\0'));
    ++n;
  }
  fs::remove_all(dir);
  std::cout << "wrote " << entries.size() << " wal_entry and " << 2 * n << " wal_reader seeds\n";
  return n > 0 ? 0 : 1;
}
