// The one HTTPS client of the verifying tools (keyaudit, keyclient): GETs against a keyserviced
// base URL with the server certificate verified (a given CA file, else the system's store), TLS
// 1.2 or later; plain HTTP only for a URL parsed with allow_http (self-verifying tiles). Lives beside the audit core, not in it, so an app can link the verification
// without an HTTP stack.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace httplib {
class ClientImpl;
}

namespace escrowless::audit::client {

// The server could not be asked: bad URL, connection or TLS failure, or a non-2xx answer (the
// message names the status and the problem+json detail). Tools map it to "exit 2", apart from
// a verification failure, which is the server's answer not checking.
class FetchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "https://host[:port][/base]"; the port defaults to 443. IPv6 hosts in brackets. With
// `allow_http`, "http://host[:port][/base]" too (port 80): only for content that verifies itself
// whoever serves it, such as a tlog-tiles mirror.
struct ServerUrl {
  bool tls = true;
  std::string host;
  int port = 443;
  std::string base_path;  // no trailing '/', may be empty

  // Throws FetchError naming what is wrong.
  static ServerUrl parse(std::string_view url, bool allow_http = false);
  // "https://host:port" (IPv6 hosts in brackets), for messages: never user info.
  std::string origin() const;
};

struct ClientOptions {
  std::optional<std::string> ca_file;  // PEM bundle to trust instead of the system store
  std::string bearer;                  // sent as "Authorization: Bearer ..." when not empty
  int timeout_seconds = 30;
};

class HttpsClient {
 public:
  HttpsClient(const ServerUrl& url, ClientOptions options);
  ~HttpsClient();
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  // GET base_path + `path` (which starts with '/' and may carry a query); the body of a 2xx answer.
  // A server that can't be reached throws "cannot connect to https://host:port: <reason>" with
  // the operating system's reason (e.g. "connection refused").
  std::string get(const std::string& path) const;

  // A POST's answer, whatever its status: protocols such as C2SP tlog-witness answer in their
  // status codes, so the caller judges them.
  struct Answer {
    int status = 0;
    std::string content_type;
    std::string body;
  };
  // POST base_path + `path` with `body`. FetchError only when no answer came (connection, TLS).
  // Not retried: the server may have acted on it.
  Answer post(const std::string& path, const std::string& body, const std::string& content_type) const;

 private:
  ServerUrl url_;
  std::string bearer_;
  std::unique_ptr<httplib::ClientImpl> client_;  // an httplib::SSLClient unless url.tls is false
};

}  // namespace escrowless::audit::client
