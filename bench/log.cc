// bench/log: the transparency log at scale. Appends N entries of about 300 bytes durably through
// TransparencyLog::append (SQLite WAL, synchronous=FULL, one checkpoint signature per batch in a
// SoftHSM token made for the run), keeping a bounded window of futures in flight; compares the
// rate with raw RFC 6962 leaf hashing of the same bytes on one thread; then times random
// inclusion and consistency proofs at that size (verifying a sample against signed checkpoints),
// grows the same log to a larger size and times proofs again. Memory (VmRSS, VmHWM) and the
// database size are printed after every million entries appended.
//
//   log [--entries N] [--large N] [--dir DIR] [--keep] [--window W] [--proofs P]
//       [--max-batch B] [--algorithm ed25519|ecdsa-p256] [--seed S] [--storage sqlite|postgresql|both]
//
// --storage postgresql runs the same against a PostgreSQL 15 the bench starts for itself
// (bench_postgresql.h); both runs SQLite, then PostgreSQL, and prints their ratios.
//
// Defaults: --entries 1000000, --large 10000000 (0 skips the growth phase), --window 50000,
// --proofs 20000 of each kind, --max-batch 8192 (TransparencyLog::Options), Ed25519, seed 1.
// Data goes to a fresh folder under DIR (default /tmp), removed at the end unless --keep.
// Prints figures; asserts nothing.
#include <sys/statvfs.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <future>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "audit/checkpoint.h"
#include "bench/bench_main.h"
#include "bench/bench_postgresql.h"
#include "audit/error.h"
#include "audit/hash.h"
#include "audit/proof_verify.h"
#include "keyservice/log/note_signer.h"
#include "keyservice/log/transparency_log.h"
#include "pkcs11/keys.h"
#include "pkcs11/softhsm.h"
#include "pkcs11/token.h"

namespace p11 = escrowless::pkcs11;
namespace audit = escrowless::audit;
namespace ks = escrowless::keyservice;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint64_t kMillion = 1'000'000;
constexpr std::size_t kEntrySize = 300;
constexpr std::size_t kSeqDigits = 12;
constexpr const char* kOrigin = "bench.escrowless.test/log";
// A receipt's checkpoint is kept (for verifying consistency proofs later) when its size crosses
// a multiple of this, so at most size / kRecordEvery notes are held.
constexpr std::uint64_t kRecordEvery = 10'000;
// Every kVerifyEvery-th proof is checked against a signed root.
constexpr std::size_t kVerifyEvery = 100;

volatile std::uint8_t g_sink = 0;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A thousands-separated integer, for readable figures.
std::string grouped(std::uint64_t value) {
  std::string digits = std::to_string(value);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// Entry i: a fixed JSON-ish payload of kEntrySize bytes with i written into a fixed-width field,
// so every entry is distinct and can be rebuilt from its index to check inclusion proofs.
class EntryMaker {
 public:
  EntryMaker() {
    const std::string head = R"({"type":"device_key","seq":)";
    std::string body =
        R"(,"account":"acct-7f3a9c2e41d8","device":"dev-b52e","algorithm":"ed25519",)"
        R"("public_key":"MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=",)"
        R"("signed_prekey":"pk-)";
    seq_at_ = head.size();
    template_ = head + std::string(kSeqDigits, '0') + body;
    const std::string tail = R"("})";
    while (template_.size() + tail.size() < kEntrySize) template_ += 'q';
    template_ += tail;
  }

  void make(std::uint64_t index, std::string& out) const {
    out = template_;
    write(index, out.data());
  }
  std::string make(std::uint64_t index) const {
    std::string out;
    make(index, out);
    return out;
  }
  // Writes entry `index` into `dst` (kEntrySize bytes).
  void make_into(std::uint64_t index, char* dst) const {
    std::memcpy(dst, template_.data(), template_.size());
    write(index, dst);
  }
  std::size_t size() const { return template_.size(); }

 private:
  void write(std::uint64_t index, char* entry) const {
    char* digit = entry + seq_at_ + kSeqDigits;
    for (std::size_t i = 0; i < kSeqDigits; ++i) {
      *--digit = static_cast<char>('0' + index % 10);
      index /= 10;
    }
  }
  std::string template_;
  std::size_t seq_at_ = 0;
};

