#include "tests/crash/load.h"

#include <httplib.h>
#include <openssl/rand.h>

#include <random>

#include "audit/bundle_verify.h"
#include "audit/encoding.h"

namespace escrowless::crashtest {
namespace {

using nlohmann::json;

std::string random_key(std::size_t size) {
  std::vector<std::uint8_t> bytes(size);
  RAND_bytes(bytes.data(), static_cast<int>(bytes.size()));
  return audit::base64_encode(bytes);
}

json prekey(std::uint32_t id, std::size_t size) { return {{"key_id", id}, {"public_key", random_key(size)}}; }

class Client {
 public:
  Client(const LoadOptions& options, Ledger& ledger, unsigned seed)
      : options_(options), ledger_(ledger), http_("127.0.0.1", options.port), random_(seed) {
    http_.set_ca_cert_path(options.ca_file.c_str());
    http_.enable_server_certificate_verification(true);
    http_.set_connection_timeout(2);
    http_.set_read_timeout(30);
    http_.set_write_timeout(10);
    http_.set_keep_alive(true);
  }

  void step() {
    std::optional<KnownDevice> device;
    enum { enroll, upload, fetch, revoke } op = enroll;
    {
      std::lock_guard lock(ledger_.mutex);
      std::vector<KnownDevice*> usable, with_prekeys;
      for (KnownDevice& d : ledger_.devices) {
        if (d.revoking) continue;
        usable.push_back(&d);
        if (d.has_prekeys) with_prekeys.push_back(&d);
      }
      const std::size_t roll = pick(100);
      if (usable.size() < 4 || roll < 12) {
        op = enroll;
      } else if (roll < 16 && usable.size() > 4) {
        op = revoke;
        device = *usable[pick(usable.size())];
        find(ledger_, *device).revoking = true;
      } else if (roll < 50 || with_prekeys.empty()) {
        op = upload;
        KnownDevice& d = *usable[pick(usable.size())];
        device = d;
        d.next_key_id += 10;  // this upload's ids: device->next_key_id and the 9 after it
      } else {
        op = fetch;
        device = *with_prekeys[pick(with_prekeys.size())];
      }
    }
    switch (op) {
      case enroll: return do_enroll(options_.accounts[pick(options_.accounts.size())]);
      case upload: return do_upload(*device);
      case fetch: return do_fetch(*device);
      case revoke: return do_revoke(*device);
    }
  }

 private:
  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(random_); }

  static KnownDevice& find(Ledger& ledger, const KnownDevice& device) {
    for (KnownDevice& d : ledger.devices) {
      if (d.account == device.account && d.device == device.device) return d;
    }
    throw std::logic_error("unknown device");
  }

  httplib::Headers bearer(const std::string& credential) const {
    return {{"Authorization", "Bearer " + credential}};
  }

  // Records the answer's checkpoint; a client's own sequence of checkpoints never goes back.
  void saw(const std::string& note, std::uint64_t size, const std::string& where) {
    ledger_.serve(note, size);
    if (size < last_size_) {
      ledger_.failures.push_back(where + ": checkpoint size went back from " + std::to_string(last_size_) +
                                 " to " + std::to_string(size) + " for one client");
    }
    last_size_ = std::max(last_size_, size);
  }

  // Counts the outcome; false (nothing acknowledged) unless the status is `ok`. A status
  // outside `allowed` and `ok` (503, the service restarting, is always allowed) is a failure.
  bool outcome(const std::string& op, const httplib::Result& result, int ok, std::initializer_list<int> allowed = {}) {
    std::lock_guard lock(ledger_.mutex);
    if (!result) {
      ledger_.count(op + " no answer");
      return false;
    }
    ledger_.count(op + " " + std::to_string(result->status));
    if (result->status == ok) return true;
    if (result->status == 503) return false;
    for (int status : allowed) {
      if (result->status == status) return false;
    }
    ledger_.failures.push_back(op + ": unexpected status " + std::to_string(result->status) + ": " +
                               result->body.substr(0, 300));
    return false;
  }

  void do_enroll(const std::string& account) {
    const auto result = http_.Post(("/v1/accounts/" + account + "/devices").c_str(), bearer(options_.admin_token), "{}",
                                   "application/json");
    if (!outcome("enroll", result, 201)) return;
    const json body = json::parse(result->body);
    AckedWrite write{WriteKind::enrolled, account, body.at("device_id"),
                     body.at("identity_key").at("public_key_sha256"), "", Receipt::from_json(body.at("log"))};
    std::lock_guard lock(ledger_.mutex);
    saw(write.receipt.checkpoint, write.receipt.tree_size, "enroll");
    ledger_.devices.push_back({account, write.device, body.at("credential"), write.identity_key_sha256});
    ledger_.writes.push_back(std::move(write));
  }

