#include <catch2/catch.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "pkcs11/error.h"
#include "pkcs11/pin_source.h"
#include "tests/support/test_token.h"

using escrowless::pkcs11::Error;
using escrowless::pkcs11::ErrorKind;
using escrowless::pkcs11::read_pin;
using escrowless::testing::TempDir;

namespace {

std::string write_file(const TempDir& dir, const std::string& name, const std::string& content,
                       mode_t mode) {
  const std::string path = (dir.path() / name).string();
  std::ofstream(path) << content;
  ::chmod(path.c_str(), mode);
  return path;
}

std::string as_string(const escrowless::pkcs11::Secret& s) {
  return std::string(reinterpret_cast<const char*>(s.bytes().data()), s.size());
}

ErrorKind kind_of_failure(const std::string& source) {
  try {
    (void)read_pin(source);
  } catch (const Error& e) {
    return e.kind();
  }
  FAIL("read_pin accepted " << source);
  return ErrorKind::internal;
}

}  // namespace

TEST_CASE("pin-source: files and environment variables", "[unit]") {
  TempDir dir;
  SECTION("file: with a trailing newline dropped") {
    const auto path = write_file(dir, "pin", "123456\n", 0600);
    CHECK(as_string(read_pin("file:" + path)) == "123456");
    CHECK(as_string(read_pin(path)) == "123456");
    CHECK(as_string(read_pin("file://" + path)) == "123456");
  }
  SECTION("CRLF and inner spaces") {
    const auto path = write_file(dir, "pin", "12 34\r\n", 0400);
    CHECK(as_string(read_pin("file:" + path)) == "12 34");
  }
  SECTION("env:") {
    ::setenv("ESCROWLESS_TEST_PIN", "9876", 1);
    CHECK(as_string(read_pin("env:ESCROWLESS_TEST_PIN")) == "9876");
  }
}

TEST_CASE("pin-source: refusals", "[unit]") {
  TempDir dir;
  const auto loose = write_file(dir, "loose", "1234", 0644);
  const auto group = write_file(dir, "group", "1234", 0640);
  const auto empty = write_file(dir, "empty", "\n", 0600);
  const auto huge = write_file(dir, "huge", std::string(300, 'x'), 0600);
  ::unsetenv("ESCROWLESS_TEST_UNSET");

  CHECK(kind_of_failure("file:" + loose) == ErrorKind::invalid_input);
  CHECK(kind_of_failure("file:" + group) == ErrorKind::invalid_input);
  CHECK(kind_of_failure("file:" + empty) == ErrorKind::authentication);
  CHECK(kind_of_failure("file:" + huge) == ErrorKind::invalid_input);
  CHECK(kind_of_failure("file:" + (dir.path() / "missing").string()) == ErrorKind::not_found);
  CHECK(kind_of_failure("file:relative/pin") == ErrorKind::invalid_input);
  CHECK(kind_of_failure("file://host/pin") == ErrorKind::invalid_input);
  CHECK(kind_of_failure("file:" + dir.path().string()) == ErrorKind::invalid_input);
  CHECK(kind_of_failure("|/bin/echo 1234") == ErrorKind::invalid_input);
  CHECK(kind_of_failure("env:ESCROWLESS_TEST_UNSET") == ErrorKind::authentication);
  CHECK(kind_of_failure("env:") == ErrorKind::invalid_input);

  try {
    (void)read_pin("file:" + loose);
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("chmod 600"));
    CHECK_THAT(e.what(), !Catch::Contains("1234"));
  }
}
