#include "audit/client/https_client.h"

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <charconv>
#include <utility>

namespace escrowless::audit::client {

ServerUrl ServerUrl::parse(std::string_view url) {
  constexpr std::string_view scheme = "https://";
  if (!url.starts_with(scheme)) throw FetchError("server URL must start with https://");
  std::string_view rest = url.substr(scheme.size());
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  // Checked first, and no message echoes the URL: user info may hold a password.
  if (authority.find('@') != std::string_view::npos || rest.find_first_of("?#") != std::string_view::npos)
    throw FetchError("server URL must not carry user info, a query or a fragment");
  ServerUrl parsed;
  if (slash != std::string_view::npos) {
    parsed.base_path = std::string(rest.substr(slash));
    while (!parsed.base_path.empty() && parsed.base_path.back() == '/') parsed.base_path.pop_back();
  }
  std::string_view port_text;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) throw FetchError("server URL has an unclosed '['");
    parsed.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw FetchError("server URL has garbage after ']'");
      port_text = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    parsed.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (parsed.host.empty()) throw FetchError("server URL has no host");
  if (!port_text.empty() || (authority.back() == ':')) {
    int port = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 || port > 65535)
      throw FetchError("server URL has a bad port");
    parsed.port = port;
  }
  return parsed;
}

HttpsClient::HttpsClient(const ServerUrl& url, ClientOptions options)
    : url_(url), bearer_(std::move(options.bearer)), client_(std::make_unique<httplib::SSLClient>(url.host, url.port)) {
  if (options.ca_file) client_->set_ca_cert_path(options.ca_file->c_str());
  client_->enable_server_certificate_verification(true);
  SSL_CTX_set_min_proto_version(client_->ssl_context(), TLS1_2_VERSION);
  client_->set_connection_timeout(options.timeout_seconds, 0);
  client_->set_read_timeout(options.timeout_seconds, 0);
  client_->set_keep_alive(true);
}

HttpsClient::~HttpsClient() { OPENSSL_cleanse(bearer_.data(), bearer_.size()); }

namespace {

// "404 Not Found: device 7 is not enrolled" from a problem+json body, else the bare status.
std::string describe_failure(const httplib::Response& response) {
  std::string text = "HTTP " + std::to_string(response.status);
  const auto problem = nlohmann::json::parse(response.body, nullptr, false);
  if (problem.is_object()) {
    if (problem.contains("title") && problem["title"].is_string()) text += " " + problem["title"].get<std::string>();
    if (problem.contains("detail") && problem["detail"].is_string()) text += ": " + problem["detail"].get<std::string>();
  }
  return text;
}

}  // namespace

std::string HttpsClient::get(const std::string& path) const {
  httplib::Headers headers;
  if (!bearer_.empty()) headers.emplace("Authorization", "Bearer " + bearer_);
  const std::string target = url_.base_path + path;
  auto result = client_->Get(target.c_str(), headers);
  if (!result && (result.error() == httplib::Error::Read || result.error() == httplib::Error::Write)) {
    // The kept-alive connection was closed by the server while idle (its keep-alive timeout) or
    // after its last allowed request: a GET is safe to send again, on a new connection.
    client_->stop();
    result = client_->Get(target.c_str(), headers);
  }
  if (!result) {
    std::string message = "GET " + target + " failed: " + httplib::to_string(result.error());
    if (result.error() == httplib::Error::SSLServerVerification)
      message += " (the server certificate did not verify; pass the server's certificate with --cacert)";
    throw FetchError(message);
  }
  if (result->status < 200 || result->status > 299)
    throw FetchError("GET " + target + " answered " + describe_failure(*result));
  return result->body;
}

HttpsClient::Answer HttpsClient::post(const std::string& path, const std::string& body,
                                      const std::string& content_type) const {
  httplib::Headers headers;
  if (!bearer_.empty()) headers.emplace("Authorization", "Bearer " + bearer_);
  const std::string target = url_.base_path + path;
  const auto result = client_->Post(target.c_str(), headers, body, content_type.c_str());
  if (!result) {
    std::string message = "POST " + target + " failed: " + httplib::to_string(result.error());
    if (result.error() == httplib::Error::SSLServerVerification) message += " (the server certificate did not verify)";
    throw FetchError(message);
  }
  return {result->status, result->get_header_value("Content-Type"), result->body};
}

}  // namespace escrowless::audit::client
