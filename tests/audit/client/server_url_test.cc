// audit::client::ServerUrl::parse: the URLs the verifying tools accept, and each they refuse
// with a message naming what is wrong.
#include <catch2/catch.hpp>

#include <string>

#include "audit/client/https_client.h"

using escrowless::audit::client::FetchError;
using escrowless::audit::client::ServerUrl;

TEST_CASE("server url: https URLs with host and optional port and base path", "[unit]") {
  struct Good {
    std::string url, host;
    int port;
    std::string base_path;
  };
  const Good cases[] = {
      {"https://localhost", "localhost", 443, ""},
      {"https://localhost/", "localhost", 443, ""},
      {"https://localhost:8443", "localhost", 8443, ""},
      {"https://127.0.0.1:1", "127.0.0.1", 1, ""},
      {"https://keys.example.org:65535/escrowless/", "keys.example.org", 65535, "/escrowless"},
      {"https://keys.example.org/a/b//", "keys.example.org", 443, "/a/b"},
      {"https://[::1]:8443", "::1", 8443, ""},
      {"https://[::1]", "::1", 443, ""},
      {"https://[2001:db8::7]/base", "2001:db8::7", 443, "/base"},
  };
  for (const Good& c : cases) {
    INFO(c.url);
    const ServerUrl url = ServerUrl::parse(c.url);
    CHECK(url.host == c.host);
    CHECK(url.port == c.port);
    CHECK(url.base_path == c.base_path);
  }
}

TEST_CASE("server url: everything else is refused naming why", "[unit]") {
  const std::pair<std::string, std::string> cases[] = {
      {"http://localhost:8443", "must start with https://"},
      {"localhost:8443", "must start with https://"},
      {"", "must start with https://"},
      {"https://", "has no host"},
      {"https:///v1", "has no host"},
      {"https://:8443", "has no host"},
      {"https://[::1", "unclosed '['"},
      {"https://[::1]8443", "garbage after ']'"},
      {"https://[]:8443", "has no host"},
      {"https://localhost:", "bad port"},
      {"https://localhost:0", "bad port"},
      {"https://localhost:65536", "bad port"},
      {"https://localhost:-1", "bad port"},
      {"https://localhost:84x3", "bad port"},
      {"https://localhost:+443", "bad port"},
      {"https://localhost:99999999999999999999", "bad port"},
      {"https://[::1]:", "bad port"},
      {"https://user:secret@localhost", "must not carry user info"},
      {"https://localhost?x=1", "must not carry user info, a query or a fragment"},
      {"https://localhost#top", "must not carry user info, a query or a fragment"},
  };
  for (const auto& [url, why] : cases) {
    INFO(url);
    CHECK_THROWS_WITH(ServerUrl::parse(url), Catch::Contains(why));
  }
}

TEST_CASE("server url: plain http only where allowed (self-verifying tiles), port 80 by default", "[unit]") {
  const ServerUrl plain = ServerUrl::parse("http://mirror.example.org/log/", true);
  CHECK_FALSE(plain.tls);
  CHECK(plain.port == 80);
  CHECK(plain.base_path == "/log");
  CHECK(plain.origin() == "http://mirror.example.org:80");
  CHECK(ServerUrl::parse("https://[::1]:8443", true).origin() == "https://[::1]:8443");
  CHECK_THROWS_WITH(ServerUrl::parse("http://mirror.example.org"), Catch::Contains("must start with https://"));
  CHECK_THROWS_WITH(ServerUrl::parse("ftp://mirror.example.org", true), Catch::Contains("https:// or http://"));
}
