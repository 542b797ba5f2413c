// bench/http_bundles: bundle fetches per second and their latency over keep-alive TLS, against the
// transport limit.
//
// The real server (api::make_server over SqliteDeviceStore, PrekeyService and a TransparencyLog
// on a SoftHSM token made for the run) serves GET /v1/accounts/{a}/devices/{d}/bundle to 1, 8 and
// 32 connections (one client thread and one keep-alive SSLClient per connection, certificate
// verified, a reader device's credential). The transport limit is a bare cpp-httplib SSLServer in
// the same process with the same certificate, the same TLS setup as api/http_server.cc (TLS 1.2
// minimum, ECDHE+AEAD suites), the same listening socket (api::prepare_listen_socket), the same
// worker threads, timeouts and keep-alive limit, and one
// route with the same pattern returning a fixed body as large as the real response. Real and bare
// rounds alternate; the ratio real / bare is what counts (project target: >= 0.5).
//
// Two kinds of bundle (only X25519 one-time prekeys are uploaded, so pq_prekey is always the
// ML-KEM-768 last-resort key):
//   with one-time key   signed + last-resort + an X25519 one-time prekey (claimed by the store in
//                       durable writes of up to 32 per device, concurrent claims committed
//                       together; a refill drops them). Keys are spread over enough devices of one account
//                       (an upload replaces a device's one-time list, at most 100 keys), fetched
//                       round robin, and all refilled to 100 whenever the next round could run
//                       short at the fastest real rate seen (x1.5); a real round that ran out
//                       anyway is run once more; fetches that found none are counted.
//   last-resort only    a device that has uploaded only its signed and last-resort prekeys.
// Then the queueing case: 32 connections against the default 8 worker threads (cpp-httplib keeps
// a keep-alive connection on one worker until it closes, so the other connections wait).
//
//   http_bundles [--seconds S] [--rounds R] [--connections LIST] [--server-threads N]
//                [--queue-threads M] [--bundles KINDS] [--client-nagle] [--dir DIR] [--log-level L]
//
// Defaults: S = 3 s per round, R = 3 rounds of each, LIST = 1,8,32, N = 32 worker threads for the
// main table, M = 8 for the queueing case (0 skips it), KINDS = last-resort,one-time, clients with TCP_NODELAY (--client-nagle:
// without, cpp-httplib's default), data under /tmp, log level warn. The bare server's socket
// options follow api/http_server.cc (TCP_NODELAY). Prints figures; asserts nothing.
#include <cinttypes>

#include "bench/bench_main.h"
#include "bench/bench_server.h"

using namespace escrowless::bench;
namespace api = escrowless::api;

namespace {

constexpr int kOneTimePerDevice = 100;  // an upload's maximum, and what a device holds at most
constexpr const char* kOneTimeMarker = "\"one_time_prekey\":{";

enum class Mode { one_time, last_resort };

struct Options {
  double seconds = 3;
  int rounds = 3;
  std::vector<int> connections = {1, 8, 32};
  int server_threads = 32;
  int queue_threads = 8;
  std::vector<Mode> modes = {Mode::last_resort, Mode::one_time};
  std::string dir = "/tmp";
  std::string log_level = "warn";
};

// The TLS context of api/http_server.cc's setup_tls(), for the bare server.
bool setup_tls(SSL_CTX& ctx, const std::string& cert, const std::string& key) {
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(&ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) return false;
  if (SSL_CTX_use_certificate_chain_file(&ctx, cert.c_str()) != 1) return false;
  return SSL_CTX_use_PrivateKey_file(&ctx, key.c_str(), SSL_FILETYPE_PEM) == 1 && SSL_CTX_check_private_key(&ctx) == 1;
}

// A bare cpp-httplib SSLServer set up as api::HttpServer::create() sets up its own, serving one
// fixed body on the bundle route.
class BareServer {
 public:
  BareServer(const std::string& cert, const std::string& key, int threads)
      : server_([cert, key](SSL_CTX& ctx) { return setup_tls(ctx, cert, key); }) {
    if (!server_.is_valid()) throw std::runtime_error("the bare server cannot set up TLS");
    server_.set_tcp_nodelay(true);  // as api/http_server.cc
    const auto deepen_accept_queue = api::prepare_listen_socket(server_);
    server_.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
    server_.set_payload_max_length(1 << 20);
    server_.set_read_timeout(10, 0);
    server_.set_write_timeout(10, 0);
    server_.set_keep_alive_max_count(1000);
    server_.Get(R"(/v1/accounts/([^/]+)/devices/([^/]+)/bundle)",
                [this](const httplib::Request&, httplib::Response& response) {
                  response.set_content(*body_.load(std::memory_order_acquire), "application/json");
                });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ < 0 || !deepen_accept_queue()) throw std::runtime_error("the bare server cannot listen");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~BareServer() {
    server_.stop();
    thread_.join();
  }
  // Sets the body (of this size, JSON-ish) served from now on.
  void set_body_size(std::size_t size) {
    auto body = std::make_unique<std::string>("{\"bundles\":\"");
    while (body->size() + 2 < size) body->push_back('A');
    *body += "\"}";
    body_.store(body.get(), std::memory_order_release);
    bodies_.push_back(std::move(body));
  }
  int port() const { return port_; }