struct Memory {
  std::uint64_t rss_kb = 0;
  std::uint64_t hwm_kb = 0;
  std::uint64_t anon_kb = 0;  // RssAnon: heap and stacks, without mapped files
};

Memory memory() {
  Memory m;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) m.rss_kb = std::strtoull(line.c_str() + 6, nullptr, 10);
    if (line.rfind("VmHWM:", 0) == 0) m.hwm_kb = std::strtoull(line.c_str() + 6, nullptr, 10);
    if (line.rfind("RssAnon:", 0) == 0) m.anon_kb = std::strtoull(line.c_str() + 8, nullptr, 10);
  }
  return m;
}

struct DbSize {
  std::uint64_t db = 0;
  std::uint64_t wal = 0;
};

DbSize db_size(const std::string& db) {
  DbSize s;
  std::error_code ec;
  s.db = fs::file_size(db, ec);
  if (ec) s.db = 0;
  s.wal = fs::file_size(db + "-wal", ec);
  if (ec) s.wal = 0;
  return s;
}

__attribute__((format(printf, 1, 2))) std::string fmt(const char* format, ...) {
  char buffer[96];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  return buffer;
}

double mib(std::uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

std::uint64_t free_bytes(const std::string& dir) {
  struct statvfs info {};
  if (::statvfs(dir.c_str(), &info) != 0) return 0;
  return static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
}

// Raw SHA-256 rate: audit::leaf_hash over entries [0, n), one thread. Entries are built in
// chunks outside the timed part, so the figure is hashing alone.
struct HashFigures {
  double per_second = 0;
  double seconds = 0;
};

HashFigures hash_rate(const EntryMaker& maker, std::uint64_t n) {
  constexpr std::uint64_t kChunk = 8192;
  std::vector<char> buffer(kChunk * maker.size());
  double hashing = 0;
  std::uint8_t sink = 0;
  for (std::uint64_t at = 0; at < n; at += kChunk) {
    const std::uint64_t count = std::min(kChunk, n - at);
    for (std::uint64_t i = 0; i < count; ++i) maker.make_into(at + i, buffer.data() + i * maker.size());
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < count; ++i) {
      sink ^= audit::leaf_hash(std::string_view(buffer.data() + i * maker.size(), maker.size()))[0];
    }
    hashing += seconds_since(start);
  }
  g_sink = sink;  // keeps the hashing observable
  return {static_cast<double>(n) / hashing, hashing};
}

struct AppendFigures {
  std::uint64_t entries = 0;
  std::uint64_t batches = 0;
  double seconds = 0;
  std::uint64_t index_mismatches = 0;
  double per_second() const { return static_cast<double>(entries) / seconds; }
};

