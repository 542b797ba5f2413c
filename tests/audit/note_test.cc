#include "audit/note.h"

#include <catch2/catch.hpp>

#include "audit/encoding.h"
#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using test::IsInvalidInput;
using test::IsMismatch;

namespace {

nlohmann::json known_answers() { return test::load_json("signed_note/known_answers.json"); }

std::vector<VerifierKey> keys_of(const nlohmann::json& item) {
  std::vector<VerifierKey> keys;
  for (const auto& vkey : item["verifier_keys"]) keys.push_back(parse_verifier_key(vkey.get<std::string>()));
  return keys;
}

std::string label(const NoteSignature& sig) {
  const uint8_t id[4] = {static_cast<uint8_t>(sig.key_id >> 24), static_cast<uint8_t>(sig.key_id >> 16),
                         static_cast<uint8_t>(sig.key_id >> 8), static_cast<uint8_t>(sig.key_id)};
  return sig.name + "+" + hex_encode(id);
}

std::vector<std::string> labels(const std::vector<NoteSignature>& sigs) {
  std::vector<std::string> out;
  for (const auto& sig : sigs) out.push_back(label(sig));
  return out;
}

// The Peter Neumann note of golang.org/x/mod/sumdb/note, which the mutations below start from.
struct Peter {
  nlohmann::json item = test::find_case(known_answers()["valid"], "go-sumdb-note-peter");
  std::string note = item["note"].get<std::string>();
  std::string text = item["text"].get<std::string>();
  std::vector<VerifierKey> keys = keys_of(item);
};

}  // namespace

TEST_CASE("signed notes from the spec, Go sumdb and transparency-dev verify", "[vectors]") {
  const auto data = known_answers();
  for (const auto& item : data["valid"]) {
    INFO(item["name"].get<std::string>() << " from " << item["source"].get<std::string>());
    const auto note = item["note"].get<std::string>();
    const VerifiedNote verified = verify_note(note, keys_of(item));
    CHECK(verified.text == item["text"].get<std::string>());
    CHECK(labels(verified.verified) == item["verified"].get<std::vector<std::string>>());
    CHECK(labels(verified.unverified) == item["unverified"].get<std::vector<std::string>>());
    // Parsing and re-serialising gives back the exact bytes.
    CHECK(format_note(parse_note(note)) == note);
  }
}

TEST_CASE("spec examples without published keys parse", "[vectors]") {
  const auto data = known_answers();
  for (const auto& item : data["parse_only"]) {
    INFO(item["name"].get<std::string>());
    const Note note = parse_note(item["note"].get<std::string>());
    CHECK(note.text == item["text"].get<std::string>());
    CHECK(labels(note.signatures) == item["signatures"].get<std::vector<std::string>>());
    // Signed by a key we don't know: never accepted.
    const std::vector<VerifierKey> none;
    REQUIRE_THROWS_MATCHES(verify_note(item["note"].get<std::string>(), none), Error, IsMismatch());
  }
}

TEST_CASE("known bad signatures are mismatches", "[vectors]") {
  const auto data = known_answers();
  for (const auto& item : data["bad_signature"]) {
    INFO(item["name"].get<std::string>());
    const auto kind = test::error_kind_of([&] { verify_note(item["note"].get<std::string>(), keys_of(item)); });
    // A corrupted ECDSA signature may stop being DER at all, which is malformed input.
    CHECK((kind == ErrorKind::mismatch || kind == ErrorKind::invalid_input));
  }
  const Peter peter;
  const std::string modified = test::find_case(data["bad_signature"], "go-sumdb-note-peter-modified-signature")["note"];
  // Go calls this "invalid signature"; the inserted bytes make the Ed25519 signature 67 bytes
  // long, which we reject earlier as malformed.
  CHECK(test::error_kind_of([&] { verify_note(modified, peter.keys); }) == ErrorKind::invalid_input);
  const auto& altered = test::find_case(data["bad_signature"], "go-sumdb-checkpoint-altered-origin");
  CHECK(test::error_kind_of([&] { verify_note(altered["note"].get<std::string>(), keys_of(altered)); }) ==
        ErrorKind::mismatch);
}

