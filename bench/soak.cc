// Soak: the real keyserviced surface (in process, SoftHSM token made for the run) under mixed
// traffic on loopback for a bounded time, to see that it holds: no errors, steady latency, and
// resident memory and open file descriptors flat from start to end.
//
//   bench/soak [--seconds 120] [--connections 32] [--server-threads N] [--no-enroll] [--dir DIR]
//              [--log-level L]
//
// Each connection is one client thread with its own keep-alive SSLClient (certificate verified)
// and its own device, looping over a weighted mix: bundle fetches (40%), log reads (checkpoint,
// entries, inclusion proof: 25%), one-time prekey counts (15%), uploads of 5 one-time prekeys
// (15%, so uploads and fetches roughly balance), and an enrollment followed by its revocation
// (5%: the token and the log grow, the key is destroyed again). The server has at least one
// worker per connection (cpp-httplib keeps a keep-alive connection on one worker). Rate limits
// and the per-address connection cap are off (one loopback address); the request deadline and
// keep-alive limits are the defaults. Figures: requests and errors (any unexpected status or transport error; must be
// 0), p50/p99 latency per kind, VmRSS (split into anonymous and file pages, malloc's heap in use
// and held, SQLite's allocations) and open fds of this process every 15 s, at start and end, and
// the growth over the second half of the run (after warm-up) in MB and per 10k requests, with the
// share of it that SoftHSM keeps for the signatures and key pairs made (TokenCosts) set apart.
#include <dirent.h>
#include <malloc.h>
#include <sqlite3.h>

#include <array>
#include <cinttypes>
#include <cmath>
#include <fstream>
#include <random>

#include "bench/bench_main.h"
#include "bench/bench_server.h"

using namespace escrowless;
using namespace escrowless::bench;

namespace {

struct Options {
  double seconds = 120;
  int connections = 32;
  int server_threads = 0;  // 0: connections + 4
  std::string dir = std::filesystem::temp_directory_path().string();
  std::string log_level = "warn";
  bool enroll = true;  // --no-enroll: the enroll+revoke slice becomes log reads (to tell growth apart)
};

enum Kind { kBundle, kLog, kCount, kUpload, kEnroll, kRevoke, kKinds };
constexpr std::array<const char*, kKinds> kKindNames = {"bundle fetch", "log read", "prekey count",
                                                        "upload (5 keys)", "enroll", "revoke"};

// A field of /proc/self/status in KiB ("VmRSS", "RssAnon", "RssFile").
std::uint64_t status_kib(std::string_view field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 && line[field.size()] == ':') {
      return std::strtoull(line.c_str() + field.size() + 1, nullptr, 10);
    }
  }
  return 0;
}

int open_fds() {
  int count = 0;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (const dirent* entry = ::readdir(dir)) count += entry->d_name[0] != '.' ? 1 : 0;
    ::closedir(dir);
    --count;  // the directory stream itself
  }
  return count;
}

// Where the resident memory is: VmRSS splits into anonymous memory (the heaps, thread stacks)
// and file pages (the binary, libraries, mapped files); of the anonymous part, glibc's malloc
// holds `heap_held` (from its arenas and mmapped chunks) of which `heap_used` is allocated, and
// SQLite's own allocator counts `sqlite` (page caches, schemas, statements) inside heap_used.
struct Sample {
  double at = 0;
  std::uint64_t requests = 0;
  std::uint64_t signatures = 0, key_pairs = 0;  // token work so far (see TokenCosts)
  std::uint64_t log_caches = 0;                   // bytes in the log's entry and proof caches
  std::uint64_t rss = 0, rss_anon = 0, rss_file = 0;  // KiB
  std::uint64_t heap_used = 0, heap_held = 0, sqlite = 0;  // KiB
  int fds = 0;
};

Sample take_sample(double at, std::uint64_t requests, std::uint64_t signatures, std::uint64_t key_pairs,
                   const keyservice::TransparencyLog::CacheStats& caches) {
  Sample s;
  s.log_caches = caches.entry_bytes + caches.proof_bytes;
  s.at = at;
  s.requests = requests;
  s.signatures = signatures;
  s.key_pairs = key_pairs;
  s.rss = status_kib("VmRSS");
  s.rss_anon = status_kib("RssAnon");
  s.rss_file = status_kib("RssFile");
  const struct mallinfo2 heap = ::mallinfo2();  // walks every arena's bins: fine every 15 s

  s.heap_used = (heap.uordblks + heap.hblkhd) / 1024;
  s.heap_held = (heap.arena + heap.hblkhd) / 1024;
  s.sqlite = static_cast<std::uint64_t>(sqlite3_memory_used()) / 1024;
  s.fds = open_fds();
  return s;
}

