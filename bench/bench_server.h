// Shared by the HTTP benches (http_prekeys, http_bundles): the real keyserviced surface in process
// (api::make_server over SqliteDeviceStore, Devices, PrekeyService and a TransparencyLog on a
// SoftHSM token made for the run in a mkdtemp folder), clients that verify its self-signed
// certificate over keep-alive TLS, and a timed-round harness that alternates measurements.
// Everything here prints or throws; nothing asserts a speed.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "api/logging.h"
#include "api/routes.h"
#include "api/service.h"
#include "audit/encoding.h"
#include "keyservice/credentials.h"
#include "keyservice/devices.h"
#include "keyservice/log/note_signer.h"
#include "keyservice/log/transparency_log.h"
#include "keyservice/prekey_service.h"
#include "keyservice/service_config.h"
#include "keyservice/store/sqlite_device_store.h"
#include "keyservice/tls_cert.h"
#include "pkcs11/keys.h"
#include "pkcs11/softhsm.h"
#include "pkcs11/token.h"

namespace escrowless::bench {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// A private folder from mkdtemp under `parent`, removed by the destructor.
class BenchDir {
 public:
  explicit BenchDir(const std::string& parent) {
    std::string pattern = parent + "/escrowless-bench-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp under " + parent + " failed");
    path_ = pattern;
  }
  ~BenchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  BenchDir(const BenchDir&) = delete;
  BenchDir& operator=(const BenchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The log level for the whole process: "warn" keeps the per-request info lines of
// HttpServer::wrap out of the figures' way (keyserviced's default is info, to stderr).
inline void setup_bench_logging(const std::string& level) { api::setup_logging("text", level); }

// Everything keyserviced holds, made fresh under `dir`: a SoftHSM token, a log whose key is in
// it, a devices.db, a localhost certificate and an admin credential. Servers made by serve()
// share it.
class BenchService {
 public:
  explicit BenchService(const std::filesystem::path& dir) : admin_(keyservice::new_credential()) {
    const auto made = pkcs11::provision_softhsm_token(dir / "softhsm", "bench", pkcs11::kDefaultModulePath);
    token_ = pkcs11::Token::open(made.uri);
    const pkcs11::Algorithm algorithm = pkcs11::choose_algorithm(token_->mechanisms());
    const pkcs11::KeyPair log_key =
        pkcs11::generate_key_pair(token_->pool(), algorithm, pkcs11::random_key_id(), "log-key");
    const std::string db = (dir / "log.db").string();
    {
      keyservice::TokenNoteSigner signer(token_->pool(), log_key, "bench.escrowless.test/log");
      keyservice::TransparencyLog::create(db, "bench.escrowless.test/log", signer, log_key.id);
    }
    log_ = keyservice::TransparencyLog::open(db, token_->pool(), {});
    cert_ = (dir / "cert.pem").string();
    key_ = (dir / "key.pem").string();
    keyservice::write_localhost_certificate(cert_, key_);
    config_.data_dir = dir.string();
    store_ = keyservice::SqliteDeviceStore::open((dir / "devices.db").string(), true);
    device_keys_ = std::make_unique<keyservice::DeviceKeys>(*token_);
    devices_ = std::make_unique<keyservice::Devices>(*token_, *log_, *store_, *device_keys_);
    prekeys_ = std::make_unique<keyservice::PrekeyService>(*token_, *log_, *store_, *device_keys_);
    service_ = std::make_unique<api::Service>(api::Service{*log_, *token_, *devices_, *prekeys_, config_,
                                                           keyservice::credential_hash(admin_.bytes()), metrics_, nullptr});
  }
  ~BenchService() { log_->stop(); }
  BenchService(const BenchService&) = delete;
  BenchService& operator=(const BenchService&) = delete;

  pkcs11::Token& token() { return *token_; }
  keyservice::TransparencyLog& log() { return *log_; }
  keyservice::SqliteDeviceStore& store() { return *store_; }
  keyservice::PrekeyService& prekeys() { return *prekeys_; }
  api::Service& service() { return *service_; }
  const std::string& cert() const { return cert_; }
  const std::string& key() const { return key_; }
  httplib::Headers admin_headers() const {
    const auto bytes = admin_.bytes();
    return {{"Authorization", "Bearer " + std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size())}};
  }

 private:
  pkcs11::Secret admin_;
  std::unique_ptr<pkcs11::Token> token_;
  std::unique_ptr<keyservice::TransparencyLog> log_;
  std::string cert_, key_;
  keyservice::ServiceConfig config_;
  std::unique_ptr<keyservice::SqliteDeviceStore> store_;
  std::unique_ptr<keyservice::DeviceKeys> device_keys_;
  std::unique_ptr<keyservice::Devices> devices_;
  std::unique_ptr<keyservice::PrekeyService> prekeys_;
  api::Metrics metrics_;
  std::unique_ptr<api::Service> service_;
};

// An api::HttpServer listening on 127.0.0.1 (ephemeral port) in a thread of its own until
// destroyed.
class RunningServer {
 public:
  RunningServer(BenchService& service, int threads) {
    server_ = api::make_server(service.service(), {service.cert(), service.key(), threads, 1 << 20});
    port_ = server_->bind("127.0.0.1", 0);
    thread_ = std::thread([this] { server_->run(); });
    server_->wait_until_running();
  }
  ~RunningServer() {
    server_->stop();
    thread_.join();
  }
  RunningServer(const RunningServer&) = delete;
  RunningServer& operator=(const RunningServer&) = delete;
  int port() const { return port_; }

