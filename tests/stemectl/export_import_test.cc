// Export and import of a project (docs/projects.md "Export and import")
// between real servers, through the real `stemectl` and over raw HTTP:
// round trip byte-identical up to LSNs (history, retractions, signed
// assertions that still verify), into a fresh server and into another
// project; a copy into another project of the same server with derived ids;
// a re-run imports nothing twice; an import registers its project (or is
// refused under a strict registry); a broken export resumed from its last
// complete line equals an unbroken one; an export is one LSN's state while
// writes go on; a malformed line names its line and writes nothing.
#include <gtest/gtest.h>
#include <sodium.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_process.h"
#include "tests/stemectl/ctl_runner.h"

namespace stemedb::e2e {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  if (start < text.size()) out.push_back(text.substr(start));
  return out;
}

// The export with every LSN (records' and the header's) blanked out.
std::string WithoutLsns(const std::string& text) {
  static const std::regex kLsn(R"re("(lsn|as_of_lsn)":[0-9]+)re");
  return std::regex_replace(text, kLsn, "\"$1\":L");
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  for (size_t p = text.find(from); p != std::string::npos; p = text.find(from, p + to.size())) {
    text.replace(p, from.size(), to);
  }
  return text;
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

// The id a copy of `id` gets in `project` with ids=derive, computed here from
// the construction docs/projects.md states (not through the server's code).
std::string ExpectedDerivedId(const std::string& project, const std::string& id) {
  static const std::string kKey = "stemedb-derived-id-v1";
  const std::string message = project + std::string(1, '\0') + id;
  unsigned char digest[8];
  crypto_generichash(digest, sizeof digest, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size(), reinterpret_cast<const unsigned char*>(kKey.data()),
                     kKey.size());
  char hex[2 * sizeof digest + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return id.substr(0, 16) + hex;
}

// A record line without the members a copy changes: id, lsn, retracts, and
// (for the stored objects of a query) project and the retraction's state.
json::object WithoutIds(json::value v) {
  json::object o = v.as_object();
  for (const char* k : {"id", "lsn", "retracts", "project", "retracted_lsn", "retraction_id"}) {
    o.erase(k);
  }
  return o;
}

uint64_t AsOfOf(const std::string& export_text) {
  json::value header = ParseJson(Lines(export_text).at(0));
  return header.at("as_of_lsn").to_number<uint64_t>();
}

class ExportImportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_GE(sodium_init(), 0); }

  static client::HttpResponse Call(const ServerProcess& s, const std::string& method,
                                   const std::string& target, const std::string& body = "",
                                   const std::string& content_type = "application/json") {
    auto http = s.Client();
    Headers h = Auth(s.root_key());
    if (!body.empty()) h.emplace_back("Content-Type", content_type);
    auto r = http->Request(method, target, body, h);
    EXPECT_TRUE(r) << Describe(r);
    return r ? *r : client::HttpResponse{};
  }

  // GET .../export (any query); the whole body, asserting 200.
  static std::string Export(const ServerProcess& s, const std::string& project,
                            const std::string& query = "") {
    client::HttpClient http(s.url());
    std::string body;
    auto r = http.Download("/v1/admin/projects/" + project + "/export" + query, Auth(s.root_key()),
                           [&](std::string_view chunk) {
                             body.append(chunk);
                             return Status::OK();
                           });
    EXPECT_TRUE(r && r->status == 200) << Describe(r) << (r ? r->body : "");
    return body;
  }

  static std::string Post(const ServerProcess& s, const std::string& target,
                          const json::value& body) {
    client::HttpResponse r = Call(s, "POST", target, Serialize(body));
    EXPECT_EQ(r.status, 201) << target << ": " << Describe(r);
    return r.body;
  }

  struct Written {
    std::string signed_id;  // a signed assertion (not retracted)
    std::string retracted;  // an assertion retracted at retraction_lsn
    uint64_t retraction_lsn = 0;
    std::string public_key;  // the signer's Ed25519 key, raw bytes
  };

  // History (several versions per subject/predicate/agent), retractions,
  // odd values, and signed assertions of a registered agent.
  static Written Populate(const ServerProcess& s, const std::string& project, int bulk = 0) {
    Written w;
    const std::string q = "?project=" + project;
    std::vector<std::string> ids;
    for (int version = 0; version < 3; ++version) {
      json::array batch;
      for (int i = 0; i < 30; ++i) {
        json::object a = Assertion("s" + std::to_string(i % 10), i % 2 ? "color" : "size",
                                   version * 100 + i, "agent-" + std::to_string(i % 3));
        if (i % 4 == 0) a["confidence"] = 0.25 * (i % 5);
        if (i % 5 == 0) a["observed_at"] = "2026-11-22T15:38:22Z";
        batch.push_back(std::move(a));
      }
      json::value reply =
          ParseJson(Post(s, "/v1/assert/batch" + q, json::object{{"assertions", batch}}));
      for (const auto& a : reply.at("assertions").as_array()) ids.push_back(Str(a, "id"));
    }
    json::object odd = Assertion("caf\xc3\xa9 \"quoted\"\\", "p\n2",
                                 json::parse(R"({"b":1,"a":[true,null,1.5,"\u0000x"]})"), "z");
    ids.push_back(Str(ParseJson(Post(s, "/v1/assert" + q, odd)), "id"));
    for (int i = 0; i < 6; ++i) {
      json::value r = ParseJson(Post(s, "/v1/retract" + q, json::object{{"id", ids[i * 7]}}));
      w.retracted = ids[i * 7];
      w.retraction_lsn = r.at("lsn").to_number<uint64_t>();
    }
    // A registered agent signs (docs/signatures.md).
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk, sk);
    w.public_key.assign(reinterpret_cast<char*>(pk), sizeof pk);
    char
        pk64[sodium_base64_ENCODED_LEN(crypto_sign_PUBLICKEYBYTES, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(pk64, sizeof pk64, pk, sizeof pk, sodium_base64_VARIANT_ORIGINAL);
    Post(s, "/v1/agents" + q, json::object{{"agent_id", "signer"}, {"public_key", pk64}});
    for (int i = 0; i < 2; ++i) {
      const std::string value = "v" + std::to_string(i);
      const std::string msg = R"({"agent_id":"signer","predicate":"sig","project":")" + project +
                              R"(","subject":"signed","value":")" + value + "\"}";
      unsigned char sig[crypto_sign_BYTES];
      crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(msg.data()),
                           msg.size(), sk);
      char sig64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
      sodium_bin2base64(sig64, sizeof sig64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
      json::object a = Assertion("signed", "sig", json::string(value), "signer");
      a["signature"] = sig64;
      std::string id = Str(ParseJson(Post(s, "/v1/assert" + q, a)), "id");
      if (i == 0) {
        Post(s, "/v1/retract" + q, json::object{{"id", id}});
      } else {
        w.signed_id = id;
      }
    }
    for (int b = 0; b < bulk / 1000; ++b) {
      json::array batch;
      for (int i = 0; i < 1000; ++i) {
        batch.push_back(Assertion("bulk-" + std::to_string(i % 97), "n", b * 1000 + i, "loader"));
      }
      json::value reply =
          ParseJson(Post(s, "/v1/assert/batch" + q, json::object{{"assertions", batch}}));
      const auto& got = reply.at("assertions").as_array();
      for (size_t i = 0; i < got.size(); i += 101) {
        Post(s, "/v1/retract" + q, json::object{{"id", Str(got[i], "id")}});
      }
    }
    return w;
  }

  // The signature of assertion `id` on `s` verifies over the canonical
  // message with project `signed_project`.
  static bool SignatureVerifies(const ServerProcess& s, const std::string& project,
                                const std::string& id, const std::string& signed_project,
                                const std::string& public_key) {
    client::HttpResponse r = Call(s, "GET", "/v1/assertions/" + id + "?project=" + project);
    json::value a = ParseJson(r.body);
    if (!a.is_object()) return false;
    const std::string msg = R"({"agent_id":"signer","predicate":"sig","project":")" +
                            signed_project + R"(","subject":"signed","value":)" +
                            json::serialize(a.at("value")) + "}";
    const std::string sig64 = Str(a, "signature");
    unsigned char sig[crypto_sign_BYTES];
    size_t len = 0;
    if (sodium_base642bin(sig, sizeof sig, sig64.data(), sig64.size(), nullptr, &len, nullptr,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        len != sizeof sig) {
      return false;
    }
    return crypto_sign_verify_detached(
               sig, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(),
               reinterpret_cast<const unsigned char*>(public_key.data())) == 0;
  }
};

