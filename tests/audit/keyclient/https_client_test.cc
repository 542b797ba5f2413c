// The verifying tools' HTTPS client against a real TLS server on 127.0.0.1.
#include <catch2/catch.hpp>

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "audit/client/https_client.h"
#include "keyservice/tls_cert.h"
#include "tests/support/test_token.h"

using namespace escrowless;

namespace {

// What the server saw: the connections it accepted and closed, and the client port of each request.
struct Seen {
  std::mutex mutex;
  std::condition_variable changed;
  int accepted = 0, closed = 0;
  std::vector<int> request_ports;

  // Waits until the server has closed `n` connections; false after `limit` (only a hang gets there).
  bool wait_closed(int n, std::chrono::seconds limit) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, limit, [&] { return closed >= n; });
  }
};

// httplib's thread pool, telling `seen` when a connection's task ends: httplib runs one task per
// accepted connection and closes the socket at the end of it.
class WatchedPool : public httplib::TaskQueue {
 public:
  explicit WatchedPool(Seen& seen) : seen_(seen), pool_(2) {}
  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard lock(seen_.mutex);
      ++seen_.accepted;
    }
    pool_.enqueue([this, fn = std::move(fn)] {
      fn();
      std::lock_guard lock(seen_.mutex);
      ++seen_.closed;
      seen_.changed.notify_all();
    });
  }
  void shutdown() override { pool_.shutdown(); }

 private:
  Seen& seen_;
  httplib::ThreadPool pool_;
};

}  // namespace

TEST_CASE("https client: a GET after the server closed the idle kept-alive connection is sent again", "[http]") {
  testing::TempDir dir;
  const std::string cert = (dir.path() / "cert.pem").string();
  const std::string key = (dir.path() / "key.pem").string();
  keyservice::write_localhost_certificate(cert, key);
  httplib::SSLServer server(cert.c_str(), key.c_str());
  REQUIRE(server.is_valid());
  Seen seen;
  server.new_task_queue = [&seen] { return new WatchedPool(seen); };
  server.set_keep_alive_timeout(1);  // closes a connection idle for a second
  server.Get("/v1/x", [&seen](const httplib::Request& request, httplib::Response& response) {
    {
      std::lock_guard lock(seen.mutex);
      seen.request_ports.push_back(request.remote_port);
    }
    response.set_content("ok", "text/plain");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&server] { server.listen_after_bind(); });

  audit::client::HttpsClient client(audit::client::ServerUrl::parse("https://localhost:" + std::to_string(port)),
                                    {cert, "", 5});
  CHECK(client.get("/v1/x") == "ok");
  // The server closes the kept-alive connection once it has been idle for its timeout.
  REQUIRE(seen.wait_closed(1, std::chrono::seconds(60)));
  CHECK(client.get("/v1/x") == "ok");
  server.stop();
  serving.join();

  // The second GET reached the server, once, on a connection of its own.
  std::lock_guard lock(seen.mutex);
  CHECK(seen.accepted == 2);
  REQUIRE(seen.request_ports.size() == 2);
  CHECK(seen.request_ports[0] != seen.request_ports[1]);
}
