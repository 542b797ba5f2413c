// A fault injector for keyclient tests: a TLS server on 127.0.0.1 (ephemeral port, the real
// server's certificate) that forwards every GET to the real keyserviced and, when a mutation is
// set, rewrites the JSON body of its 200 answers in flight. It stands for a network attacker or
// a lying server, which the real server can't be made into.
#pragma once

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace escrowless::testing {

class TamperingProxy {
 public:
  using Mutation = std::function<void(nlohmann::json& body)>;

  TamperingProxy(int upstream_port, const std::string& cert, const std::string& key)
      : upstream_port_(upstream_port), cert_(cert), server_(cert.c_str(), key.c_str()) {
    REQUIRE(server_.is_valid());
    server_.Get(".*", [this](const httplib::Request& request, httplib::Response& response) { forward(request, response); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() only ends a loop that has started.
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  ~TamperingProxy() {
    server_.stop();
    thread_.join();
  }

  TamperingProxy(const TamperingProxy&) = delete;
  TamperingProxy& operator=(const TamperingProxy&) = delete;

  int port() const { return port_; }

  // The mutation applied to the next answers (none: forward unchanged).
  void set(Mutation mutation) {
    std::lock_guard lock(mutex_);
    mutation_ = std::move(mutation);
  }

 private:
  void forward(const httplib::Request& request, httplib::Response& response) {
    httplib::SSLClient upstream("127.0.0.1", upstream_port_);
    upstream.set_ca_cert_path(cert_.c_str());
    upstream.enable_server_certificate_verification(true);
    httplib::Headers headers;
    if (request.has_header("Authorization")) headers.emplace("Authorization", request.get_header_value("Authorization"));
    const auto answer = upstream.Get(request.target.c_str(), headers);
    if (!answer) {
      response.status = 502;
      return;
    }
    std::string body = answer->body;
    Mutation mutation;
    {
      std::lock_guard lock(mutex_);
      mutation = mutation_;
    }
    if (mutation && answer->status == 200) {
      nlohmann::json json = nlohmann::json::parse(body);
      mutation(json);
      body = json.dump();
    }
    response.status = answer->status;
    response.set_content(body, answer->get_header_value("Content-Type").c_str());
  }

  int upstream_port_;
  std::string cert_;
  httplib::SSLServer server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  Mutation mutation_;
};

}  // namespace escrowless::testing
