#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include <sys/stat.h>

#include "pkcs11/error.h"
#include "pkcs11/keys.h"
#include "pkcs11/pin_source.h"
#include "pkcs11/session_pool.h"
#include "pkcs11/token.h"
#include "tests/support/openssl_verify.h"
#include "tests/support/test_token.h"

using namespace escrowless::pkcs11;
using escrowless::testing::openssl_verify;
using escrowless::testing::TempDir;
using escrowless::testing::TestToken;

namespace {

std::unique_ptr<SessionPool> new_pool(std::size_t max_sessions) {
  TestToken& t = TestToken::get();
  return SessionPool::create(Module::load(*t.uri().module_path, t.options().module_init_args),
                             t.token().info().slot_id,
                             read_pin(*t.uri().pin_source), max_sessions);
}

const std::vector<std::uint8_t> kMessage = {'p', 'r', 'e', 'k', 'e', 'y'};

}  // namespace

TEST_CASE("session pool: a session closed behind the pool's back is dropped, the call succeeds",
          "[hsm]") {
  auto pool = new_pool(1);
  const KeyPair key = generate_key_pair(*pool, TestToken::get().algorithm(), random_key_id(), "k");
  const CK_SESSION_HANDLE first = pool->run([](Session& s) { return s.handle(); });
  const auto before = pool->stats();

  // A real fault: the session disappears (as after a token reset), so the next call on it fails
  // with CKR_SESSION_HANDLE_INVALID. Only the login must survive, hence the second session.
  Session keep_login = Session::open(pool->module(), pool->slot());
  REQUIRE(pool->fn()->C_CloseSession(first) == CKR_OK);

  const auto signature = sign(*pool, key, kMessage);
  CHECK(openssl_verify(key.public_key.spki_der(), kMessage, signature));
  const auto after = pool->stats();
  CHECK(after.discarded == before.discarded + 1);
  CHECK(after.opened == before.opened + 1);
  CHECK(after.open == 1);
}

TEST_CASE("session pool: a session that failed with a device error is never reused", "[hsm]") {
  auto pool = new_pool(1);
  const KeyPair key = generate_key_pair(*pool, TestToken::get().algorithm(), random_key_id(), "k");
  const CK_SESSION_HANDLE first = pool->run([](Session& s) { return s.handle(); });

  // Fake fault: SoftHSM can't be made to return CKR_DEVICE_ERROR on demand, so the function run
  // in the pool reports one as a failing device would.
  const auto fake_device_error = [](Session&) -> int {
    check(CKR_DEVICE_ERROR, "C_Sign");
    return 0;
  };
  CHECK_THROWS_MATCHES(pool->run(fake_device_error), Error,
                       Catch::Matchers::Predicate<Error>([](const Error& e) {
                         return e.kind() == ErrorKind::unavailable && e.rv() == CKR_DEVICE_ERROR;
                       }));
  CHECK(pool->stats().discarded == 1);
  CHECK(pool->stats().open == 0);

  // The next call gets a fresh, logged-in session (the old one was closed) and works.
  const auto signature = sign(*pool, key, kMessage);
  CHECK(openssl_verify(key.public_key.spki_der(), kMessage, signature));
  CHECK(pool->stats().opened == 2);
  const CK_SESSION_HANDLE second = pool->run([](Session& s) { return s.handle(); });
  CHECK(pool->fn()->C_GetSessionInfo(first, nullptr) != CKR_OK);  // closed for good
  (void)second;
}

TEST_CASE("session pool: logs in again after the token forgot the login", "[hsm]") {
  auto pool = new_pool(2);
  const KeyPair key = generate_key_pair(*pool, Algorithm::ecdsa_p256, random_key_id(), "k");
  const auto logins = pool->stats().logins;
  pool->run([](Session& s) { s.logout(); });  // login state is per token: every session loses it

  const auto signature = sign(*pool, key, kMessage);
  CHECK(openssl_verify(key.public_key.spki_der(), kMessage, signature));
  CHECK(pool->stats().logins == logins + 1);
}

