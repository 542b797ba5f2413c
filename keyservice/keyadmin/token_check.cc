#include "keyservice/keyadmin/token_check.h"

#include <algorithm>
#include <chrono>
#include <string_view>

#include "audit/ecdsa.h"
#include "audit/encoding.h"
#include "audit/key_policy.h"
#include "audit/public_key.h"
#include "pkcs11/error.h"
#include "pkcs11/keys.h"
#include "pkcs11/object_attributes.h"

namespace escrowless::keyadmin {
namespace {

using pkcs11::Algorithm;

bool offers(const std::vector<pkcs11::Mechanism>& mechanisms, CK_MECHANISM_TYPE type, CK_FLAGS flag) {
  return std::any_of(mechanisms.begin(), mechanisms.end(), [&](const pkcs11::Mechanism& m) {
    return m.type == type && (m.flags & flag) != 0;
  });
}

// Mechanisms whose names place them with another key family (RSA, DSA, DH, symmetric ciphers,
// digests and MACs). Anything else offering a capability, a mechanism we have no name for
// included, counts as able to use an EC key: the check never accepts what it cannot rule out.
bool for_other_key_families(std::string_view name) {
  for (const std::string_view prefix :
       {"CKM_RSA_", "CKM_SHA", "CKM_MD5", "CKM_AES_", "CKM_DES", "CKM_GENERIC_SECRET", "CKM_DSA",
        "CKM_DH_", "CKM_RC2_", "CKM_CDMF_", "CKM_CAMELLIA_", "CKM_SEED_"}) {
    if (name.starts_with(prefix)) return true;
  }
  return false;
}

// The capability faults audit::private_key_faults names, with the mechanism flag that uses each.
struct Capability {
  std::string_view fault;
  std::string_view flag;
  CK_FLAGS mechanism_flag;
};
constexpr Capability kCapabilities[] = {
    {"able to decrypt", "decrypt", CKF_DECRYPT},
    {"able to unwrap", "unwrap", CKF_UNWRAP},
    {"able to derive", "derive", CKF_DERIVE},
};

// Moves each forced capability fault that no offered mechanism could use into `accepted`.
void weigh_forced_capabilities(const std::vector<pkcs11::Mechanism>& mechanisms, KeyCheck& key) {
  std::vector<std::string> kept;
  for (const std::string& fault : key.faults) {
    const Capability* capability = nullptr;
    for (const Capability& c : kCapabilities) {
      if (fault == c.fault) capability = &c;
    }
    const bool forced = capability != nullptr &&
                        std::any_of(key.attributes.begin(), key.attributes.end(), [&](const AttributeCheck& a) {
                          return a.half == "private" && a.name == capability->flag && a.status == "forced";
                        });
    if (!forced) {
      kept.push_back(fault);
      continue;
    }
    std::vector<std::string> able;
    for (const pkcs11::Mechanism& m : mechanisms) {
      if ((m.flags & capability->mechanism_flag) != 0 && !for_other_key_families(m.name)) {
        able.push_back(m.name);
      }
    }
    if (able.empty()) {
      key.accepted_forced.push_back(std::string(capability->flag) +
                                    " is forced true, but the token offers no mechanism that could "
                                    "use it with this key");
    } else {
      std::string names;
      for (const std::string& name : able) names += (names.empty() ? "" : ", ") + name;
      kept.push_back(fault + " (forced by the token, usable with " + names + ")");
    }
  }
  key.faults = std::move(kept);
}

std::vector<AttributeCheck> compare(std::string_view half, const pkcs11::AttributeList& asked,
                                    const pkcs11::ObjectAttributes& read,
                                    const pkcs11::KeyGenerationReport& report) {
  std::vector<AttributeCheck> rows;
  for (const pkcs11::Flag& flag : read.flags) {
    AttributeCheck row{std::string(half), std::string(flag.name), asked.bool_value(flag.type), false,
                       flag.value, ""};
    for (const pkcs11::AttributeOutcome& o : report.departures) {
      if (o.half == half && o.name == flag.name) row.left_to_token = o.left_to_token;
    }
    if (!row.requested) {
      row.status = "reported";
    } else if (!row.actual) {
      row.status = "ignored";
    } else {
      row.status = *row.actual == *row.requested ? "honoured" : "forced";
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

bool verify_with_openssl(const pkcs11::PublicKey& key, std::span<const std::uint8_t> message,
                         std::span<const std::uint8_t> signature) {
  if (key.algorithm == Algorithm::ed25519) {
    const auto pkey = audit::load_ed25519_public_key(key.raw);
    return audit::verify_ed25519(pkey.get(), message, signature);
  }
  const auto pkey = audit::load_ecdsa_spki(key.spki_der());
  return audit::verify_ecdsa_sha256(pkey.get(), message, audit::ecdsa_signature_raw_to_der(signature));
}

void judge(const pkcs11::KeyPair& key, pkcs11::SessionPool& pool, KeyCheck& out) {
  const pkcs11::KeyPairTemplate asked = pkcs11::signing_key_template(out.algorithm, key.id, key.label);
  const pkcs11::KeyGenerationReport& report = *key.generation;
  out.attributes = compare("public", asked.public_key.attributes, report.public_key, report);
  for (AttributeCheck& row : compare("private", asked.private_key.attributes, report.private_key, report)) {
    out.attributes.push_back(std::move(row));
  }
  audit::Attributes flags;
  for (const pkcs11::Flag& flag : report.private_key.flags) {
    if (flag.value) flags[std::string(flag.name)] = *flag.value;
  }
  out.faults = audit::private_key_faults(flags);

  const pkcs11::ValueProbe probe = pool.run([&](pkcs11::Session& session) {
    return pkcs11::probe_private_value(session, key.private_handle());
  });
  out.value_refused = probe.refused();
  out.value_answer = pkcs11::rv_name(probe.rv);
  if (probe.length != CK_UNAVAILABLE_INFORMATION) {
    out.value_answer += ", length " + std::to_string(probe.length);
  }
}

void sign_and_measure(const pkcs11::KeyPair& key, pkcs11::SessionPool& pool, double seconds,
                      KeyCheck& out) {
  const std::string text = "escrowless token check " + audit::hex_encode(key.id);
  const std::span message(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  try {
    const auto signature = pkcs11::sign(pool, key, message);
    out.signature_verified = verify_with_openssl(key.public_key, message, signature);
    if (!*out.signature_verified) out.signature_error = "OpenSSL rejects the token's signature";
  } catch (const std::exception& e) {
    out.signature_verified = false;
    out.signature_error = e.what();
    return;
  }
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto until = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  do {
    pkcs11::sign(pool, key, message);
    ++out.signatures;
  } while (Clock::now() < until);
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
}

// Destroys the throwaway key once, whatever happened before; the destructor covers early exits.
class ThrowawayKey {
 public:
  ThrowawayKey(pkcs11::SessionPool& pool, pkcs11::KeyPair key) : pool_(pool), key_(std::move(key)) {}
  ~ThrowawayKey() {
    if (!done_) {
      try {
        pkcs11::destroy_key_pair(pool_, key_);
      } catch (...) {  // reported by destroy() when the check got that far
      }
    }
  }
  ThrowawayKey(const ThrowawayKey&) = delete;
  ThrowawayKey& operator=(const ThrowawayKey&) = delete;
  const pkcs11::KeyPair& key() const { return key_; }

  void destroy(KeyCheck& out) {
    done_ = true;
    try {
      pkcs11::destroy_key_pair(pool_, key_);
      // Looked for again: a token that answers CKR_OK and keeps the key would keep a key we no
      // longer account for.
      out.destroyed = !pkcs11::find_key_pair_by_id(pool_, key_.id).has_value();
      if (!*out.destroyed) out.destroy_error = "the key is still on the token after C_DestroyObject";
    } catch (const std::exception& e) {
      out.destroyed = false;
      out.destroy_error = e.what();
    }
  }

 private:
  pkcs11::SessionPool& pool_;
  pkcs11::KeyPair key_;
  bool done_ = false;
};

KeyCheck check_key(pkcs11::Token& token, Algorithm algorithm,
                   const std::vector<pkcs11::Mechanism>& mechanisms, double seconds) {
  KeyCheck out;
  out.algorithm = algorithm;
  const std::vector<std::uint8_t> id = pkcs11::random_key_id();
  const std::string label = "escrowless-token-check-" + audit::hex_encode(id);
  std::optional<ThrowawayKey> made;
  try {
    made.emplace(token.pool(), pkcs11::generate_key_pair(token.pool(), algorithm, id, label));
  } catch (const pkcs11::Error& e) {
    if (e.kind() == pkcs11::ErrorKind::unavailable || e.kind() == pkcs11::ErrorKind::authentication) throw;
    out.generation_error = e.what();
    return out;
  }
  try {
    judge(made->key(), token.pool(), out);
    weigh_forced_capabilities(mechanisms, out);
    sign_and_measure(made->key(), token.pool(), seconds, out);
  } catch (const pkcs11::Error& e) {
    if (e.kind() == pkcs11::ErrorKind::unavailable) throw;  // ~ThrowawayKey still tries
    out.signature_error = e.what();
  }
  made->destroy(out);
  return out;
}

void add_reasons(const KeyCheck& key, std::vector<std::string>& reasons) {
  const std::string name(pkcs11::to_string(key.algorithm));
  if (key.generation_error) {
    reasons.push_back(name + ": no key could be made with the template: " + *key.generation_error);
    return;
  }
  if (!key.faults.empty()) {
    reasons.push_back(name + ": the private key breaks the no-escrow rules: " +
                      audit::join_phrases(key.faults));
  }
  if (key.value_refused != true) {
    reasons.push_back(name + ": the token would reveal the private key's value (" + key.value_answer + ")");
  }
  if (key.signature_verified != true) {
    reasons.push_back(name + ": no signature verified by OpenSSL: " + key.signature_error);
  }
  if (key.destroyed != true) {
    reasons.push_back(name + ": the throwaway key was not destroyed: " + key.destroy_error);
  }
}

}  // namespace

TokenCheck run_token_check(pkcs11::Token& token, double seconds) {
  TokenCheck check;
  check.info = token.info();
  check.library = token.module().info();
  check.mechanisms = token.mechanisms();
  const auto& m = check.mechanisms;
  const bool p256 = offers(m, CKM_EC_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR) && offers(m, CKM_ECDSA, CKF_SIGN);
  const bool ed25519 =
      offers(m, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR) && offers(m, CKM_EDDSA, CKF_SIGN);
  const std::pair<CK_MECHANISM_TYPE, CK_FLAGS> needed[] = {
      {CKM_EC_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR},
      {CKM_ECDSA, CKF_SIGN},
      {CKM_EC_EDWARDS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR},
      {CKM_EDDSA, CKF_SIGN}};
  for (const auto& [type, flag] : needed) {
    if (!offers(m, type, flag)) check.missing_mechanisms.push_back(pkcs11::mechanism_name(type));
  }
  for (const pkcs11::Mechanism& mechanism : m) {
    if ((mechanism.flags & (CKF_WRAP | CKF_UNWRAP)) != 0) check.wrap_mechanisms.push_back(mechanism.name);
  }
  if (!p256 && !ed25519) {
    check.reasons.push_back(
        "the token offers neither P-256 (CKM_EC_KEY_PAIR_GEN and CKM_ECDSA) nor Ed25519 "
        "(CKM_EC_EDWARDS_KEY_PAIR_GEN and CKM_EDDSA) key generation and signing");
  }
  if (p256) check.keys.push_back(check_key(token, Algorithm::ecdsa_p256, m, seconds));
  if (ed25519) check.keys.push_back(check_key(token, Algorithm::ed25519, m, seconds));
  for (const KeyCheck& key : check.keys) add_reasons(key, check.reasons);
  return check;
}

}  // namespace escrowless::keyadmin
