// A real keyserviced HTTP surface for tests: the routes of api::make_server on 127.0.0.1 with an
// ephemeral port, real TLS (a fresh self-signed certificate the client verifies), the test
// process's SoftHSM token, a fresh log, and a fresh admin credential.
#pragma once

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "api/routes.h"
#include "keyservice/cosign/cosignature_collector.h"
#include "keyservice/credentials.h"
#include "keyservice/devices.h"
#include "keyservice/store/sqlite_device_store.h"
#include "keyservice/tls_cert.h"
#include "tests/keyservice/log_fixture.h"

namespace escrowless::testing {

// The response's JSON body, after requiring that there is a response with `status`.
inline nlohmann::json expect_json(const httplib::Result& result, int status) {
  REQUIRE(result);
  INFO(result->body.substr(0, 600));
  REQUIRE(result->status == status);
  return nlohmann::json::parse(result->body);
}

class ServerFixture {
 public:
  // `witnesses`, given the fresh log, returns a witness policy and its settings: the server
  // collects cosignatures and serves the newest checkpoint that meets the policy (keyservice/cosign/).
  using WitnessSetup = std::function<keyservice::CosignatureCollector::Options(keyservice::TransparencyLog&)>;
  explicit ServerFixture(const WitnessSetup& witnesses = {}) : admin_(keyservice::new_credential()) {
    cert_ = (dir_.path() / "cert.pem").string();
    key_ = (dir_.path() / "key.pem").string();
    keyservice::write_localhost_certificate(cert_, key_);
    log_ = log_fixture_.open();
    if (witnesses) cosigner_ = keyservice::CosignatureCollector::start(*log_, witnesses(*log_));
    config_.data_dir = dir_.path().string();
    store_ = keyservice::SqliteDeviceStore::open((dir_.path() / "devices.db").string(), true);
    device_keys_ = std::make_unique<keyservice::DeviceKeys>(TestToken::get().token());
    devices_ = std::make_unique<keyservice::Devices>(TestToken::get().token(), *log_, *store_, *device_keys_);
    prekeys_ = std::make_unique<keyservice::PrekeyService>(TestToken::get().token(), *log_, *store_, *device_keys_);
    service_ = std::make_unique<api::Service>(api::Service{*log_, TestToken::get().token(), *devices_, *prekeys_, config_,
                                                           keyservice::credential_hash(admin_.bytes()), metrics_,
                                                           cosigner_.get()});
    server_ = api::make_server(*service_, {cert_, key_, 4, 64 * 1024});
    port_ = server_->bind("127.0.0.1", 0);
    thread_ = std::thread([this] { server_->run(); });
    server_->wait_until_running();
  }

  ~ServerFixture() {
    server_->stop();
    thread_.join();
    cosigner_.reset();
    log_->stop();
  }

  // A client that verifies the server's certificate against the fixture's.
  std::unique_ptr<httplib::SSLClient> client() const {
    auto client = std::make_unique<httplib::SSLClient>("127.0.0.1", port_);
    client->set_ca_cert_path(cert_.c_str());
    client->enable_server_certificate_verification(true);
    client->set_connection_timeout(5, 0);
    client->set_read_timeout(30, 0);
    return client;
  }

  keyservice::ServiceConfig& config() { return config_; }

  static httplib::Headers bearer(const std::string& credential) {
    return {{"Authorization", "Bearer " + credential}};
  }

  httplib::Headers admin_headers() const {
    return {{"Authorization", "Bearer " + std::string(reinterpret_cast<const char*>(admin_.bytes().data()),
                                                      admin_.size())}};
  }

  int port() const { return port_; }
  const std::vector<api::HttpServer::Route>& routes() const { return server_->routes(); }
  const std::string& cert() const { return cert_; }
  const std::string& key() const { return key_; }  // the certificate's private key (a test proxy serves it too)
  keyservice::TransparencyLog& log() { return *log_; }
  keyservice::CosignatureCollector* cosigner() { return cosigner_.get(); }

 private:
  TempDir dir_;
  LogFixture log_fixture_;
  pkcs11::Secret admin_;
  std::string cert_, key_;
  std::unique_ptr<keyservice::TransparencyLog> log_;
  std::unique_ptr<keyservice::CosignatureCollector> cosigner_;
  std::unique_ptr<keyservice::SqliteDeviceStore> store_;
  std::unique_ptr<keyservice::DeviceKeys> device_keys_;
  std::unique_ptr<keyservice::Devices> devices_;
  std::unique_ptr<keyservice::PrekeyService> prekeys_;
  keyservice::ServiceConfig config_;
  api::Metrics metrics_;
  std::unique_ptr<api::Service> service_;
  std::unique_ptr<api::HttpServer> server_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace escrowless::testing