  void do_upload(const KnownDevice& device) {
    const std::uint32_t id = device.next_key_id;
    json request = {{"signed_prekey", prekey(id, 32)}, {"pq_last_resort_prekey", prekey(id + 1, 1184)}};
    for (std::uint32_t i = 0; i < 4; ++i) request["one_time_prekeys"].push_back(prekey(id + 2 + i, 32));
    for (std::uint32_t i = 0; i < 2; ++i) request["pq_one_time_prekeys"].push_back(prekey(id + 6 + i, 1184));
    const std::string path = "/v1/accounts/" + device.account + "/devices/" + device.device + "/prekeys";
    const auto result = http_.Put(path.c_str(), bearer(device.credential), request.dump(), "application/json");
    // 409 or 401: a revocation of this device, sent by another client after this one picked it
    // (409 if it lands while the upload is under way, 401 if before: the credential is gone).
    if (!outcome("upload", result, 200, {409, 401})) return;
    const json body = json::parse(result->body);
    AckedWrite write{WriteKind::uploaded, device.account, device.device, "",
                     body.at("signatures").at("signed_prekey").at("signature"), Receipt::from_json(body.at("log"))};
    std::lock_guard lock(ledger_.mutex);
    saw(write.receipt.checkpoint, write.receipt.tree_size, "upload");
    find(ledger_, device).has_prekeys = true;
    ledger_.writes.push_back(std::move(write));
  }

  void do_fetch(const KnownDevice& device) {
    const std::string path = "/v1/accounts/" + device.account + "/devices/" + device.device + "/bundle";
    const auto result = http_.Get(path.c_str(), bearer(options_.admin_token));
    // 409: a revocation of this device, sent by another client after this one picked it.
    if (!outcome("fetch", result, 200, {409})) return;
    std::optional<audit::VerifiedBundles> verified;
    std::string error;
    try {
      verified = audit::verify_bundles(result->body, options_.verifier, {device.account, device.device});
    } catch (const std::exception& e) {
      error = e.what();
    }
    std::lock_guard lock(ledger_.mutex);
    if (!verified) {
      ledger_.failures.push_back("bundle of " + device.account + "/" + device.device + " does not verify: " + error);
      return;
    }
    saw(verified->checkpoint_note, verified->checkpoint.size, "fetch");
    const audit::VerifiedBundle& bundle = verified->bundles.at(0);
    const auto hand_out = [&](const std::optional<audit::VerifiedPrekey>& key, const char* kind) {
      if (!key) return;
      const std::string where = device.account + "/" + device.device + "/" + kind;
      if (!ledger_.handed_out[where].insert(key->key_id).second) {
        ledger_.failures.push_back("one-time prekey " + std::to_string(key->key_id) + " of " + where +
                                   " handed out twice");
      }
    };
    hand_out(bundle.one_time_prekey, "one_time_prekey");
    if (bundle.pq_prekey && bundle.pq_prekey->kind == audit::PrekeyKind::pq_one_time_prekey) {
      hand_out(bundle.pq_prekey, "pq_one_time_prekey");
    }
  }

  void do_revoke(const KnownDevice& device) {
    const std::string path = "/v1/accounts/" + device.account + "/devices/" + device.device;
    const auto result = http_.Delete(path.c_str(), bearer(options_.admin_token));
    const bool ok = outcome("revoke", result, 200);
    std::lock_guard lock(ledger_.mutex);
    KnownDevice& known = find(ledger_, device);
    if (!ok) {
      // No answer or 503: whether it happened is unknown; the test retries it as a client would.
      known.revoke_unanswered = true;
      return;
    }
    known.revoked = true;
    AckedWrite write{WriteKind::revoked, device.account, device.device, "", "",
                     Receipt::from_json(json::parse(result->body).at("log"))};
    saw(write.receipt.checkpoint, write.receipt.tree_size, "revoke");
    ledger_.writes.push_back(std::move(write));
  }

  const LoadOptions& options_;
  Ledger& ledger_;
  httplib::SSLClient http_;
  std::mt19937 random_;
  std::uint64_t last_size_ = 0;
};

}  // namespace

void run_client(const LoadOptions& options, Ledger& ledger, const std::atomic<bool>& stop, unsigned seed) {
  Client client(options, ledger, seed);
  while (!stop.load()) {
    try {
      client.step();
    } catch (const std::exception& e) {  // an answer that does not parse as the API says
      std::lock_guard lock(ledger.mutex);
      ledger.failures.push_back(std::string("client: ") + e.what());
    }
  }
}

}  // namespace escrowless::crashtest
