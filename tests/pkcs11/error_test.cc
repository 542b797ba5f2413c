#include <catch2/catch.hpp>

#include "pkcs11/error.h"

using namespace escrowless::pkcs11;

TEST_CASE("errors: CKR names are kept and mapped to kinds", "[unit]") {
  CHECK(rv_name(CKR_PIN_INCORRECT) == "CKR_PIN_INCORRECT");
  CHECK(rv_name(CKR_DEVICE_REMOVED) == "CKR_DEVICE_REMOVED");
  CHECK(rv_name(0x80000123UL) == "CKR_0x80000123");
  CHECK(kind_of(CKR_PIN_INCORRECT) == ErrorKind::authentication);
  CHECK(kind_of(CKR_PIN_LOCKED) == ErrorKind::authentication);
  CHECK(kind_of(CKR_DEVICE_ERROR) == ErrorKind::unavailable);
  CHECK(kind_of(CKR_TOKEN_NOT_PRESENT) == ErrorKind::unavailable);
  CHECK(kind_of(CKR_OBJECT_HANDLE_INVALID) == ErrorKind::not_found);
  CHECK(kind_of(CKR_TEMPLATE_INCONSISTENT) == ErrorKind::invalid_input);
  CHECK(kind_of(0x80000123UL) == ErrorKind::internal);
  CHECK(breaks_session(CKR_SESSION_HANDLE_INVALID));
  CHECK(breaks_session(CKR_DEVICE_ERROR));
  CHECK_FALSE(breaks_session(CKR_PIN_INCORRECT));
  CHECK_FALSE(breaks_session(CKR_KEY_HANDLE_INVALID));

  try {
    check(CKR_DEVICE_MEMORY, "C_Sign");
    FAIL("no throw");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "C_Sign failed: CKR_DEVICE_MEMORY");
    CHECK(e.rv() == CKR_DEVICE_MEMORY);
    CHECK(e.kind() == ErrorKind::unavailable);
  }
  CHECK_NOTHROW(check(CKR_OK, "C_Sign"));
}