// Appends entries [log.size(), target) through the log with at most `window` futures pending.
// Receipts must name consecutive indices (one submitter, FIFO sequencer). Every receipt
// checkpoint crossing a multiple of kRecordEvery is kept in `recorded` (size -> signed note).
AppendFigures append_until(ks::TransparencyLog& log, const EntryMaker& maker, std::uint64_t from,
                           std::uint64_t target, std::size_t window, const std::function<DbSize()>& db_size,
                           std::map<std::uint64_t, std::string>& recorded) {
  AppendFigures figures;
  const std::uint64_t batches_before = log.stats().batches;
  std::deque<std::future<ks::Receipt>> in_flight;
  std::uint64_t next_acknowledged = from;
  std::uint64_t next_record = (from / kRecordEvery + 1) * kRecordEvery;
  if (recorded.empty()) next_record = 1;  // the very first checkpoint too
  const auto start = Clock::now();
  auto interval_start = start;
  std::uint64_t interval_from = from;

  const auto acknowledge_one = [&] {
    const ks::Receipt receipt = in_flight.front().get();
    in_flight.pop_front();
    if (receipt.index != next_acknowledged) ++figures.index_mismatches;
    ++next_acknowledged;
    if (receipt.tree_size >= next_record) {
      recorded.emplace(receipt.tree_size, receipt.checkpoint);
      next_record = (receipt.tree_size / kRecordEvery + 1) * kRecordEvery;
    }
    if (next_acknowledged % kMillion == 0) {
      const Memory mem = memory();
      const DbSize size = db_size();
      const double interval = seconds_since(interval_start);
      std::printf("  %12s appended  %7.0f entries/s (this stretch)  VmRSS %6.1f MiB (anon %6.1f)"
                  "  VmHWM %6.1f MiB  db %7.1f MiB + wal %5.1f MiB\n",
                  grouped(next_acknowledged).c_str(),
                  static_cast<double>(next_acknowledged - interval_from) / interval,
                  static_cast<double>(mem.rss_kb) / 1024.0, static_cast<double>(mem.anon_kb) / 1024.0,
                  static_cast<double>(mem.hwm_kb) / 1024.0, mib(size.db), mib(size.wal));
      std::fflush(stdout);
      interval_start = Clock::now();
      interval_from = next_acknowledged;
    }
  };

  std::string entry;
  for (std::uint64_t i = from; i < target; ++i) {
    maker.make(i, entry);
    in_flight.push_back(log.append(std::move(entry)));
    if (in_flight.size() >= window) acknowledge_one();
  }
  while (!in_flight.empty()) acknowledge_one();
  figures.seconds = seconds_since(start);
  figures.entries = target - from;
  figures.batches = log.stats().batches - batches_before;
  return figures;
}

struct Latency {
  double p50_us = 0;
  double p99_us = 0;
  double max_us = 0;
  double mean_us = 0;
};

Latency latency(std::vector<double>& ns) {
  Latency l;
  if (ns.empty()) return l;
  std::sort(ns.begin(), ns.end());
  const auto at = [&](double q) {
    const auto i = static_cast<std::size_t>(q * static_cast<double>(ns.size() - 1) + 0.5);
    return ns[i] / 1000.0;
  };
  l.p50_us = at(0.50);
  l.p99_us = at(0.99);
  l.max_us = ns.back() / 1000.0;
  double sum = 0;
  for (const double v : ns) sum += v;
  l.mean_us = sum / static_cast<double>(ns.size()) / 1000.0;
  return l;
}

struct ProofFigures {
  std::uint64_t size = 0;
  Latency inclusion;
  Latency consistency;
  std::size_t inclusion_checked = 0, inclusion_ok = 0;
  std::size_t consistency_checked = 0, consistency_ok = 0;
  double mean_inclusion_hashes = 0, mean_consistency_hashes = 0;
};