 private:
  httplib::SSLServer server_;
  std::vector<std::unique_ptr<std::string>> bodies_;  // every body ever served stays alive
  std::atomic<const std::string*> body_{nullptr};
  int port_ = 0;
  std::thread thread_;
};


const char* mode_name(Mode mode) { return mode == Mode::one_time ? "with one-time key" : "last-resort only"; }

// The devices whose bundles are fetched, and the reader that fetches them.
struct Fixture {
  BenchService& service;
  int port;  // the real server, for enrolling and uploading
  Enrolled reader;
  Enrolled last_resort;              // signed + last-resort prekeys only
  std::vector<Enrolled> one_time;    // signed + last-resort + 100 one-time prekeys each, refilled

  Fixture(BenchService& s, int real_port) : service(s), port(real_port) {
    auto admin = make_client(port, service.cert());
    reader = enroll(service, *admin, "reader");
    last_resort = enroll(service, *admin, "alice");
    expect_json(admin->Put(last_resort.path("/prekeys").c_str(), last_resort.auth(), upload_body(0, 0, true),
                           "application/json"),
                200, "last-resort upload");
  }

  std::uint64_t claimed = 0;  // one-time fetches since the last refill (spread evenly by round robin)
  std::uint64_t refills = 0;

  // At least `count` one-time devices, each refilled to 100 one-time keys. A fresh connection
  // each time: the server closes keep-alive connections idle for 5 s.
  void refill(std::size_t count) {
    auto admin = make_client(port, service.cert());
    while (one_time.size() < count) one_time.push_back(enroll(service, *admin, "alice"));
    for (const Enrolled& device : one_time) {
      expect_json(admin->Put(device.path("/prekeys").c_str(), device.auth(),
                             upload_body(kOneTimePerDevice, 1000, true), "application/json"),
                  200, "one-time upload");
    }
    claimed = 0;
    ++refills;
  }

