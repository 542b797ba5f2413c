// bench/audit: `keyaudit verify` over a log of N entries (default 1,000,000) served over HTTPS by
// the real keyserviced routes in process. The log is realistic: entry 0 hsm.provisioned (the log
// key in a SoftHSM token made for the run, which also signs every checkpoint), then per device a
// device.enrolled with a software-generated Ed25519 identity key, an initial prekeys.signed (signed
// X25519 prekey, ML-KEM-768 last-resort prekey, both one-time batches), `--rotations` rotations of
// the signed prekey and one-time prekey top-ups (batch roots only) up to `--per-device` entries.
// Every signature verifies (signed in software for speed).
//
// Prints: the fetch-only rate (GET /v1/log/entries, base64, leaf hashes, root: the server and
// transport), then keyaudit verify's rate end to end (everything above plus parsing and the
// no-escrow rules and every prekey signature), each with the process's CPU time (server and
// auditor share the process); the share of verify's CPU time that leaf hashing takes at the raw
// SHA-256 leaf-hash rate measured here over the same entries, and the share that Ed25519
// verification takes at the raw rate measured here (raw rates in CPU time, so they hold on a
// loaded machine); the load average; and the ceiling: Ed25519 verifications per second on all
// cores at once, measured in the same run, over the signatures per entry (and the same from the
// raw per-CPU-second rate, against verify's CPU time spread over the cores). Asserts nothing.
//
// `--rotate-last-resort` makes each rotation replace the ML-KEM-768 last-resort prekey too (two
// signatures per rotation, as clients that rotate both on one schedule do).
//
//   audit [--entries N] [--per-device K] [--rotations R] [--server-threads T] [--dir DIR] [--rotate-last-resort]
#include <openssl/evp.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <deque>
#include <future>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include "audit/client/https_client.h"
#include "audit/keyaudit/commands.h"
#include "audit/keyaudit/log_sync.h"
#include "audit/log_entry.h"
#include "audit/openssl_ptr.h"
#include "audit/prekey.h"
#include "bench/bench_main.h"
#include "bench/bench_server.h"
#include "keyservice/log/token_entries.h"

namespace audit = escrowless::audit;
namespace bench = escrowless::bench;
namespace ks = escrowless::keyservice;
namespace p11 = escrowless::pkcs11;

namespace {

struct Options {
  std::uint64_t entries = 1'000'000;
  std::uint64_t per_device = 10;
  std::uint64_t rotations = 2;
  bool rotate_last_resort = false;  // each rotation also replaces the ML-KEM last-resort prekey
  int server_threads = 4;
  std::string dir = "/tmp";
};

double seconds_since(bench::Clock::time_point start) {
  return std::chrono::duration<double>(bench::Clock::now() - start).count();
}

// A software Ed25519 key: the device's identity key stand-in.
class SoftKey {
 public:
  SoftKey() : key_(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")) {
    if (!key_) throw std::runtime_error("Ed25519 keygen failed");
    std::size_t size = raw_.size();
    if (EVP_PKEY_get_raw_public_key(key_.get(), raw_.data(), &size) != 1) throw std::runtime_error("raw key");
  }
  std::vector<std::uint8_t> public_key() const { return {raw_.begin(), raw_.end()}; }
  std::vector<std::uint8_t> sign(const std::vector<std::uint8_t>& message) const {
    audit::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    std::vector<std::uint8_t> signature(64);
    std::size_t size = signature.size();
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
        EVP_DigestSign(ctx.get(), signature.data(), &size, message.data(), message.size()) != 1)
      throw std::runtime_error("Ed25519 sign failed");
    return signature;
  }

 private:
  audit::EvpPkeyPtr key_;
  std::array<std::uint8_t, 32> raw_{};
};

// Makes the log's entries after entry 0, one device at a time.
class Generator {
 public:
  Generator(const Options& options, audit::KeyAttributes attributes)
      : options_(options), attributes_(std::move(attributes)), time_(std::chrono::time_point_cast<std::chrono::milliseconds>(
                                                                    std::chrono::system_clock::now())) {}

