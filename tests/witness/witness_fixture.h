// keywitness under test: a test log (a software Ed25519 key signing checkpoints over an
// in-memory tree, standing in for a log the witness only knows by its verifier key), the witness
// key made in the test process's real SoftHSM token, a real state file, and the witness's routes
// on real HTTPS on 127.0.0.1 with an ephemeral port.
#pragma once

#include <catch2/catch.hpp>
#include <httplib.h>
#include <openssl/evp.h>

#include <atomic>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/cosignature.h"
#include "audit/encoding.h"
#include "audit/merkle.h"
#include "audit/note.h"
#include "audit/openssl_ptr.h"
#include "audit/proof_shape.h"
#include "keyservice/tls_cert.h"
#include "tests/support/test_token.h"
#include "witness/add_checkpoint_request.h"
#include "witness/token_cosigner.h"
#include "witness/witness_routes.h"

namespace escrowless::testing {

// An Ed25519 key held in memory by OpenSSL (the log's key, or a known-answer witness key).
class SoftwareKey {
 public:
  SoftwareKey() {
    const audit::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "ED25519", nullptr));
    EVP_PKEY* made = nullptr;
    REQUIRE((ctx && EVP_PKEY_keygen_init(ctx.get()) == 1 && EVP_PKEY_keygen(ctx.get(), &made) == 1));
    key_.reset(made);
  }
  explicit SoftwareKey(const std::vector<uint8_t>& secret)
      : key_(EVP_PKEY_new_raw_private_key_ex(nullptr, "ED25519", nullptr, secret.data(), secret.size())) {
    REQUIRE(key_);
  }
  std::vector<uint8_t> public_key() const {
    std::vector<uint8_t> raw(32);
    std::size_t length = raw.size();
    REQUIRE(EVP_PKEY_get_raw_public_key(key_.get(), raw.data(), &length) == 1);
    return raw;
  }
  std::vector<uint8_t> sign(std::span<const uint8_t> message) const {
    const audit::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    REQUIRE(EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, key_.get(), nullptr) == 1);
    std::vector<uint8_t> signature(64);
    std::size_t length = signature.size();
    REQUIRE(EVP_DigestSign(ctx.get(), signature.data(), &length, message.data(), message.size()) == 1);
    return signature;
  }

 private:
  audit::EvpPkeyPtr key_;
};

// A log the witness knows only by its origin and verifier key.
class TestLog {
 public:
  explicit TestLog(std::string origin) : origin_(std::move(origin)) {}

  const std::string& origin() const { return origin_; }
  audit::VerifierKey verifier() const {
    return audit::VerifierKey::create(origin_, audit::SignatureType::ed25519, key_.public_key());
  }
  std::string config_line() const { return origin_ + " " + verifier().to_string(); }

  void grow_to(uint64_t size) {
    while (leaves_.size() < size) leaves_.push_back(audit::leaf_hash("entry " + std::to_string(leaves_.size())));
  }
  audit::Hash root(uint64_t size) const {
    return audit::root_of(std::span<const audit::Hash>(leaves_).first(size));
  }
  std::vector<audit::Hash> consistency_proof(uint64_t size1, uint64_t size2) const {
    std::vector<audit::Hash> proof;
    for (const audit::LeafRange& range : audit::consistency_proof_shape(size1, size2)) {
      proof.push_back(audit::root_of(std::span<const audit::Hash>(leaves_).subspan(range.begin, range.size())));
    }
    return proof;
  }
  // The signed checkpoint of `size` (the tree grown as needed); `root` overrides the real one.
  std::string checkpoint(uint64_t size, std::optional<audit::Hash> other_root = std::nullopt) {
    grow_to(size);
    return sign_text(audit::format_checkpoint(origin_, size, other_root.value_or(root(size))));
  }
  std::string sign_text(const std::string& text) const {
    const audit::VerifierKey v = verifier();
    return audit::append_signature(text, audit::format_signature_line(v.name(), v.key_id(), key_.sign(audit::note_signed_message(text))));
  }

 private:
  std::string origin_;
  SoftwareKey key_;
  std::vector<audit::Hash> leaves_;
};

// The add-checkpoint body for a proof and a signed checkpoint.
inline std::string add_checkpoint_body(uint64_t old_size, const std::vector<audit::Hash>& proof,
                                       const std::string& checkpoint) {
  std::string body = "old " + std::to_string(old_size) + "\n";
  for (const audit::Hash& hash : proof) body += audit::to_base64(hash) + "\n";
  return body + "\n" + checkpoint;
}

inline std::string origin_hash(const std::string& origin) { return audit::hex_encode(audit::sha256(origin)); }

