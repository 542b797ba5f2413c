// Walks every inclusion and consistency probe copied from transparency-dev/merkle's testdata/
// (tests/data/merkle/): happy paths must verify, every mutation must be rejected.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <set>

#include "audit/proof_verify.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;
namespace fs = std::filesystem;

namespace {

// Probes the Go verifier accepts but we reject on purpose: their roots are not 32 bytes, and our
// API takes typed SHA-256 hashes (see tests/data/README.md).
const std::set<std::string> kStricterThanGo = {
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json",
};

std::vector<Hash> decode_proof(const nlohmann::json& proof) {
  std::vector<Hash> out;
  if (proof.is_null()) return out;  // Go's nil slice
  for (const auto& item : proof) out.push_back(hash_from_base64(item.get<std::string>(), "proof"));
  return out;
}

// Runs one probe from the wire format on: decoding is part of what must reject bad input.
void run_probe(const std::string& kind, const nlohmann::json& p) {
  if (kind == "inclusion") {
    verify_inclusion(p.at("leafIdx").get<uint64_t>(), p.at("treeSize").get<uint64_t>(),
                     hash_from_base64(p.at("leafHash").get<std::string>(), "leaf hash"),
                     decode_proof(p.at("proof")),
                     hash_from_base64(p.at("root").get<std::string>(), "root"));
  } else {
    verify_consistency(p.at("size1").get<uint64_t>(), p.at("size2").get<uint64_t>(),
                       hash_from_base64(p.at("root1").get<std::string>(), "root1"),
                       hash_from_base64(p.at("root2").get<std::string>(), "root2"),
                       decode_proof(p.at("proof")));
  }
}

}  // namespace

TEST_CASE("transparency-dev/merkle inclusion and consistency probes", "[vectors]") {
  const fs::path root = test::data_dir() / "merkle";
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  // Guards against a missing or truncated copy passing vacuously.
  REQUIRE(files.size() == 196);

  std::size_t happy = 0;
  std::size_t rejected = 0;
  std::size_t stricter = 0;
  for (const fs::path& file : files) {
    const std::string relative = fs::relative(file, root).generic_string();
    const std::string kind = relative.substr(0, relative.find('/'));
    REQUIRE((kind == "inclusion" || kind == "consistency"));
    const auto probe = nlohmann::json::parse(test::read_data_file(fs::path("merkle") / relative));
    const bool want_error =
        probe.at("wantErr").get<bool>() || kStricterThanGo.count(relative) != 0;
    INFO(relative << ": " << probe.at("desc").get<std::string>());
    if (want_error) {
      // Any audit::Error will do (invalid_input or mismatch); never a crash or another type.
      CHECK_THROWS_AS(run_probe(kind, probe), Error);
      ++rejected;
      if (!probe.at("wantErr").get<bool>()) ++stricter;
    } else {
      CHECK_NOTHROW(run_probe(kind, probe));
      ++happy;
    }
  }
  CHECK(stricter == kStricterThanGo.size());
  CHECK(happy > 10);
  CHECK(rejected > 150);
}

TEST_CASE("merkle probe mutations fail with the right error kind", "[vectors]") {
  // Mutated hashes are mismatches; structural mutations (and hashes that are not 32 bytes,
  // like the probes' "WrongLeaf") are invalid input.
  const auto load = [](const std::string& name) {
    return nlohmann::json::parse(test::read_data_file("merkle/" + name));
  };
  const auto kind_of = [&](const std::string& kind, const std::string& name) {
    return test::error_kind_of([&] { run_probe(kind, load(kind + "/" + name)); });
  };
  CHECK(kind_of("inclusion", "1/wrong-leaf.json") == ErrorKind::invalid_input);
  CHECK(kind_of("inclusion", "1/modified-proof[1]-bit-@3.json") == ErrorKind::mismatch);
  CHECK(kind_of("inclusion", "1/trailing-root.json") == ErrorKind::invalid_input);
  CHECK(kind_of("inclusion", "1/leafIdx-plus-@1.json") == ErrorKind::mismatch);
  CHECK(kind_of("inclusion", "0/leafIdx-plus-@1.json") == ErrorKind::invalid_input);
  CHECK(kind_of("consistency", "1/swapped-roots.json") == ErrorKind::mismatch);
  CHECK(kind_of("consistency", "1/truncated-proof.json") == ErrorKind::invalid_input);
  CHECK(kind_of("consistency", "1/trailing-garbage.json") == ErrorKind::invalid_input);
  CHECK(kind_of("consistency", "additional/size1-is-greater-than-size2.json") ==
        ErrorKind::invalid_input);
}
