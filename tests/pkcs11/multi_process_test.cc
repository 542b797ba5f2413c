// Several nodes of one deployment on one machine open one token at once: each process has its
// own module instance, and only the token objects' lock file (pkcs11/object_lock.h) orders their
// searches and changes. Without it, two processes making keys at once failed on tpm2-pkcs11
// (CKR_GENERAL_ERROR, "database is locked" in its store) and a search on NSS softokn found
// another process's private key before its public key. With it, on every token kind: two other
// processes make keys while this one searches without pause, then one destroys its keys while
// this one signs with the other's; afterwards this process sees exactly the other processes'
// keys, every one usable and every object readable. Signing takes no lock.
//
// Not on tpm2-pkcs11 (scripts/test leaves "shared-token" out of its tpm2 run): there a second
// process cannot make a key while another one has the token open, lock file or not: swtpm
// answers TPM_RC_OBJECT_MEMORY ("out of memory for object contexts") through tpm2-abrmd, which
// the module reports as CKR_GENERAL_ERROR. A TPM belongs to one machine and one node, so a
// deployment gives each node its own TPM token (hsm-config/tpm2.md).
#include <catch2/catch.hpp>

#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "pkcs11/inventory.h"
#include "pkcs11/keys.h"
#include "pkcs11/object_lock.h"
#include "tests/support/openssl_verify.h"
#include "tests/support/test_token.h"

extern char** environ;

using namespace escrowless;
using escrowless::testing::TestToken;

namespace {

constexpr int kKeysPerWorker = 12;

pid_t start_worker(const std::vector<std::string>& arguments) {
  const std::string program = ESCROWLESS_TOKEN_WORKER;
  std::vector<char*> argv = {const_cast<char*>(program.c_str())};
  for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, program.c_str(), nullptr, nullptr, argv.data(), environ) == 0);
  return pid;
}

int wait_worker(pid_t pid) {
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool signs(pkcs11::SessionPool& pool, const pkcs11::KeyPair& key) {
  const std::string message = "signed in the parent with " + key.label;
  const auto bytes = std::span(reinterpret_cast<const std::uint8_t*>(message.data()), message.size());
  return testing::openssl_verify(key.public_key.spki_der(), bytes, pkcs11::sign(pool, key, bytes));
}

}  // namespace

TEST_CASE("shared-token: other processes make, use and destroy keys while this one searches and signs",
          "[hsm][multiprocess]") {
  TestToken& token = TestToken::get();
  pkcs11::SessionPool& pool = token.token().pool();
  const testing::TempDir dir;
  const std::string lock_file = (dir.path() / "token.lock").string();
  pkcs11::share_token_objects_lock(lock_file);
  const std::vector<std::string> base = {token.uri().to_string(), token.options().module_init_args.value_or("-"),
                                         lock_file};
  const auto worker = [&](const char* action, const char* prefix) {
    std::vector<std::string> arguments = base;
    arguments.insert(arguments.end(), {action, prefix, std::to_string(kKeysPerWorker)});
    return start_worker(arguments);
  };

  // Two processes make keys while this one searches the token as fast as it can.
  std::atomic<bool> done = false;
  std::atomic<int> searches = 0;
  std::thread searcher([&] {
    while (!done) {
      (void)pkcs11::find_key_pair_by_label(pool, "A-0");
      ++searches;
    }
  });
  const pid_t a = worker("make", "A");
  const pid_t b = worker("make", "B");
  const int a_status = wait_worker(a);
  const int b_status = wait_worker(b);
  done = true;
  searcher.join();
  REQUIRE(a_status == 0);
  REQUIRE(b_status == 0);
  CHECK(searches > 0);

  // Every key they made is found here, with its public key, and signs.
  std::vector<pkcs11::KeyPair> b_keys;
  for (const char* prefix : {"A", "B"}) {
    for (int i = 0; i < kKeysPerWorker; ++i) {
      const std::string label = std::string(prefix) + "-" + std::to_string(i);
      INFO(label);
      const auto key = pkcs11::find_key_pair_by_label(pool, label);
      REQUIRE(key);
      REQUIRE(signs(pool, *key));
      if (prefix[0] == 'B') b_keys.push_back(*key);
    }
  }

  // One process destroys its keys while this one keeps signing with the others'.
  done = false;
  std::atomic<int> signatures = 0, failures = 0;
  std::thread signer([&] {
    while (!done) {
      for (const pkcs11::KeyPair& key : b_keys) (signs(pool, key) ? signatures : failures)++;
    }
  });
  const int drop_status = wait_worker(worker("drop", "A"));
  done = true;
  signer.join();
  REQUIRE(drop_status == 0);
  CHECK(failures == 0);
  CHECK(signatures > 0);
  for (int i = 0; i < kKeysPerWorker; ++i) CHECK_FALSE(pkcs11::find_key_pair_by_label(pool, "A-" + std::to_string(i)));

  // Every object on the token is whole: the inventory reads each one, and holds exactly B's keys
  // (two objects each) besides whatever the harness made.
  std::size_t b_objects = 0;
  for (const pkcs11::InventoryItem& item : pkcs11::take_inventory(pool)) {
    if (item.attributes.label.starts_with("B-")) ++b_objects;
    CHECK_FALSE(item.attributes.label.starts_with("A-"));
  }
  CHECK(b_objects == 2 * kKeysPerWorker);
}