  // Enough one-time keys left for `keys` more fetches (round robin over the devices keeps what
  // is left even), else refill, with at least `devices` devices.
  void ensure(std::size_t devices, std::uint64_t keys) {
    const std::uint64_t left = one_time.size() * kOneTimePerDevice - std::min<std::uint64_t>(
                                                                          claimed, one_time.size() * kOneTimePerDevice);
    if (one_time.size() >= devices && left >= keys) return;
    refill(std::max(devices, one_time.size()));
  }
};

struct Target {
  int port;
  bool real;
};

// `connections` keep-alive clients, each on its own thread, fetching bundles as fast as they can.
// With more connections than server threads, no warm-up (it would wait for a worker itself), so
// the handshakes fall inside the window.
RoundResult fetch_round(Fixture& fixture, const Target& target, Mode mode, int connections, bool warm_up,
                        double seconds) {
  std::atomic<std::uint64_t> next{0};
  return timed_round(connections, seconds, true, [&](int) {
    auto client = std::shared_ptr<httplib::SSLClient>(make_client(target.port, fixture.service.cert()));
    const httplib::Headers auth = fixture.reader.auth();
    const std::string lr_path = fixture.last_resort.path("/bundle");
    std::vector<std::string> ot_paths;
    for (const Enrolled& device : fixture.one_time) ot_paths.push_back(device.path("/bundle"));
    if (warm_up) {  // a last-resort fetch consumes nothing
      const auto result = client->Get(lr_path.c_str(), auth);
      if (!result || result->status != 200) throw std::runtime_error("warm-up fetch failed");
    }
    return [&, client, auth, lr_path, ot_paths]() -> Outcome {
      const std::string& path =
          mode == Mode::last_resort ? lr_path : ot_paths[next.fetch_add(1, std::memory_order_relaxed) % ot_paths.size()];
      const auto result = client->Get(path.c_str(), auth);
      if (!result || result->status != 200) return Outcome::failure(failure_code(result));
      // units: fetches that carried an X25519 one-time key (the real server in one-time mode).
      return {mode == Mode::one_time && target.real && result->body.find(kOneTimeMarker) != std::string::npos ? 1u
                                                                                                              : 0u};
    };
  });
}

std::size_t sample_size(Fixture& fixture, Mode mode) {
  auto client = make_client(fixture.port, fixture.service.cert());
  const Enrolled& device = mode == Mode::last_resort ? fixture.last_resort : fixture.one_time.front();
  const auto result = client->Get(device.path("/bundle").c_str(), fixture.reader.auth());
  if (!result || result->status != 200) throw std::runtime_error("sample fetch failed");
  const bool has_one_time = result->body.find(kOneTimeMarker) != std::string::npos;
  if (has_one_time != (mode == Mode::one_time)) throw std::runtime_error("the sample bundle is not of its kind");
  return result->body.size();
}

struct Row {
  RoundResult real, bare;
};

void print_header() {
  std::printf("%-18s %5s %12s %12s %7s %9s %9s %9s %9s  %s\n", "bundle", "conns", "real fetch/s", "bare fetch/s",
              "ratio", "real p50", "real p99", "bare p50", "bare p99", "notes");
}

void print_row(Mode mode, int connections, Row& row) {
  const double real_rate = static_cast<double>(row.real.ops) / row.real.seconds;
  const double bare_rate = static_cast<double>(row.bare.ops) / row.bare.seconds;
  std::string notes;
  if (mode == Mode::one_time) {
    notes += std::to_string(row.real.ops - row.real.units) + " of " + std::to_string(row.real.ops) +
             " real fetches without one-time key";
  }
  if (!row.real.failures.empty() || !row.bare.failures.empty()) {
    if (!notes.empty()) notes += "; ";
    notes += "failed: real " + failures_text(row.real.failures) + ", bare " + failures_text(row.bare.failures);
  }
  if (notes.empty()) notes = "-";
  std::printf("%-18s %5d %12.0f %12.0f %7.3f %8.2fms %8.2fms %8.2fms %8.2fms  %s\n", mode_name(mode), connections,
              real_rate, bare_rate, real_rate / bare_rate, quantile(row.real.latencies_us, 0.5) / 1000,
              quantile(row.real.latencies_us, 0.99) / 1000, quantile(row.bare.latencies_us, 0.5) / 1000,
              quantile(row.bare.latencies_us, 0.99) / 1000, notes.c_str());
  std::fflush(stdout);
}

std::string spread(std::vector<std::uint64_t> per_connection, int rounds) {
  if (per_connection.empty()) return "-";
  std::sort(per_connection.begin(), per_connection.end());
  const auto zero = std::count(per_connection.begin(), per_connection.end(), 0u);
  return "per connection per round: min " + std::to_string(per_connection.front()) + ", median " +
         std::to_string(per_connection[per_connection.size() / 2]) + ", max " + std::to_string(per_connection.back()) +
         "; " + std::to_string(zero) + " of " + std::to_string(per_connection.size()) +
         " connection-rounds got nothing (" + std::to_string(rounds) + " rounds)";
}

int run(const Options& options) {
  setup_bench_logging(options.log_level);
  BenchDir dir(options.dir);
  BenchService service(dir.path());
  RunningServer real(service, options.server_threads);
  BareServer bare(service.cert(), service.key(), options.server_threads);
  Fixture fixture(service, real.port());
  fixture.refill(1);
  const std::size_t lr_size = sample_size(fixture, Mode::last_resort);
  const std::size_t ot_size = sample_size(fixture, Mode::one_time);

  std::printf("http_bundles: token SoftHSM %s; %u CPUs; data on %s: %s (before)\n",
              service.token().info().serial.c_str(), std::thread::hardware_concurrency(),
              filesystem_of(dir.path()).c_str(), sync_text(probe_fdatasync(dir.path())).c_str());
  std::printf("GET /v1/accounts/alice/devices/{d}/bundle with a reader device's credential; one client thread and\n"
              "one keep-alive SSLClient (certificate verified) per connection; %d round(s) of %.1f s per figure,\n"
              "real and bare alternating; %d worker threads in both servers; clients %s, both servers TCP_NODELAY\n",
              options.rounds, options.seconds, options.server_threads,
              client_nodelay() ? "TCP_NODELAY" : "Nagle (no TCP_NODELAY)");
  std::printf("response bodies: with one-time key %zu bytes, last-resort only %zu bytes (the bare server sends as many)\n\n",
              ot_size, lr_size);
  print_header();

  double supply_rate = 100;  // fetches/s to stock one-time keys for: the fastest real rate seen
  for (const int connections : options.connections) {
    const bool warm_up = connections <= options.server_threads;
    for (const Mode mode : options.modes) {
      bare.set_body_size(mode == Mode::one_time ? ot_size : lr_size);
      Row row;
      int reruns = 0;
      for (int round = 0; round < options.rounds; ++round) {
        accumulate(row.bare, fetch_round(fixture, {bare.port(), false}, mode, connections, warm_up, options.seconds));
        RoundResult real_round;
        for (int attempt = 0;; ++attempt) {
          if (mode == Mode::one_time) {
            // Enough keys for a round at the fastest real rate seen so far, plus a margin.
            const double keys = supply_rate * options.seconds * 1.5;
            fixture.ensure(std::min<std::size_t>(static_cast<std::size_t>(keys / kOneTimePerDevice) + 1, 2000),
                           static_cast<std::uint64_t>(keys));
          }
          real_round = fetch_round(fixture, {real.port(), true}, mode, connections, warm_up, options.seconds);
          supply_rate = std::max(supply_rate, static_cast<double>(real_round.ops) / real_round.seconds);
          if (mode != Mode::one_time) break;
          // Every fetch sent may have claimed a key, also those dropped at the end of the window.
          fixture.claimed += real_round.ops + static_cast<std::uint64_t>(connections);
          for (const auto& [code, n] : real_round.failures) fixture.claimed += n;
          // A round that ran out of keys is run once more, stocked for the rate it reached.
          if (real_round.units == real_round.ops || attempt == 1) break;
          ++reruns;
        }
        accumulate(row.real, std::move(real_round));
      }
      print_row(mode, connections, row);
      if (reruns > 0) std::printf("  (%d real round(s) above ran out of one-time keys and were run again)\n", reruns);
    }
  }
  std::printf("(one-time keys: %zu devices of 100 each, refilled %" PRIu64 " times, whenever a round could run short)\n",
              fixture.one_time.size(), fixture.refills);

  if (options.queue_threads > 0) {
    const int connections = *std::max_element(options.connections.begin(), options.connections.end());
    std::printf("\nqueueing: %d connections, %d worker threads in both servers (keyserviced's default is 8), "
                "last-resort only, no warm-up\n",
                connections, options.queue_threads);
    RunningServer real_q(service, options.queue_threads);
    BareServer bare_q(service.cert(), service.key(), options.queue_threads);
    bare_q.set_body_size(lr_size);
    Row row;
    for (int round = 0; round < options.rounds; ++round) {
      accumulate(row.bare, fetch_round(fixture, {bare_q.port(), false}, Mode::last_resort, connections,
                                       connections <= options.queue_threads, options.seconds));
      accumulate(row.real, fetch_round(fixture, {real_q.port(), true}, Mode::last_resort, connections,
                                       connections <= options.queue_threads, options.seconds));
    }
    print_header();
    std::vector<double> real_lat = row.real.latencies_us, bare_lat = row.bare.latencies_us;
    print_row(Mode::last_resort, connections, row);
    std::printf("  real: max latency %.0f ms; %s\n", quantile(real_lat, 1.0) / 1000,
                spread(row.real.ops_per_thread, options.rounds).c_str());
    std::printf("  bare: max latency %.0f ms; %s\n", quantile(bare_lat, 1.0) / 1000,
                spread(row.bare.ops_per_thread, options.rounds).c_str());
  }
  std::printf("\ndisk: %s (after)\n", sync_text(probe_fdatasync(dir.path())).c_str());
  std::printf("ratio = real fetches/s / bare fetches/s (target >= 0.5); latencies per fetch, client side\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  return bench_main(
      "http_bundles", "Bundle fetches per second over keep-alive TLS against a bare TLS server", argc, argv,
      [&](CLI::App& app) {
        app.add_option("--seconds", options.seconds, "seconds per round")->check(CLI::Range(0.01, 86400.0))->capture_default_str();
        app.add_option("--rounds", options.rounds, "rounds of each figure")->check(CLI::Range(1, 1000))->capture_default_str();
        app.add_option("--connections", options.connections, "connection counts, comma-separated")
            ->delimiter(',')
            ->check(CLI::Range(1, 4096));
        app.add_option("--server-threads", options.server_threads, "worker threads of both servers")
            ->check(CLI::Range(1, 4096))
            ->capture_default_str();
        app.add_option("--queue-threads", options.queue_threads, "worker threads for the queueing case (0 skips it)")
            ->check(CLI::Range(0, 4096))
            ->capture_default_str();
        app.add_option("--bundles", options.modes, "kinds of bundle, comma-separated: last-resort, one-time")
            ->delimiter(',')
            ->transform(CLI::CheckedTransformer(
                std::map<std::string, Mode>{{"last-resort", Mode::last_resort}, {"one-time", Mode::one_time}}));
        app.add_flag_callback("--client-nagle", [] { client_nodelay() = false; }, "clients without TCP_NODELAY");
        app.add_option("--dir", options.dir, "where the run's data goes")->capture_default_str();
        app.add_option("--log-level", options.log_level, "the servers' log level")->capture_default_str();
      },
      [&] { return run(options); });
}
