#include "pkcs11/key_generation.h"

#include <array>
#include <map>
#include <mutex>
#include <string>

#include "pkcs11/error.h"
#include "pkcs11/padded_text.h"

namespace escrowless::pkcs11 {
namespace {

// SoftHSM 2.6 races with itself: while another process's search refreshes token objects from
// disk, the object being made can read back a default CKA_CLASS or fail to be stored, and the
// generation fails with one of these (about one in a hundred under 32 concurrent clients;
// bench/soak). So the strict template gets a few attempts before anything is left out.
constexpr int kStrictAttempts = 3;

// A capability that may be left to the token: its public and private attribute (0 for none).
struct Negotiable {
  CK_ATTRIBUTE_TYPE public_type;
  CK_ATTRIBUTE_TYPE private_type;
};
constexpr std::array<Negotiable, 6> kNegotiable = {{
    {CKA_ENCRYPT, CKA_DECRYPT},
    {CKA_WRAP, CKA_UNWRAP},
    {CKA_DERIVE, CKA_DERIVE},
    {CKA_VERIFY_RECOVER, CKA_SIGN_RECOVER},
    {0, CKA_COPYABLE},
    {CKA_MODIFIABLE, CKA_MODIFIABLE},
}};

using Choice = std::vector<std::size_t>;  // indexes into kNegotiable left to the token

bool is_refusal(CK_RV rv) {
  return rv == CKR_TEMPLATE_INCONSISTENT || rv == CKR_ATTRIBUTE_VALUE_INVALID ||
         rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_READ_ONLY ||
         rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED;
}

// What the session's token is, for remembering what it accepts.
std::string token_key(Session& session) {
  CK_SESSION_INFO info{};
  check(session.fn()->C_GetSessionInfo(session.handle(), &info), "C_GetSessionInfo");
  CK_TOKEN_INFO token{};
  check(session.fn()->C_GetTokenInfo(info.slotID, &token), "C_GetTokenInfo");
  return std::to_string(reinterpret_cast<std::uintptr_t>(session.fn())) + "/" +
         padded_text(token.label) + "/" + padded_text(token.serialNumber);
}

bool token_present(Session& session) {
  CK_SESSION_INFO info{};
  if (session.fn()->C_GetSessionInfo(session.handle(), &info) != CKR_OK) return false;
  CK_TOKEN_INFO token{};
  return session.fn()->C_GetTokenInfo(info.slotID, &token) == CKR_OK &&
         (token.flags & CKF_TOKEN_INITIALIZED) != 0;
}

std::mutex memory_mutex;
std::map<std::string, Choice>& memory() {
  static auto* choices = new std::map<std::string, Choice>();
  return *choices;
}

KeyPairTemplate leave_out(const KeyPairTemplate& strict, const Choice& choice) {
  KeyPairTemplate t{strict.mechanism, strict.public_key, strict.private_key};
  for (const std::size_t index : choice) {
    const Negotiable& n = kNegotiable[index];
    if (n.public_type != 0) t.public_key.attributes = t.public_key.attributes.without(n.public_type);
    if (n.private_type != 0) t.private_key.attributes = t.private_key.attributes.without(n.private_type);
  }
  return t;
}

CK_RV try_generate(Session& session, const KeyPairTemplate& t, GeneratedPair& made) {
  CK_MECHANISM mechanism{t.mechanism, nullptr, 0};
  std::vector<CK_ATTRIBUTE> public_view = t.public_key.attributes.view();
  std::vector<CK_ATTRIBUTE> private_view = t.private_key.attributes.view();
  return session.fn()->C_GenerateKeyPair(session.handle(), &mechanism, public_view.data(),
                                         public_view.size(), private_view.data(),
                                         private_view.size(), &made.public_handle,
                                         &made.private_handle);
}

std::string names_of(const Choice& choice) {
  std::string text;
  for (const std::size_t index : choice) {
    const Negotiable& n = kNegotiable[index];
    for (const CK_ATTRIBUTE_TYPE type : {n.public_type, n.private_type}) {
      if (type == 0) continue;
      for (const FlagSpec& spec : flag_specs()) {
        if (spec.type == type && text.find(spec.name) == std::string::npos) {
          text += (text.empty() ? "" : ", ") + std::string(spec.name);
        }
      }
    }
  }
  return text;
}

// Candidates in order: what worked before on this token; then nothing left out; then each
// capability alone; then all of them.
std::vector<Choice> candidates(const std::optional<Choice>& remembered) {
  std::vector<Choice> list;
  if (remembered) list.push_back(*remembered);
  if (!remembered || !remembered->empty()) {
    for (int i = 0; i < kStrictAttempts; ++i) list.push_back({});
  }
  Choice all;
  for (std::size_t i = 0; i < kNegotiable.size(); ++i) {
    list.push_back({i});
    all.push_back(i);
  }
  list.push_back(all);
  return list;
}

void compare_half(std::string_view half, const AttributeList& strict, const AttributeList& given,
                  const ObjectAttributes& read, std::vector<AttributeOutcome>& out) {
  for (const Flag& flag : read.flags) {
    const std::optional<bool> requested = strict.bool_value(flag.type);
    if (!requested) continue;
    const bool left = !given.has(flag.type);
    if (left || flag.value != requested) out.push_back({half, flag.name, *requested, left, flag.value});
  }
}

// The no-escrow core of a private key; empty when it holds.
std::string broken_rule(const ObjectAttributes& key) {
  if (key.flag(CKA_SENSITIVE) != true) return "is not sensitive (CKA_SENSITIVE)";
  if (key.flag(CKA_EXTRACTABLE) != false) return "is extractable (CKA_EXTRACTABLE)";
  if (key.flag(CKA_ALWAYS_SENSITIVE) == false) return "was not always sensitive";
  if (key.flag(CKA_NEVER_EXTRACTABLE) == false) return "was extractable once";
  if (key.flag(CKA_SIGN) != true) return "cannot sign (CKA_SIGN)";
  return {};
}

}  // namespace

std::vector<AttributeOutcome> KeyGenerationReport::forced() const {
  std::vector<AttributeOutcome> list;
  for (const AttributeOutcome& o : departures) {
    if (o.actual != o.requested) list.push_back(o);
  }
  return list;
}

GeneratedPair generate_negotiated(Session& session, const KeyPairTemplate& strict) {
  const std::string key = token_key(session);
  std::optional<Choice> remembered;
  {
    std::lock_guard lock(memory_mutex);
    if (const auto found = memory().find(key); found != memory().end()) remembered = found->second;
  }
  GeneratedPair made;
  CK_RV first_refusal = CKR_OK;
  std::optional<Choice> accepted;
  KeyPairTemplate used{strict.mechanism, {}, {}};
  for (const Choice& choice : candidates(remembered)) {
    used = leave_out(strict, choice);
    const CK_RV rv = try_generate(session, used, made);
    if (rv == CKR_OK) {
      accepted = choice;
      break;
    }
    if (!is_refusal(rv)) check(rv, "C_GenerateKeyPair");
    // A token that is gone fails every attempt: that is not a refusal.
    if (!token_present(session)) check(rv, "C_GenerateKeyPair");
    if (first_refusal == CKR_OK) first_refusal = rv;
  }
  if (!accepted) {
    throw Error(ErrorKind::template_refused,
                "the token refused the key template: C_GenerateKeyPair failed: " +
                    rv_name(first_refusal) + ", also with each of " + names_of(candidates({}).back()) +
                    " left to the token",
                first_refusal);
  }
  {
    std::lock_guard lock(memory_mutex);
    memory()[key] = *accepted;
  }

  made.report.public_key = read_object_attributes(session, made.public_handle);
  made.report.private_key = read_object_attributes(session, made.private_handle);
  compare_half("public", strict.public_key.attributes, used.public_key.attributes,
               made.report.public_key, made.report.departures);
  compare_half("private", strict.private_key.attributes, used.private_key.attributes,
               made.report.private_key, made.report.departures);
  if (const std::string broken = broken_rule(made.report.private_key); !broken.empty()) {
    session.fn()->C_DestroyObject(session.handle(), made.private_handle);
    session.fn()->C_DestroyObject(session.handle(), made.public_handle);
    throw Error(ErrorKind::template_refused,
                "the token made a private key that " + broken + "; it was destroyed" +
                    (accepted->empty() ? "" : " (left to the token: " + names_of(*accepted) + ")"));
  }
  return made;
}

}  // namespace escrowless::pkcs11
