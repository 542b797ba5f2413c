#include "audit/canonical_json.h"

#include <catch2/catch.hpp>
#include <string>

#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using nlohmann::json;
using test::IsInvalidInput;

namespace {

// The message of the invalid_input that `f` throws; fails the test if it throws anything else.
template <typename F>
std::string invalid_input_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::invalid_input);
    return e.what();
  }
  FAIL("expected invalid_input");
  return {};
}

// [[[...]]] with `depth` brackets, built by moves (a copy of a deep value recurses).
json nested_arrays(std::size_t depth) {
  json value = json::array();
  for (std::size_t i = 1; i < depth; ++i) {
    json outer = json::array();
    outer.push_back(std::move(value));
    value = std::move(outer);
  }
  return value;
}

}  // namespace

TEST_CASE("canonical JSON is compact with keys in byte order", "[unit]") {
  const json value =
      json::parse(R"({ "b": [1, 2, {"z": null, "a": true}], "a": "x", "B": false })");
  CHECK(canonical_json(value) == R"({"B":false,"a":"x","b":[1,2,{"a":true,"z":null}]})");
  // Byte order: uppercase before lowercase, a prefix before its extensions, non-ASCII last.
  const json keys = {{"b", 1}, {"aa", 2}, {"a", 3}, {"Z", 4}, {"\xc3\xa9", 5}, {"z", 6}};
  CHECK(canonical_json(keys) == "{\"Z\":4,\"a\":3,\"aa\":2,\"b\":1,\"z\":6,\"\xc3\xa9\":5}");
  CHECK(canonical_json(json::object()) == "{}");
  CHECK(canonical_json(json::array()) == "[]");
  CHECK(canonical_json(json(nullptr)) == "null");
}

TEST_CASE("canonical JSON writes UTF-8 raw and escapes only what JSON requires", "[unit]") {
  // e acute, a 3-byte CJK character, a 4-byte emoji, U+2028: all raw.
  const std::string text = "\xc3\xa9 \xe6\xbc\xa2 \xf0\x9f\x94\x91 \xe2\x80\xa8";
  CHECK(canonical_json(json(text)) == "\"" + text + "\"");
  CHECK(canonical_json(json("a\"b\\c/d")) == R"("a\"b\\c/d")");
  CHECK(canonical_json(json("\b\f\n\r\t")) == R"("\b\f\n\r\t")");
  // Other control characters as \u00xx with lowercase hex; DEL (0x7f) is not a control here.
  CHECK(canonical_json(json(std::string("\x01\x1f\x7f", 3))) == "\"\\u0001\\u001f\x7f\"");
  CHECK(canonical_json(json(std::string("a\0b", 3))) == R"("a\u0000b")");
}