  // Entry `n` of the cycle of the current device (n counts from 1, after hsm.provisioned).
  std::string next() {
    const std::uint64_t step = position_++ % options_.per_device;
    if (step == 0) return enroll();
    if (step == 1) return upload(true, true, true);
    if (step <= 1 + options_.rotations) return upload(true, options_.rotate_last_resort, false);
    return upload(false, false, true);
  }
  std::uint64_t signatures() const { return signatures_; }

 private:
  std::string enroll() {
    ++device_number_;
    key_.emplace();
    account_ = "acct-" + std::to_string(device_number_ / 2);  // two devices per account
    device_ = "dev-" + std::to_string(device_number_);
    audit::DeviceEnrolled entry{time(), account_, device_, audit::Actor::admin(),
                                audit::TokenKey{audit::KeyAlgorithm::ed25519, bench::random_bytes(16),
                                                account_ + "." + device_, key_->public_key(), attributes_}};
    key_hash_ = entry.identity_key.public_key_sha256();
    return text(entry.to_bytes());
  }

  audit::SignedPrekey prekey(audit::PrekeyKind kind) {
    audit::SignedPrekey made;
    made.key_id = ++key_id_;
    made.public_key = bench::random_bytes(audit::prekey_size(kind));
    made.signature = key_->sign(audit::prekey_signature_message(kind, account_, device_, made.key_id, made.public_key));
    ++signatures_;
    return made;
  }

  std::string upload(bool signed_prekey, bool last_resort, bool batches) {
    audit::PrekeysSigned entry;
    entry.time = time();
    entry.account = account_;
    entry.device = device_;
    entry.identity_key_sha256 = key_hash_;
    if (signed_prekey) entry.signed_prekey = prekey(audit::PrekeyKind::signed_prekey);
    if (last_resort) entry.pq_last_resort_prekey = prekey(audit::PrekeyKind::pq_last_resort_prekey);
    if (batches) {
      entry.one_time_prekeys = audit::PrekeyBatch{100, random_hash()};
      if (last_resort) entry.pq_one_time_prekeys = audit::PrekeyBatch{20, random_hash()};
    }
    return text(entry.to_bytes());
  }

  static audit::Hash random_hash() { return audit::hash_from_bytes(bench::random_bytes(32)); }
  static std::string text(const std::vector<std::uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }
  audit::EntryTime time() { return time_ += std::chrono::milliseconds(1); }

  const Options& options_;
  audit::KeyAttributes attributes_;
  audit::EntryTime time_;
  std::uint64_t position_ = 0, device_number_ = 0, signatures_ = 0;
  std::uint32_t key_id_ = 0;
  std::optional<SoftKey> key_;
  std::string account_, device_;
  audit::Hash key_hash_{};
};