// SoftHSM 2.6.1 keeps memory that the service cannot give back: it leaks about 65 bytes per
// C_SignInit with an Ed25519 key (tests/lsan.supp), and it keeps every key object it made until
// C_Finalize, destroyed or not (OSToken::allObjects: about 1.8 KB a key pair). A hardware token
// holds neither in this process. Measured here on this token before the run, so the end of the
// report can tell the token's share of any growth from ours.
struct TokenCosts {
  double per_signature = 0;  // bytes of heap kept per signature with the service's algorithm
  double per_key_pair = 0;   // bytes kept per key pair generated and destroyed again
};

std::uint64_t heap_in_use() {
  const struct mallinfo2 heap = ::mallinfo2();
  return heap.uordblks + heap.hblkhd;
}

TokenCosts measure_token_costs(pkcs11::Token& token) {
  pkcs11::SessionPool& pool = token.pool();
  const pkcs11::Algorithm algorithm = pkcs11::choose_algorithm(token.mechanisms());
  TokenCosts costs;
  {
    const pkcs11::KeyPair key = pkcs11::generate_key_pair(pool, algorithm, pkcs11::random_key_id(), "soak-probe");
    const std::vector<std::uint8_t> message(64, 0x5a);
    // The first few thousand signatures cost more (session and OpenSSL caches warming up): not
    // what a long run pays per signature.
    for (int i = 0; i < 5000; ++i) pkcs11::sign(pool, key, message);
    constexpr int kSignatures = 3000;
    const auto before = static_cast<double>(heap_in_use());
    for (int i = 0; i < kSignatures; ++i) pkcs11::sign(pool, key, message);
    costs.per_signature = std::max(0.0, (static_cast<double>(heap_in_use()) - before) / kSignatures);
    pkcs11::destroy_key_pair(pool, key);
  }
  constexpr int kWarmUp = 5, kKeyPairs = 30;  // warmed up likewise
  double before = 0;
  for (int i = 0; i < kWarmUp + kKeyPairs; ++i) {
    if (i == kWarmUp) before = static_cast<double>(heap_in_use());
    const pkcs11::KeyPair key =
        pkcs11::generate_key_pair(pool, algorithm, pkcs11::random_key_id(), "soak-probe-" + std::to_string(i));
    pkcs11::destroy_key_pair(pool, key);
  }
  costs.per_key_pair = std::max(0.0, (static_cast<double>(heap_in_use()) - before) / kKeyPairs);
  return costs;
}

// Latencies in buckets 2% wide (1 us to about 1000 s): quantiles within 1%, and a fixed size, so
// the bench's own bookkeeping doesn't grow with the requests it counts (a vector of every
// latency adds 8 bytes a request to the RSS being measured).
class LatencyHistogram {
 public:
  void add(double us) {
    ++buckets_[index_of(us)];
    ++count_;
    max_ = std::max(max_, us);
  }
  void merge(const LatencyHistogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
  }
  std::uint64_t count() const { return count_; }
  double max() const { return max_; }
  // The q-quantile (0..1): the geometric middle of its bucket; 0 when empty.
  double quantile(double q) const {
    if (count_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1) + 0.5);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += buckets_[i];
      if (seen > rank) return std::min(max_, std::pow(kGrowth, static_cast<double>(i) + 0.5));
    }
    return max_;
  }

 private:
  static constexpr double kGrowth = 1.02;
  static constexpr std::size_t kBuckets = 1050;  // 1.02^1050 us is about 1000 s
  static std::size_t index_of(double us) {
    if (us <= 1) return 0;
    return std::min(kBuckets - 1, static_cast<std::size_t>(std::log(us) / std::log(kGrowth)));
  }
  std::vector<std::uint64_t> buckets_ = std::vector<std::uint64_t>(kBuckets);
  std::uint64_t count_ = 0;
  double max_ = 0;
};

struct Totals {
  std::array<std::uint64_t, kKinds> requests{};
  std::array<LatencyHistogram, kKinds> latencies_us;
  std::map<std::string, std::uint64_t> errors;  // "kind: code"
};