TEST_CASE("canonical JSON allows integers within +-(2^53 - 1) only", "[unit]") {
  CHECK(canonical_json(json(kMaxCanonicalJsonInteger)) == "9007199254740991");
  CHECK(canonical_json(json(-kMaxCanonicalJsonInteger)) == "-9007199254740991");
  CHECK(canonical_json(json(0)) == "0");
  CHECK(canonical_json(json(uint64_t{9007199254740991})) == "9007199254740991");
  CHECK_THROWS_MATCHES(canonical_json(json(kMaxCanonicalJsonInteger + 1)), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(canonical_json(json(-kMaxCanonicalJsonInteger - 1)), Error,
                       IsInvalidInput());
  CHECK_THROWS_MATCHES(canonical_json(json(UINT64_MAX)), Error, IsInvalidInput());
  const std::string message = invalid_input_message([] { canonical_json(json{{"n", {1.5}}}); });
  CHECK_THAT(message, Catch::Contains("n[0]") && Catch::Contains("only integers"));
  CHECK_THROWS_MATCHES(canonical_json(json(1.0)), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(canonical_json(json(0.0)), Error, IsInvalidInput());
}

TEST_CASE("canonical JSON refuses invalid UTF-8, binary values and deep nesting", "[unit]") {
  CHECK_THAT(invalid_input_message([] {
               canonical_json(json{{"a", {{"b", "\xff"}}}});
             }),
             Catch::Contains("a.b: string is not valid UTF-8"));
  CHECK_THAT(invalid_input_message([] {
               canonical_json(json{{"\xc0\xaf", 1}});
             }),
             Catch::Contains("key is not valid UTF-8"));
  // A lone surrogate (CESU-8) and a code point above U+10FFFF.
  CHECK_THROWS_MATCHES(canonical_json(json("\xed\xa0\x80")), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(canonical_json(json("\xf4\x90\x80\x80")), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(canonical_json(json::binary({1, 2})), Error, IsInvalidInput());
  CHECK_NOTHROW(canonical_json(nested_arrays(kMaxCanonicalJsonDepth)));
  CHECK_THAT(
      invalid_input_message([] { canonical_json(nested_arrays(kMaxCanonicalJsonDepth + 1)); }),
      Catch::Contains("nested deeper than 32"));
  // Deep values built in memory are refused without deep recursion.
  CHECK_THROWS_MATCHES(canonical_json(nested_arrays(100000)), Error, IsInvalidInput());
}

TEST_CASE("parse_canonical accepts canonical documents and gives their value", "[unit]") {
  for (const std::string& text :
       {std::string(R"({"B":false,"a":"x","b":[1,-2,{"a":true,"z":null}]})"), std::string("{}"),
        std::string("[]"), std::string("0"), std::string("\"\\u0000\""),
        std::string("\"\xf0\x9f\x94\x91\""), std::string("-9007199254740991")}) {
    INFO(text);
    const json value = parse_canonical(text);
    CHECK(canonical_json(value) == text);
  }
  CHECK_NOTHROW(parse_canonical(canonical_json(nested_arrays(kMaxCanonicalJsonDepth))));
}

TEST_CASE("parse_canonical accepts only the canonical spelling", "[unit]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"space after colon", R"({"a": 1})"},
      {"space after comma", R"([1, 2])"},
      {"leading space", R"( {"a":1})"},
      {"trailing newline", "{\"a\":1}\n"},
      {"keys out of order", R"({"b":1,"a":2})"},
      {"uppercase before lowercase violated", R"({"a":1,"B":2})"},
      {"needless escape of a non-ASCII character", R"("\u00e9")"},
      {"escaped emoji as surrogate pair", R"("\ud83d\udd11")"},
      {"escaped slash", R"("a\/b")"},
      {"escaped ASCII letter", R"("\u0041")"},
      {"uppercase hex in a needed escape", R"("\u001F")"},
      {"negative zero", "-0"},
      {"byte order mark", "\xef\xbb\xbf{}"},
  };
  for (const auto& [name, text] : cases) {
    INFO(name);
    CHECK_THAT(invalid_input_message([&] { parse_canonical(text); }),
               Catch::StartsWith("canonical JSON: "));
  }
  CHECK_THAT(invalid_input_message([] { parse_canonical(R"({"a": 1})"); }),
             Catch::Contains("not in canonical form at byte 5: expected \"1\", found \" \""));
}

TEST_CASE("parse_canonical refuses duplicate keys, naming their path", "[unit]") {
  CHECK_THAT(invalid_input_message([] { parse_canonical(R"({"a":1,"a":1})"); }),
             Catch::Contains("canonical JSON: a: duplicate key"));
  CHECK_THAT(invalid_input_message([] { parse_canonical(R"({"x":[{},{"b":{"c":1,"c":2}}]})"); }),
             Catch::Contains("x[1].b.c: duplicate key"));
  // The same key in different objects is fine.
  CHECK_NOTHROW(parse_canonical(R"({"a":{"a":{"a":1}}})"));
}

TEST_CASE("parse_canonical refuses floats and integers beyond 2^53 - 1", "[unit]") {
  for (const std::string_view text :
       {"1.0", "1.5", "1e2", "1E2", "-0.0", "9007199254740992", "-9007199254740992",
        "18446744073709551616", "123456789012345678901234567890"}) {
    INFO(text);
    CHECK_THAT(invalid_input_message([&] { parse_canonical(text); }),
               Catch::Contains("only integers"));
  }
  CHECK_THAT(invalid_input_message([] { parse_canonical(R"({"a":[0,{"b":2.5}]})"); }),
             Catch::Contains("a[1].b: only integers"));
}

TEST_CASE("parse_canonical refuses bad syntax and invalid UTF-8 with a safe message", "[unit]") {
  for (const std::string& text :
       {std::string(), std::string("{"), std::string("{}x"), std::string("{}{}"),
        std::string("[01]"), std::string("{'a':1}"), std::string("[1,]"), std::string("\"\xff\""),
        std::string("\"\xc0\xaf\""), std::string("\"\xed\xa0\x80\""), std::string("\"\\ud800\""),
        std::string("\"a\nb\""), std::string("\"a\0b\"", 5), std::string("nul"),
        std::string("[1]\0", 4), std::string("/*c*/{}")}) {
    INFO(test::bytes_of(text).size());
    const std::string message = invalid_input_message([&] { parse_canonical(text); });
    CHECK_THAT(message, Catch::StartsWith("canonical JSON: "));
    for (const char c : message) {  // printable ASCII only, whatever the input held
      CHECK((c >= 0x20 && c < 0x7f));
    }
  }
  CHECK_THAT(invalid_input_message([] { parse_canonical("{\"a\":{\"label\":\"x\xff\"}}"); }),
             Catch::Contains("(near a.label)"));
}

TEST_CASE("parse_canonical enforces the depth and size limits", "[unit]") {
  // Strings built by appending: GCC 12 at -O3 reports a false -Wrestrict on "x" + string.
  std::string too_deep = canonical_json(nested_arrays(kMaxCanonicalJsonDepth));
  too_deep.insert(too_deep.begin(), '[');
  too_deep.push_back(']');
  CHECK_THAT(invalid_input_message([&] { parse_canonical(too_deep); }),
             Catch::Contains("nested deeper than 32"));
  const std::string very_deep = std::string(1000000, '[') + std::string(1000000, ']');
  CHECK_THROWS_MATCHES(parse_canonical(very_deep), Error, IsInvalidInput());
  const auto json_string_of_size = [](std::size_t size) {
    std::string text(size, 'a');
    text.front() = '"';
    text.back() = '"';
    return text;
  };
  CHECK_NOTHROW(parse_canonical(json_string_of_size(kMaxCanonicalJsonSize)));
  CHECK_THAT(invalid_input_message(
                 [&] { parse_canonical(json_string_of_size(kMaxCanonicalJsonSize + 1)); }),
             Catch::Contains("more than the limit"));
}

TEST_CASE("canonical JSON round-trips values both ways", "[unit]") {
  const json value = {
      {"text", "line\nbreak \xe2\x80\x94 dash"},
      {"numbers", {0, 1, -1, 4294967295}},
      {"nested", {{"empty", json::object()}, {"list", json::array()}, {"null", nullptr}}},
      {"flags", {{"sign", true}, {"decrypt", false}}},
  };
  const std::string text = canonical_json(value);
  CHECK(parse_canonical(text) == value);
  CHECK(canonical_json(parse_canonical(text)) == text);
}

// parse_canonical reads in one pass plus a byte scan; parse_canonical_reference by the
// definition (strict parse, re-encode, compare). They must accept the same documents with the
// same value and refuse the rest with the same message: checked on the cases above and on
// thousands of one-edit variants of real entries (seeded, so a failure repeats).
TEST_CASE("parse_canonical agrees with its reference on every document", "[unit]") {
  const auto outcome = [](const auto& parse, const std::string& text) -> std::string {
    try {
      return "accepted " + parse(text).dump();
    } catch (const Error& e) {
      return std::string("refused ") + e.what();
    }
  };
  const auto fast = [](const std::string& text) { return parse_canonical(text); };
  const auto reference = [](const std::string& text) { return parse_canonical_reference(text); };

  std::vector<std::string> seeds = {
      R"({"B":false,"a":"x","b":[1,-2,{"a":true,"z":null}]})", "\"\\u0000\\u001f\\b\\f\\n\\r\\t\\\"\\\\\"",
      R"({"a":{"a":{"a":1}}})", "[-9007199254740991,9007199254740991,0]",
      test::read_data_file("entries/prekeys.signed-full.json"), test::read_data_file("entries/hsm.inventory.json"),
      test::read_data_file("entries/device.enrolled.json")};
  for (std::string& seed : seeds) {
    while (!seed.empty() && seed.back() == '\n') seed.pop_back();
  }
  // Edits that touch what canonical form is about: whitespace, escapes, signs, digits, order.
  const std::vector<std::string> inserts = {" ", "\n", "\\/", "\\u0041", "\\u001F", "\\u001f", "\\u0008", "\\b",
                                            "-",  "0",  "-0", ".0",     "e1",     "\\",     "\"",     ",\"a\":1",
                                            "\x7f", "\xc3\xa9", "\\u00e9", "\\ud83d\\udd11", "1",
                                            "\xef\xbb\xbf", std::string(1, '\0')};
  uint64_t state = 0x2545f4914f6cdd1dULL;
  const auto next = [&state](std::size_t bound) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<std::size_t>(state % bound);
  };
  std::size_t accepted = 0, refused = 0;
  for (const std::string& seed : seeds) {
    REQUIRE(outcome(fast, seed) == outcome(reference, seed));
    for (int round = 0; round < 600; ++round) {
      std::string text = seed;
      const std::size_t at = next(text.size() + 1);
      switch (next(5)) {
        case 4: text.insert(next(2) == 0 ? 0 : text.size(), inserts[next(inserts.size())]); break;  // the ends
        case 0: text.insert(at, inserts[next(inserts.size())]); break;
        case 1: if (at < text.size()) text.erase(at, 1 + next(3)); break;
        case 2: if (at < text.size()) text[at] = inserts[next(inserts.size())][0]; break;
        default:  // swap two keys' first letters, or two bytes: key order
          if (at + 1 < text.size()) std::swap(text[at], text[at + 1]);
          break;
      }
      const std::string expected = outcome(reference, text);
      INFO(text);
      REQUIRE(outcome(fast, text) == expected);
      (expected.rfind("accepted", 0) == 0 ? accepted : refused) += 1;
    }
  }
  // Both sides of the line were exercised.
  CHECK(accepted > 50);
  CHECK(refused > 1000);
}