TEST_CASE("session pool: a wrong PIN is an authentication error that names no PIN", "[hsm]") {
  // Login state is shared by the whole process, so the wrong PIN is tried on a second token that
  // nobody here has logged in to.
  TestToken& t = TestToken::get();
  const auto module = Module::load(*t.uri().module_path);
  if (t.kind() == escrowless::testing::TokenKind::nss) {
    // NSS softokn has one database token per C_Initialize, so no second token can be made in
    // this process: the wrong PIN is checked on SoftHSM and tpm2; here, that the refusal is clear.
    CHECK_THROWS_WITH(init_token(*module, "never-logged-in", random_hex_secret(8), random_hex_secret(8)),
                      Catch::Contains("no slot with an uninitialized token"));
    return;
  }
  const TokenInfo other =
      init_token(*module, "never-logged-in", random_hex_secret(8), random_hex_secret(8));
  TempDir dir;
  const std::string wrong = (dir.path() / "wrong-pin").string();
  std::ofstream(wrong) << "0000-wrong-pin-0000\n";
  ::chmod(wrong.c_str(), 0600);
  Uri uri = t.uri();
  uri.token = other.label;
  uri.serial = other.serial;
  uri.pin_source = "file:" + wrong;
  try {
    (void)Token::open(uri);
    FAIL("logged in with a wrong PIN");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::authentication);
    CHECK(e.rv() == CKR_PIN_INCORRECT);
    CHECK_THAT(e.what(), Catch::Contains("CKR_PIN_INCORRECT"));
    CHECK_THAT(e.what(), !Catch::Contains("0000-wrong-pin"));
  }
}

TEST_CASE("session pool: 8 threads signing at once, every signature valid", "[hsm][concurrency]") {
  const Algorithm algorithm = GENERATE(Algorithm::ed25519, Algorithm::ecdsa_p256);
  if (!TestToken::get().supports(algorithm)) return;  // keys_test checks the refusal
  INFO("algorithm " << to_string(algorithm));
  if (!TestToken::get().supports(algorithm)) {  // asked of the token: its mechanism list
    CHECK_THROWS_MATCHES(
        generate_key_pair(TestToken::get().token().pool(), algorithm, random_key_id(), "unsupported"),
        Error, Catch::Matchers::Predicate<Error>([](const Error& e) { return e.kind() == ErrorKind::invalid_input; }));
    return;
  }
  auto pool = new_pool(4);  // fewer sessions than threads: borrowing must wait, not fail
  const KeyPair key = generate_key_pair(*pool, algorithm, random_key_id(), "busy-" + std::string(to_string(algorithm)));

  struct Signed {
    std::vector<std::uint8_t> message, signature;
  };
  std::mutex mutex;
  std::vector<Signed> results;
  std::atomic<int> errors{0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Signed> mine;
      for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
        const std::vector<std::uint8_t> message = {static_cast<std::uint8_t>(t),
                                                   static_cast<std::uint8_t>(i),
                                                   static_cast<std::uint8_t>(i >> 8)};
        try {
          mine.push_back({message, sign(*pool, key, message)});
        } catch (const Error&) {
          ++errors;
        }
      }
      std::lock_guard lock(mutex);
      for (auto& s : mine) results.push_back(std::move(s));
    });
  }
  for (auto& thread : threads) thread.join();

  CHECK(errors == 0);
  CHECK(results.size() >= 8);
  const auto spki = key.public_key.spki_der();
  std::size_t invalid = 0;
  for (const Signed& s : results) invalid += openssl_verify(spki, s.message, s.signature) ? 0 : 1;
  CHECK(invalid == 0);
  CHECK(pool->stats().open <= 4);
  CHECK(pool->stats().discarded == 0);
}

TEST_CASE("session pool: key handles are found again after the pool lost every session", "[hsm]") {
  auto pool = new_pool(1);
  const KeyPair key = generate_key_pair(*pool, TestToken::get().algorithm(), random_key_id(), "k");
  // The only session fails: the token closes it and, with it, our login and the private key's
  // handle (SoftHSM drops private objects' handles on logout).
  const auto fake_device_error = [](Session&) -> int {
    check(CKR_DEVICE_ERROR, "C_Sign");
    return 0;
  };
  CHECK_THROWS_AS(pool->run(fake_device_error), Error);
  TestToken::get();  // the fixture's own pool keeps a session open on this token, but not ours
  const auto signature = sign(*pool, key, kMessage);
  CHECK(openssl_verify(key.public_key.spki_der(), kMessage, signature));
  CHECK(read_key_pair_attributes(*pool, key).private_key.id == key.id);
}