 private:
  std::unique_ptr<api::HttpServer> server_;
  int port_ = 0;
  std::thread thread_;
};

// Whether bench clients set TCP_NODELAY. On by default: curl, browsers, OkHttp and Go's net/http
// all set it; cpp-httplib's client does not, and then every request with a body (headers and body
// go out as two TLS records) waits for the server's delayed ACK (about 40 ms) before its body.
inline bool& client_nodelay() {
  static bool on = true;
  return on;
}

// A keep-alive TLS client that verifies the server's certificate against `cert`.
inline std::unique_ptr<httplib::SSLClient> make_client(int port, const std::string& cert) {
  auto client = std::make_unique<httplib::SSLClient>("127.0.0.1", port);
  client->set_ca_cert_path(cert.c_str());
  client->enable_server_certificate_verification(true);
  client->set_keep_alive(true);
  client->set_tcp_nodelay(client_nodelay());
  client->set_connection_timeout(10, 0);
  client->set_read_timeout(120, 0);
  client->set_write_timeout(120, 0);
  return client;
}

inline json expect_json(const httplib::Result& result, int status, const char* what) {
  if (!result) throw std::runtime_error(std::string(what) + ": " + httplib::to_string(result.error()));
  if (result->status != status) {
    throw std::runtime_error(std::string(what) + ": HTTP " + std::to_string(result->status) + ": " +
                             result->body.substr(0, 300));
  }
  return json::parse(result->body);
}

struct Enrolled {
  std::string account, device, credential;
  httplib::Headers auth() const { return {{"Authorization", "Bearer " + credential}}; }
  std::string path(const std::string& rest) const {
    return "/v1/accounts/" + account + "/devices/" + device + rest;
  }
};

// POST /v1/accounts/{account}/devices with the admin credential.
inline Enrolled enroll(BenchService& service, httplib::SSLClient& client, const std::string& account) {
  const json made = expect_json(
      client.Post(("/v1/accounts/" + account + "/devices").c_str(), service.admin_headers(), "", "application/json"),
      201, "enroll");
  return {account, made.at("device_id"), made.at("credential")};
}

inline std::vector<std::uint8_t> random_bytes(std::size_t n) {
  std::vector<std::uint8_t> bytes(n);
  if (RAND_bytes(bytes.data(), static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes failed");
  return bytes;
}

inline json prekey_json(std::uint32_t key_id, std::size_t size) {
  return {{"key_id", key_id}, {"public_key", audit::base64_encode(random_bytes(size))}};
}

// An upload body: `one_time` X25519 one-time prekeys (ids first_id...), and with `with_current`
// a signed prekey and an ML-KEM-768 last-resort prekey.
inline std::string upload_body(int one_time, std::uint32_t first_id, bool with_current) {
  json body = json::object();
  if (with_current) {
    body["signed_prekey"] = prekey_json(1, 32);
    body["pq_last_resort_prekey"] = prekey_json(2, 1184);
  }
  for (int i = 0; i < one_time; ++i) {
    body["one_time_prekeys"].push_back(prekey_json(first_id + static_cast<std::uint32_t>(i), 32));
  }
  return body.dump();
}

// ---- timed rounds -------------------------------------------------------------------------

struct RoundResult {
  double seconds = 0;              // the measured window
  std::uint64_t ops = 0;           // operations completed inside the window
  std::uint64_t units = 0;         // what the operations did (e.g. prekeys signed)
  std::map<long, std::uint64_t> failures;  // by code (HTTP status, or negative httplib::Error)
  std::vector<double> latencies_us;        // per operation, when recorded
  std::vector<std::uint64_t> ops_per_thread;
};

// One operation's outcome: units done (0 if none), or a failure code.
struct Outcome {
  std::uint64_t units = 0;
  bool ok = true;
  long code = 0;
  static Outcome failure(long code) { return {0, false, code}; }
};

// Runs `threads` threads; each first calls make_worker(t) (connects, warms up), then all start
// together and call the worker until the window of `seconds` ends. Only operations that complete
// inside the window count; one in flight at the end is dropped. Throws if any thread failed.
template <class MakeWorker>
RoundResult timed_round(int threads, double seconds, bool record_latency, MakeWorker make_worker) {
  RoundResult result;
  result.seconds = seconds;
  std::mutex mutex;
  Clock::time_point deadline;
  std::barrier start(threads, [&]() noexcept {
    deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  });
  std::vector<std::thread> pool;
  std::vector<std::string> errors;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::uint64_t ops = 0, units = 0;
      std::map<long, std::uint64_t> failures;
      std::vector<double> latencies;
      std::optional<decltype(make_worker(t))> made;
      try {
        made.emplace(make_worker(t));
      } catch (const std::exception& e) {
        start.arrive_and_drop();  // the others still start (and their figures are discarded)
        std::lock_guard lock(mutex);
        errors.push_back(e.what());
        return;
      }
      auto& worker = *made;
      start.arrive_and_wait();
      try {
        for (;;) {
          const auto begin = Clock::now();
          if (begin >= deadline) break;
          const Outcome outcome = worker();
          const auto end = Clock::now();
          if (end > deadline) break;
          if (!outcome.ok) {
            ++failures[outcome.code];
            continue;
          }
          ++ops;
          units += outcome.units;
          if (record_latency) latencies.push_back(std::chrono::duration<double, std::micro>(end - begin).count());
        }
      } catch (const std::exception& e) {
        std::lock_guard lock(mutex);
        errors.push_back(e.what());
        return;
      }
      std::lock_guard lock(mutex);
      result.ops += ops;
      result.units += units;
      for (const auto& [code, n] : failures) result.failures[code] += n;
      result.latencies_us.insert(result.latencies_us.end(), latencies.begin(), latencies.end());
      result.ops_per_thread.push_back(ops);
    });
  }
  for (auto& thread : pool) thread.join();
  if (!errors.empty()) throw std::runtime_error("a bench thread failed: " + errors.front());
  return result;
}

