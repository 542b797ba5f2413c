#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "pkcs11/error.h"
#include "pkcs11/uri.h"

using escrowless::pkcs11::Error;
using escrowless::pkcs11::ErrorKind;
using escrowless::pkcs11::ObjectType;
using escrowless::pkcs11::Uri;

TEST_CASE("URI: valid URIs parse into their attributes", "[unit]") {
  SECTION("token, serial, module and pin file") {
    const Uri uri = Uri::parse(
        "pkcs11:token=escrowless;serial=46f3f2e31c3a48f7"
        "?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/srv/pin");
    CHECK(uri.token == "escrowless");
    CHECK(uri.serial == "46f3f2e31c3a48f7");
    CHECK(uri.module_path == "/usr/lib/softhsm/libsofthsm2.so");
    CHECK(uri.pin_source == "file:/srv/pin");
    CHECK_FALSE(uri.manufacturer);
    CHECK_FALSE(uri.slot_id);
  }
  SECTION("the empty URI selects everything") {
    const Uri uri = Uri::parse("pkcs11:");
    CHECK_FALSE(uri.token);
    CHECK_FALSE(uri.module_path);
  }
  SECTION("the scheme is case-insensitive") { CHECK(Uri::parse("PKCS11:token=a").token == "a"); }
  SECTION("percent-encoding in path values, spaces and semicolons") {
    const Uri uri = Uri::parse("pkcs11:token=My%20Token%3Bx;manufacturer=SoftHSM%20project");
    CHECK(uri.token == "My Token;x");
    CHECK(uri.manufacturer == "SoftHSM project");
  }
  SECTION("id is raw bytes") {
    const Uri uri = Uri::parse("pkcs11:id=%01%02%FFa");
    REQUIRE(uri.id);
    CHECK(*uri.id == std::vector<std::uint8_t>{0x01, 0x02, 0xff, 'a'});
  }
  SECTION("every object type") {
    CHECK(Uri::parse("pkcs11:type=public").type == ObjectType::public_key);
    CHECK(Uri::parse("pkcs11:type=private").type == ObjectType::private_key);
    CHECK(Uri::parse("pkcs11:type=cert").type == ObjectType::certificate);
    CHECK(Uri::parse("pkcs11:type=secret-key").type == ObjectType::secret_key);
    CHECK(Uri::parse("pkcs11:type=data").type == ObjectType::data);
  }
  SECTION("slot-id, model, object") {
    const Uri uri = Uri::parse("pkcs11:slot-id=473581815;model=SoftHSM%20v2;object=log-key");
    CHECK(uri.slot_id == 473581815UL);
    CHECK(uri.model == "SoftHSM v2");
    CHECK(uri.object == "log-key");
  }
  SECTION("query values may hold '/', '?' and ':'") {
    CHECK(Uri::parse("pkcs11:?module-path=/opt/a?b/c:d.so").module_path == "/opt/a?b/c:d.so");
  }
  SECTION("env pin source") { CHECK(Uri::parse("pkcs11:?pin-source=env:HSM_PIN").pin_source == "env:HSM_PIN"); }
  SECTION("library attributes") {
    const Uri uri = Uri::parse(
        "pkcs11:library-manufacturer=SoftHSM;library-description=Implementation%20of%20PKCS11;"
        "library-version=2.6");
    CHECK(uri.library_manufacturer == "SoftHSM");
    CHECK(uri.library_description == "Implementation of PKCS11");
    CHECK(uri.library_version == "2.6");
  }
  SECTION("RFC 7512 section 3.3 example: token and object with percent-encoded bytes") {
    const Uri uri = Uri::parse(
        "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;"
        "manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;"
        "id=%69%95%3E%5C%F4%BD%EC%91");
    CHECK(uri.token == "The Software PKCS#11 Softtoken");
    CHECK(uri.manufacturer == "Snake Oil, Inc.");
    CHECK(uri.id->size() == 8);
    CHECK(uri.type == ObjectType::certificate);
  }
}

