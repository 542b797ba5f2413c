// Crash consistency of the whole service (issue 6): the real keyserviced, provisioned by the real
// keyadmin, under concurrent enroll, prekey upload, bundle fetch and revocation load from several
// client threads, killed with SIGKILL at random moments and restarted, again and again. After
// each restart:
//   - every acknowledged write is there: an enrollment answered 201 is listed with its index and
//     its device.enrolled entry sits at that index; an upload answered 200 has its prekeys.signed
//     entry at its index; a revocation answered 200 shows the device revoked; each entry is the
//     one the receipt's inclusion proof names;
//   - no checkpoint size ever served is above the restarted server's, and every checkpoint ever
//     served verifies under the log key and is consistent with the restarted server's
//     (consistency proofs, checked with the audit core): no two inconsistent trees were served;
//   - a revocation that got no answer is retried as a client would, and the log still audits;
//   - an inventory of the token is logged and `keyaudit verify` (the real binary) passes,
//     incrementally with a state file: no key of an enrollment cut short is left unaccounted for.
// Progress is required, not only safety: a start under full load must acknowledge a write (the
// kill comes a random time after the first), and over the run enrollments, uploads and fetches
// must each have succeeded; a 503 a client tolerates counts as no progress.
// Throughout, no one-time prekey is handed out twice and every bundle verifies
// (audit::verify_bundles); at the end `keyaudit verify` passes from scratch, every acknowledged
// write is checked again and the server stops cleanly.
//
// Usage: service_crash_test KEYADMIN KEYSERVICED KEYAUDIT
// Environment: CRASH_KILLS (default 22), CRASH_SEED (default random; printed for reproduction;
// the kill times depend on the machine too), CRASH_KEEP=1 (keep the data dir and the server logs).
#include <httplib.h>

#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include "audit/checkpoint.h"
#include "audit/client/https_client.h"
#include "audit/encoding.h"
#include "audit/hash.h"
#include "audit/proof_verify.h"
#include "tests/crash/child_process.h"
#include "tests/crash/ledger.h"
#include "tests/crash/load.h"

namespace {

using namespace escrowless;
using namespace escrowless::crashtest;
using nlohmann::json;

constexpr const char* kOrigin = "crash.escrowless.test/log";
constexpr int kClients = 6;

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};
[[noreturn]] void fail(const std::string& what) { throw Failure(what); }

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<audit::Hash> hashes(const json& list) {
  std::vector<audit::Hash> result;
  for (const json& item : list) result.push_back(audit::hash_from_base64(item.get<std::string>()));
  return result;
}

// Everything that stays the same across restarts.
struct Setup {
  std::filesystem::path work, data;
  std::string keyaudit, ca_file, admin_token, vkey;
  std::vector<audit::VerifierKey> verifiers;
};

// The checks made after each restart, against one running server.
class Checker {
 public:
  Checker(const Setup& setup, int port)
      : setup_(setup),
        port_(port),
        reader_(std::make_unique<audit::client::HttpsClient>(
            audit::client::ServerUrl::parse("https://localhost:" + std::to_string(port)),
            audit::client::ClientOptions{setup.ca_file, setup.admin_token, 30})) {}

  audit::Checkpoint open(const std::string& note) const {
    try {
      return audit::open_checkpoint(note, kOrigin, setup_.verifiers);
    } catch (const std::exception& e) {
      fail("a served checkpoint does not verify: " + std::string(e.what()) + "\n" + note);
    }
  }

  // The restarted server's checkpoint: at least as large as any ever served, and every served
  // one (and the previous head) a prefix of it.
  void checkpoints(Ledger& ledger, std::string& previous_head) {
    const std::string note = reader_->get("/v1/log/checkpoint");
    const audit::Checkpoint head = open(note);
    if (head.size < ledger.max_served_size) {
      fail("the checkpoint went back: size " + std::to_string(ledger.max_served_size) +
           " was served before the kill, the restarted server is at " + std::to_string(head.size));
    }
    std::set<std::string> notes = std::move(ledger.served_checkpoints);
    ledger.served_checkpoints.clear();
    if (!previous_head.empty()) notes.insert(previous_head);
    std::map<std::uint64_t, audit::Hash> roots;  // one proof per size
    for (const std::string& served : notes) {
      const audit::Checkpoint checkpoint = open(served);
      const auto [known, fresh] = roots.emplace(checkpoint.size, checkpoint.root);
      if (!fresh) {
        if (known->second != checkpoint.root) fail("two roots served for size " + std::to_string(checkpoint.size));
        continue;
      }
      if (checkpoint.size == head.size) {
        if (checkpoint.root != head.root) fail("a served root of size " + std::to_string(head.size) + " differs from the log's");
        continue;
      }
      if (checkpoint.size == 0) continue;  // nothing to be consistent with
      const json proof = json::parse(reader_->get("/v1/log/proof/consistency?from=" + std::to_string(checkpoint.size) +
                                                 "&to=" + std::to_string(head.size)));
      try {
        audit::verify_consistency(checkpoint.size, head.size, checkpoint.root, head.root, hashes(proof.at("proof")));
      } catch (const std::exception& e) {
        fail("a checkpoint of size " + std::to_string(checkpoint.size) + " that was served is not a prefix of the log of size " +
             std::to_string(head.size) + ": " + e.what());
      }
    }
    ++rounds_;
    checked_checkpoints_ += roots.size();
    previous_head = note;
  }

