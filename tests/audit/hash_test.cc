#include "audit/hash.h"

#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using test::bytes_of;
using test::hash_from_hex;
using test::IsInvalidInput;

TEST_CASE("sha256 matches the FIPS 180-2 examples", "[vectors]") {
  CHECK(to_hex(sha256(std::string_view("abc"))) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(to_hex(sha256(std::string_view(
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("RFC 6962 empty root, leaf and node hashes", "[vectors]") {
  // Values from transparency-dev/merkle testonly/constants.go (tests/data/rfc6962/tree8.json).
  const auto tree = test::load_json("rfc6962/tree8.json");
  CHECK(to_hex(empty_root()) == tree["roots_by_size"][0].get<std::string>());
  CHECK(empty_root() == sha256(std::string_view("")));
  const auto& leaves = tree["leaves"];
  const auto& level0 = tree["node_hashes"][0];
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    CHECK(to_hex(leaf_hash(hex_decode(leaves[i].get<std::string>()))) ==
          level0[i].get<std::string>());
  }
  CHECK(to_hex(node_hash(hash_from_hex(level0[0].get<std::string>()),
                         hash_from_hex(level0[1].get<std::string>()))) ==
        tree["node_hashes"][1][0].get<std::string>());
  // The string_view overload hashes the same bytes.
  CHECK(leaf_hash(std::string_view("\x20\x21", 2)) == leaf_hash(hex_decode("2021")));
}

TEST_CASE("leaf and node hashes are domain separated", "[unit]") {
  const Hash a = sha256(std::string_view("a"));
  const Hash b = sha256(std::string_view("b"));
  std::vector<uint8_t> concatenated(a.begin(), a.end());
  concatenated.insert(concatenated.end(), b.begin(), b.end());
  CHECK(node_hash(a, b) != leaf_hash(concatenated));
  CHECK(node_hash(a, b) != node_hash(b, a));
}

TEST_CASE("hash conversions reject wrong sizes", "[unit]") {
  const Hash h = sha256(std::string_view("x"));
  CHECK(hash_from_base64(to_base64(h)) == h);
  CHECK(hash_from_bytes(std::vector<uint8_t>(h.begin(), h.end())) == h);
  REQUIRE_THROWS_MATCHES(hash_from_bytes(std::vector<uint8_t>(31)), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(hash_from_bytes(std::vector<uint8_t>(33)), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(hash_from_base64(""), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(hash_from_base64("ZG9uJ3QgY2FyZSAx"), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(hash_from_base64("not base64!"), Error, IsInvalidInput());
}

TEST_CASE("hashing from several threads gives the same answers", "[unit][concurrency]") {
  // Each thread has its own digest context; this catches any accidental sharing under TSan/ASan.
  const Hash expected = leaf_hash(std::string_view("entry"));
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (std::size_t t = 0; t < ok.size(); ++t) {
    threads.emplace_back([&, t] {
      bool all = true;
      for (int i = 0; i < 2000; ++i) all = all && leaf_hash(std::string_view("entry")) == expected;
      ok[t] = all ? 1 : 0;
    });
  }
  for (auto& thread : threads) thread.join();
  for (const int v : ok) CHECK(v == 1);
}
