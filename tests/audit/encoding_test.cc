#include "audit/encoding.h"

#include <catch2/catch.hpp>

#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using test::bytes_of;
using test::IsInvalidInput;

TEST_CASE("base64 encodes the RFC 4648 section 10 vectors", "[vectors]") {
  // RFC 4648 section 10 test vectors.
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    CHECK(base64_encode(bytes_of(plain)) == encoded);
    CHECK(base64_decode(encoded) == bytes_of(plain));
  }
}

TEST_CASE("base64 round-trips every byte value and length", "[unit]") {
  std::vector<uint8_t> data;
  for (int i = 0; i < 300; ++i) {
    CHECK(base64_decode(base64_encode(data)) == data);
    data.push_back(static_cast<uint8_t>(i * 7 + 3));
  }
}

TEST_CASE("base64 decoding is strict", "[unit]") {
  const char* bad[] = {
      "Zg",         // missing padding
      "Zg=",        // short padding
      "Zm9",        // not a multiple of 4
      "Zh==",       // non-zero unused bits (non-canonical spelling of "f")
      "Zm9=",       // non-zero unused bits with one '='
      "Zm 9v",      // whitespace
      "Zm9v\n",     // newline
      "Zm9v====",   // padding only block
      "=Zm9",       // padding first
      "Zg==Zg==",   // padding in the middle
      "Z===",       // too much padding
      "Zm-_",       // URL-safe alphabet
      "Zm9\x80",    // non-ASCII
  };
  for (const char* text : bad) {
    INFO(text);
    REQUIRE_THROWS_MATCHES(base64_decode(text), Error, IsInvalidInput());
  }
  const std::string with_nul("Zm9\0", 4);
  REQUIRE_THROWS_MATCHES(base64_decode(with_nul), Error, IsInvalidInput());
}

TEST_CASE("hex encodes lowercase and decodes either case", "[unit]") {
  const std::vector<uint8_t> data = {0x00, 0x01, 0xab, 0xcd, 0xef, 0xff};
  CHECK(hex_encode(data) == "0001abcdefff");
  CHECK(hex_decode("0001abcdefff") == data);
  CHECK(hex_decode("0001ABCDEFFF") == data);
  CHECK(hex_decode("").empty());
  for (const char* text : {"0", "abc", "0g", "g0", " 00", "00 ", "0x00", "+1"}) {
    INFO(text);
    REQUIRE_THROWS_MATCHES(hex_decode(text), Error, IsInvalidInput());
  }
}