  // A revocation that got no answer, retried: 200 (it had not happened) or 409 (it had).
  void retry_revocations(Ledger& ledger) {
    httplib::SSLClient http("127.0.0.1", port_);
    http.set_ca_cert_path(setup_.ca_file.c_str());
    http.enable_server_certificate_verification(true);
    for (KnownDevice& device : ledger.devices) {
      if (!device.revoke_unanswered || device.revoked) continue;
      const auto result = http.Delete(("/v1/accounts/" + device.account + "/devices/" + device.device).c_str(),
                                      {{"Authorization", "Bearer " + setup_.admin_token}});
      if (!result) fail("revocation retry: no answer from a running server");
      if (result->status == 200) {
        ledger.writes.push_back({WriteKind::revoked, device.account, device.device, "", "",
                                 Receipt::from_json(json::parse(result->body).at("log"))});
        ledger.serve(ledger.writes.back().receipt.checkpoint, ledger.writes.back().receipt.tree_size);
      } else if (result->status == 409) {
        unanswered_revocations_done_.push_back(device);  // checked below like an acknowledged one
      } else {
        fail("revocation retry: status " + std::to_string(result->status) + ": " + result->body);
      }
      device.revoked = true;
      device.revoke_unanswered = false;
      ++retried_;
    }
  }

  // Every acknowledged write from `from` on is in the store and in the log at its index.
  void writes(const Ledger& ledger, std::size_t from) {
    std::map<std::string, json> listed;  // account -> its devices, by id
    const auto device_row = [&](const std::string& account, const std::string& device) -> const json& {
      auto it = listed.find(account);
      if (it == listed.end()) {
        json by_id = json::object();
        const json answer = json::parse(reader_->get("/v1/accounts/" + account + "/devices"));
        for (const json& row : answer.at("devices")) {
          by_id[row.at("device_id").get<std::string>()] = row;
        }
        it = listed.emplace(account, std::move(by_id)).first;
      }
      if (!it->second.contains(device)) fail("enrolled device " + account + "/" + device + " is not listed");
      return it->second.at(device);
    };
    for (std::size_t i = from; i < ledger.writes.size(); ++i) {
      const AckedWrite& write = ledger.writes[i];
      const std::string who = write.account + "/" + write.device;
      const json entry = logged_entry(write);
      const json& row = device_row(write.account, write.device);
      switch (write.kind) {
        case WriteKind::enrolled:
          if (entry.at("type") != "device.enrolled" ||
              entry.at("identity_key").at("public_key_sha256") != write.identity_key_sha256) {
            fail("the entry at " + std::to_string(write.receipt.index) + " is not the enrollment of " + who);
          }
          if (row.at("enrolled_index") != write.receipt.index) fail(who + " is listed with another enrolled_index");
          break;
        case WriteKind::uploaded:
          if (entry.at("type") != "prekeys.signed" ||
              entry.at("signed_prekey").at("signature") != write.signed_prekey_signature) {
            fail("the entry at " + std::to_string(write.receipt.index) + " is not the upload acknowledged for " + who);
          }
          break;
        case WriteKind::revoked:
          if (entry.at("type") != "device.revoked") {
            fail("the entry at " + std::to_string(write.receipt.index) + " is not the revocation of " + who);
          }
          if (!row.value("revoked", false) || row.value("revoked_index", std::uint64_t{0}) != write.receipt.index) {
            fail(who + " was revoked at " + std::to_string(write.receipt.index) + " but is not listed so");
          }
          break;
      }
      ++checked_writes_;
    }
    for (const KnownDevice& device : unanswered_revocations_done_) {
      const json& row = device_row(device.account, device.device);
      if (!row.value("revoked", false)) fail("revocation retry said 409 but the device is active");
      const json entry = logged_entry({WriteKind::revoked, device.account, device.device, "", "",
                                       {row.at("revoked_index").get<std::uint64_t>(), 0, "", {}}},
                                      false);
      if (entry.at("type") != "device.revoked") fail("the listed revoked_index holds no revocation");
    }
    unanswered_revocations_done_.clear();
  }

