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
// 0), p50/p99 latency per kind, VmRSS and open fds of this process every 15 s, at start and end.
#include <dirent.h>
#include <signal.h>

#include <array>
#include <cinttypes>
#include <fstream>
#include <random>

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

std::uint64_t rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
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

struct Sample {
  double at = 0;
  std::uint64_t requests = 0;
  std::uint64_t rss = 0;
  int fds = 0;
};

struct Totals {
  std::array<std::uint64_t, kKinds> requests{};
  std::array<std::vector<double>, kKinds> latencies_us;
  std::map<std::string, std::uint64_t> errors;  // "kind: code"
};

class Worker {
 public:
  Worker(BenchService& service, int port, int index, const std::vector<Enrolled>& devices, bool enroll)
      : service_(service), client_(make_client(port, service.cert())), devices_(devices), rng_(index * 7919 + 1),
        index_(index), enroll_(enroll) {}

  Enrolled& me() { return me_; }
  void enroll_self() {
    me_ = enroll(service_, *client_, "soak" + std::to_string(index_));
    expect_json(client_->Put(me_.path("/prekeys").c_str(), me_.auth(), upload_body(50, next_id_, true), "application/json"),
                200, "first upload");
    next_id_ += 50;
  }

  // One step of the mix.
  void step(Totals& totals, std::atomic<std::uint64_t>& done) {
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
      timed(totals, kUpload, 200,
            [&] { return client_->Put(me_.path("/prekeys").c_str(), me_.auth(), body, "application/json"); });
    } else {
      std::string device;
      const std::string path = "/v1/accounts/soak" + std::to_string(index_) + "/devices";
      timed(totals, kEnroll, 201, [&] {
        auto result = client_->Post(path.c_str(), service_.admin_headers(), "", "application/json");
        if (result && result->status == 201) device = json::parse(result->body).at("device_id");
        return result;
      });
      if (!device.empty()) {
        timed(totals, kRevoke, 200,
              [&] { return client_->Delete((path + "/" + device).c_str(), service_.admin_headers()); });
      }
    }
    done.fetch_add(1, std::memory_order_relaxed);
  }

 private:
  template <class Call>
  void timed(Totals& totals, Kind kind, int expected, Call call) {
    const auto begin = Clock::now();
    const httplib::Result result = call();
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - begin).count();
    ++totals.requests[kind];
    totals.latencies_us[kind].push_back(us);
    if (!result || result->status != expected) {
      ++totals.errors[std::string(kKindNames[kind]) + ": " + failures_text({{failure_code(result), 1}})];
    }
  }

  BenchService& service_;
  std::unique_ptr<httplib::SSLClient> client_;
  const std::vector<Enrolled>& devices_;
  std::mt19937 rng_;
  int index_;
  bool enroll_;
  Enrolled me_;
  std::uint32_t next_id_ = 100;
};

int run(const Options& options) {
  setup_bench_logging(options.log_level);
  BenchDir dir(options.dir);
  BenchService service(dir.path());
  const int server_threads = options.server_threads > 0 ? options.server_threads : options.connections + 4;
  RunningServer server(service, server_threads);

  // Connect and enroll every client first; every device can then be fetched by any client.
  std::vector<Enrolled> devices(static_cast<std::size_t>(options.connections));
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < options.connections; ++i) {
    workers.push_back(std::make_unique<Worker>(service, server.port(), i, devices, options.enroll));
    workers.back()->enroll_self();
    devices[static_cast<std::size_t>(i)] = workers.back()->me();
  }

  std::printf("soak: %d keep-alive connections, %d server threads, %.0f s, data in %s\n", options.connections,
              server_threads, options.seconds, filesystem_of(dir.path()).c_str());
  std::printf("%8s %10s %10s %8s\n", "time s", "requests", "VmRSS KiB", "fds");
  std::vector<Sample> samples;
  const auto begin = Clock::now();
  std::atomic<std::uint64_t> done{0};
  const auto sample = [&] {
    samples.push_back({std::chrono::duration<double>(Clock::now() - begin).count(), done.load(), rss_kib(), open_fds()});
    const Sample& s = samples.back();
    std::printf("%8.1f %10" PRIu64 " %10" PRIu64 " %8d\n", s.at, s.requests, s.rss, s.fds);
    std::fflush(stdout);
  };
  sample();

  const auto deadline = begin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
  std::vector<Totals> totals(workers.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < workers.size(); ++i) {
    threads.emplace_back([&, i] {
      while (Clock::now() < deadline) workers[i]->step(totals[i], done);
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
      all.latencies_us[k].insert(all.latencies_us[k].end(), t.latencies_us[k].begin(), t.latencies_us[k].end());
    }
    for (const auto& [what, n] : t.errors) all.errors[what] += n;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  std::uint64_t requests = 0, errors = 0;
  std::printf("\n%-16s %10s %10s %10s %10s\n", "kind", "requests", "p50 ms", "p99 ms", "max ms");
  for (int k = 0; k < kKinds; ++k) {
    requests += all.requests[k];
    auto& lat = all.latencies_us[k];
    const double max = lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end());
    std::printf("%-16s %10" PRIu64 " %10.2f %10.2f %10.2f\n", kKindNames[k], all.requests[k], quantile(lat, 0.5) / 1000,
                quantile(lat, 0.99) / 1000, max / 1000);
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
  }
  std::printf("token sessions open %zu, log size %" PRIu64 "\n", service.token().pool().stats().open,
              service.log().size());
  return errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      const bool has_value = i + 1 < argc;
      if (arg == "--seconds" && has_value) {
        options.seconds = std::atof(argv[++i]);
      } else if (arg == "--connections" && has_value) {
        options.connections = std::atoi(argv[++i]);
      } else if (arg == "--server-threads" && has_value) {
        options.server_threads = std::atoi(argv[++i]);
      } else if (arg == "--dir" && has_value) {
        options.dir = argv[++i];
      } else if (arg == "--log-level" && has_value) {
        options.log_level = argv[++i];
      } else if (arg == "--no-enroll") {
        options.enroll = false;
      } else {
        throw std::invalid_argument("unknown argument " + arg);
      }
    }
    if (options.seconds <= 0 || options.connections <= 0 || options.server_threads < 0) {
      throw std::invalid_argument("--seconds and --connections must be positive");
    }
    if (options.server_threads > 0 && options.server_threads < options.connections) {
      throw std::invalid_argument("--server-threads must be at least --connections (one worker per keep-alive connection)");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr,
                 "soak: %s\nusage: soak [--seconds S] [--connections N] [--server-threads T] [--no-enroll] [--dir DIR] "
                 "[--log-level L]\n",
                 e.what());
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  try {
    return run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "soak: %s\n", e.what());
    return 1;
  }
}
