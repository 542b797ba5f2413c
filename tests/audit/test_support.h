// Helpers shared by the audit tests: data files, byte conversions, error-kind matchers.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "audit/encoding.h"
#include "audit/error.h"
#include "audit/hash.h"

namespace escrowless::audit::test {

inline std::filesystem::path data_dir() { return ESCROWLESS_TEST_DATA_DIR; }

// A missing data file is a setup failure, never a silent pass.
inline std::string read_data_file(const std::filesystem::path& relative) {
  const auto path = data_dir() / relative;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open test data file " + path.string());
  // Sized read rather than istreambuf_iterator, which trips GCC 12's -Wnull-dereference at -O3.
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  std::string content(static_cast<std::size_t>(size), '\0');
  if (!in.read(content.data(), size)) throw std::runtime_error("cannot read " + path.string());
  return content;
}

inline nlohmann::json load_json(const std::filesystem::path& relative) {
  return nlohmann::json::parse(read_data_file(relative));
}

inline std::vector<uint8_t> bytes_of(std::string_view text) { return {text.begin(), text.end()}; }

inline Hash hash_from_hex(std::string_view hex) { return hash_from_bytes(hex_decode(hex)); }

inline std::vector<Hash> hashes_from_hex(const nlohmann::json& list) {
  std::vector<Hash> out;
  for (const auto& item : list) out.push_back(hash_from_hex(item.get<std::string>()));
  return out;
}

// The case called `name` in a list of known-answer cases; a missing case fails the test.
inline const nlohmann::json& find_case(const nlohmann::json& list, std::string_view name) {
  for (const auto& item : list) {
    if (item.at("name").get<std::string>() == name) return item;
  }
  throw std::runtime_error("no known-answer case named " + std::string(name));
}

// Matches an audit::Error of the given kind.
class ErrorKindMatcher : public Catch::MatcherBase<Error> {
 public:
  explicit ErrorKindMatcher(ErrorKind kind) : kind_(kind) {}
  bool match(const Error& e) const override { return e.kind() == kind_; }
  std::string describe() const override {
    return std::string("is an audit::Error of kind ") + to_string(kind_);
  }

 private:
  ErrorKind kind_;
};

inline ErrorKindMatcher IsInvalidInput() { return ErrorKindMatcher(ErrorKind::invalid_input); }
inline ErrorKindMatcher IsMismatch() { return ErrorKindMatcher(ErrorKind::mismatch); }

// Runs f and returns the kind of the audit::Error it throws; fails the test if it throws
// nothing or anything else.
template <typename F>
ErrorKind error_kind_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  FAIL("expected an audit::Error");
  return ErrorKind::internal;
}

}  // namespace escrowless::audit::test