// Shared by the workers: requests answered, and what the token did for them that costs SoftHSM
// memory (see TokenCosts).
struct Counters {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> prekey_signatures{0};  // one per one-time prekey uploaded
  std::atomic<std::uint64_t> key_pairs{0};          // one per enrollment
};

class Worker {
 public:
  Worker(BenchService& service, int port, int index, const std::vector<Enrolled>& devices, bool enroll,
         Counters& counters)
      : service_(service), client_(make_client(port, service.cert())), devices_(devices), rng_(index * 7919 + 1),
        index_(index), enroll_(enroll), counters_(counters) {}

  Enrolled& me() { return me_; }
  void enroll_self() {
    me_ = enroll(service_, *client_, "soak" + std::to_string(index_));
    expect_json(client_->Put(me_.path("/prekeys").c_str(), me_.auth(), upload_body(50, next_id_, true), "application/json"),
                200, "first upload");
    next_id_ += 50;
  }

  // One step of the mix.
  void step(Totals& totals) {
    int pick = std::uniform_int_distribution<int>(0, 99)(rng_);
    if (!enroll_ && pick >= 95) pick = 40 + pick % 25;
    if (pick < 40) {
      const Enrolled& target = devices_[std::uniform_int_distribution<std::size_t>(0, devices_.size() - 1)(rng_)];
      timed(totals, kBundle, 200, [&] { return client_->Get(target.path("/bundle").c_str(), me_.auth()); });
    } else if (pick < 65) {
      const int which = pick % 3;
      timed(totals, kLog, 200, [&] {
        if (which == 0) return client_->Get("/v1/log/checkpoint");
        if (which == 1) return client_->Get("/v1/log/entries?start=0&count=8");
        return client_->Get("/v1/log/proof/inclusion?index=1&size=2");
      });
    } else if (pick < 80) {
      timed(totals, kCount, 200, [&] { return client_->Get(me_.path("/prekeys/count").c_str(), me_.auth()); });
    } else if (pick < 95) {
      const std::string body = upload_body(5, next_id_, false);
      next_id_ += 5;
      if (timed(totals, kUpload, 200,
                [&] { return client_->Put(me_.path("/prekeys").c_str(), me_.auth(), body, "application/json"); })) {
        counters_.prekey_signatures.fetch_add(5, std::memory_order_relaxed);
      }
    } else {
      std::string device;
      const std::string path = "/v1/accounts/soak" + std::to_string(index_) + "/devices";
      timed(totals, kEnroll, 201, [&] {
        auto result = client_->Post(path.c_str(), service_.admin_headers(), "", "application/json");
        if (result && result->status == 201) device = json::parse(result->body).at("device_id");
        return result;
      });
      if (!device.empty()) {
        counters_.key_pairs.fetch_add(1, std::memory_order_relaxed);
        timed(totals, kRevoke, 200,
              [&] { return client_->Delete((path + "/" + device).c_str(), service_.admin_headers()); });
      }
    }
  }

 private:
  // Whether the call got the expected status.
  template <class Call>
  bool timed(Totals& totals, Kind kind, int expected, Call call) {
    const auto begin = Clock::now();
    const httplib::Result result = call();
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - begin).count();
    ++totals.requests[kind];
    totals.latencies_us[kind].add(us);
    counters_.requests.fetch_add(1, std::memory_order_relaxed);
    if (!result || result->status != expected) {
      ++totals.errors[std::string(kKindNames[kind]) + ": " + failures_text({{failure_code(result), 1}})];
      return false;
    }
    return true;
  }

  BenchService& service_;
  std::unique_ptr<httplib::SSLClient> client_;
  const std::vector<Enrolled>& devices_;
  std::mt19937 rng_;
  int index_;
  bool enroll_;
  Counters& counters_;
  Enrolled me_;
  std::uint32_t next_id_ = 100;
};

