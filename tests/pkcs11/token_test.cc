#include <catch2/catch.hpp>

#include <algorithm>

#include "pkcs11/error.h"
#include "pkcs11/padded_text.h"
#include "pkcs11/token.h"
#include "tests/support/test_token.h"

using namespace escrowless::pkcs11;
using escrowless::testing::TestToken;

namespace {

ErrorKind open_failure(const Uri& uri) {
  try {
    (void)Token::open(uri);
  } catch (const Error& e) {
    return e.kind();
  }
  FAIL("Token::open accepted " << uri.to_string());
  return ErrorKind::internal;
}

bool has(const std::vector<Mechanism>& mechanisms, CK_MECHANISM_TYPE type) {
  return std::any_of(mechanisms.begin(), mechanisms.end(),
                     [&](const Mechanism& m) { return m.type == type; });
}

}  // namespace

TEST_CASE("token: provisioning gives a token found by its URI", "[hsm]") {
  TestToken& t = TestToken::get();
  const TokenInfo& info = t.token().info();
  CHECK(info.label == "escrowless-test");
  CHECK(info.serial == t.info().serial);
  CHECK(info.initialized());
  CHECK((info.flags & CKF_USER_PIN_INITIALIZED) != 0);
  CHECK(t.uri().to_string().find("pin-source=file:") != std::string::npos);
  CHECK(t.uri().to_string().find("serial=" + info.serial) != std::string::npos);

  // The URI round-trips through text, as keyadmin prints it.
  const auto again = Token::open(Uri::parse(t.uri().to_string()));
  CHECK(again->info().serial == info.serial);
}

TEST_CASE("token: mechanisms and the algorithm choice", "[hsm]") {
  const auto mechanisms = TestToken::get().token().mechanisms();
  // Every token we test on signs with ECDSA; only SoftHSM offers EdDSA (hsm-config/ profiles).
  const bool eddsa = TestToken::get().kind() == escrowless::testing::TokenKind::softhsm;
  CHECK(has(mechanisms, CKM_EDDSA) == eddsa);
  CHECK(has(mechanisms, CKM_EC_EDWARDS_KEY_PAIR_GEN) == eddsa);
  CHECK(has(mechanisms, CKM_ECDSA));
  CHECK(choose_algorithm(mechanisms) == (eddsa ? Algorithm::ed25519 : Algorithm::ecdsa_p256));

  std::vector<Mechanism> no_eddsa;
  std::copy_if(mechanisms.begin(), mechanisms.end(), std::back_inserter(no_eddsa),
               [](const Mechanism& m) { return m.type != CKM_EDDSA; });
  CHECK(choose_algorithm(no_eddsa) == Algorithm::ecdsa_p256);

  std::vector<Mechanism> neither;
  std::copy_if(no_eddsa.begin(), no_eddsa.end(), std::back_inserter(neither),
               [](const Mechanism& m) { return m.type != CKM_ECDSA; });
  CHECK_THROWS_AS(choose_algorithm(neither), Error);
  CHECK(mechanism_name(CKM_EDDSA) == "CKM_EDDSA");
}

TEST_CASE("token: opening fails clearly", "[hsm]") {
  TestToken& t = TestToken::get();
  Uri uri = t.uri();

  Uri missing_module = uri;
  missing_module.module_path = "/nonexistent/libpkcs11.so";
  CHECK(open_failure(missing_module) == ErrorKind::unavailable);

  Uri not_a_module = uri;
  not_a_module.module_path = "/bin/sh";
  CHECK(open_failure(not_a_module) == ErrorKind::unavailable);

  Uri wrong_serial = uri;
  wrong_serial.serial = "no-such-serial";
  CHECK(open_failure(wrong_serial) == ErrorKind::not_found);

  Uri no_pin = uri;
  no_pin.pin_source.reset();
  CHECK(open_failure(no_pin) == ErrorKind::invalid_input);

  Uri name_only = uri;
  name_only.module_path.reset();
  name_only.module_name = "softhsm2";
  CHECK(open_failure(name_only) == ErrorKind::invalid_input);

  // Without login only token info is needed, and no PIN is read.
  TokenOptions public_only;
  public_only.login = false;
  CHECK(Token::open(no_pin, public_only)->info().serial == t.token().info().serial);
}

TEST_CASE("token: a module is initialized once per process and shared", "[hsm]") {
  TestToken& t = TestToken::get();
  const auto a = Module::load(*t.uri().module_path);
  const auto b = Module::load(*t.uri().module_path, t.options().module_init_args);
  CHECK(a.get() == b.get());
  // One configuration per module and process: different C_Initialize parameters are refused, not
  // silently ignored.
  CHECK_THROWS_MATCHES(Module::load(*t.uri().module_path, std::string("configdir='elsewhere'")), Error,
                       Catch::Matchers::Predicate<Error>([](const Error& e) {
                         return e.kind() == ErrorKind::invalid_input &&
                                std::string(e.what()).find("other initialization parameters") != std::string::npos;
                       }));
}

TEST_CASE("token: text fields lose blank and NUL padding", "[hsm]") {
  CK_UTF8CHAR blanks[8] = {'S', 'W', ' ', ' ', 'T', 'P', 'M', ' '};
  CHECK(padded_text(blanks) == "SW  TPM");
  CK_UTF8CHAR nuls[8] = {'I', 'B', 'M', 0, 0, 0, 0, 0};
  CHECK(padded_text(nuls) == "IBM");
  CK_UTF8CHAR mixed[8] = {'a', ' ', 0, 'x', 0, 0, 0, 0};  // text ends at the first NUL
  CHECK(padded_text(mixed) == "a");
  CK_UTF8CHAR empty[4] = {' ', ' ', ' ', ' '};
  CHECK(padded_text(empty).empty());
  // What the token gives us is already trimmed.
  const TokenInfo& info = TestToken::get().token().info();
  CHECK(info.manufacturer.find('\0') == std::string::npos);
  CHECK((info.manufacturer.empty() || info.manufacturer.back() != ' '));
}

TEST_CASE("token: init refuses a label in use and a bad label", "[hsm]") {
  TestToken& t = TestToken::get();
  const auto module = Module::load(*t.uri().module_path);
  const Secret so = random_hex_secret(8);
  const Secret user = random_hex_secret(8);
  CHECK_THROWS_WITH(init_token(*module, "escrowless-test", so, user),
                    Catch::Contains("already exists"));
  CHECK_THROWS_AS(init_token(*module, "", so, user), Error);
  CHECK_THROWS_AS(init_token(*module, std::string(33, 'x'), so, user), Error);
  CHECK(t.token().info().label == "escrowless-test");
}
