#include "api/connection_guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <stdexcept>

namespace escrowless::api {
namespace {

// The connection served by this worker thread, if it came through a guard's hello callback.
thread_local void* current_connection = nullptr;

constexpr auto kWatchInterval = std::chrono::milliseconds(200);

std::string peer_address(int fd) {
  sockaddr_storage peer{};
  socklen_t size = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &size) != 0) return "?";
  char text[INET6_ADDRSTRLEN] = {};
  if (peer.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr, text, sizeof text);
  } else if (peer.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr, text, sizeof text);
  }
  return text;
}

}  // namespace

ConnectionGuard::ConnectionGuard(Options options) : options_(options) {
  ex_index_ = SSL_get_ex_new_index(0, this, nullptr, nullptr, &ConnectionGuard::on_ssl_free);
  if (ex_index_ < 0) throw std::runtime_error("SSL_get_ex_new_index failed");
  if (options_.request_timeout > 0) watchdog_ = std::thread([this] { watch(); });
}

ConnectionGuard::~ConnectionGuard() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (watchdog_.joinable()) watchdog_.join();
  std::lock_guard lock(mutex_);
  for (Connection* connection : connections_) delete connection;
  CRYPTO_free_ex_index(CRYPTO_EX_INDEX_SSL, ex_index_);
}

void ConnectionGuard::attach(SSL_CTX& ctx) { SSL_CTX_set_client_hello_cb(&ctx, &ConnectionGuard::on_client_hello, this); }

int ConnectionGuard::on_client_hello(SSL* ssl, int* alert, void* arg) {
  return static_cast<ConnectionGuard*>(arg)->admit(ssl, alert);
}

int ConnectionGuard::admit(SSL* ssl, int* alert) {
  // TLS 1.3 may bring a second ClientHello (after a HelloRetryRequest): admitted already.
  if (SSL_get_ex_data(ssl, ex_index_) != nullptr) return SSL_CLIENT_HELLO_SUCCESS;
  const int fd = SSL_get_fd(ssl);
  auto connection = std::make_unique<Connection>();
  connection->fd = fd;
  connection->address = peer_address(fd);
  connection->deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options_.request_timeout);
  std::lock_guard lock(mutex_);
  if (options_.max_per_address > 0) {
    int same = 0;
    for (const Connection* other : connections_) same += other->address == connection->address ? 1 : 0;
    if (same >= options_.max_per_address) {
      ++stats_.refused;
      *alert = SSL_AD_HANDSHAKE_FAILURE;
      return SSL_CLIENT_HELLO_ERROR;
    }
  }
  Connection* admitted = connection.release();
  connections_.insert(admitted);
  SSL_set_ex_data(ssl, ex_index_, admitted);
  current_connection = admitted;
  return SSL_CLIENT_HELLO_SUCCESS;
}

void ConnectionGuard::on_ssl_free(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void* argp) {
  if (ptr != nullptr) static_cast<ConnectionGuard*>(argp)->forget(static_cast<Connection*>(ptr));
}

void ConnectionGuard::forget(Connection* connection) {
  if (current_connection == connection) current_connection = nullptr;
  std::lock_guard lock(mutex_);
  connections_.erase(connection);
  delete connection;
}

void ConnectionGuard::request_started() {
  std::lock_guard lock(mutex_);
  auto* connection = static_cast<Connection*>(current_connection);
  if (connection != nullptr && connections_.count(connection) != 0) connection->in_handler = true;
}

void ConnectionGuard::request_finished() {
  std::lock_guard lock(mutex_);
  auto* connection = static_cast<Connection*>(current_connection);
  if (connection != nullptr && connections_.count(connection) != 0) {
    connection->in_handler = false;
    connection->deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options_.request_timeout);
  }
}

ConnectionGuard::Stats ConnectionGuard::stats() const {
  std::lock_guard lock(mutex_);
  Stats copy = stats_;
  copy.open = connections_.size();
  return copy;
}

void ConnectionGuard::watch() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, kWatchInterval, [this] { return stopping_; })) {
    const auto now = std::chrono::steady_clock::now();
    for (Connection* connection : connections_) {
      if (connection->in_handler || connection->cut || now < connection->deadline) continue;
      // The worker's pending read fails at once; cpp-httplib then frees the SSL (forget() runs,
      // under this same mutex, so the socket number is still ours here) and closes the socket.
      ::shutdown(connection->fd, SHUT_RDWR);
      connection->cut = true;
      ++stats_.cut;
    }
  }
}

}  // namespace escrowless::api