  // keyaudit verify, incrementally with `state` when given; it must exit 0.
  void keyaudit(const std::string& state = "") {
    std::vector<std::string> argv = {setup_.keyaudit,  "verify",   "--server", "https://localhost:" + std::to_string(port_),
                                     "--verifier-key", setup_.vkey, "--cacert", setup_.ca_file};
    if (!state.empty()) argv.insert(argv.end(), {"--state", state});
    const RunResult result = run(argv);
    if (result.exit_code != 0) fail("keyaudit verify exited " + std::to_string(result.exit_code) + ":\n" + result.output);
  }

  void inventory() {
    httplib::SSLClient http("127.0.0.1", port_);
    http.set_ca_cert_path(setup_.ca_file.c_str());
    http.enable_server_certificate_verification(true);
    const auto result = http.Post("/v1/admin/inventory", {{"Authorization", "Bearer " + setup_.admin_token}}, "", "");
    if (!result || result->status != 201) fail("inventory: " + (result ? result->body : std::string("no answer")));
  }

  void close() { reader_.reset(); }

  static inline std::size_t rounds_ = 0, checked_checkpoints_ = 0, checked_writes_ = 0, retried_ = 0;

 private:
  // The entry at the write's index, checked against the receipt's inclusion proof (when
  // `with_receipt`) and naming the write's account and device.
  json logged_entry(const AckedWrite& write, bool with_receipt = true) const {
    const std::uint64_t index = write.receipt.index;
    const json page = json::parse(reader_->get("/v1/log/entries?start=" + std::to_string(index) + "&count=1"));
    const std::vector<std::uint8_t> bytes = audit::base64_decode(page.at("entries").at(0).at("data").get<std::string>());
    if (with_receipt) {
      const audit::Checkpoint covering = open(write.receipt.checkpoint);
      try {
        audit::verify_inclusion(index, covering.size, audit::leaf_hash(bytes), hashes(write.receipt.inclusion_proof),
                                covering.root);
      } catch (const std::exception& e) {
        fail("the entry now at " + std::to_string(index) + " is not the one acknowledged there: " + e.what());
      }
    }
    json entry = json::parse(bytes.begin(), bytes.end());
    if (entry.at("account") != write.account || entry.at("device") != write.device) {
      fail("the entry at " + std::to_string(index) + " is not about " + write.account + "/" + write.device);
    }
    return entry;
  }

  const Setup& setup_;
  int port_;
  std::unique_ptr<audit::client::HttpsClient> reader_;
  static inline std::vector<KnownDevice> unanswered_revocations_done_;
};