TEST_F(ExportImportTest, RoundTripIsByteIdenticalUpToLsns) {
  ServerProcess a;
  ASSERT_TRUE(a.Start().ok()) << a.Stderr();
  const Written w = Populate(a, "alpha");
  const std::string e1 = Export(a, "alpha");
  const std::vector<std::string> lines = Lines(e1);
  ASSERT_GE(lines.size(), 100u);
  EXPECT_EQ(lines.front().rfind(R"({"stemedb_export":1,"project":"alpha","as_of_lsn":)", 0), 0u)
      << lines.front();
  // 90 + 1 + 2 assertions, 6 + 1 retractions, counted by the trailer.
  EXPECT_EQ(lines.back(), R"({"end":true,"assertions":93,"retractions":7})");
  EXPECT_EQ(lines.size(), 2u + 93 + 7);
  EXPECT_EQ(e1.find("\"project\":\"alpha\"", lines.front().size()), std::string::npos)
      << "record lines do not name the project";

  // As of the LSN before a retraction, the assertion is there, unretracted.
  const std::string before =
      Export(a, "alpha", "?as_of=lsn:" + std::to_string(w.retraction_lsn - 1));
  EXPECT_NE(before.find(w.retracted), std::string::npos);
  EXPECT_EQ(before.find("\"retracts\":\"" + w.retracted + "\""), std::string::npos);
  EXPECT_NE(e1.find("\"retracts\":\"" + w.retracted + "\""), std::string::npos);

  // Into a fresh server, 7 records per request: targets and their
  // retractions land in different requests.
  ServerProcess b;
  ASSERT_TRUE(b.Start().ok()) << b.Stderr();
  const std::string file = b.root() + "/alpha.ndjson";
  WriteFile(file, e1);
  CtlRun imp = RunCtl(b, {"import", "--project", "alpha", "--batch-lines", "7", file});
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  EXPECT_NE(imp.out.find("imported 100 records into alpha (0 already there"), std::string::npos)
      << imp.out;
  const std::string e2 = Export(b, "alpha");
  EXPECT_EQ(WithoutLsns(e2), WithoutLsns(e1));
  EXPECT_TRUE(SignatureVerifies(b, "alpha", w.signed_id, "alpha", w.public_key));
  EXPECT_NE(Call(b, "GET", "/v1/assertions/" + w.signed_id + "?project=alpha")
                .body.find("\"signed\":true"),
            std::string::npos);

  // A re-run imports nothing, and changes no record (not even an LSN).
  CtlRun again = RunCtl(b, {"import", "--project", "alpha", file});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("imported 0 records into alpha (100 already there"), std::string::npos)
      << again.out;
  const std::string e3 = Export(b, "alpha");
  EXPECT_EQ(e3.substr(e3.find('\n')), e2.substr(e2.find('\n')));

  // Ids are instance-wide: the same records cannot also go into another
  // project of this server; the request is refused and writes nothing.
  CtlRun clash = RunCtl(b, {"import", "--project", "beta", file});
  EXPECT_EQ(clash.exit_code, 1) << clash.out;
  EXPECT_NE(clash.err.find("another project"), std::string::npos) << clash.err;
  EXPECT_EQ(Lines(Export(b, "beta")).back(), R"({"end":true,"assertions":0,"retractions":0})");

  // Into another project of a fresh server: the same up to LSNs and the
  // project's name, except that signed becomes false (the signature covers
  // the project it was written in, docs/signatures.md); it still verifies
  // against that project.
  ServerProcess c;
  ASSERT_TRUE(c.Start().ok()) << c.Stderr();
  CtlRun beta = RunCtl(c, {"import", "--project", "beta", file});
  ASSERT_EQ(beta.exit_code, 0) << beta.err;
  const std::string e4 = Export(c, "beta");
  std::string expected = Replace(WithoutLsns(e1), "\"project\":\"alpha\"", "\"project\":\"beta\"");
  expected = Replace(expected, "\"signed\":true", "\"signed\":false");
  EXPECT_EQ(WithoutLsns(e4), expected);
  EXPECT_TRUE(SignatureVerifies(c, "beta", w.signed_id, "alpha", w.public_key));
  EXPECT_FALSE(SignatureVerifies(c, "beta", w.signed_id, "beta", w.public_key));
}