// CPU time of the calling thread: raw rates measured in CPU time hold on a shared, loaded machine
// where wall time does not.
double thread_cpu_seconds() {
  timespec now {};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

// Raw costs on this machine, in CPU seconds: an RFC 6962 leaf hash of the sample entries, one
// Ed25519 verification.
double leaf_hash_seconds_per_entry(const std::vector<std::string>& sample) {
  std::uint8_t sink = 0;
  const double start = thread_cpu_seconds();
  for (int round = 0; round < 5; ++round) {
    for (const std::string& entry : sample) sink ^= audit::leaf_hash(entry)[0];
  }
  const double seconds = (thread_cpu_seconds() - start) / (5.0 * static_cast<double>(sample.size()));
  volatile std::uint8_t keep = sink;
  (void)keep;
  return seconds;
}

// CPU time of the whole process (server threads and auditor threads together), in seconds.
double process_cpu_seconds() {
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// One Ed25519 verification in CPU seconds, as the auditor does it (the device's key prepared once)
// or, `prepare_each`, loading the key for every signature.
double verify_seconds_each(bool prepare_each) {
  const SoftKey key;
  const std::vector<std::uint8_t> message(80, 7);
  const auto signature = key.sign(message);
  const audit::PreparedIdentityKey prepared(audit::KeyAlgorithm::ed25519, key.public_key());
  constexpr int kCount = 3000;
  const double start = thread_cpu_seconds();
  int ok = 0;
  for (int i = 0; i < kCount; ++i) {
    const bool verified = prepare_each ? audit::verify_prekey_signature(audit::KeyAlgorithm::ed25519, key.public_key(), message, signature)
                                       : prepared.verify(message, signature);
    ok += verified ? 1 : 0;
  }
  if (ok != kCount) throw std::runtime_error("raw verify failed");
  return (thread_cpu_seconds() - start) / kCount;
}

// Ed25519 verifications per wall-clock second with one thread per core, all verifying at once
// for `seconds`: what this machine can verify right now (its load included), the ceiling of an
// audit whose every signature must be checked.
double verifies_per_second_all_cores(double seconds) {
  const SoftKey key;
  const std::vector<std::uint8_t> message(80, 7);
  const auto signature = key.sign(message);
  const audit::PreparedIdentityKey prepared(audit::KeyAlgorithm::ed25519, key.public_key());
  const unsigned threads = std::max(std::thread::hardware_concurrency(), 1U);
  std::vector<std::uint64_t> counts(threads, 0);
  std::vector<std::thread> workers;
  const auto start = bench::Clock::now();
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::uint64_t count = 0;
      while (seconds_since(start) < seconds) {
        for (int i = 0; i < 100; ++i) count += prepared.verify(message, signature) ? 1 : 0;
      }
      counts[t] = count;
    });
  }
  for (std::thread& worker : workers) worker.join();
  const double elapsed = seconds_since(start);
  std::uint64_t total = 0;
  for (const std::uint64_t count : counts) total += count;
  return static_cast<double>(total) / elapsed;
}

// The machine's load average: benches share it, and a loaded machine is slower.
std::string load_average() {
  std::FILE* file = std::fopen("/proc/loadavg", "r");
  if (!file) return "?";
  char text[128] = {};
  const bool read = std::fgets(text, sizeof text, file) != nullptr;
  std::fclose(file);
  std::string line = read ? text : "?";
  while (!line.empty() && line.back() == '\n') line.pop_back();
  return line + " (1, 5, 15 min; " + std::to_string(std::thread::hardware_concurrency()) + " cores)";
}

