// Log entries (audit/log_entry.h): parse_entry() either refuses the bytes as invalid_input or
// returns an entry whose canonical encoding is exactly those bytes (one encoding per entry), so
// what an auditor accepts is what the server could have written. Also checks parse_canonical's
// fast path against its reference on every input.
#include <string>

#include "audit/canonical_json.h"
#include "audit/log_entry.h"
#include "tests/fuzz/fuzz_support.h"

using namespace escrowless;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view bytes = fuzz::as_text(data, size);
  // parse_canonical's one-pass reader accepts exactly what its reference (parse, re-encode,
  // compare) accepts, with the same value.
  std::string fast, reference;
  try {
    fast = audit::parse_canonical(bytes).dump();
  } catch (const audit::Error& e) {
    fast = std::string("refused: ") + e.what();
  }
  try {
    reference = audit::parse_canonical_reference(bytes).dump();
  } catch (const audit::Error& e) {
    reference = std::string("refused: ") + e.what();
  }
  fuzz::require(fast == reference, "parse_canonical agrees with parse_canonical_reference");
  audit::LogEntry entry;
  try {
    entry = audit::parse_entry(bytes);
  } catch (const audit::Error& e) {
    fuzz::require_invalid_input(e);
    return 0;
  }
  const std::vector<uint8_t> again = entry.to_bytes();
  fuzz::require(std::string_view(reinterpret_cast<const char*>(again.data()), again.size()) == bytes,
                "a parsed entry encodes back to the same bytes");
  fuzz::require(audit::parse_entry(again) == entry, "the re-encoded entry parses to the same entry");
  (void)audit::to_string(entry.type());
  return 0;
}