TEST_F(ExportImportTest, ResumedExportEqualsAnUnbrokenOne) {
  ServerProcess a;
  ASSERT_TRUE(a.Start().ok()) << a.Stderr();
  Populate(a, "alpha", 3000);
  const std::string full = Export(a, "alpha");
  const uint64_t as_of = AsOfOf(full);
  const std::vector<std::string> full_lines = Lines(full);

  // Cut points: early, middle, late, and just after an assertion line whose
  // retraction line follows (the cursor must not skip that retraction).
  std::vector<size_t> cuts = {60, full.size() / 3, full.size() / 2, full.size() - 30};
  size_t offset = 0;
  for (size_t i = 0; i + 1 < full_lines.size(); ++i) {
    offset += full_lines[i].size() + 1;
    if (i > 0 && full_lines[i + 1].find("\"kind\":\"retraction\"") != std::string::npos &&
        full_lines[i].find("\"kind\"") == std::string::npos) {
      cuts.push_back(offset + 5);
      break;
    }
  }
  for (size_t cut : cuts) {
    SCOPED_TRACE("cut at byte " + std::to_string(cut));
    client::HttpClient http(a.url());
    std::string got;
    auto r = http.Download("/v1/admin/projects/alpha/export?as_of=lsn:" + std::to_string(as_of),
                           Auth(a.root_key()), [&](std::string_view chunk) {
                             got.append(chunk.substr(0, std::min(chunk.size(), cut - got.size())));
                             return got.size() >= cut ? Status::Unavailable("client hangs up")
                                                      : Status::OK();
                           });
    ASSERT_FALSE(r);                  // the client went away mid-stream
    got.resize(got.rfind('\n') + 1);  // keep complete lines
    const std::vector<std::string> kept = Lines(got);
    ASSERT_GE(kept.size(), 1u);
    std::string resumed;
    if (kept.size() == 1) {
      resumed = Export(a, "alpha", "?as_of=lsn:" + std::to_string(as_of));
    } else {
      const std::string last = Str(ParseJson(kept.back()), "id");
      resumed = Export(a, "alpha", "?as_of=lsn:" + std::to_string(as_of) + "&after=" + last);
    }
    // The resumed stream repeats the header; the rest continues the file.
    EXPECT_EQ(got + resumed.substr(resumed.find('\n') + 1), full);
  }

  // stemectl resumes by itself (a test-build failpoint cuts its first
  // download) and writes the file atomically.
  const std::string out = a.root() + "/alpha.ndjson";
  CtlRun ctl = RunCtl(
      a, {"export", "--project", "alpha", "--as-of", "lsn:" + std::to_string(as_of), "--out", out},
      {"STEMECTL_FAILPOINT=export_cut_after_bytes=" + std::to_string(full.size() / 2)});
  ASSERT_EQ(ctl.exit_code, 0) << ctl.err;
  EXPECT_NE(ctl.err.find("resuming after"), std::string::npos) << ctl.err;
  EXPECT_EQ(ReadFile(out), full);
  EXPECT_FALSE(std::filesystem::exists(out + ".partial"));

  // A cursor that is no line of the export, or without its as_of, is a 400.
  client::HttpResponse bad =
      Call(a, "GET",
           "/v1/admin/projects/alpha/export?as_of=lsn:" + std::to_string(as_of) +
               "&after=" + std::string(32, '0'));
  EXPECT_EQ(bad.status, 400) << Describe(bad);
  bad = Call(a, "GET", "/v1/admin/projects/alpha/export?after=" + std::string(32, '0'));
  EXPECT_EQ(bad.status, 400) << Describe(bad);
}