TEST_CASE("note mutations are rejected", "[unit]") {
  const Peter peter;
  REQUIRE_NOTHROW(verify_note(peter.note, peter.keys));
  const std::size_t sig_start = peter.note.rfind("\n\n") + 2;
  const std::string sig_line = peter.note.substr(sig_start);
  const std::string b64 = sig_line.substr(sig_line.rfind(' ') + 1, sig_line.size() - sig_line.rfind(' ') - 2);
  const std::vector<uint8_t> raw = base64_decode(b64);
  const auto with_sig_bytes = [&](std::vector<uint8_t> bytes) {
    return peter.text + "\n" + "\xE2\x80\x94 PeterNeumann " + base64_encode(bytes) + "\n";
  };

  SECTION("a flipped signature bit") {
    std::vector<uint8_t> bytes = raw;
    bytes[10] ^= 0x08;
    REQUIRE_THROWS_MATCHES(verify_note(with_sig_bytes(bytes), peter.keys), Error, IsMismatch());
  }
  SECTION("a wrong key id makes the signature unknown, so nothing verifies") {
    std::vector<uint8_t> bytes = raw;
    bytes[0] ^= 0x01;
    REQUIRE_THROWS_MATCHES(verify_note(with_sig_bytes(bytes), peter.keys), Error, IsMismatch());
  }
  SECTION("a signature from an unknown key only") {
    const std::vector<VerifierKey> other = {
        parse_verifier_key("EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop")};
    REQUIRE_THROWS_MATCHES(verify_note(peter.note, other), Error, IsMismatch());
  }
  SECTION("the known name under another id, and another name with the known id, are ignored") {
    std::string renamed = peter.note;
    renamed.replace(renamed.find("PeterNeumann", sig_start), 12, "PeterNeumanm");
    REQUIRE_THROWS_MATCHES(verify_note(renamed, peter.keys), Error, IsMismatch());
    // ...but alongside the genuine signature they do no harm.
    const VerifiedNote ok = verify_note(peter.note + renamed.substr(sig_start), peter.keys);
    CHECK(ok.verified.size() == 1);
    CHECK(ok.unverified.size() == 1);
  }
  SECTION("an altered text") {
    std::string altered = peter.note;
    altered[3] = 'X';
    REQUIRE_THROWS_MATCHES(verify_note(altered, peter.keys), Error, IsMismatch());
    REQUIRE_THROWS_MATCHES(verify_note("Extra line\n" + peter.note, peter.keys), Error, IsMismatch());
  }
  SECTION("a missing blank line") {
    std::string joined = peter.note;
    joined.erase(sig_start - 1, 1);
    REQUIRE_THROWS_MATCHES(verify_note(joined, peter.keys), Error, IsInvalidInput());
  }
  SECTION("a missing final newline") {
    REQUIRE_THROWS_MATCHES(verify_note(peter.note.substr(0, peter.note.size() - 1), peter.keys),
                           Error, IsInvalidInput());
  }
  SECTION("bad base64 in the signature") {
    std::string not_alphabet = b64;
    not_alphabet[0] = '!';
    const std::string bad_encodings[] = {b64.substr(0, b64.size() - 1), b64 + "=", b64 + " ",
                                         not_alphabet, "AAAA", ""};
    for (const std::string& bad : bad_encodings) {
      INFO(bad);
      std::string note = peter.text;
      note += "\n\xE2\x80\x94 PeterNeumann ";
      note += bad;
      note += "\n";
      REQUIRE_THROWS_MATCHES(verify_note(note, peter.keys), Error, IsInvalidInput());
    }
  }
  SECTION("a known-key signature of the wrong length is malformed") {
    std::vector<uint8_t> bytes = raw;
    bytes.pop_back();
    REQUIRE_THROWS_MATCHES(verify_note(with_sig_bytes(bytes), peter.keys), Error, IsInvalidInput());
  }
  SECTION("a valid signature followed by a bad one from the same key") {
    std::vector<uint8_t> bytes = raw;
    bytes[20] ^= 0x01;
    const std::string note = peter.note + with_sig_bytes(bytes).substr(sig_start);
    REQUIRE_THROWS_MATCHES(verify_note(note, peter.keys), Error, IsMismatch());
  }
  SECTION("an ambiguous verifier list") {
    const std::vector<VerifierKey> twice = {peter.keys[0], peter.keys[0]};
    REQUIRE_THROWS_MATCHES(verify_note(peter.note, twice), Error, IsInvalidInput());
  }
}

