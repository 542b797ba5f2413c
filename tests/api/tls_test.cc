// The TLS versions and TLS 1.2 cipher suites api::HttpServer accepts, probed with a raw OpenSSL
// client that is willing to do anything (security level 0, TLS 1.0 up, every suite): so a refusal
// can only come from the server. OpenSSL 3's client at its default settings refuses TLS 1.0/1.1
// and many suites on its own, which would make a refusal prove nothing. The same probes against a
// throwaway OpenSSL server that allows everything show that each refused handshake could succeed.
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/http_server.h"
#include "audit/openssl_ptr.h"
#include "keyservice/tls_cert.h"
#include "tests/support/test_token.h"

namespace {

using namespace escrowless;
using SslCtxPtr = std::unique_ptr<SSL_CTX, audit::OpenSslDeleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, audit::OpenSslDeleter<SSL_free>>;

// Closes a socket descriptor.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

int connect_loopback(int port) {
  const int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(sock >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(sock, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
  return sock;
}

const char* version_name(int version) {
  switch (version) {
    case TLS1_VERSION: return "TLSv1";
    case TLS1_1_VERSION: return "TLSv1.1";
    case TLS1_2_VERSION: return "TLSv1.2";
    case TLS1_3_VERSION: return "TLSv1.3";
    default: return "?";
  }
}

struct Offer {
  int version;               // the only protocol version offered
  std::string ciphers = "";  // TLS 1.2 and below: the suites offered (empty: all of them)
};

struct Outcome {
  bool ok = false;
  int version = 0;          // negotiated
  std::string cipher;       // negotiated
  int key_exchange = 0;     // the negotiated suite's NID_kx_*
  bool aead = false;        // ... and whether its cipher is an AEAD
  unsigned long error = 0;  // the first OpenSSL error of a failed handshake
  std::string describe() const {
    if (ok) return std::string("handshake with ") + version_name(version) + " " + cipher;
    char text[256];
    ERR_error_string_n(error, text, sizeof text);
    return text;
  }
};

// A client context that would accept any version and any suite; `offer` narrows what it sends.
SslCtxPtr permissive_client(const std::string& ca_file, const Offer& offer) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  REQUIRE(ctx);
  SSL_CTX_set_security_level(ctx.get(), 0);
  REQUIRE(SSL_CTX_set_min_proto_version(ctx.get(), offer.version) == 1);
  REQUIRE(SSL_CTX_set_max_proto_version(ctx.get(), offer.version) == 1);
  const std::string list = (offer.ciphers.empty() ? std::string("ALL") : offer.ciphers) + ":@SECLEVEL=0";
  REQUIRE(SSL_CTX_set_cipher_list(ctx.get(), list.c_str()) == 1);
  REQUIRE(SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) == 1);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  return ctx;
}

Outcome handshake(int port, const std::string& ca_file, const Offer& offer) {
  ERR_clear_error();
  const SslCtxPtr ctx = permissive_client(ca_file, offer);
  const SslPtr ssl(SSL_new(ctx.get()));
  REQUIRE(ssl);
  Fd sock(connect_loopback(port));
  SSL_set_fd(ssl.get(), sock.fd);
  Outcome outcome;
  if (SSL_connect(ssl.get()) == 1) {
    outcome.ok = true;
    outcome.version = SSL_version(ssl.get());
    const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl.get());
    outcome.cipher = SSL_CIPHER_get_name(cipher);
    outcome.key_exchange = SSL_CIPHER_get_kx_nid(cipher);
    outcome.aead = SSL_CIPHER_is_aead(cipher) == 1;
    SSL_shutdown(ssl.get());
  } else {
    outcome.error = ERR_peek_error();
  }
  ERR_clear_error();
  return outcome;
}

bool refused_by_peer_with(const Outcome& outcome, int reason) {
  return !outcome.ok && ERR_GET_LIB(outcome.error) == ERR_LIB_SSL && ERR_GET_REASON(outcome.error) == reason;
}

// Every TLS 1.2-and-below suite this OpenSSL knows that is not ECDHE with an AEAD cipher, as a
// cipher list.
std::string suites_but_ecdhe_aead() {
  const SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  REQUIRE(ctx);
  SSL_CTX_set_security_level(ctx.get(), 0);
  REQUIRE(SSL_CTX_set_cipher_list(ctx.get(), "ALL:COMPLEMENTOFALL:@SECLEVEL=0") == 1);
  std::string list;
  int count = 0;
  const STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(ctx.get());
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(ciphers, i);
    const int kx = SSL_CIPHER_get_kx_nid(cipher);
    // TLS 1.3 suites (configured apart, and all AEAD) name no key exchange of their own.
    if (kx == NID_kx_any || (kx == NID_kx_ecdhe && SSL_CIPHER_is_aead(cipher) == 1)) continue;
    list += (list.empty() ? "" : ":") + std::string(SSL_CIPHER_get_name(cipher));
    ++count;
  }
  REQUIRE(count > 50);
  return list;
}

