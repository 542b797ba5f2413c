// bench/pkcs11_sign: signatures per second through our session pool (pkcs11::sign) against a raw
// C_SignInit + C_Sign loop on the same token and key, for 1 and 2 threads and both algorithms.
// Raw and pool rounds alternate so that machine noise hits both alike; the ratio is what counts.
//
//   pkcs11_sign [--seconds S]   (S per measurement round, default 1; 3 rounds each)
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <openssl/evp.h>

#include "bench/bench_main.h"
#include "pkcs11/error.h"
#include "pkcs11/keys.h"
#include "pkcs11/pin_source.h"
#include "pkcs11/softhsm.h"
#include "pkcs11/token.h"

namespace p11 = escrowless::pkcs11;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kRounds = 3;

// Each thread signs as fast as it can until the deadline; returns the total count.
template <class Work>
std::uint64_t run_threads(int threads, double seconds, Work make_worker) {
  std::atomic<std::uint64_t> total{0};
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto worker = make_worker(t);
      std::uint64_t count = 0;
      while (Clock::now() < deadline) {
        worker();
        ++count;
      }
      total += count;
    });
  }
  for (auto& thread : pool) thread.join();
  return total;
}

// The baseline: a session of its own per thread, the digest precomputed, nothing but Cryptoki.
std::uint64_t raw_round(p11::Token& token, const p11::KeyPair& key, int threads, double seconds,
                        const std::vector<std::uint8_t>& input) {
  const bool ed25519 = key.public_key.algorithm == p11::Algorithm::ed25519;
  return run_threads(threads, seconds, [&](int) {
    auto session = std::make_shared<p11::Session>(p11::Session::open(token.module(), token.info().slot_id));
    return [&, session] {
      CK_MECHANISM mechanism{ed25519 ? CKM_EDDSA : CKM_ECDSA, nullptr, 0};
      std::uint8_t signature[64];
      CK_ULONG size = sizeof signature;
      CK_FUNCTION_LIST* fn = session->fn();
      p11::check(fn->C_SignInit(session->handle(), &mechanism, key.private_handle()), "C_SignInit");
      p11::check(fn->C_Sign(session->handle(), const_cast<std::uint8_t*>(input.data()), input.size(),
                            signature, &size),
                 "C_Sign");
    };
  });
}

std::uint64_t pool_round(p11::Token& token, const p11::KeyPair& key, int threads, double seconds,
                         const std::vector<std::uint8_t>& message) {
  return run_threads(threads, seconds, [&](int) {
    return [&] { (void)p11::sign(token.pool(), key, message); };
  });
}

int run(double seconds) {
  char dir_template[] = "/tmp/escrowless-bench-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) throw std::runtime_error("cannot make a folder under /tmp");
  const std::string dir = dir_template;
  try {
    const p11::SoftHsmToken made = p11::provision_softhsm_token(dir + "/softhsm", "bench", p11::kDefaultModulePath);
    const auto token = p11::Token::open(made.uri);
    std::printf("token: SoftHSM %s, %d round(s) of %.1f s per figure, raw and pool alternating\n",
                token->info().serial.c_str(), kRounds, seconds);
    std::printf("%-11s %7s %14s %14s %7s\n", "algorithm", "threads", "raw C_Sign/s", "pool sign/s", "ratio");

    const std::vector<std::uint8_t> message(32, 0x5a);  // a prekey-sized input
    for (const p11::Algorithm algorithm : {p11::Algorithm::ed25519, p11::Algorithm::ecdsa_p256}) {
      const p11::KeyPair key = p11::generate_key_pair(token->pool(), algorithm, p11::random_key_id(),
                                                      std::string(p11::to_string(algorithm)));
      std::vector<std::uint8_t> raw_input = message;
      if (algorithm == p11::Algorithm::ecdsa_p256) {
        raw_input.assign(32, 0);
        unsigned int size = 0;
        EVP_Digest(message.data(), message.size(), raw_input.data(), &size, EVP_sha256(), nullptr);
      }
      for (const int threads : {1, 2}) {
        std::uint64_t raw = 0, pooled = 0;
        for (int round = 0; round < kRounds; ++round) {
          raw += raw_round(*token, key, threads, seconds, raw_input);
          pooled += pool_round(*token, key, threads, seconds, message);
        }
        const double total = seconds * kRounds;
        std::printf("%-11s %7d %14.0f %14.0f %7.3f\n", std::string(p11::to_string(algorithm)).c_str(),
                    threads, static_cast<double>(raw) / total, static_cast<double>(pooled) / total,
                    static_cast<double>(pooled) / static_cast<double>(raw));
        std::fflush(stdout);
      }
    }
  } catch (...) {
    std::filesystem::remove_all(dir);
    throw;
  }
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 1.0;
  return escrowless::bench::bench_main(
      "pkcs11_sign", "Signatures per second through the session pool against a raw C_Sign loop", argc, argv,
      [&](CLI::App& app) {
        app.add_option("--seconds", seconds, "seconds per round")->check(CLI::Range(0.01, 86400.0))->capture_default_str();
      },
      [&] { return run(seconds); });
}
