#include "audit/client/witness_client.h"

#include "audit/checkpoint.h"
#include "audit/cosignature.h"
#include "audit/encoding.h"
#include "audit/error.h"
#include "audit/note.h"

namespace escrowless::audit::client {
namespace {

ServerUrl url_of(const PolicyWitness& witness) {
  if (witness.url.empty()) throw FetchError("witness " + witness.name + " has no URL in the policy");
  return ServerUrl::parse(witness.url);
}

// The witness's text, short and on one line, for a message.
std::string excerpt(const std::string& body) {
  std::string text = body.substr(0, 200);
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

}  // namespace

WitnessClient::WitnessClient(const PolicyWitness& witness, ClientOptions options)
    : witness_(witness), client_(url_of(witness), std::move(options)) {}

WitnessClient::Answer WitnessClient::add_checkpoint(uint64_t old_size, std::span<const Hash> proof,
                                                    std::string_view signed_checkpoint) const {
  std::string body = "old " + std::to_string(old_size) + "\n";
  for (const Hash& hash : proof) body += to_base64(hash) + "\n";
  body += "\n";
  body += signed_checkpoint;
  const HttpsClient::Answer answer = client_.post("/add-checkpoint", body, "text/plain");
  const std::string who = "witness " + witness_.name;
  if (answer.status == 409) {
    const std::string& text = answer.body;
    const std::optional<uint64_t> size =
        text.ends_with("\n") ? parse_canonical_decimal(std::string_view(text).substr(0, text.size() - 1)) : std::nullopt;
    if (!answer.content_type.starts_with("text/x.tlog.size") || !size) {
      throw FetchError(who + " answered 409 without its size: " + excerpt(text));
    }
    return {std::nullopt, size};
  }
  if (answer.status != 200) throw FetchError(who + " answered HTTP " + std::to_string(answer.status) + ": " + excerpt(answer.body));
  // The spec's way: the reply's lines appended to the checkpoint make a note to verify.
  try {
    const Note cosigned = parse_note(std::string(signed_checkpoint) + answer.body);
    if (!verify_cosignature(cosigned, witness_.key)) throw mismatch("no cosignature from its key");
    for (const NoteSignature& line : cosigned.signatures) {
      if (line.name == witness_.key.name() && line.key_id == witness_.key.key_id()) {
        return {format_signature_line(line.name, line.key_id, line.signature), std::nullopt};
      }
    }
    throw mismatch("no cosignature from its key");
  } catch (const Error& e) {
    throw FetchError(who + " answered 200 without a valid cosignature: " + e.what());
  }
}

std::string WitnessClient::cosign(uint64_t& known_size, std::string_view signed_checkpoint,
                                  const ProofSource& proof) const {
  const Checkpoint checkpoint = parse_checkpoint(parse_note(signed_checkpoint).text);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (known_size > checkpoint.size) {
      throw FetchError("witness " + witness_.name + " has cosigned size " + std::to_string(known_size) +
                       ", beyond this checkpoint's " + std::to_string(checkpoint.size));
    }
    const std::vector<Hash> hashes =
        known_size == 0 || known_size == checkpoint.size ? std::vector<Hash>{} : proof(known_size, checkpoint.size);
    const Answer answer = add_checkpoint(known_size, hashes, signed_checkpoint);
    if (answer.cosignature) {
      known_size = checkpoint.size;
      return *answer.cosignature;
    }
    known_size = *answer.witness_size;
  }
  throw FetchError("witness " + witness_.name + " changed its size while asked twice (now " +
                   std::to_string(known_size) + ")");
}

}  // namespace escrowless::audit::client