TEST_CASE("URI: to_string round-trips", "[unit]") {
  const std::vector<std::string> uris = {
      "pkcs11:serial=1234;token=My%20Token%3B?module-path=/usr/lib/x.so&pin-source=file:/p",
      "pkcs11:slot-id=7;object=key%2F1;id=%00%FF;type=private",
      "pkcs11:",
  };
  for (const std::string& text : uris) {
    const Uri once = Uri::parse(text);
    const Uri twice = Uri::parse(once.to_string());
    CHECK(twice.to_string() == once.to_string());
    CHECK(twice.token == once.token);
    CHECK(twice.id == once.id);
    CHECK(twice.object == once.object);
  }
  CHECK(Uri::parse("pkcs11:token=a%20b").to_string() == "pkcs11:token=a%20b");
}

namespace {

struct Invalid {
  std::string uri;
  std::string message_part;  // the error must name the offending part
};

}  // namespace

TEST_CASE("URI: invalid URIs are refused naming the offending part", "[unit]") {
  const std::vector<Invalid> cases = {
      {"token=abc", "must start with 'pkcs11:'"},
      {"pkcs12:token=abc", "must start with 'pkcs11:'"},
      {"", "must start with 'pkcs11:'"},
      {"pkcs11:tokn=abc", "unknown path attribute 'tokn'"},
      {"pkcs11:token=a;token=b", "'token' appears more than once"},
      {"pkcs11:token", "has no '='"},
      {"pkcs11:token=a;;serial=b", "empty attribute"},
      {"pkcs11:token=a%2", "truncated percent-encoding in the value of 'token'"},
      {"pkcs11:token=a%", "truncated percent-encoding in the value of 'token'"},
      {"pkcs11:token=a%G1", "invalid percent-encoding in the value of 'token'"},
      {"pkcs11:token=a b", "must be percent-encoded in the value of 'token'"},
      {"pkcs11:token=a/b", "must be percent-encoded in the value of 'token'"},
      {"pkcs11:token=a&b", "must be percent-encoded in the value of 'token'"},
      {"pkcs11:slot-id=abc", "'slot-id' must be a decimal number"},
      {"pkcs11:slot-id=-1", "'slot-id' must be a decimal number"},
      {"pkcs11:slot-id=99999999999999999999999", "'slot-id' must be a decimal number"},
      {"pkcs11:type=key", "'type' must be one of"},
      {"pkcs11:library-version=2.x", "'library-version'"},
      {"pkcs11:x-vendor=1", "vendor attribute 'x-vendor' is not supported"},
      {"pkcs11:?pin-value=1234", "'pin-value' is refused"},
      {"pkcs11:?pin-source=file:/a&pin-source=file:/b", "'pin-source' appears more than once"},
      {"pkcs11:?pin-source=", "'pin-source' is empty"},
      {"pkcs11:?module-path=", "'module-path' is empty"},
      {"pkcs11:?modulepath=/x.so", "unknown query attribute 'modulepath'"},
      {"pkcs11:?module-path=/a b.so", "must be percent-encoded in the value of 'module-path'"},
      {"pkcs11:token=a?", "empty query after '?'"},
      {"pkcs11:?=x", "invalid attribute name"},
      {"pkcs11:?module-path=/a.so&&pin-source=env:X", "empty attribute in the query"},
  };
  for (const Invalid& c : cases) {
    INFO("URI: " << c.uri);
    try {
      (void)Uri::parse(c.uri);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::invalid_input);
      CHECK_THAT(e.what(), Catch::Contains(c.message_part));
      CHECK_THAT(e.what(), Catch::StartsWith("PKCS#11 URI: "));
    }
  }
}

TEST_CASE("URI: a pin-value is never echoed in the refusal", "[unit]") {
  try {
    (void)Uri::parse("pkcs11:token=t?pin-value=s3cr3t-PIN-9921");
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), !Catch::Contains("s3cr3t"));
  }
}