// A stand-in for "a server without our restrictions": OpenSSL with every version from TLS 1.0 and
// every suite allowed, on the same certificate, answering handshakes until destroyed.
class PermissiveServer {
 public:
  PermissiveServer(const std::string& cert, const std::string& key) : ctx_(SSL_CTX_new(TLS_server_method())) {
    REQUIRE(ctx_);
    SSL_CTX_set_security_level(ctx_.get(), 0);
    REQUIRE(SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_VERSION) == 1);
    REQUIRE(SSL_CTX_set_cipher_list(ctx_.get(), "ALL:@SECLEVEL=0") == 1);
    REQUIRE(SSL_CTX_use_certificate_chain_file(ctx_.get(), cert.c_str()) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey_file(ctx_.get(), key.c_str(), SSL_FILETYPE_PEM) == 1);
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
    REQUIRE(::listen(listener_, 16) == 0);
    socklen_t length = sizeof(address);
    REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~PermissiveServer() {
    ::shutdown(listener_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    ::close(listener_);
  }
  int port() const { return port_; }

 private:
  void serve() {
    for (;;) {
      const int sock = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (sock < 0) return;
      Fd connection(sock);
      const SslPtr ssl(SSL_new(ctx_.get()));
      if (!ssl) continue;
      SSL_set_fd(ssl.get(), connection.fd);
      if (SSL_accept(ssl.get()) == 1) SSL_shutdown(ssl.get());
      ERR_clear_error();  // this thread's queue, not the client's
    }
  }

  SslCtxPtr ctx_;
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
};

struct Servers {
  testing::TempDir dir;
  std::string cert = (dir.path() / "cert.pem").string(), key = (dir.path() / "key.pem").string();
  api::Metrics metrics;
  std::unique_ptr<api::HttpServer> ours;
  int port = 0;
  std::thread serving;
  std::unique_ptr<PermissiveServer> permissive;
  Servers() {
    keyservice::write_localhost_certificate(cert, key);
    ours = api::HttpServer::create({cert, key}, metrics);
    port = ours->bind("127.0.0.1", 0);
    serving = std::thread([this] { ours->run(); });
    ours->wait_until_running();
    permissive = std::make_unique<PermissiveServer>(cert, key);
  }
  ~Servers() {
    ours->stop();
    serving.join();
  }
};

}  // namespace

TEST_CASE("api: TLS below 1.2 is refused by the server, 1.2 and 1.3 are served", "[http]") {
  Servers servers;
  for (const int version : {TLS1_VERSION, TLS1_1_VERSION}) {
    INFO("version " << version_name(version));
    // The client can do it: the permissive server completes the handshake at that version...
    const Outcome control = handshake(servers.permissive->port(), servers.cert, {version});
    INFO("permissive server: " << control.describe());
    REQUIRE(control.ok);
    CHECK(control.version == version);
    // ... and ours refuses it with a protocol_version alert (RFC 8446 6.2), not some other failure.
    const Outcome ours = handshake(servers.port, servers.cert, {version});
    INFO("our server: " << ours.describe());
    CHECK(refused_by_peer_with(ours, SSL_R_TLSV1_ALERT_PROTOCOL_VERSION));
  }
  for (const int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    const Outcome ours = handshake(servers.port, servers.cert, {version});
    INFO("our server: " << ours.describe());
    CHECK(ours.ok);
    CHECK(ours.version == version);
  }
}

TEST_CASE("api: TLS 1.2 serves only ECDHE suites with AEAD ciphers", "[http]") {
  Servers servers;
  // Offered every other suite at once, a server that serves any of them picks one.
  const Offer others{TLS1_2_VERSION, suites_but_ecdhe_aead()};
  const Outcome control = handshake(servers.permissive->port(), servers.cert, others);
  INFO("permissive server: " << control.describe());
  REQUIRE(control.ok);  // some of them can be served on this certificate
  const Outcome refused = handshake(servers.port, servers.cert, others);
  INFO("our server: " << refused.describe());
  CHECK(refused_by_peer_with(refused, SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE));  // no suite in common

  // One by name: CBC with HMAC, which OpenSSL serves on an ECDSA certificate by default.
  const Offer cbc{TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA256"};
  REQUIRE(handshake(servers.permissive->port(), servers.cert, cbc).ok);
  const Outcome cbc_refused = handshake(servers.port, servers.cert, cbc);
  INFO("our server, CBC: " << cbc_refused.describe());
  CHECK(refused_by_peer_with(cbc_refused, SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE));

  // Offered everything, ours settles on ECDHE with an AEAD cipher.
  const Outcome served = handshake(servers.port, servers.cert, {TLS1_2_VERSION});
  INFO("our server, all offered: " << served.describe());
  REQUIRE(served.ok);
  CHECK(served.key_exchange == NID_kx_ecdhe);
  CHECK(served.aead);
}
