// The verifying tools' HTTPS client against a real TLS server on 127.0.0.1.
#include <catch2/catch.hpp>

#include <httplib.h>

#include <thread>

#include "audit/client/https_client.h"
#include "keyservice/tls_cert.h"
#include "tests/support/test_token.h"

using namespace escrowless;

TEST_CASE("https client: a GET after the server closed the idle kept-alive connection is sent again", "[http]") {
  testing::TempDir dir;
  const std::string cert = (dir.path() / "cert.pem").string();
  const std::string key = (dir.path() / "key.pem").string();
  keyservice::write_localhost_certificate(cert, key);
  httplib::SSLServer server(cert.c_str(), key.c_str());
  REQUIRE(server.is_valid());
  server.set_keep_alive_timeout(1);  // closes a connection idle for a second
  server.Get("/v1/x", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("ok", "text/plain");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&server] { server.listen_after_bind(); });

  audit::client::HttpsClient client(audit::client::ServerUrl::parse("https://localhost:" + std::to_string(port)),
                                    {cert, "", 5});
  CHECK(client.get("/v1/x") == "ok");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // the server closes it meanwhile
  CHECK(client.get("/v1/x") == "ok");
  server.stop();
  serving.join();
}