// Polls until the clients hold `n` acknowledged writes; false after `limit` (only a server that
// acknowledges nothing, e.g. one answering 503 to everything, gets there).
bool wait_for_writes(Ledger& ledger, std::size_t n, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    {
      std::lock_guard lock(ledger.mutex);
      if (ledger.writes.size() >= n) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

int env_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value ? std::atoi(value) : fallback;
}

Setup provision(const std::string& keyadmin, const std::string& keyaudit) {
  Setup setup;
  std::string pattern = (std::filesystem::temp_directory_path() / "service-crash-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) fail("mkdtemp failed");
  setup.work = pattern;
  setup.data = setup.work / "data";
  const RunResult init =
      run({keyadmin, "init", "--data-dir", setup.data.string(), "--port", "0", "--origin", kOrigin});
  if (init.exit_code != 0) fail("keyadmin init exited " + std::to_string(init.exit_code) + ":\n" + init.output);
  const RunResult vkey = run({keyadmin, "log", "verifier-key", "--data-dir", setup.data.string()});
  if (vkey.exit_code != 0) fail("keyadmin log verifier-key: " + vkey.output);
  setup.keyaudit = keyaudit;
  setup.vkey = trimmed(vkey.output);
  setup.verifiers = {audit::parse_verifier_key(setup.vkey)};
  setup.ca_file = (setup.data / "tls" / "cert.pem").string();
  setup.admin_token = trimmed(read_file(setup.data / "admin-token"));
  return setup;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: service_crash_test KEYADMIN KEYSERVICED KEYAUDIT\n";
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);  // a write to the socket of a server just killed
  const int kills = env_int("CRASH_KILLS", 22);
  const unsigned seed = static_cast<unsigned>(env_int("CRASH_SEED", static_cast<int>(std::random_device{}() >> 1)));
  std::cout << "seed " << seed << " (CRASH_SEED to repeat), " << kills << " kills" << std::endl;
  std::mt19937 random(seed);
  Setup setup;
  std::unique_ptr<Server> server;
  const auto started = std::chrono::steady_clock::now();
  int status = 0;
  try {
    setup = provision(argv[1], argv[3]);
    server = std::make_unique<Server>(argv[2], (setup.data / "keyservice.conf").string(), setup.work.string());
    const std::string state = (setup.work / "verify.state").string();
    Ledger ledger;
    std::string previous_head;
    std::size_t checked = 0;
    for (int cycle = 0; cycle <= kills; ++cycle) {
      const auto t0 = std::chrono::steady_clock::now();
      const int port = server->start();
      const auto t1 = std::chrono::steady_clock::now();
      Checker checker(setup, port);
      checker.checkpoints(ledger, previous_head);
      checker.retry_revocations(ledger);
      checker.writes(ledger, checked);
      const auto t2 = std::chrono::steady_clock::now();
      checker.inventory();  // every private key in the token must be accounted for
      checker.keyaudit(state);
      const auto t3 = std::chrono::steady_clock::now();
      const auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
      std::cout << "start " << cycle + 1 << ": up in " << ms(t1 - t0) << " ms, " << ledger.writes.size() - checked
                << " new acknowledged writes checked in " << ms(t2 - t1) << " ms, keyaudit " << ms(t3 - t2) << " ms"
                << std::endl;
      checked = ledger.writes.size();
      if (cycle == kills) {
        // The end: a full audit from scratch, every acknowledged write again, a clean stop.
        checker.keyaudit();
        checker.keyaudit(state);
        checker.writes(ledger, 0);
        checker.close();  // an idle keep-alive connection would hold up the clean stop
        const int code = server->stop_cleanly();
        if (code != 0) fail("keyserviced exited " + std::to_string(code) + " after SIGTERM");
        break;
      }

      std::atomic<bool> stop{false};
      const LoadOptions options{port, setup.ca_file, setup.admin_token, setup.verifiers[0], {"alice", "bob", "carol"}};
      std::vector<std::thread> clients;
      for (int i = 0; i < kClients; ++i) {
        clients.emplace_back(run_client, std::cref(options), std::ref(ledger), std::cref(stop), static_cast<unsigned>(random()));
      }
      // Mostly under full load; now and then right after the start, before or among the first requests.
      const bool early = std::uniform_int_distribution<int>(0, 99)(random) < 15;
      const int delay_ms = early ? std::uniform_int_distribution<int>(0, 100)(random)
                                 : std::uniform_int_distribution<int>(300, 2000)(random);
      // Under full load the kill comes that long after the first write this start acknowledged:
      // a server that acknowledges nothing (503 to everything) must not pass as one that loses nothing.
      const bool progress = early || wait_for_writes(ledger, checked + 1, std::chrono::seconds(60));
      if (progress) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      stop = true;  // no new requests; those in flight meet the kill
      server->kill_hard();
      for (std::thread& client : clients) client.join();
      if (!progress) fail("start " + std::to_string(cycle + 1) + " acknowledged no write in 60 s of load");
      if (!ledger.failures.empty()) fail("after kill " + std::to_string(cycle + 1) + ": " + ledger.failures.front());
    }
    // Every kind of request succeeded too, not only enrollments.
    for (const char* outcome : {"enroll 201", "upload 200", "fetch 200"}) {
      if (ledger.outcomes[outcome] == 0) fail(std::string("no request got '") + outcome + "' in the whole run");
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::cout << "PASS: " << kills << " SIGKILLs in " << seconds << " s; " << ledger.writes.size()
              << " acknowledged writes checked after each restart (" << Checker::checked_writes_ << " checks), "
              << Checker::checked_checkpoints_ << " served tree sizes proven consistent, " << Checker::retried_
              << " unanswered revocations retried, one-time keys handed out: ";
    std::size_t handed = 0;
    for (const auto& [device, ids] : ledger.handed_out) handed += ids.size();
    std::cout << handed << " (none twice)\noutcomes:";
    for (const auto& [what, n] : ledger.outcomes) std::cout << " [" << what << ": " << n << "]";
    std::cout << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "FAIL (seed " << seed << "): " << e.what() << std::endl;
    if (server && !server->log_path().empty()) std::cerr << "server log tail:\n" << server->log_tail() << std::endl;
    if (!setup.work.empty()) {  // errors of every earlier server, e.g. the one that answered 500
      for (const auto& file : std::filesystem::directory_iterator(setup.work)) {
        std::ifstream in(file.path());
        for (std::string line; std::getline(in, line);) {
          if (line.find(" error ") != std::string::npos || line.find(" critical ") != std::string::npos ||
              line.find(" 500 ") != std::string::npos) {
            std::cerr << file.path().filename().string() << ": " << line << "\n";
          }
        }
      }
    }
    status = 1;
  }
  server.reset();  // kills a server still running
  if (!setup.work.empty()) {
    if (std::getenv("CRASH_KEEP")) {
      std::cerr << "kept " << setup.work << std::endl;
    } else {
      std::filesystem::remove_all(setup.work);
    }
  }
  return status;
}
