// RFC 7512 PKCS#11 URIs (pkcs11/uri.h), as read from configuration and the command line.
// Properties: only pkcs11::Error(invalid_input) comes out; the canonical form of a parsed URI
// parses again to the same canonical form; a pin-value attribute is always refused.
#include <cstdio>
#include <string>

#include "pkcs11/error.h"
#include "pkcs11/uri.h"
#include "tests/fuzz/fuzz_support.h"

using namespace escrowless;

namespace {

// Whether the query part names a pin-value attribute (names are never percent-encoded).
bool has_pin_value(std::string_view text) {
  const std::size_t question = text.find('?');
  if (question == std::string_view::npos) return false;
  std::string_view query = text.substr(question + 1);
  while (true) {
    const std::size_t amp = query.find('&');
    const std::string_view attribute = query.substr(0, amp);
    if (attribute.substr(0, attribute.find('=')) == "pin-value") return true;
    if (amp == std::string_view::npos) return false;
    query = query.substr(amp + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  pkcs11::Uri uri;
  try {
    uri = pkcs11::Uri::parse(text);
  } catch (const pkcs11::Error& e) {
    if (e.kind() != pkcs11::ErrorKind::invalid_input) {
      std::fprintf(stderr, "error: %s\n", e.what());
      fuzz::fail("a malformed URI is invalid_input");
    }
    return 0;
  }
  fuzz::require(!has_pin_value(text), "a URI with a pin-value attribute is refused");
  const std::string canonical = uri.to_string();
  pkcs11::Uri again;
  try {
    again = pkcs11::Uri::parse(canonical);
  } catch (const pkcs11::Error& e) {
    std::fprintf(stderr, "canonical form %s: %s\n", canonical.c_str(), e.what());
    fuzz::fail("the canonical form of a parsed URI parses");
  }
  fuzz::require(again.to_string() == canonical, "the canonical form is a fixed point");
  fuzz::require(again.id == uri.id && again.token == uri.token && again.object == uri.object &&
                    again.serial == uri.serial && again.slot_id == uri.slot_id &&
                    again.module_path == uri.module_path && again.pin_source == uri.pin_source &&
                    again.type == uri.type,
                "the canonical form keeps every attribute");
  return 0;
}