int run(const Options& options) {
  try {
    bench::setup_bench_logging("warn");
    bench::BenchDir dir(options.dir);
    bench::BenchService service(dir.path());
    const auto log_key = p11::find_key_pair_by_label(service.token().pool(), "log-key");
    if (!log_key) throw std::runtime_error("no log key");
    audit::HsmProvisioned provisioned;
    provisioned.time = audit::to_entry_time(std::chrono::system_clock::now());
    provisioned.origin = service.log().origin();
    provisioned.token = ks::entry_token(service.token().info());
    provisioned.log_key = ks::read_token_key(service.token().pool(), *log_key);
    const auto first = provisioned.to_bytes();

    std::printf("bench/audit: %s entries, %" PRIu64 " per device (%" PRIu64 " signed-prekey rotations%s), %u cores, in %s\n",
                std::to_string(options.entries).c_str(), options.per_device, options.rotations,
                options.rotate_last_resort ? " with the last-resort prekey" : "",
                std::thread::hardware_concurrency(), bench::filesystem_of(dir.path()).c_str());
    std::fflush(stdout);

    // Populate.
    Generator generator(options, provisioned.log_key.attributes);
    std::vector<std::string> sample;
    std::uint64_t bytes = first.size();
    const auto populate_start = bench::Clock::now();
    {
      std::deque<std::future<ks::Receipt>> in_flight;
      in_flight.push_back(service.log().append(std::string(first.begin(), first.end())));
      for (std::uint64_t i = 1; i < options.entries; ++i) {
        std::string entry = generator.next();
        bytes += entry.size();
        if (sample.size() < 100'000) sample.push_back(entry);
        in_flight.push_back(service.log().append(std::move(entry)));
        if (in_flight.size() >= 50'000) {
          in_flight.front().get();
          in_flight.pop_front();
        }
      }
      while (!in_flight.empty()) {
        in_flight.front().get();
        in_flight.pop_front();
      }
    }
    std::printf("  populated   %s entries (%.0f MB, %" PRIu64 " prekey signatures) in %.1f s\n",
                std::to_string(service.log().size()).c_str(), static_cast<double>(bytes) / 1e6, generator.signatures(),
                seconds_since(populate_start));

    const double hash_each = leaf_hash_seconds_per_entry(sample);
    const double verify_each = verify_seconds_each(false);
    const double verify_loading_each = verify_seconds_each(true);
    std::printf("  raw rates   leaf hash %.0f entries per CPU second (%.0f MB/s over this log's entries); Ed25519 verify %.0f per CPU second "
                "(%.0f loading the key for each)\n",
                1.0 / hash_each, static_cast<double>(bytes) / static_cast<double>(options.entries) / hash_each / 1e6,
                1.0 / verify_each, 1.0 / verify_loading_each);
    std::fflush(stdout);

    bench::RunningServer server(service, options.server_threads);
    const std::string url = "https://localhost:" + std::to_string(server.port());
    const audit::VerifierKey verifier = service.log().verifier();

    // Fetch only: the server's /v1/log/entries, TLS, base64, leaf hashes and the root.
    {
      escrowless::audit::client::ClientOptions client_options;
      client_options.ca_file = service.cert();
      const auto server_url = escrowless::audit::client::ServerUrl::parse(url);
      const auto connect = [&] { return std::make_unique<escrowless::audit::client::HttpsClient>(server_url, client_options); };
      const auto start = bench::Clock::now();
      const double cpu_start = process_cpu_seconds();
      const auto result = escrowless::keyaudit::sync_log(connect, verifier, {}, [](const escrowless::keyaudit::FetchedEntry&) {}, {});
      const double seconds = seconds_since(start);
      const double cpu = process_cpu_seconds() - cpu_start;
      if (!result.tree) throw std::runtime_error("fetch-only pass did not verify");
      std::printf("  fetch only  %.0f entries/s (%.1f s; %.1f CPU s, server included: %.0f entries per CPU second): "
                  "GET /v1/log/entries x1000, base64, leaf hashes, root checked\n",
                  static_cast<double>(result.fetched) / seconds, seconds, cpu, static_cast<double>(result.fetched) / cpu);
      std::fflush(stdout);
    }

    // keyaudit verify, the command itself, in process (its report goes to a string): from the
    // API, then from the server's tiles (/tlog).
    struct Pass {
      double seconds = 0, cpu = 0;
    };
    const double n = static_cast<double>(options.entries);
    const auto verify_pass = [&](bool tiles) {
      escrowless::keyaudit::CommonOptions verify_options;
      (tiles ? verify_options.tiles : verify_options.server) = tiles ? url + "/tlog" : url;
      verify_options.verifier_key = verifier.to_string();
      verify_options.cacert = service.cert();
      verify_options.json = true;
      std::ostringstream captured;
      auto* const saved = std::cout.rdbuf(captured.rdbuf());
      const auto start = bench::Clock::now();
      const double cpu_start = process_cpu_seconds();
      int code = 0;
      try {
        code = escrowless::keyaudit::run_verify(verify_options);
      } catch (...) {
        std::cout.rdbuf(saved);
        throw;
      }
      Pass pass{seconds_since(start), process_cpu_seconds() - cpu_start};
      std::cout.rdbuf(saved);
      const auto report = nlohmann::json::parse(captured.str());
      std::printf("  verify%s %.0f entries/s (%.1f s; %.1f CPU s, server included: %.0f entries per CPU second, %.1f CPU us "
                  "per entry), exit %d, %zu violations, %s signatures verified\n",
                  tiles ? " tiles" : "      ", n / pass.seconds, pass.seconds, pass.cpu, n / pass.cpu, 1e6 * pass.cpu / n, code,
                  report["violations"].size(), report["details"]["signatures"].dump().c_str());
      std::fflush(stdout);
      return pass;
    };
    const Pass api = verify_pass(false);
    const Pass from_tiles = verify_pass(true);
    const double seconds = api.seconds;
    const double cpu = api.cpu;
    std::printf("  load        %s\n", load_average().c_str());
    std::printf("  hashing     %.1f%% of verify's CPU time (%.2f CPU s at the raw leaf-hash rate)\n",
                100.0 * hash_each * n / cpu, hash_each * n);
    std::printf("  signatures  %.1f%% of verify's CPU time (%.2f CPU s at the raw Ed25519 rate)\n",
                100.0 * verify_each * static_cast<double>(generator.signatures()) / cpu,
                verify_each * static_cast<double>(generator.signatures()));
    // The ceiling: every signature must be verified, so no audit of this log beats the machine's
    // Ed25519 rate on all its cores divided by the signatures per entry (measured now, after
    // verify, so under the same load).
    const double per_entry = static_cast<double>(generator.signatures()) / n;
    const double all_cores = verifies_per_second_all_cores(3.0);
    std::printf("  ceiling     %.0f Ed25519 verifies/s on all %u cores now; at %.2f signatures per entry no audit beats "
                "%.0f entries/s (verify ran at %.0f%% of it)\n",
                all_cores, std::thread::hardware_concurrency(), per_entry, all_cores / per_entry,
                100.0 * (n / seconds) / (all_cores / per_entry));
    std::printf("  ceiling     verify from tiles ran at %.0f%% of it\n",
                100.0 * (n / from_tiles.seconds) / (all_cores / per_entry));
    // The same in CPU time, which a shared machine's load disturbs less: the raw per-CPU-second
    // rate on every core, against verify's CPU time spread over them.
    const double cores = std::thread::hardware_concurrency();
    std::printf("  ceiling     on %.0f free cores: %.0f entries/s (raw Ed25519 rate x cores / signatures per entry); "
                "verify's CPU time gives %.0f (%.0f%% of it)\n",
                cores, cores / verify_each / per_entry, cores * n / cpu, 100.0 * (cores * n / cpu) / (cores / verify_each / per_entry));
    std::printf("  ceiling     from tiles: verify's CPU time gives %.0f (%.0f%% of it)\n", cores * n / from_tiles.cpu,
                100.0 * (cores * n / from_tiles.cpu) / (cores / verify_each / per_entry));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "audit: %s\n", e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  return bench::bench_main(
      "audit", "keyaudit verify over a log served over HTTPS in process, against raw hashing and Ed25519", argc, argv,
      [&](CLI::App& app) {
        app.add_option("--entries", options.entries, "log entries")->check(CLI::Range(2ULL, 1ULL << 40))->capture_default_str();
        app.add_option("--per-device", options.per_device, "entries per device")->check(CLI::Range(2ULL, 1ULL << 40))->capture_default_str();
        app.add_option("--rotations", options.rotations, "signed-prekey rotations per device")->capture_default_str();
        app.add_option("--server-threads", options.server_threads, "worker threads of the server")
            ->check(CLI::Range(1, 4096))
            ->capture_default_str();
        app.add_option("--dir", options.dir, "where the run's data goes")->capture_default_str();
        app.add_flag("--rotate-last-resort", options.rotate_last_resort, "each rotation also replaces the ML-KEM last-resort prekey");
        app.callback([&] {
          if (options.rotations + 2 > options.per_device) {
            throw CLI::ValidationError("--rotations", "--per-device must be at least --rotations + 2");
          }
        });
      },
      [&] { return run(options); });
}
