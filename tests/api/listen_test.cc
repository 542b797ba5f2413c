// The listening socket of api::HttpServer, checked with plain sockets: how many connections the
// kernel completes before the server accepts any, and who else may bind its port.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <vector>

#include "api/http_server.h"
#include "keyservice/error.h"
#include "keyservice/tls_cert.h"
#include "tests/support/test_token.h"

namespace {

using namespace escrowless;

struct Listener {
  testing::TempDir dir;
  api::Metrics metrics;
  std::unique_ptr<api::HttpServer> server;
  Listener() {
    const std::string cert = (dir.path() / "cert.pem").string(), key = (dir.path() / "key.pem").string();
    keyservice::write_localhost_certificate(cert, key);
    server = api::HttpServer::create({cert, key}, metrics);
  }
};

// A socket with a non-blocking connect to 127.0.0.1:port under way.
int start_connect(int port) {
  const int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  REQUIRE(sock >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int result = ::connect(sock, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  REQUIRE((result == 0 || errno == EINPROGRESS));
  return sock;
}

}  // namespace

TEST_CASE("api: a burst of connections waits in the accept queue instead of losing SYNs", "[http]") {
  Listener listener;
  const int port = listener.server->bind("127.0.0.1", 0);
  // Bound and listening, never accepting: every connection must wait in the kernel's queue.
  // httplib's own queue of 5 would complete about 6 and drop the others' SYNs, leaving them to
  // retransmit into a queue that stays full.
  constexpr int kConnections = 64;
  std::vector<int> socks;
  for (int i = 0; i < kConnections; ++i) socks.push_back(start_connect(port));
  int connected = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (const int sock : socks) {
    pollfd fd{sock, POLLOUT, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (::poll(&fd, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0))) == 1) {
      int error = 0;
      socklen_t size = sizeof(error);
      ::getsockopt(sock, SOL_SOCKET, SO_ERROR, &error, &size);
      if (error == 0) ++connected;
    }
    ::close(sock);
  }
  CHECK(connected == kConnections);
}

TEST_CASE("api: a second server cannot bind the port a server listens on", "[http]") {
  Listener first, second;
  const int port = first.server->bind("127.0.0.1", 0);
  // httplib's default SO_REUSEPORT would let the second bind too and take a share of the
  // connections meant for the first.
  try {
    second.server->bind("127.0.0.1", port);
    FAIL("a second server bound port " << port);
  } catch (const keyservice::Error& e) {
    CHECK(e.kind() == keyservice::ErrorKind::unavailable);
    CHECK_THAT(e.what(), Catch::Contains("cannot listen on 127.0.0.1:" + std::to_string(port)));
  }
}
