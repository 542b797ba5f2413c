// bench/http_prekeys: one-time prekey signing end to end over HTTPS against a raw C_Sign loop.
//
// The real server (api::make_server over SqliteDeviceStore, Devices, PrekeyService and a
// TransparencyLog on a SoftHSM token made for the run) listens on 127.0.0.1; one device is
// enrolled over HTTPS, then client threads (one keep-alive SSLClient each, certificate verified)
// upload 100 one-time X25519 prekeys per PUT /v1/accounts/{a}/devices/{d}/prekeys for a bounded
// time. The baseline is C_SignInit + C_Sign in a loop on the same token with that device's
// identity key (found by its CKA_ID from the store), over a message of the size the service
// signs for each of those prekeys (audit::prekey_signature_message), one session per thread.
// Between the two, "pool" signs the same message with pkcs11::sign through the token's session
// pool (what the service calls per prekey), and "domain" calls PrekeyService::upload() directly
// (no HTTP, no TLS, no JSON: signing + logging + storing), so the gap splits into pool, domain
// and transport. Raw, pool, domain and HTTPS rounds alternate, so machine noise hits all alike;
// the ratio HTTPS / raw is what counts (project target: >= 0.8).
//
//   http_prekeys [--seconds S] [--rounds R] [--threads LIST] [--server-threads N]
//                [--device-per-thread] [--no-domain] [--client-nagle] [--dir DIR] [--log-level L]
//
// Defaults: S = 5 s per round, R = 3 rounds of each, LIST = 1,2 client threads, N = 8 (the
// keyserviced default), every client thread uploads for the same device, clients with
// TCP_NODELAY (--client-nagle: without, cpp-httplib's default), data under /tmp, log level warn.
// Prints figures; asserts nothing.
#include <cinttypes>
#include <cstring>

#include <openssl/evp.h>

#include "audit/prekey.h"
#include "bench/bench_main.h"
#include "bench/bench_server.h"
#include "keyservice/error.h"
#include "pkcs11/error.h"
#include "pkcs11/session.h"

namespace p11 = escrowless::pkcs11;
namespace audit = escrowless::audit;
namespace ks = escrowless::keyservice;
using namespace escrowless::bench;