int run(const Options& options) {
  setup_bench_logging(options.log_level);
  BenchDir dir(options.dir);
  BenchService service(dir.path());
  const TokenCosts token_costs = measure_token_costs(service.token());  // before any other thread works
  const int server_threads = options.server_threads > 0 ? options.server_threads : options.connections + 4;
  RunningServer server(service, server_threads);

  // Connect and enroll every client first; every device can then be fetched by any client.
  std::vector<Enrolled> devices(static_cast<std::size_t>(options.connections));
  std::vector<std::unique_ptr<Worker>> workers;
  Counters counters;
  for (int i = 0; i < options.connections; ++i) {
    workers.push_back(std::make_unique<Worker>(service, server.port(), i, devices, options.enroll, counters));
    workers.back()->enroll_self();
    devices[static_cast<std::size_t>(i)] = workers.back()->me();
  }

  std::printf("soak: %d keep-alive connections, %d server threads, %.0f s, data in %s\n", options.connections,
              server_threads, options.seconds, filesystem_of(dir.path()).c_str());
  std::printf("token %s: keeps %.0f bytes of heap per signature, %.0f per key pair made and destroyed\n",
              std::string(pkcs11::to_string(pkcs11::choose_algorithm(service.token().mechanisms()))).c_str(),
              token_costs.per_signature, token_costs.per_key_pair);
  std::printf("%8s %10s %10s %10s %10s %10s %10s %10s %6s\n", "time s", "requests", "VmRSS KiB", "anon KiB",
              "file KiB", "heap used", "heap held", "sqlite KiB", "fds");
  std::vector<Sample> samples;
  const auto begin = Clock::now();
  const std::uint64_t requests_before = counters.requests.load();  // the enrollments and first uploads
  const std::uint64_t signatures_before = counters.prekey_signatures.load();
  const auto sample = [&] {
    samples.push_back(take_sample(std::chrono::duration<double>(Clock::now() - begin).count(),
                                  counters.requests.load() - requests_before,
                                  counters.prekey_signatures.load() - signatures_before + service.log().stats().batches,
                                  counters.key_pairs.load(), service.log().cache_stats()));
    const Sample& s = samples.back();
    std::printf("%8.1f %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64
                " %6d\n",
                s.at, s.requests, s.rss, s.rss_anon, s.rss_file, s.heap_used, s.heap_held, s.sqlite, s.fds);
    std::fflush(stdout);
  };
  sample();

  const auto deadline = begin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
  std::vector<Totals> totals(workers.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < workers.size(); ++i) {
    threads.emplace_back([&, i] {
      while (Clock::now() < deadline) workers[i]->step(totals[i]);
    });
  }
  while (Clock::now() + std::chrono::seconds(15) < deadline) {
    std::this_thread::sleep_until(std::min(deadline, Clock::now() + std::chrono::seconds(15)));
    sample();
  }
  for (auto& thread : threads) thread.join();
  sample();  // the end: every connection still open

  Totals all;
  for (Totals& t : totals) {
    for (int k = 0; k < kKinds; ++k) {
      all.requests[k] += t.requests[k];
      all.latencies_us[k].merge(t.latencies_us[k]);
    }
    for (const auto& [what, n] : t.errors) all.errors[what] += n;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  std::uint64_t requests = 0, errors = 0;
  std::printf("\n%-16s %10s %10s %10s %10s\n", "kind", "requests", "p50 ms", "p99 ms", "max ms");
  for (int k = 0; k < kKinds; ++k) {
    requests += all.requests[k];
    const LatencyHistogram& lat = all.latencies_us[k];
    std::printf("%-16s %10" PRIu64 " %10.2f %10.2f %10.2f\n", kKindNames[k], all.requests[k], lat.quantile(0.5) / 1000,
                lat.quantile(0.99) / 1000, lat.max() / 1000);
  }
  for (const auto& [what, n] : all.errors) {
    errors += n;
    std::printf("error: %s x%" PRIu64 "\n", what.c_str(), n);
  }
  const Sample& first = samples.front();
  const Sample& last = samples.back();
  std::printf("\nrequests %" PRIu64 " in %.1f s (%.0f/s), errors %" PRIu64 "\n", requests, seconds, static_cast<double>(requests) / seconds,
              errors);
  std::printf("VmRSS %" PRIu64 " KiB at start, %" PRIu64 " KiB at end (%+.1f%%); open fds %d at start, %d at end\n",
              first.rss, last.rss, 100.0 * (static_cast<double>(last.rss) - static_cast<double>(first.rss)) / static_cast<double>(first.rss),
              first.fds, last.fds);
  if (samples.size() > 2) {
    // Warm-up (thread arenas, SQLite and SoftHSM caches) happens in the first seconds; what
    // follows shows whether anything keeps growing.
    const Sample& warm = samples[1];
    std::printf("after warm-up (%.0f s): VmRSS %" PRIu64 " KiB, fds %d; to the end: %+.1f%% VmRSS, %+d fds\n", warm.at,
                warm.rss, warm.fds, 100.0 * (static_cast<double>(last.rss) - static_cast<double>(warm.rss)) / static_cast<double>(warm.rss),
                last.fds - warm.fds);
    // "Flat" as a number: the growth over the second half of the run, well after warm-up, per
    // 10,000 requests too (so runs of different lengths and speeds compare).
    const Sample& mid = *std::min_element(samples.begin() + 1, samples.end() - 1, [&](const Sample& a, const Sample& b) {
      return std::abs(a.at - last.at / 2) < std::abs(b.at - last.at / 2);
    });
    const auto mib = [](std::uint64_t to, std::uint64_t from) {
      return (static_cast<double>(to) - static_cast<double>(from)) / 1024.0;
    };
    const double per_10k = 10000.0 / static_cast<double>(std::max<std::uint64_t>(1, last.requests - mid.requests));
    std::printf("second half (%.0f s to %.0f s, %" PRIu64 " requests): VmRSS %" PRIu64 " -> %" PRIu64
                " KiB, %+.2f MB (%+.3f MB per 10k requests); heap used %+.2f MB, heap held %+.2f MB, sqlite %+.2f MB; "
                "fds %+d\n",
                mid.at, last.at, last.requests - mid.requests, mid.rss, last.rss, mib(last.rss, mid.rss),
                mib(last.rss, mid.rss) * per_10k,
                mib(last.heap_used, mid.heap_used), mib(last.heap_held, mid.heap_held), mib(last.sqlite, mid.sqlite),
                last.fds - mid.fds);
    // What SoftHSM keeps for the signatures and key pairs of that half, at the costs measured
    // before the run; the rest of the heap growth is the service's (caches filling up to their
    // bounds, SQLite page caches) and the bench's.
    const std::uint64_t signatures = last.signatures - mid.signatures;
    const std::uint64_t key_pairs = last.key_pairs - mid.key_pairs;
    const double token_mb = (static_cast<double>(signatures) * token_costs.per_signature +
                             static_cast<double>(key_pairs) * token_costs.per_key_pair) / (1024.0 * 1024.0);
    const double rest_mb = mib(last.heap_used, mid.heap_used) - token_mb;
    const double caches_mb = (static_cast<double>(last.log_caches) - static_cast<double>(mid.log_caches)) / (1024.0 * 1024.0);
    std::printf("  of the heap growth, the token's (%" PRIu64 " signatures, %" PRIu64
                " key pairs) about %+.2f MB; the rest %+.2f MB (%+.3f MB per 10k requests), of which the log's "
                "caches %+.2f MB (now %.2f MB, bounded at %.0f MB)\n",
                signatures, key_pairs, token_mb, rest_mb, rest_mb * per_10k, caches_mb,
                static_cast<double>(last.log_caches) / (1024.0 * 1024.0),
                static_cast<double>(keyservice::TransparencyLog::Options{}.entry_cache_bytes +
                                    keyservice::TransparencyLog::Options{}.proof_cache_bytes) / (1024.0 * 1024.0));
  }
  std::printf("token sessions open %zu, log size %" PRIu64 "\n", service.token().pool().stats().open,
              service.log().size());
  return errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  return bench_main(
      "soak", "Mixed traffic for a bounded time: errors, p99 per kind, memory and fds", argc, argv,
      [&](CLI::App& app) {
        app.add_option("--seconds", options.seconds, "how long to run")->check(CLI::Range(0.01, 86400.0))->capture_default_str();
        app.add_option("--connections", options.connections, "keep-alive connections")
            ->check(CLI::Range(1, 4096))
            ->capture_default_str();
        app.add_option("--server-threads", options.server_threads, "worker threads (0: connections + 4)")
            ->check(CLI::Range(0, 4096))
            ->capture_default_str();
        app.add_flag("!--no-enroll", options.enroll, "log reads instead of the enroll and revoke slice");
        app.add_option("--dir", options.dir, "where the run's data goes")->capture_default_str();
        app.add_option("--log-level", options.log_level, "the server's log level")->capture_default_str();
        app.callback([&] {
          if (options.server_threads > 0 && options.server_threads < options.connections) {
            throw CLI::ValidationError("--server-threads",
                                       "must be at least --connections (one worker per keep-alive connection)");
          }
        });
      },
      [&] { return run(options); });
}