// Random proofs at the log's current (signed) size, each call timed; every kVerifyEvery-th proof
// is verified: inclusion against the current checkpoint's root and the rebuilt entry's leaf hash,
// consistency from a recorded checkpoint (its root known from its signed note) to the current one.
ProofFigures time_proofs(ks::TransparencyLog& log, const EntryMaker& maker, std::size_t count,
                         const std::map<std::uint64_t, std::string>& recorded, std::mt19937_64& rng) {
  ProofFigures figures;
  const audit::VerifierKey verifier = log.verifier();
  const std::span<const audit::VerifierKey> verifiers(&verifier, 1);
  const audit::Checkpoint current = audit::open_checkpoint(log.checkpoint(), kOrigin, verifiers);
  const std::uint64_t n = current.size;
  figures.size = n;

  // Roots of the recorded checkpoints, each from its signed note.
  std::vector<std::pair<std::uint64_t, audit::Hash>> known;
  for (const auto& [size, note] : recorded) {
    if (size > n) continue;
    const audit::Checkpoint c = audit::open_checkpoint(note, kOrigin, verifiers);
    known.emplace_back(c.size, c.root);
  }

  std::vector<double> ns;
  ns.reserve(count);
  std::uniform_int_distribution<std::uint64_t> any_index(0, n - 1);
  std::uint64_t hashes = 0;
  for (std::size_t k = 0; k < count; ++k) {
    const std::uint64_t index = any_index(rng);
    const auto start = Clock::now();
    const std::vector<audit::Hash> proof = log.inclusion_proof(index, n);
    ns.push_back(static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count()));
    hashes += proof.size();
    if (k % kVerifyEvery == 0) {
      ++figures.inclusion_checked;
      try {
        audit::verify_inclusion(index, n, audit::leaf_hash(maker.make(index)), proof, current.root);
        ++figures.inclusion_ok;
      } catch (const audit::Error& e) {
        std::printf("  inclusion proof of %" PRIu64 " in %" PRIu64 " does not verify: %s\n", index, n, e.what());
      }
    }
  }
  figures.inclusion = latency(ns);
  figures.mean_inclusion_hashes = static_cast<double>(hashes) / static_cast<double>(count);

  ns.clear();
  hashes = 0;
  std::uniform_int_distribution<std::uint64_t> any_size(1, n);
  std::uniform_int_distribution<std::size_t> any_known(0, known.empty() ? 0 : known.size() - 1);
  for (std::size_t k = 0; k < count; ++k) {
    const bool check = k % kVerifyEvery == 0 && !known.empty();
    const std::size_t pick = check ? any_known(rng) : 0;
    const std::uint64_t m = check ? known[pick].first : any_size(rng);
    const auto start = Clock::now();
    const std::vector<audit::Hash> proof = log.consistency_proof(m, n);
    ns.push_back(static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count()));
    hashes += proof.size();
    if (check) {
      ++figures.consistency_checked;
      try {
        audit::verify_consistency(m, n, known[pick].second, current.root, proof);
        ++figures.consistency_ok;
      } catch (const audit::Error& e) {
        std::printf("  consistency proof %" PRIu64 " -> %" PRIu64 " does not verify: %s\n", m, n, e.what());
      }
    }
  }
  figures.consistency = latency(ns);
  figures.mean_consistency_hashes = static_cast<double>(hashes) / static_cast<double>(count);
  return figures;
}

void print_proofs(const ProofFigures& f) {
  std::printf("  inclusion   at %s: p50 %7.1f us  p99 %7.1f us  max %8.1f us  mean %6.1f us"
              "  (%.1f hashes/proof; verified %zu/%zu)\n",
              grouped(f.size).c_str(), f.inclusion.p50_us, f.inclusion.p99_us, f.inclusion.max_us,
              f.inclusion.mean_us, f.mean_inclusion_hashes, f.inclusion_ok, f.inclusion_checked);
  std::printf("  consistency at %s: p50 %7.1f us  p99 %7.1f us  max %8.1f us  mean %6.1f us"
              "  (%.1f hashes/proof; verified %zu/%zu)\n",
              grouped(f.size).c_str(), f.consistency.p50_us, f.consistency.p99_us,
              f.consistency.max_us, f.consistency.mean_us, f.mean_consistency_hashes,
              f.consistency_ok, f.consistency_checked);
  std::fflush(stdout);
}

struct PhaseResult {
  bool ran = false;
  AppendFigures append;
  ProofFigures proofs;
  Memory mem;
  DbSize size;
};

struct Options {
  std::uint64_t entries = kMillion;
  std::uint64_t large = 10 * kMillion;
  std::string parent = "/tmp";
  bool keep = false;
  std::size_t window = 50'000;
  std::size_t proofs = 20'000;
  std::size_t max_batch = ks::TransparencyLog::Options{}.max_batch;
  std::string algorithm = "ed25519";
  std::uint64_t seed = 1;
  std::string storage = "sqlite";
};

// What one storage achieved, for the comparison of --storage both.
struct StorageFigures {
  double appends_per_second = 0;
  ProofFigures proofs;
};