namespace {

constexpr int kBatch = 100;         // one-time prekeys per upload (the protocol's maximum)
constexpr int kBodiesPerThread = 4;  // distinct upload bodies each client thread cycles through

struct Options {
  double seconds = 5;
  int rounds = 3;
  std::vector<int> threads = {1, 2};
  int server_threads = 8;
  bool device_per_thread = false;
  bool domain = true;
  std::string dir = "/tmp";
  std::string log_level = "warn";
};

// The baseline: a session of its own per thread, the input prepared once, nothing but Cryptoki.
RoundResult raw_round(p11::Token& token, const p11::KeyPair& key, int threads, double seconds,
                      const std::vector<std::uint8_t>& input) {
  const bool ed25519 = key.public_key.algorithm == p11::Algorithm::ed25519;
  return timed_round(threads, seconds, false, [&](int) {
    auto session = std::make_shared<p11::Session>(p11::Session::open(token.module(), token.info().slot_id));
    return [&, session]() -> Outcome {
      CK_MECHANISM mechanism{ed25519 ? CKM_EDDSA : CKM_ECDSA, nullptr, 0};
      std::uint8_t signature[64];
      CK_ULONG size = sizeof signature;
      CK_FUNCTION_LIST* fn = session->fn();
      p11::check(fn->C_SignInit(session->handle(), &mechanism, key.private_handle()), "C_SignInit");
      p11::check(fn->C_Sign(session->handle(), const_cast<std::uint8_t*>(input.data()), input.size(), signature,
                            &size),
                 "C_Sign");
      return {1};
    };
  });
}

// pkcs11::sign through the token's session pool (what PrekeyService calls), same key and message.
RoundResult pool_round(p11::Token& token, const p11::KeyPair& key, int threads, double seconds,
                       const std::vector<std::uint8_t>& message) {
  return timed_round(threads, seconds, false, [&](int) {
    return [&]() -> Outcome {
      (void)p11::sign(token.pool(), key, message);
      return {1};
    };
  });
}

ks::PrekeyUploadRequest domain_request() {
  ks::PrekeyUploadRequest request;
  request.one_time_prekeys.emplace();
  for (int i = 0; i < kBatch; ++i) {
    request.one_time_prekeys->push_back({static_cast<std::uint32_t>(1000 + i), random_bytes(32)});
  }
  return request;
}

// PrekeyService::upload() called directly: the signing, the log append and the store write.
RoundResult domain_round(BenchService& service, const std::vector<Enrolled>& devices, int threads, double seconds) {
  return timed_round(threads, seconds, true, [&](int t) {
    const Enrolled& device = devices[static_cast<std::size_t>(t) % devices.size()];
    auto request = std::make_shared<ks::PrekeyUploadRequest>(domain_request());
    return [&service, &device, request]() -> Outcome {
      try {
        const ks::SignedUpload done = service.prekeys().upload(device.account, device.device, *request);
        return {done.one_time_prekeys.size()};
      } catch (const ks::Error& e) {
        return Outcome::failure(e.kind() == ks::ErrorKind::conflict ? 409 : 500);
      }
    };
  });
}

// PUT .../prekeys over HTTPS, one keep-alive client per thread.
RoundResult http_round(int port, const std::string& cert, const std::vector<Enrolled>& devices, int threads,
                       double seconds) {
  return timed_round(threads, seconds, true, [&](int t) {
    struct Worker {
      std::unique_ptr<httplib::SSLClient> client;
      std::vector<std::string> bodies;
      std::string path;
      httplib::Headers auth;
      std::size_t next = 0;
    };
    const Enrolled& device = devices[static_cast<std::size_t>(t) % devices.size()];
    auto worker = std::make_shared<Worker>();
    worker->client = make_client(port, cert);
    for (int i = 0; i < kBodiesPerThread; ++i) worker->bodies.push_back(upload_body(kBatch, 1000, false));
    worker->path = device.path("/prekeys");
    worker->auth = device.auth();
    // Connect (TLS handshake) outside the window: a cheap authenticated GET.
    expect_json(worker->client->Get(device.path("/prekeys/count").c_str(), worker->auth), 200, "warm-up");
    return [worker]() -> Outcome {
      const std::string& body = worker->bodies[worker->next++ % worker->bodies.size()];
      const auto result = worker->client->Put(worker->path.c_str(), worker->auth, body, "application/json");
      if (!result || result->status != 200) return Outcome::failure(failure_code(result));
      return {kBatch};
    };
  });
}

// One upload whose every returned signature is checked with OpenSSL under the identity key.
void check_upload(int port, BenchService& service, const Enrolled& device, const std::vector<std::uint8_t>& identity,
                  audit::KeyAlgorithm algorithm) {
  auto client = make_client(port, service.cert());
  const std::string body = upload_body(kBatch, 1000, false);
  const json sent = json::parse(body);
  const json reply = expect_json(client->Put(device.path("/prekeys").c_str(), device.auth(), body, "application/json"),
                                 200, "check upload");
  const json& signatures = reply.at("signatures").at("one_time_prekeys");
  if (signatures.size() != kBatch) throw std::runtime_error("the upload returned the wrong number of signatures");
  for (std::size_t i = 0; i < signatures.size(); ++i) {
    const json& key = sent.at("one_time_prekeys")[i];
    const auto message = audit::prekey_signature_message(
        audit::PrekeyKind::one_time_prekey, device.account, device.device, key.at("key_id"),
        audit::base64_decode(key.at("public_key").get<std::string>()));
    if (!audit::verify_prekey_signature(algorithm, identity, message,
                                        audit::base64_decode(signatures[i].at("signature").get<std::string>()))) {
      throw std::runtime_error("a returned prekey signature does not verify");
    }
  }
}

int run(const Options& options) {
  setup_bench_logging(options.log_level);
  BenchDir dir(options.dir);
  BenchService service(dir.path());
  RunningServer server(service, options.server_threads);
  auto admin = make_client(server.port(), service.cert());

  const int max_threads = *std::max_element(options.threads.begin(), options.threads.end());
  std::vector<Enrolled> devices{enroll(service, *admin, "alice")};
  if (options.device_per_thread) {
    while (static_cast<int>(devices.size()) < max_threads) devices.push_back(enroll(service, *admin, "alice"));
  }

  // The first device's identity key, found as the service finds it: CKA_ID from the store.
  const auto stored = service.store().find_device(devices[0].account, devices[0].device);
  if (!stored) throw std::runtime_error("the enrolled device is not in the store");
  const auto key = p11::find_key_pair_by_id(service.token().pool(), stored->token_key_id);
  if (!key) throw std::runtime_error("the device's identity key is not on the token");
  const auto message = audit::prekey_signature_message(audit::PrekeyKind::one_time_prekey, devices[0].account,
                                                       devices[0].device, 1000, random_bytes(32));
  std::vector<std::uint8_t> raw_input = message;
  if (key->public_key.algorithm == p11::Algorithm::ecdsa_p256) {  // the token signs the digest
    raw_input.assign(32, 0);
    unsigned int size = 0;
    EVP_Digest(message.data(), message.size(), raw_input.data(), &size, EVP_sha256(), nullptr);
  }
  for (const Enrolled& device : devices) {
    const auto found = service.store().find_device(device.account, device.device);
    if (!found) throw std::runtime_error("an enrolled device is not in the store");
    check_upload(server.port(), service, device, found->public_key, found->algorithm);
  }

  std::printf("http_prekeys: token SoftHSM %s, identity key %s, signature message %zu bytes\n",
              service.token().info().serial.c_str(), std::string(p11::to_string(key->public_key.algorithm)).c_str(),
              message.size());
  std::printf("server: api::make_server, %d worker threads; clients: keep-alive, certificate verified, %s\n",
              options.server_threads, client_nodelay() ? "TCP_NODELAY" : "Nagle (no TCP_NODELAY)");
  std::printf("data on %s: %s (before)\n", filesystem_of(dir.path()).c_str(),
              sync_text(probe_fdatasync(dir.path())).c_str());
  std::printf("upload: PUT %s with %d one-time X25519 prekeys; %s\n", devices[0].path("/prekeys").c_str(), kBatch,
              options.device_per_thread ? "one device per client thread" : "every client thread uploads for the same device");
  std::printf("%d round(s) of %.1f s per figure, raw%s and HTTPS alternating; %u CPUs\n", options.rounds,
              options.seconds, options.domain ? ", pool, domain" : "", std::thread::hardware_concurrency());
  std::printf("\n%7s %13s %13s %13s %13s %8s %8s %8s %9s %9s  %s\n", "threads", "raw C_Sign/s", "pool sign/s",
              "domain pk/s", "HTTPS pk/s", "pool/raw", "dom/raw", "ratio", "p50 ms", "p99 ms",
              "failed uploads (HTTPS; domain)");
  std::fflush(stdout);

  for (const int threads : options.threads) {
    RoundResult raw, pooled, domain, http;
    for (int round = 0; round < options.rounds; ++round) {
      accumulate(raw, raw_round(service.token(), *key, threads, options.seconds, raw_input));
      if (options.domain) accumulate(pooled, pool_round(service.token(), *key, threads, options.seconds, message));
      if (options.domain) accumulate(domain, domain_round(service, devices, threads, options.seconds));
      accumulate(http, http_round(server.port(), service.cert(), devices, threads, options.seconds));
    }
    const double raw_rate = static_cast<double>(raw.units) / raw.seconds;
    const double pool_rate = options.domain ? static_cast<double>(pooled.units) / pooled.seconds : 0;
    const double domain_rate = options.domain ? static_cast<double>(domain.units) / domain.seconds : 0;
    const double http_rate = static_cast<double>(http.units) / http.seconds;
    const double p50 = quantile(http.latencies_us, 0.50) / 1000, p99 = quantile(http.latencies_us, 0.99) / 1000;
    std::printf("%7d %13.0f %13.0f %13.0f %13.0f %8.3f %8.3f %8.3f %9.2f %9.2f  %s; %s\n", threads, raw_rate,
                pool_rate, domain_rate, http_rate, pool_rate / raw_rate, domain_rate / raw_rate, http_rate / raw_rate,
                p50, p99,
                failures_text(http.failures).c_str(), options.domain ? failures_text(domain.failures).c_str() : "-");
    std::fflush(stdout);
  }
  std::printf("\ndisk: %s (after)", sync_text(probe_fdatasync(dir.path())).c_str());
  const auto stats = service.log().stats();
  std::printf("; log: %" PRIu64 " entries in %" PRIu64 " batches (%.2f entries per checkpoint signature)\n",
              stats.entries, stats.batches,
              stats.batches ? static_cast<double>(stats.entries) / static_cast<double>(stats.batches) : 0.0);
  std::printf("ratio = HTTPS prekeys/s / raw C_Sign/s (target >= 0.8); p50/p99: HTTPS upload latency;\n"
              "pool: pkcs11::sign via the session pool; domain: PrekeyService::upload() without HTTP "
              "(--no-domain skips both)\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  return bench_main(
      "http_prekeys", "One-time prekeys signed per second over HTTPS against a raw C_Sign loop", argc, argv,
      [&](CLI::App& app) {
        app.add_option("--seconds", options.seconds, "seconds per round")->check(CLI::Range(0.01, 86400.0))->capture_default_str();
        app.add_option("--rounds", options.rounds, "rounds of each figure")->check(CLI::Range(1, 1000))->capture_default_str();
        app.add_option("--threads", options.threads, "client thread counts, comma-separated")
            ->delimiter(',')
            ->check(CLI::Range(1, 4096));
        app.add_option("--server-threads", options.server_threads, "the server's worker threads")
            ->check(CLI::Range(1, 4096))
            ->capture_default_str();
        app.add_flag("--device-per-thread", options.device_per_thread,
                     "one device per client thread instead of one shared device");
        app.add_flag("!--no-domain", options.domain, "sign without the domain-separated message (a comparison)");
        app.add_flag_callback("--client-nagle", [] { client_nodelay() = false; }, "clients without TCP_NODELAY");
        app.add_option("--dir", options.dir, "where the run's data goes")->capture_default_str();
        app.add_option("--log-level", options.log_level, "the server's log level")->capture_default_str();
      },
      [&] { return run(options); });
}
