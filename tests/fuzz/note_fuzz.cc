// Signed notes and checkpoints (audit/note.h, audit/checkpoint.h): the input is a whole signed
// note, checked against the real verifier keys of tests/data/signed_note so that mutated copies of
// their notes reach the signature checks. Properties: only invalid_input or mismatch come out;
// whatever parses formats back to the same bytes (there is one encoding of a note and of a
// checkpoint); a verified note's signatures are among the parsed ones.
#include <algorithm>
#include <string>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/note.h"
#include "audit/verifier_key.h"
#include "tests/fuzz/fuzz_support.h"

using namespace escrowless;

namespace {

const std::vector<audit::VerifierKey>& verifiers() {
  static const std::vector<audit::VerifierKey> keys = [] {
    std::vector<audit::VerifierKey> out;
    for (const char* vkey : {
             "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
             "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
             "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop",
             "localhost.localdev/sumdb+00000c67+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK6",
             "rekor.sigstore.dev+c0d23d6a+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBcK5AW"
             "5i0hrZLOC96l+smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc=",
             "pixel6_transparency_log+91c16e30+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABN+4x0Jk1yTwvLFI9A4NDdGZcX0a"
             "iWVdWM5XJVy0M4VWD3AvyW5Q6Hs9A0mcDkpUoYgn+KKPNzFC0H3nN3q6JQ8=",
         }) {
      out.push_back(audit::parse_verifier_key(vkey));
    }
    return out;
  }();
  return keys;
}

void check_checkpoint_text(std::string_view text) {
  audit::Checkpoint checkpoint;
  try {
    checkpoint = audit::parse_checkpoint(text);
  } catch (const audit::Error& e) {
    fuzz::require_invalid_input(e);
    return;
  }
  fuzz::require(audit::format_checkpoint(checkpoint) == text, "a parsed checkpoint formats back to its text");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view input = fuzz::as_text(data, size);
  check_checkpoint_text(input);

  audit::Note note;
  try {
    note = audit::parse_note(input);
  } catch (const audit::Error& e) {
    fuzz::require_invalid_input(e);
    return 0;
  }
  fuzz::require(audit::format_note(note) == input, "a parsed note formats back to the same bytes");
  fuzz::require(!note.signatures.empty() && note.signatures.size() <= audit::kMaxNoteSignatures,
                "a parsed note has 1 to kMaxNoteSignatures signatures");
  check_checkpoint_text(note.text);

  try {
    const audit::VerifiedNote verified = audit::verify_note(input, verifiers());
    fuzz::require(verified.text == note.text, "the verified text is the parsed text");
    fuzz::require(!verified.verified.empty(), "a verified note has a verified signature");
    fuzz::require(verified.verified.size() + verified.unverified.size() == note.signatures.size(),
                  "every signature is either verified or ignored");
    for (const audit::NoteSignature& signature : verified.verified) {
      fuzz::require(std::find(note.signatures.begin(), note.signatures.end(), signature) != note.signatures.end(),
                    "a verified signature is one of the note's");
    }
    (void)audit::open_checkpoint(input, "Rekor", verifiers());
  } catch (const audit::Error& e) {
    if (e.kind() == audit::ErrorKind::internal) fuzz::require_invalid_input(e);
  }
  return 0;
}