TEST_F(ExportImportTest, ExportIsOneLsnWhileWritesContinue) {
  ServerProcess a;
  ASSERT_TRUE(a.Start().ok()) << a.Stderr();
  Populate(a, "alpha", 2000);
  std::atomic<bool> stop{false};
  std::atomic<int> batches{0};
  std::atomic<bool> writer_done{false};
  std::thread writer([&] {
    auto http = a.Client();
    for (int b = 0; b < 400 && !stop.load(); ++b) {
      json::array batch;
      for (int i = 0; i < 50; ++i) batch.push_back(Assertion("s1", "color", b * 50 + i, "agent-1"));
      auto r = http->Request("POST", "/v1/assert/batch?project=alpha",
                             Serialize(json::object{{"assertions", batch}}),
                             Auth(a.root_key(), {{"Content-Type", "application/json"}}));
      if (r && r->status == 201) ++batches;
    }
    writer_done = true;
  });
  while (batches.load() < 3 && !writer_done.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const std::string during = Export(a, "alpha");
  const int seen = batches.load();
  stop = true;
  writer.join();
  ASSERT_GT(seen, 0);
  const uint64_t as_of = AsOfOf(during);
  // Every record is at or before the header's LSN, and the same export
  // taken afterwards as of that LSN is the same bytes.
  for (const std::string& line : Lines(during)) {
    json::value v = ParseJson(line);
    if (const json::value* lsn = v.as_object().if_contains("lsn")) {
      ASSERT_LE(lsn->to_number<uint64_t>(), as_of) << line;
    }
  }
  EXPECT_EQ(Export(a, "alpha", "?as_of=lsn:" + std::to_string(as_of)), during);
}

TEST_F(ExportImportTest, MalformedLineNamesItsLineAndWritesNothing) {
  ServerProcess a;
  ASSERT_TRUE(a.Start().ok()) << a.Stderr();
  Populate(a, "alpha");
  // The header and assertion lines only (no retraction to depend on a target).
  std::vector<std::string> lines;
  for (const std::string& line : Lines(Export(a, "alpha"))) {
    if (lines.empty() || line.find("\"subject\":") != std::string::npos) lines.push_back(line);
  }
  ASSERT_GE(lines.size(), 12u);

  ServerProcess b;
  ASSERT_TRUE(b.Start().ok()) << b.Stderr();
  auto body_with = [&](size_t bad_index, const std::string& bad) {
    std::string body;
    for (size_t i = 0; i < 8; ++i) body += (i == bad_index ? bad : lines[i]) + "\n";
    return body;
  };
  const std::string target = "/v1/admin/projects/alpha/import";
  const std::string nd = "application/x-ndjson";
  struct Case {
    size_t index;
    std::string line;
    std::string field;
  };
  std::string no_subject = Replace(lines[4], "\"subject\":", "\"subjekt\":");
  std::string other_project = lines[2];
  other_project.insert(other_project.find(",\"subject\""), ",\"project\":\"gamma\"");
  for (const Case& c : std::vector<Case>{{4, no_subject, "line 5.subjekt"},
                                         {3, "{not json", "line 4"},
                                         {2, other_project, "line 3.project"},
                                         {0, lines[1], "line 1"}}) {
    SCOPED_TRACE(c.field);
    client::HttpResponse r = Call(b, "POST", target, body_with(c.index, c.line), nd);
    EXPECT_EQ(r.status, 400) << Describe(r);
    json::value error = ParseJson(r.body).at("error");
    EXPECT_EQ(Str(error, "field"), c.field) << r.body;
    EXPECT_EQ(Str(error, "message").rfind(c.field.substr(0, c.field.find('.')) + ":", 0), 0u)
        << r.body;
  }
  EXPECT_EQ(Call(b, "POST", target, body_with(99, ""), "application/json").status, 415);
  EXPECT_EQ(Lines(Export(b, "alpha")).back(), R"({"end":true,"assertions":0,"retractions":0})");

  // stemectl names the line of the file; requests before the failing one
  // (the atomic unit) are in, nothing of the failing one is.
  std::string file_text;
  for (size_t i = 0; i < 11; ++i) file_text += (i == 7 ? no_subject : lines[i]) + "\n";
  const std::string file = b.root() + "/bad.ndjson";
  WriteFile(file, file_text);
  CtlRun r = RunCtl(b, {"import", "--project", "alpha", "--batch-lines", "3", file});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find(file + ": HTTP 400 invalid_field: line 8: "), std::string::npos) << r.err;
  const std::vector<std::string> imported = Lines(Export(b, "alpha"));
  EXPECT_EQ(imported.size(), 2u + 6) << "lines 2-7 (two requests) are in, 8-10 are not";
}