// Sums rounds of the same measurement.
inline void accumulate(RoundResult& total, RoundResult round) {
  total.seconds += round.seconds;
  total.ops += round.ops;
  total.units += round.units;
  for (const auto& [code, n] : round.failures) total.failures[code] += n;
  total.latencies_us.insert(total.latencies_us.end(), round.latencies_us.begin(), round.latencies_us.end());
  total.ops_per_thread.insert(total.ops_per_thread.end(), round.ops_per_thread.begin(), round.ops_per_thread.end());
}

// The q-quantile (0..1) of the values (latencies in microseconds, or any sample); 0 when empty.
inline double quantile(std::vector<double>& values, double q) {
  if (values.empty()) return 0;
  const auto at = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(at), values.end());
  return values[at];
}

// "none", or "409 x12, 503 x1" (negative codes are httplib::Error values).
inline std::string failures_text(const std::map<long, std::uint64_t>& failures) {
  if (failures.empty()) return "none";
  std::string text;
  for (const auto& [code, n] : failures) {
    if (!text.empty()) text += ", ";
    text += (code < 0 ? httplib::to_string(static_cast<httplib::Error>(-code)) : std::to_string(code)) + " x" +
            std::to_string(n);
  }
  return text;
}

// An HTTP result as an Outcome failure code: the status, or -(httplib::Error).
inline long failure_code(const httplib::Result& result) {
  return result ? static_cast<long>(result->status) : -static_cast<long>(result.error());
}

// The filesystem type of `path` (from /proc/mounts, longest matching mount point), for the header.
inline std::string filesystem_of(const std::filesystem::path& path) {
  std::FILE* mounts = std::fopen("/proc/mounts", "r");
  if (!mounts) return "?";
  const std::string target = std::filesystem::weakly_canonical(path).string();
  std::string best_type = "?";
  std::size_t best = 0;
  char device[512], mount_point[512], type[64];
  while (std::fscanf(mounts, "%511s %511s %63s %*[^\n]", device, mount_point, type) == 3) {
    const std::string mp = mount_point;
    const bool under = target == mp || (target.starts_with(mp) && (mp == "/" || target[mp.size()] == '/'));
    if (under && mp.size() >= best) {
      best = mp.size();
      best_type = std::string(type) + " (" + device + " on " + mp + ")";
    }
  }
  std::fclose(mounts);
  return best_type;
}

// The disk under `dir` right now: median and 99th percentile of `n` fdatasync() calls, each after
// appending 4 KiB to a scratch file (what a SQLite WAL commit with synchronous=FULL waits for).
// Printed beside the figures: on a shared machine it varies by an order of magnitude.
struct SyncProbe {
  double p50_ms = 0, p99_ms = 0;
};
inline SyncProbe probe_fdatasync(const std::filesystem::path& dir, int n = 100) {
  const std::string path = (dir / "fsync-probe").string();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return {};
  std::vector<char> block(4096, 'x');
  std::vector<double> times;
  for (int i = 0; i < n; ++i) {
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size())) break;
    const auto start = Clock::now();
    if (::fdatasync(fd) != 0) break;
    times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  ::close(fd);
  ::unlink(path.c_str());
  SyncProbe probe;
  probe.p50_ms = quantile(times, 0.5);
  probe.p99_ms = quantile(times, 0.99);
  return probe;
}

inline std::string sync_text(const SyncProbe& probe) {
  char text[96];
  std::snprintf(text, sizeof text, "fdatasync p50 %.2f ms, p99 %.2f ms", probe.p50_ms, probe.p99_ms);
  return text;
}

}  // namespace escrowless::bench