TEST_CASE("malformed note syntax is invalid input", "[unit]") {
  const Peter peter;
  const std::size_t sig_start = peter.note.rfind("\n\n") + 2;
  const std::string sig_line = peter.note.substr(sig_start);
  const std::string bad_notes[] = {
      "",
      "\n",
      "\n\n",
      peter.text,
      peter.text + "\n",
      "\x01" + peter.note,                              // control character
      "\xff" + peter.note,                              // invalid UTF-8
      "\xC0\xAF" + peter.note,                          // overlong UTF-8
      "\xED\xA0\x80" + peter.note,                      // UTF-16 surrogate
      "tab\there\n\n" + sig_line,                       // tab is a control character
      "cr\r\n\n" + sig_line,                            // so is carriage return
      peter.note + "Unexpected line.\n",
      peter.note + "\n",                                // blank line after the signatures
      peter.text + "\n" + "- PeterNeumann " + sig_line.substr(sig_line.rfind(' ') + 1),  // hyphen
      peter.text + "\n" + "\xE2\x80\x94PeterNeumann " + sig_line.substr(sig_line.rfind(' ') + 1),
      peter.text + "\n" + "\xE2\x80\x94 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
      peter.text + "\n" + "\xE2\x80\x94 a+b x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
      peter.text + "\n" + "\xE2\x80\x94 PeterNeumann\n",
      peter.text + "\n" + "\xE2\x80\x94  x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
      peter.text + "\n" + "\xE2\x80\x94 PeterNeumann AAAAAA==\n",  // 4 bytes: key id only
  };
  for (const std::string& note : bad_notes) {
    INFO(note);
    REQUIRE_THROWS_MATCHES(parse_note(note), Error, IsInvalidInput());
    REQUIRE_THROWS_MATCHES(verify_note(note, peter.keys), Error, IsInvalidInput());
  }
}

TEST_CASE("signature count limit", "[unit]") {
  const Peter peter;
  const std::string sig_line = peter.note.substr(peter.note.rfind("\n\n") + 2);
  std::string sigs;
  for (std::size_t i = 0; i < kMaxNoteSignatures; ++i) sigs += sig_line;
  CHECK(parse_note(peter.text + "\n" + sigs).signatures.size() == kMaxNoteSignatures);
  CHECK_NOTHROW(verify_note(peter.text + "\n" + sigs, peter.keys));
  REQUIRE_THROWS_MATCHES(parse_note(peter.text + "\n" + sigs + sig_line), Error, IsInvalidInput());
}

TEST_CASE("text may hold blank lines: the last one separates the signatures", "[unit]") {
  const Note note = parse_note("a\n\nb\n\n\n\xE2\x80\x94 k AAAAAAE=\n");
  CHECK(note.text == "a\n\nb\n\n");
  REQUIRE(note.signatures.size() == 1);
  CHECK(note.signatures[0].name == "k");
  CHECK(note.signatures[0].key_id == 0);
  CHECK(note.signatures[0].signature == std::vector<uint8_t>{0x01});
}

TEST_CASE("signer helpers format what the verifier parses", "[unit]") {
  const std::string text = "example.com/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
  CHECK(note_signed_message(text) == test::bytes_of(text));
  const std::vector<uint8_t> sig = {1, 2, 3};
  const std::string line = format_signature_line("example.com/log", 0x01020304, sig);
  CHECK(line == "\xE2\x80\x94 example.com/log AQIDBAECAw==\n");
  const std::string note = append_signature(text, line);
  CHECK(note == text + "\n" + line);
  const Note parsed = parse_note(note);
  REQUIRE(parsed.signatures.size() == 1);
  CHECK(parsed.signatures[0].key_id == 0x01020304);
  CHECK(parsed.signatures[0].signature == sig);
  const std::string cosigned =
      append_signature(parsed, format_signature_line("witness.example", 7, sig));
  CHECK(parse_note(cosigned).signatures.size() == 2);
  CHECK(cosigned.substr(0, note.size()) == note);

  for (const std::string& bad : {std::string(), std::string("no newline"), std::string("bad\x01\n"),
                                std::string("\xff\n")}) {
    REQUIRE_THROWS_MATCHES(note_signed_message(bad), Error, IsInvalidInput());
    REQUIRE_THROWS_MATCHES(append_signature(bad, line), Error, IsInvalidInput());
  }
  REQUIRE_THROWS_MATCHES(format_signature_line("bad name", 1, sig), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(format_signature_line("", 1, sig), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(format_signature_line("name", 1, {}), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(append_signature(text, line.substr(0, line.size() - 1)), Error,
                         IsInvalidInput());
  REQUIRE_THROWS_MATCHES(append_signature(text, "not a signature line\n"), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(append_signature(text, line + line), Error, IsInvalidInput());
  REQUIRE_THROWS_MATCHES(format_note(Note{text, {}}), Error, IsInvalidInput());
}