// Ids are instance-wide, so a copy into another project of the same server
// needs new ids: --new-ids (ids=derive) derives them from the originals.
TEST_F(ExportImportTest, CopyIntoAnotherProjectOfTheSameServerDerivesIds) {
  ServerProcess a;
  ASSERT_TRUE(a.Start().ok()) << a.Stderr();
  const Written w = Populate(a, "alpha");
  const std::string e1 = Export(a, "alpha");
  const std::string file = a.root() + "/alpha.ndjson";
  WriteFile(file, e1);

  // Without the flag: refused (409), naming the flag, and nothing written.
  CtlRun plain = RunCtl(a, {"import", "--project", "beta", file});
  EXPECT_EQ(plain.exit_code, 1) << plain.out;
  EXPECT_NE(plain.err.find("another project"), std::string::npos) << plain.err;
  EXPECT_NE(plain.err.find("--new-ids"), std::string::npos) << plain.err;
  client::HttpResponse raw =
      Call(a, "POST", "/v1/admin/projects/beta/import", e1, "application/x-ndjson");
  EXPECT_EQ(raw.status, 409) << Describe(raw);
  EXPECT_NE(raw.body.find("ids=derive"), std::string::npos) << raw.body;
  EXPECT_EQ(Lines(Export(a, "beta")).back(), R"({"end":true,"assertions":0,"retractions":0})");
  // A copy of a project into itself is no copy: refused, nothing written.
  raw = Call(a, "POST", "/v1/admin/projects/alpha/import?ids=derive", e1, "application/x-ndjson");
  EXPECT_EQ(raw.status, 400) << Describe(raw);
  EXPECT_EQ(Str(ParseJson(raw.body).at("error"), "field"), "ids") << raw.body;
  raw = Call(a, "POST", "/v1/admin/projects/beta/import?ids=new", e1, "application/x-ndjson");
  EXPECT_EQ(raw.status, 400) << Describe(raw);

  // With it, 7 records per request: retractions land in later requests than
  // their targets and must find the targets' copies.
  CtlRun copy = RunCtl(a, {"import", "--project", "beta", "--new-ids", "--batch-lines", "7", file});
  ASSERT_EQ(copy.exit_code, 0) << copy.err;
  EXPECT_NE(copy.out.find("imported 100 records into beta (0 already there"), std::string::npos)
      << copy.out;
  const std::string e2 = Export(a, "beta");
  const std::vector<std::string> l1 = Lines(e1), l2 = Lines(e2);
  ASSERT_EQ(l2.size(), l1.size());
  EXPECT_EQ(l2.front().rfind(R"({"stemedb_export":1,"project":"beta","as_of_lsn":)", 0), 0u);
  EXPECT_EQ(l2.back(), l1.back());
  // Line by line: the same record (subject, predicate, agent, value,
  // confidence, observed_at, signature, recorded_at, in the same order) with
  // the derived id; a retraction retracts the copy of its target.
  std::set<std::string> ids_in_beta;
  for (size_t i = 1; i + 1 < l1.size(); ++i) {
    SCOPED_TRACE(l1[i]);
    json::value v1 = ParseJson(l1[i]), v2 = ParseJson(l2[i]);
    const std::string id1 = Str(v1, "id"), id2 = Str(v2, "id");
    EXPECT_NE(id2, id1);
    EXPECT_EQ(id2, ExpectedDerivedId("beta", id1));
    EXPECT_EQ(id2.substr(0, 16), id1.substr(0, 16)) << "the creation-time half is kept";
    ids_in_beta.insert(id2);
    if (v1.as_object().contains("retracts")) {
      const std::string target = Str(v2, "retracts");
      EXPECT_EQ(target, ExpectedDerivedId("beta", Str(v1, "retracts")));
      EXPECT_EQ(ids_in_beta.count(target), 1u) << "the target's copy is an earlier line";
    }
    json::object o1 = WithoutIds(v1), o2 = WithoutIds(v2);
    // The signature covers project alpha: kept, but not signed in beta.
    if (o1.contains("signed") && o1.at("signed").as_bool()) o1["signed"] = false;
    EXPECT_EQ(o2, o1);
  }
  const std::string signed_copy = ExpectedDerivedId("beta", w.signed_id);
  EXPECT_TRUE(SignatureVerifies(a, "beta", signed_copy, "alpha", w.public_key));
  // The original stays alpha's; the copy is beta's.
  EXPECT_EQ(Call(a, "GET", "/v1/assertions/" + w.signed_id + "?project=beta").status, 404);
  EXPECT_EQ(Call(a, "GET", "/v1/assertions/" + signed_copy + "?project=alpha").status, 404);

  // History and current view read the same in both projects.
  for (const std::string subject : {"s0", "s3", "signed"}) {
    for (const std::string history : {"false", "true"}) {
      SCOPED_TRACE(subject + " history=" + history);
      auto page = [&](const std::string& project) {
        json::array out;
        json::value r = ParseJson(Call(a, "GET",
                                       "/v1/query?project=" + project + "&subject=" + subject +
                                           "&history=" + history + "&limit=1000")
                                      .body);
        for (const json::value& x : r.at("assertions").as_array()) {
          json::object o = WithoutIds(x);
          o.erase("signed");
          out.push_back(std::move(o));
        }
        return out;
      };
      const json::array alpha = page("alpha");
      EXPECT_FALSE(alpha.empty());
      EXPECT_EQ(page("beta"), alpha);
    }
  }

  // A re-run derives the same ids and skips them all.
  CtlRun again = RunCtl(a, {"import", "--project", "beta", "--new-ids", file});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("imported 0 records into beta (100 already there"), std::string::npos)
      << again.out;
  const std::string e3 = Export(a, "beta");
  EXPECT_EQ(e3.substr(e3.find('\n')), e2.substr(e2.find('\n')));
  // The source is untouched.
  EXPECT_EQ(WithoutLsns(Export(a, "alpha")), WithoutLsns(e1));

  // The WAL holds the copy's ids: after kill -9 the replayed store has the
  // same copy, and a re-run still skips it all.
  a.Kill();
  ASSERT_TRUE(a.Start().ok()) << a.Stderr();
  const std::string e4 = Export(a, "beta");
  EXPECT_EQ(e4.substr(e4.find('\n')), e2.substr(e2.find('\n')));
  CtlRun after = RunCtl(a, {"import", "--project", "beta", "--new-ids", file});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_NE(after.out.find("imported 0 records into beta (100 already there"), std::string::npos)
      << after.out;
}

