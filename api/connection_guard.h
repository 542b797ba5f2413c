// Defences below cpp-httplib, which has per-read timeouts but no deadline for a whole request and
// no notion of who holds its connections:
// - slow clients (slowloris): every request, headers and body, must have arrived within
//   `request_timeout` of the connection's TLS hello or of the previous response; a watchdog
//   shuts down the socket of a connection past its deadline (time spent in our handlers does not
//   count);
// - connection hogs: one address may hold at most `max_per_address` TLS connections; the next
//   one's handshake is refused.
// It hooks into OpenSSL: a ClientHello callback registers each connection (its socket, the peer
// address) and an SSL ex_data free callback forgets it when cpp-httplib frees the SSL, which it
// does before closing the socket, so the watchdog never touches a socket number already reused.
// The request wrapper reports the start and end of each handler from the connection's worker
// thread (cpp-httplib serves a connection on one thread from its hello to its close).
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace escrowless::api {

class ConnectionGuard {
 public:
  struct Options {
    int request_timeout = 10;  // seconds; 0: no deadline
    int max_per_address = 0;   // 0: no limit
  };
  struct Stats {
    std::size_t open = 0;       // TLS connections past their hello, not yet closed
    std::uint64_t refused = 0;  // handshakes refused: too many connections from one address
    std::uint64_t cut = 0;      // connections shut down for missing their request deadline
  };

  explicit ConnectionGuard(Options options);
  ~ConnectionGuard();
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;

  // Installs the callbacks on the server's context; the guard must outlive every SSL of it.
  void attach(SSL_CTX& ctx);

  // From the worker thread serving the connection: a request has been read / answered.
  void request_started();
  void request_finished();

  Stats stats() const;

 private:
  struct Connection {
    int fd;
    std::string address;
    std::chrono::steady_clock::time_point deadline;
    bool in_handler = false;
    bool cut = false;
  };

  static int on_client_hello(SSL* ssl, int* alert, void* arg);
  static void on_ssl_free(void* parent, void* ptr, CRYPTO_EX_DATA* data, int index, long argl, void* argp);
  int admit(SSL* ssl, int* alert);
  void forget(Connection* connection);
  void watch();

  const Options options_;
  int ex_index_ = -1;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::set<Connection*> connections_;
  Stats stats_;
  bool stopping_ = false;
  std::thread watchdog_;
};

}  // namespace escrowless::api
