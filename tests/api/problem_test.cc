#include <catch2/catch.hpp>

#include <exception>
#include <string>

#include "api/problem.h"
#include "pkcs11/error.h"

using namespace escrowless;

TEST_CASE("problem: a refused key template is a 500 that says so, never 'unavailable'", "[unit]") {
  std::string internal;
  const api::Problem refused = api::problem_for(
      std::make_exception_ptr(pkcs11::Error(pkcs11::ErrorKind::template_refused,
                                            "the token refused the key template: CKR_GENERAL_ERROR",
                                            CKR_GENERAL_ERROR)),
      internal);
  CHECK(refused.status == 500);
  CHECK(refused.slug == "token-refused-template");
  CHECK_THAT(refused.detail, Catch::Contains("refused the key template"));
  CHECK_THAT(internal, Catch::Contains("CKR_GENERAL_ERROR"));  // the server log gets the details

  internal.clear();
  const api::Problem gone = api::problem_for(
      std::make_exception_ptr(pkcs11::Error(pkcs11::ErrorKind::unavailable, "C_Sign failed: CKR_DEVICE_REMOVED",
                                            CKR_DEVICE_REMOVED)),
      internal);
  CHECK(gone.status == 503);
  CHECK(gone.slug == "token-unavailable");
}

TEST_CASE("problem: two private keys on a device's id are a 409 device-key-ambiguous, never a 500", "[unit]") {
  std::string internal;
  const api::Problem twin = api::problem_for(
      std::make_exception_ptr(pkcs11::Error(pkcs11::ErrorKind::ambiguous_key,
                                            "device alice/phone (CKA_ID 0a0b): 2 private keys have this id")),
      internal);
  CHECK(twin.status == 409);
  CHECK(twin.slug == "device-key-ambiguous");
  CHECK_THAT(twin.detail, Catch::Contains("more than one private key"));
  CHECK_THAT(internal, Catch::Contains("alice/phone"));  // the server log names the device and its id
}