// An import writes into its project like any admin write: it registers the
// project with the default limits (which then apply to the import), or, under
// STEMEDB_PROJECT_REGISTRY_STRICT=true, is refused while the project is not
// registered.
TEST_F(ExportImportTest, ImportRegistersItsProjectOrIsRefusedUnderAStrictRegistry) {
  ServerProcess a;
  ASSERT_TRUE(a.Start().ok()) << a.Stderr();
  Populate(a, "alpha");
  const std::string e1 = Export(a, "alpha");

  ServerProcess b;
  b.SetEnv("STEMEDB_PROJECT_MAX_ASSERTIONS", "1000");
  ASSERT_TRUE(b.Start().ok()) << b.Stderr();
  const std::string file = b.root() + "/alpha.ndjson";
  WriteFile(file, e1);
  CtlRun imp = RunCtl(b, {"import", "--project", "alpha", file});
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  client::HttpResponse p = Call(b, "GET", "/v1/admin/projects/alpha");
  ASSERT_EQ(p.status, 200) << Describe(p);
  EXPECT_EQ(ParseJson(p.body).at("max_assertions").to_number<int64_t>(), 1000) << p.body;
  EXPECT_EQ(ParseJson(p.body).at("assertions").to_number<int64_t>(), 93) << p.body;
  EXPECT_NE(Call(b, "GET", "/v1/admin/audit?limit=100").body.find("registered by an admin write"),
            std::string::npos);
  // The default limit of a project registered by its import holds it.
  ServerProcess small;
  small.SetEnv("STEMEDB_PROJECT_MAX_ASSERTIONS", "50");
  ASSERT_TRUE(small.Start().ok()) << small.Stderr();
  client::HttpResponse over =
      Call(small, "POST", "/v1/admin/projects/alpha/import", e1, "application/x-ndjson");
  EXPECT_EQ(over.status, 403) << Describe(over);
  EXPECT_EQ(ErrorCode(over), "quota_exceeded") << over.body;
  EXPECT_EQ(Lines(Export(small, "alpha")).back(), R"({"end":true,"assertions":0,"retractions":0})");

  ServerProcess strict;
  strict.SetEnv("STEMEDB_PROJECT_REGISTRY_STRICT", "true");
  ASSERT_TRUE(strict.Start().ok()) << strict.Stderr();
  const std::string strict_file = strict.root() + "/alpha.ndjson";
  WriteFile(strict_file, e1);
  client::HttpResponse refused =
      Call(strict, "POST", "/v1/admin/projects/alpha/import", e1, "application/x-ndjson");
  EXPECT_EQ(refused.status, 404) << Describe(refused);
  EXPECT_EQ(ErrorCode(refused), "not_found") << refused.body;
  EXPECT_NE(refused.body.find("not registered"), std::string::npos) << refused.body;
  CtlRun ctl_refused = RunCtl(strict, {"import", "--project", "alpha", strict_file});
  EXPECT_NE(ctl_refused.exit_code, 0) << ctl_refused.out;
  EXPECT_NE(ctl_refused.err.find("not registered"), std::string::npos) << ctl_refused.err;
  EXPECT_EQ(Call(strict, "GET", "/v1/admin/projects/alpha").status, 404) << "not registered";
  EXPECT_EQ(Lines(Export(strict, "alpha")).back(),
            R"({"end":true,"assertions":0,"retractions":0})");
  // Once registered, the same command imports.
  client::HttpResponse created =
      Call(strict, "POST", "/v1/admin/projects", R"({"project":"alpha"})");
  ASSERT_EQ(created.status, 201) << Describe(created);
  CtlRun ok = RunCtl(strict, {"import", "--project", "alpha", strict_file});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(WithoutLsns(Export(strict, "alpha")), WithoutLsns(e1));
}