struct WitnessOptions {
  std::vector<std::string> logs;
  // A known-answer signer instead of the token key (tokens must not import private keys).
  std::optional<std::vector<uint8_t>> software_secret = std::nullopt;
  // A witness key per label; empty: a new one per fixture (Catch runs a test case again for
  // each SECTION, in the same process and token).
  std::string key_label = {};
  // The witness's key name (several witnesses in one test need their own).
  std::string name = "witness.escrowless.test/w1";
  // The witness's clock: the system's (POSIX seconds) instead of the `now` the test sets.
  bool system_clock = false;
  // A TLS certificate and key file to serve (several witnesses share one, so that a client
  // trusts them all with one CA file: OpenSSL finds an issuer by its name, and self-signed
  // certificates of one name would shadow each other); none: one made for this witness.
  std::optional<std::pair<std::string, std::string>> tls = std::nullopt;
};

class WitnessFixture {
 public:
  static constexpr const char* kName = "witness.escrowless.test/w1";

  explicit WitnessFixture(WitnessOptions options) : options_(std::move(options)) {
    if (options_.tls) {
      cert_ = options_.tls->first;
      key_file_ = options_.tls->second;
    } else {
      cert_ = (dir_.path() / "cert.pem").string();
      key_file_ = (dir_.path() / "key.pem").string();
      keyservice::write_localhost_certificate(cert_, key_file_);
    }
    state_path_ = (dir_.path() / "witness.db").string();
    witness::WitnessState::open(state_path_, true);
    if (options_.software_secret) {
      const SoftwareKey known(*options_.software_secret);
      cosigner_.emplace(audit::CosignerKey::create(options_.name, known.public_key()));
      signer_ = [known = std::make_shared<SoftwareKey>(*options_.software_secret)](std::span<const uint8_t> m) {
        return known->sign(m);
      };
    } else {
      pkcs11::Token& token = TestToken::get().token();
      static int made = 0;
      const std::string label =
          options_.key_label.empty() ? std::string(witness::kDefaultKeyLabel) + "-" + std::to_string(++made) : options_.key_label;
      token_key_ = witness::generate_witness_key(token, label);
      cosigner_.emplace(witness::cosigner_key_of(*token_key_, options_.name));
      signer_ = witness::token_signer(token.pool(), *token_key_);
    }
    start();
  }
  ~WitnessFixture() { stop(); }

  // Stops the server and closes the state file; start() opens both again (a restart).
  void stop() {
    if (!server_) return;
    server_->stop();
    thread_.join();
    server_.reset();
    witness_.reset();
    state_.reset();
  }
  void start() {
    state_ = witness::WitnessState::open(state_path_, false);
    witness_ = std::make_unique<witness::Witness>(*cosigner_, signer_, *state_,
                                                  witness::parse_witnessed_logs(options_.logs),
                                                  [this] {
                                                    if (!options_.system_clock) return now.load();
                                                    return static_cast<uint64_t>(std::time(nullptr));
                                                  });
    server_ = witness::make_witness_server(*witness_, {cert_, key_file_, 4}, metrics_);
    port_ = server_->bind("127.0.0.1", port_);  // a restart keeps its port: policies name it
    thread_ = std::thread([this] { server_->run(); });
    server_->wait_until_running();
  }

  std::unique_ptr<httplib::SSLClient> client() const {
    auto client = std::make_unique<httplib::SSLClient>("127.0.0.1", port_);
    client->set_ca_cert_path(cert_.c_str());
    client->enable_server_certificate_verification(true);
    client->set_connection_timeout(5, 0);
    client->set_read_timeout(30, 0);
    return client;
  }
  httplib::Result post(const std::string& body) const {
    return client()->Post("/add-checkpoint", body, "text/plain");
  }

  const audit::CosignerKey& cosigner() const { return *cosigner_; }
  const std::optional<pkcs11::KeyPair>& token_key() const { return token_key_; }
  witness::WitnessState& state() { return *state_; }
  const std::string& cert() const { return cert_; }
  int port() const { return port_; }

  std::atomic<uint64_t> now{1700000000};  // the witness's clock

 private:
  WitnessOptions options_;
  TempDir dir_;
  std::string cert_, key_file_, state_path_;
  std::optional<pkcs11::KeyPair> token_key_;
  std::optional<audit::CosignerKey> cosigner_;
  audit::Ed25519Signer signer_;
  api::Metrics metrics_;
  std::unique_ptr<witness::WitnessState> state_;
  std::unique_ptr<witness::Witness> witness_;
  std::unique_ptr<api::HttpServer> server_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace escrowless::testing
