// keyadmin migrate at scale: a SQLite deployment of --entries log entries and --devices devices
// (each with a signed prekey and --one-time one-time prekeys) moved into a fresh PostgreSQL
// database, timed in its two halves (copy in one transaction; the check of the committed copy),
// beside what the same machine takes to check the SQLite log at keyserviced's start with every
// leaf rehashed: the ratio is the figure that carries to other machines.
//   cmake --build build/release --target migrate_bench && build/release/bench/migrate_bench
//     [--entries 100000] [--devices 10000] [--one-time 10]
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <future>
#include <random>
#include <string>

#include "audit/key_algorithm.h"
#include "bench/bench_main.h"
#include "bench/bench_postgresql.h"
#include "keyservice/log/note_signer.h"
#include "keyservice/log/sqlite_log_storage.h"
#include "keyservice/log/transparency_log.h"
#include "keyservice/log/tree_check.h"
#include "keyservice/migrate/migration.h"
#include "keyservice/store/sqlite_device_store.h"
#include "pkcs11/keys.h"
#include "pkcs11/softhsm.h"
#include "pkcs11/token.h"

namespace {

namespace fs = std::filesystem;
namespace ks = escrowless::keyservice;
namespace p11 = escrowless::pkcs11;
using Clock = std::chrono::steady_clock;

constexpr const char* kOrigin = "bench.escrowless.test/migrate";

struct Options {
  std::uint64_t entries = 100000;
  std::uint64_t devices = 10000;
  std::uint32_t one_time = 10;
  std::string parent = fs::temp_directory_path().string();
  bool keep = false;
};

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::vector<std::uint8_t> random_bytes(std::mt19937_64& rng, std::size_t size) {
  std::vector<std::uint8_t> out(size);
  for (auto& byte : out) byte = static_cast<std::uint8_t>(rng());
  return out;
}

// Entries of ~300 bytes, as a device enrollment's are; the log does not parse what it stores.
void fill_log(const ks::LogDatabase& database, p11::Token& token, std::uint64_t entries) {
  const p11::KeyPair key = p11::generate_key_pair(token.pool(), p11::Algorithm::ed25519, p11::random_key_id(), "log-key");
  {
    ks::TokenNoteSigner signer(token.pool(), key, kOrigin);
    ks::TransparencyLog::create(database, kOrigin, signer, key.id);
  }
  auto log = ks::TransparencyLog::open(database, token.pool(), {});
  std::deque<std::future<ks::Receipt>> pending;
  for (std::uint64_t i = 0; i < entries; ++i) {
    std::string entry = R"({"type":"bench","seq":)" + std::to_string(i) + ",\"pad\":\"";
    entry.append(280, 'q');
    pending.push_back(log->append(entry + "\"}"));
    if (pending.size() >= 4096) {
      pending.front().get();
      pending.pop_front();
    }
  }
  for (auto& receipt : pending) receipt.get();
  log->stop();
}

void fill_devices(const std::string& path, std::uint64_t devices, std::uint32_t one_time) {
  auto store = ks::SqliteDeviceStore::open(path, true);
  std::mt19937_64 rng(7);
  for (std::uint64_t i = 0; i < devices; ++i) {
    ks::Device device;
    device.account = "account-" + std::to_string(i / 2);
    device.device = "device-" + std::to_string(i);
    device.token_key_id = random_bytes(rng, 16);
    device.public_key = random_bytes(rng, 32);
    device.public_key_sha256 = escrowless::audit::public_key_sha256(device.algorithm, device.public_key);
    device.enrolled_index = 2 + i;
    store->add_device(device, escrowless::audit::sha256(random_bytes(rng, 32)));
    ks::PrekeyUpload upload;
    upload.log_index = 2 + devices + i;
    upload.signed_prekey = {1, random_bytes(rng, 32), random_bytes(rng, 64)};
    upload.one_time_prekeys.emplace();
    for (std::uint32_t k = 0; k < one_time; ++k) {
      upload.one_time_prekeys->push_back({100 + k, random_bytes(rng, 32), random_bytes(rng, 64)});
    }
    store->store_prekeys(device.account, device.device, upload);
  }
}

int run(const Options& o) {
  std::string dir_template = (fs::path(o.parent) / "escrowless-bench-migrate-XXXXXX").string();
  if (::mkdtemp(dir_template.data()) == nullptr) throw std::runtime_error("cannot make a folder under " + o.parent);
  const fs::path dir = dir_template;
  const std::string log_path = (dir / "log.db").string();
  double check_seconds = 0;
  ks::migrate::MigrationReport report;
  {
    const p11::SoftHsmToken made = p11::provision_softhsm_token(dir / "softhsm", "bench-migrate", p11::kDefaultModulePath);
    const auto token = p11::Token::open(made.uri);
    auto start = Clock::now();
    fill_log(ks::LogDatabase::sqlite(log_path), *token, o.entries);
    std::printf("bench/migrate: %s\n  SQLite log of %llu entries made in %.1f s\n", dir.c_str(),
                static_cast<unsigned long long>(o.entries), since(start));
    std::fflush(stdout);
    start = Clock::now();
    fill_devices((dir / "devices.db").string(), o.devices, o.one_time);
    std::printf("  %llu devices with %u one-time prekeys each stored in %.1f s\n",
                static_cast<unsigned long long>(o.devices), o.one_time, since(start));
    std::fflush(stdout);

    auto leaves = ks::SqliteLogStorage::open(log_path, false);
    auto nodes = ks::SqliteLogStorage::open(log_path, false);
    start = Clock::now();
    ks::check_stored_tree(*leaves, *nodes, kOrigin,
                          escrowless::audit::parse_verifier_key(*leaves->meta(ks::kMetaVerifierKey)), true);
    check_seconds = since(start);
  }
  escrowless::bench::BenchPostgres server(dir / "postgresql");
  const std::string url = server.create_database();
  const auto start = Clock::now();
  report = ks::migrate::migrate_to_postgresql({dir.string(), url});
  const double total = since(start);
  std::printf("  migrated %llu entries, %llu devices, %llu prekeys in %.2f s: copy %.2f s (one transaction), "
              "check %.2f s\n",
              static_cast<unsigned long long>(report.entries), static_cast<unsigned long long>(report.devices),
              static_cast<unsigned long long>(report.prekeys), total, report.copy_seconds, report.verify_seconds);
  std::printf("  keyserviced's full start-up check of the SQLite log: %.2f s; migrate took %.1fx that\n",
              check_seconds, total / check_seconds);
  std::printf("  PostgreSQL database after the move: %.1f MiB\n",
              static_cast<double>(escrowless::bench::BenchPostgres::database_size(url)) / (1 << 20));
  std::error_code ec;
  if (o.keep) {
    std::printf("kept %s\n", dir.c_str());
  } else {
    fs::remove_all(dir, ec);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  return escrowless::bench::bench_main(
      "migrate_bench", "keyadmin migrate at scale: SQLite to PostgreSQL, copy and check timed", argc, argv,
      [&](CLI::App& app) {
        app.add_option("--entries", o.entries, "log entries")->check(CLI::PositiveNumber)->capture_default_str();
        app.add_option("--devices", o.devices, "devices (at most --entries / 2)")->capture_default_str();
        app.add_option("--one-time", o.one_time, "one-time prekeys per device (1 to 100)")
            ->check(CLI::Range(1, 100))
            ->capture_default_str();
        app.add_option("--dir", o.parent, "where the run's data goes")->capture_default_str();
        app.add_flag("--keep", o.keep, "keep the data folder");
        app.callback([&] {
          if (o.devices * 2 > o.entries) throw CLI::ValidationError("--devices", "must be at most --entries / 2");
        });
      },
      [&] { return run(o); });
}