// Figures, not a pass/fail timing test: export and import rates for
// STEMEDB_EXPORT_BENCH_N assertions (default 20000; the note used 200000).
TEST_F(ExportImportTest, SpeedFigures) {
  const int n = EnvInt("STEMEDB_EXPORT_BENCH_N", 20000);
  ServerProcess a, b;
  ASSERT_TRUE(a.Start().ok()) << a.Stderr();
  ASSERT_TRUE(b.Start().ok()) << b.Stderr();
  auto http = a.Client();
  for (int done = 0; done < n; done += 1000) {
    json::array batch;
    for (int i = 0; i < 1000; ++i) {
      batch.push_back(Assertion("subject-" + std::to_string((done + i) % 5000), "p", done + i,
                                "agent-" + std::to_string(i % 7)));
    }
    auto r = http->Request("POST", "/v1/assert/batch?project=alpha",
                           Serialize(json::object{{"assertions", batch}}),
                           Auth(a.root_key(), {{"Content-Type", "application/json"}}));
    ASSERT_TRUE(r && r->status == 201) << Describe(r);
  }
  const std::string file = b.root() + "/alpha.ndjson";
  auto t0 = std::chrono::steady_clock::now();
  CtlRun exp = RunCtl(a, {"export", "--project", "alpha", "--out", file});
  auto t1 = std::chrono::steady_clock::now();
  ASSERT_EQ(exp.exit_code, 0) << exp.err;
  CtlRun imp = RunCtl(b, {"import", "--project", "alpha", file});
  auto t2 = std::chrono::steady_clock::now();
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  const double export_s = std::chrono::duration<double>(t1 - t0).count();
  const double import_s = std::chrono::duration<double>(t2 - t1).count();
  std::printf("export: %d assertions in %.2f s = %.0f/s (%zu bytes); import: %.2f s = %.0f/s\n", n,
              export_s, n / export_s, ReadFile(file).size(), import_s, n / import_s);
  EXPECT_EQ(WithoutLsns(Export(b, "alpha")), WithoutLsns(Export(a, "alpha")));
}

}  // namespace
}  // namespace stemedb::e2e
