// A TLS connection (certificate verified) that sends exact request bytes and reads responses one
// at a time: for requests httplib's client cannot make (it always adds Content-Length to a
// POST), and for several requests on one keep-alive connection.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "audit/openssl_ptr.h"

namespace escrowless::testing {

struct RawResponse {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;
};

class RawHttpsConnection {
 public:
  RawHttpsConnection(int port, const std::string& ca_file) : ctx_(SSL_CTX_new(TLS_client_method())) {
    if (!ctx_ || SSL_CTX_load_verify_locations(ctx_.get(), ca_file.c_str(), nullptr) != 1) {
      throw std::runtime_error("RawHttpsConnection: cannot load " + ca_file);
    }
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    bio_.reset(BIO_new_ssl_connect(ctx_.get()));
    SSL* ssl = nullptr;
    BIO_get_ssl(bio_.get(), &ssl);
    // The fixture's certificate names 127.0.0.1; check it like any client would.
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
    const std::string address = "127.0.0.1:" + std::to_string(port);
    BIO_set_conn_hostname(bio_.get(), address.c_str());
    if (BIO_do_connect(bio_.get()) != 1 || BIO_do_handshake(bio_.get()) != 1) {
      throw std::runtime_error("RawHttpsConnection: TLS connection to " + address + " failed");
    }
  }

  void send(std::string_view request) {
    std::size_t written = 0;
    while (written < request.size()) {
      const int n = BIO_write(bio_.get(), request.data() + written, static_cast<int>(request.size() - written));
      if (n <= 0) throw std::runtime_error("RawHttpsConnection: write failed");
      written += static_cast<std::size_t>(n);
    }
  }

  // The next response; it must carry a Content-Length (httplib's always do).
  RawResponse read_response() {
    std::size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) fill();
    RawResponse response;
    response.head = buffer_.substr(0, head_end);
    if (!response.head.starts_with("HTTP/1.1 ")) throw std::runtime_error("not an HTTP/1.1 response: " + response.head);
    response.status = std::stoi(response.head.substr(9, 3));
    const std::size_t length_at = response.head.find("Content-Length: ");
    if (length_at == std::string::npos) throw std::runtime_error("response without Content-Length");
    const std::size_t length = std::stoul(response.head.substr(length_at + 16));
    while (buffer_.size() < head_end + 4 + length) fill();
    response.body = buffer_.substr(head_end + 4, length);
    buffer_.erase(0, head_end + 4 + length);
    return response;
  }

 private:
  void fill() {
    char chunk[4096];
    const int n = BIO_read(bio_.get(), chunk, sizeof chunk);
    if (n <= 0) throw std::runtime_error("RawHttpsConnection: the server closed the connection");
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }

  using SslCtxPtr = std::unique_ptr<SSL_CTX, audit::OpenSslDeleter<SSL_CTX_free>>;  // libssl: not in audit/
  SslCtxPtr ctx_;
  audit::BioPtr bio_;
  std::string buffer_;
};

}  // namespace escrowless::testing
