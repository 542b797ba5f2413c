// Random mutations of valid inputs: every parser either accepts or throws audit::Error, and
// never crashes or reads out of bounds (run under ASan/UBSan). Deterministic seed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "audit/checkpoint.h"
#include "audit/encoding.h"
#include "audit/note.h"
#include "audit/verifier_key.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;

namespace {

// Flips, replaces, inserts or deletes a few bytes, biased towards the bytes that matter here.
std::string mutate(std::string s, std::mt19937& rng) {
  static constexpr char kInteresting[] = {'\n', ' ', '+', '=', '/', '\0', '\x01', '\x80',
                                          '\xE2', '\x94', '\xFF', '0', 'A'};
  std::uniform_int_distribution<int> ops(1, 3);
  for (int n = ops(rng); n > 0; --n) {
    const std::size_t size = s.size();
    const std::size_t at = size == 0 ? 0 : std::uniform_int_distribution<std::size_t>(0, size - 1)(rng);
    const char c = kInteresting[std::uniform_int_distribution<std::size_t>(0, sizeof kInteresting - 1)(rng)];
    switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
      case 0:
        if (size > 0) s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8)));
        break;
      case 1:
        if (size > 0) s[at] = c;
        break;
      case 2:
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), c);
        break;
      default:
        if (size > 0) s.erase(at, 1 + rng() % 4);
        break;
    }
  }
  return s;
}

// Runs f; only audit::Error may escape (Catch fails the test on anything else).
template <typename F>
void accepts_or_rejects(F&& f) {
  try {
    f();
  } catch (const Error&) {
  }
}

}  // namespace

TEST_CASE("mutated notes, keys, checkpoints and encodings never crash", "[unit]") {
  const auto data = test::load_json("signed_note/known_answers.json");
  std::vector<std::pair<std::string, std::vector<VerifierKey>>> notes;
  std::vector<std::string> vkeys;
  for (const auto& item : data["valid"]) {
    std::vector<VerifierKey> keys;
    for (const auto& v : item["verifier_keys"]) {
      vkeys.push_back(v.get<std::string>());
      keys.push_back(parse_verifier_key(vkeys.back()));
    }
    notes.emplace_back(item["note"].get<std::string>(), std::move(keys));
  }
  std::mt19937 rng(20240601);
  for (int round = 0; round < 400; ++round) {
    for (const auto& [note, keys] : notes) {
      const std::string mutant = mutate(note, rng);
      accepts_or_rejects([&] {
        const VerifiedNote verified = verify_note(mutant, keys);
        // A mutant may still verify (a mutation that undid itself, or one that only touched
        // a signature from an unknown key) but only with the original text and signatures.
        const Note original = parse_note(note);
        CHECK(verified.text == original.text);
        for (const NoteSignature& sig : verified.verified) {
          CHECK(std::find(original.signatures.begin(), original.signatures.end(), sig) !=
                original.signatures.end());
        }
      });
      accepts_or_rejects([&] { parse_checkpoint(parse_note(mutant).text); });
    }
    for (const std::string& vkey : vkeys) {
      accepts_or_rejects([&] { parse_verifier_key(mutate(vkey, rng)); });
    }
    accepts_or_rejects([&] { base64_decode(mutate("Zm9vYmFyIGJheg==", rng)); });
    accepts_or_rejects([&] { hex_decode(mutate("00ff10ab", rng)); });
  }
}
