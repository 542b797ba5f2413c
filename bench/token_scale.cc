// bench/token_scale: what one more device key costs as a token fills up, through our PKCS#11
// layer, separating our calls from the token's own cost. At each size (device keys on the token)
// it measures, for a few keys each:
//   enroll (checked)    generate_key_pair with KeyUniqueness::checked: a search by label and one
//                       by id over the whole token, then the generation (the enrollment path
//                       before this bench; `keyadmin key generate` still takes it);
//   enroll (no search)  KeyUniqueness::guaranteed_by_caller, what enrollment does now;
//   find by id          one find_key_pair_by_id: a lookup a revocation without a cached key makes;
//   sign                pkcs11::sign with the key's cached handles (prekey signing);
//   inventory           take_inventory over the whole token (the start-up sweep reads it all).
// Without --token, a SoftHSM token of its own in a temporary folder; with --token URI (and
// --module-init-args for NSS), that token, which it fills with keys labelled "bench-scale-..."
// and leaves them there (use a scratch token).
//
//   token_scale [--sizes 100,1000,2000] [--samples 20] [--token URI] [--module-init-args ARGS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/bench_main.h"
#include "pkcs11/inventory.h"
#include "pkcs11/keys.h"
#include "pkcs11/softhsm.h"
#include "pkcs11/token.h"

namespace p11 = escrowless::pkcs11;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string new_label(std::size_t n) { return "bench-scale-" + std::to_string(n); }

// Mean milliseconds of `samples` runs of f(i).
template <class F>
double mean_ms(int samples, F f) {
  const auto start = Clock::now();
  for (int i = 0; i < samples; ++i) f(i);
  return ms_since(start) / samples;
}

int run(const std::vector<std::size_t>& sizes, int samples, const std::string& uri,
        const std::optional<std::string>& init_args) {
  std::string dir;
  std::unique_ptr<p11::Token> token;
  if (uri.empty()) {
    char dir_template[] = "/tmp/escrowless-bench-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) throw std::runtime_error("cannot make a folder under /tmp");
    dir = dir_template;
    const p11::SoftHsmToken made = p11::provision_softhsm_token(dir + "/softhsm", "scale", p11::kDefaultModulePath);
    token = p11::Token::open(made.uri);
  } else {
    p11::TokenOptions options;
    options.module_init_args = init_args;
    token = p11::Token::open(p11::Uri::parse(uri), options);
  }
  const p11::Algorithm algorithm = p11::choose_algorithm(token->mechanisms());
  std::printf("token: %s %s (%s), %d sample(s) per figure, milliseconds per operation\n",
              token->info().manufacturer.c_str(), token->info().model.c_str(),
              std::string(p11::to_string(algorithm)).c_str(), samples);
  std::printf("%8s %16s %18s %12s %10s %14s %10s\n", "keys", "enroll checked", "enroll no search",
              "find by id", "sign", "inventory", "fill/key");
  std::size_t made = 0;
  p11::KeyPair probe = p11::generate_key_pair(token->pool(), algorithm, p11::random_key_id(), new_label(made++),
                                              p11::KeyUniqueness::guaranteed_by_caller);
  std::vector<std::uint8_t> message(32, 0x5a);
  for (const std::size_t size : sizes) {
    const auto fill_start = Clock::now();
    const std::size_t before = made;
    while (made < size) {
      p11::generate_key_pair(token->pool(), algorithm, p11::random_key_id(), new_label(made++),
                             p11::KeyUniqueness::guaranteed_by_caller);
    }
    const double fill = made > before ? ms_since(fill_start) / static_cast<double>(made - before) : 0.0;
    const double checked = mean_ms(samples, [&](int) {
      p11::generate_key_pair(token->pool(), algorithm, p11::random_key_id(), new_label(made++));
    });
    const double unchecked = mean_ms(samples, [&](int) {
      p11::generate_key_pair(token->pool(), algorithm, p11::random_key_id(), new_label(made++),
                             p11::KeyUniqueness::guaranteed_by_caller);
    });
    const double find = mean_ms(samples, [&](int) {
      if (!p11::find_key_pair_by_id(token->pool(), probe.id)) throw std::runtime_error("probe key lost");
    });
    const double sign = mean_ms(samples * 10, [&](int) { (void)p11::sign(token->pool(), probe, message); });
    const double inventory = mean_ms(1, [&](int) { (void)p11::take_inventory(token->pool()); });
    std::printf("%8zu %16.2f %18.2f %12.2f %10.3f %14.1f %10.2f\n", made, checked, unchecked, find, sign,
                inventory, fill);
    std::fflush(stdout);
  }
  token.reset();
  if (!dir.empty()) std::filesystem::remove_all(dir);
  return 0;
}

std::vector<std::size_t> parse_sizes(const std::string& text) {
  std::vector<std::size_t> sizes;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    sizes.push_back(std::stoul(text.substr(start, comma - start)));
    start = comma + 1;
  }
  if (!std::is_sorted(sizes.begin(), sizes.end())) throw std::invalid_argument("--sizes must be ascending");
  return sizes;
}

}  // namespace

int main(int argc, char** argv) {
  std::string sizes = "100,1000,2000";
  int samples = 20;
  std::string uri;
  std::string init_args;
  return escrowless::bench::bench_main(
      "token_scale", "What one more device key costs as a token fills up", argc, argv,
      [&](CLI::App& app) {
        app.add_option("--sizes", sizes, "ascending key counts to measure at")->capture_default_str();
        app.add_option("--samples", samples, "operations per figure")->check(CLI::Range(1, 100000))->capture_default_str();
        app.add_option("--token", uri, "PKCS#11 URI of a scratch token (default: a new SoftHSM token)");
        app.add_option("--module-init-args", init_args, "C_Initialize parameters (NSS softokn)");
      },
      [&] {
        return run(parse_sizes(sizes), samples, uri,
                   init_args.empty() ? std::nullopt : std::optional<std::string>(init_args));
      });
}
