// bench/cosign: how long after a write is acknowledged a cosigned checkpoint covers it (issue 16,
// item 3: the delay before a new key is handed out with a quorum). A log in a SoftHSM token made
// for the run, three keywitness servers in process on 127.0.0.1 (HTTPS, SQLite state, their keys
// in the same token), a 2-of-3 policy and the service's CosignatureCollector. Each writer appends
// an entry, takes the time of its acknowledgement, then waits (TransparencyLog::head_covering)
// for the served checkpoint to cover it. Prints p50, p99 and max of that delay, and the write
// rate, for each writer count.
//
//   cosign [--writes N] [--writers 1,8] [--dir DIR]
//
// Prints figures; asserts nothing.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/http_server.h"
#include "api/metrics.h"
#include "bench/bench_main.h"
#include "bench/bench_server.h"
#include "keyservice/cosign/cosignature_collector.h"
#include "keyservice/log/transparency_log.h"
#include "keyservice/tls_cert.h"
#include "witness/token_cosigner.h"
#include "witness/witness.h"
#include "witness/witness_routes.h"
#include "witness/witness_state.h"

namespace escrowless::bench {
namespace {

// One keywitness in process.
class BenchWitness {
 public:
  // `cert`, `key_file`: the TLS certificate all witnesses share (one CA file for the client;
  // self-signed certificates of one name would shadow each other in it).
  BenchWitness(const std::filesystem::path& dir, pkcs11::Token& token, const std::string& name,
               const keyservice::TransparencyLog& log, const std::string& cert, const std::string& key_file) {
    std::filesystem::create_directories(dir);
    const std::string state_path = (dir / "witness.db").string();
    witness::WitnessState::open(state_path, true);
    state_ = witness::WitnessState::open(state_path, false);
    const pkcs11::KeyPair key = witness::generate_witness_key(token, "keywitness-" + name);
    cosigner_.emplace(witness::cosigner_key_of(key, "witness.bench.test/" + name));
    witness_ = std::make_unique<witness::Witness>(
        *cosigner_, witness::token_signer(token.pool(), key), *state_,
        witness::parse_witnessed_logs({log.origin() + " " + log.verifier().to_string()}),
        [] { return static_cast<uint64_t>(std::time(nullptr)); });
    server_ = witness::make_witness_server(*witness_, {cert, key_file, 4}, metrics_);
    port_ = server_->bind("127.0.0.1", 0);
    thread_ = std::thread([this] { server_->run(); });
    server_->wait_until_running();
  }
  ~BenchWitness() {
    server_->stop();
    thread_.join();
  }
  std::string policy_line(const std::string& name) const {
    return "witness " + name + " " + cosigner_->to_string() + " https://127.0.0.1:" + std::to_string(port_) + "\n";
  }

 private:
  std::optional<audit::CosignerKey> cosigner_;
  api::Metrics metrics_;
  std::unique_ptr<witness::WitnessState> state_;
  std::unique_ptr<witness::Witness> witness_;
  std::unique_ptr<api::HttpServer> server_;
  int port_ = 0;
  std::thread thread_;
};

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const std::size_t at = std::min(values.size() - 1, static_cast<std::size_t>(p * static_cast<double>(values.size())));
  return values[at];
}

int run(int writes, const std::vector<int>& writer_counts, const std::string& parent) {
  setup_bench_logging("warn");
  BenchDir dir(parent);
  BenchService service(dir.path());
  keyservice::TransparencyLog& log = service.log();
  std::vector<std::unique_ptr<BenchWitness>> witnesses;
  std::string policy;
  const std::string ca = (dir.path() / "witnesses.pem").string();
  const std::string ca_key = (dir.path() / "witnesses.key").string();
  keyservice::write_localhost_certificate(ca, ca_key);
  for (int i = 1; i <= 3; ++i) {
    const std::string name = "w" + std::to_string(i);
    witnesses.push_back(std::make_unique<BenchWitness>(dir.path() / name, service.token(), name, log, ca, ca_key));
    policy += witnesses.back()->policy_line(name);
  }
  policy += "group two-of-three 2 w1 w2 w3\nquorum two-of-three\n";
  keyservice::CosignatureCollector::Options options;
  options.policy = audit::parse_witness_policy(policy);
  options.ca_file = ca;
  options.bundle_wait = std::chrono::seconds(30);  // the bench waits for every cosigned checkpoint
  const auto collector = keyservice::CosignatureCollector::start(log, options);
  log.append("{\"warm\":0}").get();
  log.head_covering(log.size());

  std::printf("cosign delay: from a write's acknowledgement to a served checkpoint with a 2-of-3 quorum covering it\n");
  std::printf("(three keywitness servers in process on 127.0.0.1, HTTPS, keys in one SoftHSM token)\n");
  std::printf("%8s %8s %10s %10s %10s %10s\n", "writers", "writes", "writes/s", "p50 ms", "p99 ms", "max ms");
  for (const int writers : writer_counts) {
    std::vector<double> delays;
    std::mutex mutex;
    const int each = std::max(1, writes / writers);
    const auto started = Clock::now();
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        for (int i = 0; i < each; ++i) {
          const keyservice::Receipt receipt =
              log.append("{\"writer\":" + std::to_string(w) + ",\"n\":" + std::to_string(i) + "}").get();
          const auto acknowledged = Clock::now();
          const auto head = log.head_covering(receipt.index + 1);
          const double ms = std::chrono::duration<double, std::milli>(Clock::now() - acknowledged).count();
          if (!head || head->size <= receipt.index) throw std::runtime_error("no cosigned checkpoint within 30 s");
          const std::lock_guard lock(mutex);
          delays.push_back(ms);
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    std::printf("%8d %8zu %10.0f %10.1f %10.1f %10.1f\n", writers, delays.size(),
                static_cast<double>(delays.size()) / seconds, percentile(delays, 0.5), percentile(delays, 0.99),
                percentile(delays, 1.0));
  }
  for (const auto& status : collector->status()) {
    std::printf("witness %s: %llu cosignatures, %llu failures, last latency %.1f ms\n", status.name.c_str(),
                static_cast<unsigned long long>(status.successes), static_cast<unsigned long long>(status.failures),
                status.latency_seconds * 1000);
  }
  return 0;
}

}  // namespace
}  // namespace escrowless::bench

int main(int argc, char** argv) {
  int writes = 300;
  std::vector<int> writers = {1, 8};
  std::string dir = "/tmp";
  return escrowless::bench::bench_main(
      "cosign", "Delay from a write's acknowledgement to a cosigned checkpoint covering it", argc, argv,
      [&](CLI::App& app) {
        app.add_option("--writes", writes, "Writes per writer count")->check(CLI::Range(1, 1000000));
        app.add_option("--writers", writers, "Concurrent writers, one run each")->delimiter(',');
        app.add_option("--dir", dir, "Parent folder of the run's data");
      },
      [&] { return escrowless::bench::run(writes, writers, dir); });
}