int run(const Options& o, const std::string& storage, StorageFigures& out) {
  const std::uint64_t entries = o.entries, large = o.large;
  const std::string& parent = o.parent;
  const bool keep = o.keep;
  const std::size_t window = o.window, proofs = o.proofs, max_batch = o.max_batch;
  const p11::Algorithm algorithm = p11::parse_algorithm(o.algorithm);
  const std::uint64_t seed = o.seed;
  std::error_code ec;
  fs::create_directories(parent, ec);
  std::string dir_template = (fs::path(parent) / "escrowless-bench-log-XXXXXX").string();
  if (::mkdtemp(dir_template.data()) == nullptr) {
    throw std::runtime_error("cannot make a folder under " + parent + ": " + std::strerror(errno));
  }
  const std::string dir = dir_template;
  std::unique_ptr<escrowless::bench::BenchPostgres> server;
  ks::LogDatabase database = ks::LogDatabase::sqlite(dir + "/log.db");
  if (storage == "postgresql") {
    server = std::make_unique<escrowless::bench::BenchPostgres>(fs::path(dir) / "postgresql");
    database = ks::LogDatabase::postgresql(server->create_database());
  }
  const std::function<DbSize()> size_now = [&] {
    if (database.kind == ks::LogDatabase::Kind::sqlite) return db_size(database.target);
    return DbSize{escrowless::bench::BenchPostgres::database_size(database.target), 0};
  };
  const auto cleanup = [&] {
    server.reset();
    if (keep) {
      std::printf("kept %s\n", dir.c_str());
    } else {
      fs::remove_all(dir, ec);
    }
  };

  const EntryMaker maker;
  std::mt19937_64 rng(seed);
  std::map<std::uint64_t, std::string> recorded;
  PhaseResult first, second;
  HashFigures hashed;
  try {
    const p11::SoftHsmToken made = p11::provision_softhsm_token(dir + "/softhsm", "bench-log", p11::kDefaultModulePath);
    const auto token = p11::Token::open(made.uri);
    const p11::KeyPair key = p11::generate_key_pair(token->pool(), algorithm, p11::random_key_id(), "log-key");
    {
      ks::TokenNoteSigner signer(token->pool(), key, kOrigin);
      ks::TransparencyLog::create(database, kOrigin, signer, key.id);
    }
    ks::TransparencyLog::Options options;
    options.max_batch = max_batch;
    auto log = ks::TransparencyLog::open(database, token->pool(), options);

    std::printf("bench/log (%s): %s, entries of %zu bytes, window %s futures, max batch %s, %s checkpoints\n",
                storage.c_str(), dir.c_str(), maker.size(), grouped(window).c_str(), grouped(max_batch).c_str(),
                std::string(p11::to_string(algorithm)).c_str());
    std::printf("free disk under %s: %.1f GiB\n", dir.c_str(), mib(free_bytes(dir)) / 1024.0);

    // 1 and 2: appends at --entries, and the raw hashing rate over the same bytes.
    std::printf("\n[1] append %s entries\n", grouped(entries).c_str());
    std::fflush(stdout);
    first.append = append_until(*log, maker, 0, entries, window, size_now, recorded);
    first.mem = memory();
    first.size = size_now();
    std::printf("  appended %s entries in %.2f s: %.0f entries/s, %s batches (%.0f entries/batch),"
                " %" PRIu64 " receipt index mismatches, %" PRIu64 " signing failures\n",
                grouped(first.append.entries).c_str(), first.append.seconds, first.append.per_second(),
                grouped(first.append.batches).c_str(),
                static_cast<double>(first.append.entries) / static_cast<double>(first.append.batches),
                first.append.index_mismatches, log->stats().signing_failures);
    hashed = hash_rate(maker, entries);
    std::printf("  leaf_hash over the same %s entries, 1 thread: %.0f hashes/s (%.2f s)\n",
                grouped(entries).c_str(), hashed.per_second, hashed.seconds);
    std::printf("  appended/s / hashed/s = %.4f\n", first.append.per_second() / hashed.per_second);

    // 3: proofs at that size.
    std::printf("\n[3] %s random proofs of each kind at %s leaves\n", grouped(proofs).c_str(),
                grouped(log->size()).c_str());
    first.proofs = time_proofs(*log, maker, proofs, recorded, rng);
    print_proofs(first.proofs);
    first.ran = true;

    // 4: grow to --large.
    if (large != 0) {
      const std::uint64_t have = first.size.db + first.size.wal;
      const auto per_entry = static_cast<double>(have) / static_cast<double>(entries);
      const auto need = static_cast<std::uint64_t>(per_entry * static_cast<double>(large - entries) * 1.2);
      const std::uint64_t avail = free_bytes(dir);
      std::printf("\n[4] grow to %s entries: need about %.1f GiB (%.0f bytes/entry so far, +20%%),"
                  " %.1f GiB free\n",
                  grouped(large).c_str(), mib(need) / 1024.0, per_entry, mib(avail) / 1024.0);
      if (avail < need) {
        std::printf("  not enough free disk: skipping the growth phase\n");
      } else {
        std::fflush(stdout);
        second.append = append_until(*log, maker, entries, large, window, size_now, recorded);
        second.mem = memory();
        second.size = size_now();
        std::printf("  appended %s more entries in %.2f s: %.0f entries/s, %s batches (%.0f entries/batch),"
                    " %" PRIu64 " receipt index mismatches, %" PRIu64 " signing failures\n",
                    grouped(second.append.entries).c_str(), second.append.seconds,
                    second.append.per_second(), grouped(second.append.batches).c_str(),
                    static_cast<double>(second.append.entries) / static_cast<double>(second.append.batches),
                    second.append.index_mismatches, log->stats().signing_failures);
        std::printf("  appended/s / hashed/s = %.4f\n", second.append.per_second() / hashed.per_second);
        std::printf("  %s random proofs of each kind at %s leaves\n", grouped(proofs).c_str(),
                    grouped(log->size()).c_str());
        second.proofs = time_proofs(*log, maker, proofs, recorded, rng);
        print_proofs(second.proofs);
        second.ran = true;
      }
    }
    log->stop();
  } catch (...) {
    cleanup();
    throw;
  }

  // The summary table.
  const auto col = [](const PhaseResult& p, auto&& format) -> std::string {
    if (!p.ran) return "-";
    return format(p);
  };
  std::printf("\nsummary (2 figures: after [1] at --entries, after [4] at --large)\n");
  std::printf("  %-34s %22s %22s\n", "", ("at " + grouped(first.proofs.size)).c_str(),
              second.ran ? ("at " + grouped(second.proofs.size)).c_str() : "(growth skipped)");
  const auto row = [&](const char* name, auto&& format) {
    std::printf("  %-34s %22s %22s\n", name, col(first, format).c_str(), col(second, format).c_str());
  };
  row("appended entries/s (durable)", [&](const PhaseResult& p) { return fmt("%.0f", p.append.per_second()); });
  row("entries appended in the phase", [&](const PhaseResult& p) { return grouped(p.append.entries); });
  row("wall time of the phase, s", [&](const PhaseResult& p) { return fmt("%.2f", p.append.seconds); });
  row("batches (sign + commit)", [&](const PhaseResult& p) { return grouped(p.append.batches); });
  row("entries per batch", [&](const PhaseResult& p) {
    return fmt("%.0f", static_cast<double>(p.append.entries) / static_cast<double>(p.append.batches));
  });
  row("leaf_hash/s, 1 thread", [&](const PhaseResult&) { return fmt("%.0f", hashed.per_second); });
  row("appended/s / hashed/s", [&](const PhaseResult& p) { return fmt("%.4f", p.append.per_second() / hashed.per_second); });
  row("inclusion proof p50 / p99, us", [&](const PhaseResult& p) {
    return fmt("%.1f / %.1f", p.proofs.inclusion.p50_us, p.proofs.inclusion.p99_us);
  });
  row("consistency proof p50 / p99, us", [&](const PhaseResult& p) {
    return fmt("%.1f / %.1f", p.proofs.consistency.p50_us, p.proofs.consistency.p99_us);
  });
  row("proofs verified (incl, cons)", [&](const PhaseResult& p) {
    return fmt("%zu/%zu, %zu/%zu", p.proofs.inclusion_ok, p.proofs.inclusion_checked,
               p.proofs.consistency_ok, p.proofs.consistency_checked);
  });
  row("VmRSS / VmHWM, MiB", [&](const PhaseResult& p) {
    return fmt("%.1f / %.1f", static_cast<double>(p.mem.rss_kb) / 1024.0, static_cast<double>(p.mem.hwm_kb) / 1024.0);
  });
  row("RssAnon, MiB", [&](const PhaseResult& p) { return fmt("%.1f", static_cast<double>(p.mem.anon_kb) / 1024.0); });
  row("database (+ SQLite's wal), MiB", [&](const PhaseResult& p) { return fmt("%.1f + %.1f", mib(p.size.db), mib(p.size.wal)); });
  std::fflush(stdout);
  cleanup();
  out = {first.append.per_second(), first.proofs};
  return 0;
}

