#include "audit/checkpoint.h"

#include <catch2/catch.hpp>

#include "audit/note.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using test::IsInvalidInput;
using test::IsMismatch;

namespace {

Checkpoint expected_of(const nlohmann::json& item) {
  const auto& c = item["checkpoint"];
  return Checkpoint{c["origin"].get<std::string>(), c["size"].get<uint64_t>(),
                    hash_from_base64(c["root"].get<std::string>()),
                    c["extensions"].get<std::vector<std::string>>()};
}

std::vector<VerifierKey> keys_of(const nlohmann::json& item) {
  std::vector<VerifierKey> keys;
  for (const auto& vkey : item["verifier_keys"]) keys.push_back(parse_verifier_key(vkey.get<std::string>()));
  return keys;
}

const std::string kRoot = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";

}  // namespace

TEST_CASE("signed checkpoints from Go sumdb, Sigstore Rekor and Pixel open", "[vectors]") {
  const auto data = test::load_json("signed_note/known_answers.json");
  std::size_t count = 0;
  for (const auto& item : data["valid"]) {
    if (!item.contains("checkpoint")) continue;
    INFO(item["name"].get<std::string>());
    const Checkpoint expected = expected_of(item);
    const Checkpoint opened =
        open_checkpoint(item["note"].get<std::string>(), expected.origin, keys_of(item));
    CHECK(opened == expected);
    CHECK(format_checkpoint(opened) == item["text"].get<std::string>());
    ++count;
  }
  CHECK(count == 3);
}

TEST_CASE("a validly signed checkpoint for another origin is a mismatch", "[vectors]") {
  const auto data = test::load_json("signed_note/known_answers.json");
  const auto& rekor = test::find_case(data["valid"], "rekor-ecdsa-checkpoint");
  REQUIRE_NOTHROW(open_checkpoint(rekor["note"].get<std::string>(), "Rekor", keys_of(rekor)));
  REQUIRE_THROWS_MATCHES(open_checkpoint(rekor["note"].get<std::string>(),
                                         "rekor.sigstore.dev - 2605736670972794746", keys_of(rekor)),
                         Error, IsMismatch());
}

TEST_CASE("the tlog-checkpoint spec example parses", "[vectors]") {
  const auto data = test::load_json("signed_note/known_answers.json");
  const auto& item = test::find_case(data["parse_only"], "c2sp-tlog-checkpoint-example");
  const Note note = parse_note(item["note"].get<std::string>());
  CHECK(parse_checkpoint(note.text) == expected_of(item));
}

TEST_CASE("checkpoint formatting and extensions round-trip", "[unit]") {
  const Hash root = hash_from_base64(kRoot);
  CHECK(format_checkpoint("example.com/log", 0, empty_root()) ==
        "example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
  const std::vector<std::string> extensions = {"ext one", "ext two"};
  const std::string text = format_checkpoint("o", UINT64_MAX, root, extensions);
  CHECK(text == "o\n18446744073709551615\n" + kRoot + "\next one\next two\n");
  CHECK(parse_checkpoint(text) == Checkpoint{"o", UINT64_MAX, root, extensions});

  CHECK_THROWS_MATCHES(format_checkpoint("", 1, root), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(format_checkpoint("a\nb", 1, root), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(format_checkpoint("a\tb", 1, root), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(format_checkpoint("o", 1, root, std::vector<std::string>{""}), Error,
                       IsInvalidInput());
  CHECK_THROWS_MATCHES(format_checkpoint("o", 1, root, std::vector<std::string>{"a\nb"}), Error,
                       IsInvalidInput());
}

TEST_CASE("malformed checkpoints are invalid input naming the line", "[unit]") {
  const std::pair<std::string, const char*> bad[] = {
      {"", "newline"},
      {"origin\n1\n" + kRoot, "newline"},
      {"origin\n1\n", "at least 3"},
      {"\n1\n" + kRoot + "\n", "line 1"},
      {"origin\n01\n" + kRoot + "\n", "line 2"},
      {"origin\n+1\n" + kRoot + "\n", "line 2"},
      {"origin\n-1\n" + kRoot + "\n", "line 2"},
      {"origin\n 1\n" + kRoot + "\n", "line 2"},
      {"origin\n1 \n" + kRoot + "\n", "line 2"},
      {"origin\n0x10\n" + kRoot + "\n", "line 2"},
      {"origin\n\n" + kRoot + "\n", "line 2"},
      {"origin\n18446744073709551616\n" + kRoot + "\n", "line 2"},
      {"origin\n1\n" + kRoot.substr(0, 43) + "\n", "line 3"},
      {"origin\n1\nZG9uJ3QgY2FyZSAx\n", "line 3"},
      {"origin\n1\n" + kRoot + " \n", "line 3"},
      {"origin\n1\n" + kRoot + "\n\n", "line 4"},
      {"origin\n1\n" + kRoot + "\next\n\n", "line 5"},
      {"origin\x01\n1\n" + kRoot + "\n", "control"},
      {"origin\xff\n1\n" + kRoot + "\n", "UTF-8"},
  };
  for (const auto& [text, fragment] : bad) {
    INFO(text);
    try {
      parse_checkpoint(text);
      FAIL("expected invalid_input");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::invalid_input);
      CHECK_THAT(e.what(), Catch::Contains(fragment));
    }
  }
  CHECK(parse_checkpoint("origin\n0\n" + kRoot + "\n").size == 0);
}
