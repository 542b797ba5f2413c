// The token going away while in use and coming back, on a real SoftHSM token: its token folder
// is moved away and back, which SoftHSM (2.6) notices on the next operation and, once noticed,
// reports as gone until the module is re-initialized. (Tests run as root here, so making the
// folder unreadable would change nothing: moving it is the fault that really bites.)
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string_view>
#include <thread>

#include "pkcs11/error.h"
#include "pkcs11/keys.h"
#include "pkcs11/token.h"
#include "tests/support/openssl_verify.h"
#include "tests/support/test_token.h"

using namespace escrowless::pkcs11;
using escrowless::testing::openssl_verify;
using escrowless::testing::TestToken;

namespace {

const std::vector<std::uint8_t> kMessage = {'g', 'o', 'n', 'e'};

bool is_unavailable(const Error& e) { return e.kind() == ErrorKind::unavailable; }

// Moves the token folder away for the lifetime of the object.
class TokenAway {
 public:
  TokenAway() : here_(TestToken::get().dir() / "tokens"), away_(TestToken::get().dir() / "tokens.away") {
    std::filesystem::rename(here_, away_);
  }
  ~TokenAway() { back(); }
  void back() {
    if (std::filesystem::exists(away_)) std::filesystem::rename(away_, here_);
  }

 private:
  std::filesystem::path here_, away_;
};

// Retries check_ready() until it passes (the pool reconnects at most once a second).
bool ready_within(SessionPool& pool, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    try {
      pool.check_ready();
      return true;
    } catch (const Error& e) {
      if (!is_unavailable(e)) throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace

// softhsm-only (in the name, so scripts/test leaves it out of the other tokens' runs): the token
// is taken away by moving SoftHSM's token folder, which only SoftHSM keeps as files.
TEST_CASE("token loss softhsm-only: operations fail as unavailable and the pool reconnects when it is back",
          "[hsm]") {
  Token& token = TestToken::get().token();
  SessionPool& pool = token.pool();
  const KeyPair key = generate_key_pair(pool, TestToken::get().algorithm(), random_key_id(), "before");
  REQUIRE(openssl_verify(key.public_key.spki_der(), kMessage, sign(pool, key, kMessage)));
  REQUIRE_NOTHROW(pool.check_ready());

  TokenAway away;
  // Whatever SoftHSM answers (CKR_OBJECT_HANDLE_INVALID for the key, CKR_GENERAL_ERROR for a
  // generation, an empty search), the caller learns that the token is unavailable.
  CHECK_THROWS_MATCHES(sign(pool, key, kMessage), Error, Catch::Matchers::Predicate<Error>(is_unavailable));
  CHECK(pool.stats().token_lost);
  CHECK_THROWS_MATCHES(generate_key_pair(pool, TestToken::get().algorithm(), random_key_id(), "during"), Error,
                       Catch::Matchers::Predicate<Error>(is_unavailable));
  CHECK_THROWS_MATCHES(pool.check_ready(), Error, Catch::Matchers::Predicate<Error>(is_unavailable));
  CHECK_THROWS_MATCHES(token.mechanisms(), Error, Catch::Matchers::Predicate<Error>(is_unavailable));

  // While lost, calls fail without touching the module: at most one of them a second tries a
  // reconnect ("reconnect failed"), the others are refused before any module call
  // ("reconnecting"). Without that interval every call would re-initialize the module.
  const auto start = std::chrono::steady_clock::now();
  int attempts = 0, refused = 0;
  for (int i = 0; i < 20; ++i) {
    try {
      sign(pool, key, kMessage);
      FAIL("a signature while the token is gone");
    } catch (const Error& e) {
      INFO(e.what());
      REQUIRE(is_unavailable(e));
      const std::string_view what = e.what();
      if (what.ends_with("; reconnecting")) {
        ++refused;
      } else {
        CHECK(what.find("; reconnect failed: ") != std::string_view::npos);
        ++attempts;
      }
    }
  }
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start);
  INFO(attempts << " reconnect attempts in " << seconds.count() << " s");
  CHECK(attempts <= 1 + seconds.count());
  CHECK(refused == 20 - attempts);

  // Still gone after a reconnect attempt while the folder is away.
  CHECK_FALSE(ready_within(pool, std::chrono::seconds(2)));
  CHECK(pool.stats().token_lost);

  away.back();
  REQUIRE(ready_within(pool, std::chrono::seconds(5)));
  const auto stats = pool.stats();
  CHECK_FALSE(stats.token_lost);
  CHECK(stats.losses == 1);
  CHECK(stats.reconnects == 1);

  // The old key (its handles looked up again) signs, a new key can be made, nothing was lost.
  CHECK(openssl_verify(key.public_key.spki_der(), kMessage, sign(pool, key, kMessage)));
  const KeyPair after = generate_key_pair(pool, TestToken::get().algorithm(), random_key_id(), "after");
  CHECK(openssl_verify(after.public_key.spki_der(), kMessage, sign(pool, after, kMessage)));
  CHECK(find_key_pair_by_label(pool, "before"));
  CHECK_FALSE(find_key_pair_by_label(pool, "during"));
  CHECK_FALSE(token.mechanisms().empty());
}

// softhsm-only: as above.
TEST_CASE("token loss softhsm-only: a reconnect waits for sessions in use and never runs under them", "[hsm]") {
  SessionPool& pool = TestToken::get().token().pool();
  const KeyPair key = generate_key_pair(pool, TestToken::get().algorithm(), random_key_id(), "busy");
  TokenAway away;

  // A call that took its session before anyone noticed the loss, and is still in the module
  // (as far as the pool can know) for 500 ms.
  std::atomic<bool> inside{false};
  std::atomic<std::int64_t> released_ns{0};
  std::thread holder([&] {
    pool.run([&](Session&) {
      inside = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      released_ns = std::chrono::steady_clock::now().time_since_epoch().count();
      return 0;
    });
  });
  while (!inside) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  CHECK_THROWS_MATCHES(sign(pool, key, kMessage), Error, Catch::Matchers::Predicate<Error>(is_unavailable));
  REQUIRE(pool.stats().token_lost);
  away.back();
  // The reconnect is due at once, but C_Finalize must not run under the holder's call.
  REQUIRE(ready_within(pool, std::chrono::seconds(5)));
  const std::int64_t reconnected_ns = std::chrono::steady_clock::now().time_since_epoch().count();
  holder.join();
  CHECK(released_ns.load() != 0);
  CHECK(reconnected_ns >= released_ns.load());
  CHECK(pool.stats().reconnects == 1);
  CHECK(openssl_verify(key.public_key.spki_der(), kMessage, sign(pool, key, kMessage)));
}