int run_all(const Options& o) {
  if (o.storage != "both") {
    StorageFigures figures;
    return run(o, o.storage, figures);
  }
  StorageFigures sqlite, postgresql;
  if (const int rc = run(o, "sqlite", sqlite); rc != 0) return rc;
  std::printf("\n");
  if (const int rc = run(o, "postgresql", postgresql); rc != 0) return rc;
  std::printf("\nPostgreSQL against SQLite at %s entries, same run\n", grouped(o.entries).c_str());
  std::printf("  appended entries/s (durable): %.0f / %.0f = %.3f\n", postgresql.appends_per_second,
              sqlite.appends_per_second, postgresql.appends_per_second / sqlite.appends_per_second);
  std::printf("  inclusion proof p99, us:      %.1f / %.1f = %.2f\n", postgresql.proofs.inclusion.p99_us,
              sqlite.proofs.inclusion.p99_us, postgresql.proofs.inclusion.p99_us / sqlite.proofs.inclusion.p99_us);
  std::printf("  consistency proof p99, us:    %.1f / %.1f = %.2f\n", postgresql.proofs.consistency.p99_us,
              sqlite.proofs.consistency.p99_us,
              postgresql.proofs.consistency.p99_us / sqlite.proofs.consistency.p99_us);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  return escrowless::bench::bench_main(
      "log", "The transparency log at scale: durable appends, proofs and memory as it grows", argc, argv,
      [&](CLI::App& app) {
        app.add_option("--entries", o.entries, "entries appended first")->check(CLI::PositiveNumber)->capture_default_str();
        app.add_option("--large", o.large, "size the log then grows to (0 skips that phase)")->capture_default_str();
        app.add_option("--dir", o.parent, "where the run's data goes")->capture_default_str();
        app.add_flag("--keep", o.keep, "keep the data folder");
        app.add_option("--window", o.window, "appends in flight")->check(CLI::PositiveNumber)->capture_default_str();
        app.add_option("--proofs", o.proofs, "proofs timed of each kind")->check(CLI::PositiveNumber)->capture_default_str();
        app.add_option("--max-batch", o.max_batch, "entries per checkpoint at most")
            ->check(CLI::PositiveNumber)
            ->capture_default_str();
        app.add_option("--algorithm", o.algorithm, "the log key")
            ->check(CLI::IsMember({"ed25519", "ecdsa-p256"}))
            ->capture_default_str();
        app.add_option("--seed", o.seed, "seed of the random proof choices")->capture_default_str();
        app.add_option("--storage", o.storage, "the log's backend, or both in turn")
            ->check(CLI::IsMember({"sqlite", "postgresql", "both"}))
            ->capture_default_str();
        app.callback([&] {
          if (o.large != 0 && o.large <= o.entries) throw CLI::ValidationError("--large", "must be 0 or above --entries");
        });
      },
      [&] { return run_all(o); });
}
