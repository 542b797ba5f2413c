// The two forms of `keyadmin token check`'s result: JSON (--json, for scripts and tests) and a
// table for the operator. Both say the same things; docs/operations.md describes the fields.
#include <iomanip>
#include <sstream>

#include "keyservice/keyadmin/token_check.h"
#include "keyservice/token_json.h"

namespace escrowless::keyadmin {
namespace {

// CK_TOKEN_INFO counts: a number, "unavailable" (CK_UNAVAILABLE_INFORMATION) or, for the maximum
// session counts, "unlimited" (CK_EFFECTIVELY_INFINITE).
nlohmann::json count_json(CK_ULONG value, bool zero_is_unlimited) {
  if (value == CK_UNAVAILABLE_INFORMATION) return "unavailable";
  if (zero_is_unlimited && value == CK_EFFECTIVELY_INFINITE) return "unlimited";
  return value;
}

nlohmann::json limits_json(const pkcs11::TokenLimits& l) {
  return {{"max_sessions", count_json(l.max_sessions, true)},
          {"sessions", count_json(l.sessions, false)},
          {"max_rw_sessions", count_json(l.max_rw_sessions, true)},
          {"rw_sessions", count_json(l.rw_sessions, false)},
          {"total_public_memory", count_json(l.total_public_memory, false)},
          {"free_public_memory", count_json(l.free_public_memory, false)},
          {"total_private_memory", count_json(l.total_private_memory, false)},
          {"free_private_memory", count_json(l.free_private_memory, false)}};
}

nlohmann::json optional_bool(const std::optional<bool>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

double rate(const KeyCheck& key) { return key.seconds > 0 ? static_cast<double>(key.signatures) / key.seconds : 0.0; }

nlohmann::json key_json(const KeyCheck& key) {
  nlohmann::json out = {{"algorithm", pkcs11::to_string(key.algorithm)},
                        {"generated", !key.generation_error.has_value()}};
  if (key.generation_error) {
    out["error"] = *key.generation_error;
    return out;
  }
  out["attributes"] = nlohmann::json::array();
  for (const AttributeCheck& a : key.attributes) {
    out["attributes"].push_back({{"half", a.half},
                                 {"name", a.name},
                                 {"requested", optional_bool(a.requested)},
                                 {"left_to_token", a.left_to_token},
                                 {"actual", optional_bool(a.actual)},
                                 {"status", a.status}});
  }
  out["faults"] = key.faults;
  out["accepted_forced"] = key.accepted_forced;
  out["private_value"] = {{"refused", optional_bool(key.value_refused)}, {"answer", key.value_answer}};
  out["wrap"] = {{"attempted", false},
                 {"why", "wrapping needs a wrap-capable key on the token and a key wrapping call, "
                         "which no Escrowless code makes; CKA_EXTRACTABLE false read back is the "
                         "refusal PKCS#11 defines (CKR_KEY_UNEXTRACTABLE)"}};
  out["signature"] = {{"verified_by_openssl", optional_bool(key.signature_verified)},
                      {"error", key.signature_error}};
  out["throughput"] = {{"signatures", key.signatures},
                       {"seconds", key.seconds},
                       {"signatures_per_second", rate(key)}};
  out["destroyed"] = optional_bool(key.destroyed);
  if (!key.destroy_error.empty()) out["destroy_error"] = key.destroy_error;
  return out;
}

std::string yes_no(const std::optional<bool>& value) {
  return value ? (*value ? "yes" : "no") : "-";
}

std::string bool_text(const std::optional<bool>& value) {
  return value ? (*value ? "true" : "false") : "(none)";
}

std::string count_text(CK_ULONG value, bool zero_is_unlimited) {
  const nlohmann::json j = count_json(value, zero_is_unlimited);
  return j.is_string() ? j.get<std::string>() : std::to_string(value);
}

}  // namespace

nlohmann::json token_check_json(const TokenCheck& check) {
  nlohmann::json out;
  out["token"] = keyservice::token_json(check.info, check.library);
  out["limits"] = limits_json(check.info.limits);
  out["mechanisms"] = {{"offered", check.mechanisms.size()},
                       {"missing", check.missing_mechanisms},
                       {"wrap_or_unwrap", check.wrap_mechanisms}};
  out["keys"] = nlohmann::json::array();
  for (const KeyCheck& key : check.keys) out["keys"].push_back(key_json(key));
  out["no_escrow_claim"] = check.carries_claim();
  out["reasons"] = check.reasons;
  return out;
}

void print_token_check(std::ostream& out, const TokenCheck& check) {
  const pkcs11::TokenInfo& t = check.info;
  out << "Token      " << t.label << " (serial " << t.serial << ", " << t.manufacturer << " "
      << t.model << ")\n";
  const pkcs11::TokenLimits& l = t.limits;
  out << "Limits     sessions " << count_text(l.max_sessions, true) << ", read-write sessions "
      << count_text(l.max_rw_sessions, true) << ", free public memory "
      << count_text(l.free_public_memory, false) << " of " << count_text(l.total_public_memory, false)
      << ", free private memory " << count_text(l.free_private_memory, false) << " of "
      << count_text(l.total_private_memory, false) << "\n";
  out << "Mechanisms " << check.mechanisms.size() << " offered; missing: ";
  if (check.missing_mechanisms.empty()) out << "none";
  for (std::size_t i = 0; i < check.missing_mechanisms.size(); ++i) {
    out << (i ? ", " : "") << check.missing_mechanisms[i];
  }
  out << "\n           wrap/unwrap mechanisms: ";
  if (check.wrap_mechanisms.empty()) out << "none";
  for (std::size_t i = 0; i < check.wrap_mechanisms.size(); ++i) {
    out << (i ? ", " : "") << check.wrap_mechanisms[i];
  }
  out << "\n";
  for (const KeyCheck& key : check.keys) {
    out << "\n" << pkcs11::to_string(key.algorithm) << " throwaway key\n";
    if (key.generation_error) {
      out << "  not made: " << *key.generation_error << "\n";
      continue;
    }
    out << "  " << std::left << std::setw(8) << "half" << std::setw(19) << "attribute"
        << std::setw(14) << "asked" << std::setw(9) << "read" << "outcome\n";
    for (const AttributeCheck& a : key.attributes) {
      std::string asked = a.requested ? bool_text(a.requested) : "-";
      if (a.left_to_token) asked += " (left)";
      out << "  " << std::setw(8) << a.half << std::setw(19) << a.name << std::setw(14) << asked
          << std::setw(9) << bool_text(a.actual) << a.status << "\n";
    }
    out << std::right;
    for (const std::string& accepted : key.accepted_forced) out << "  accepted: " << accepted << "\n";
    for (const std::string& fault : key.faults) out << "  FAULT: " << fault << "\n";
    out << "  private value readable: " << (key.value_refused == true ? "no" : "YES") << " ("
        << key.value_answer << ")\n";
    out << "  wrap: not attempted (no Escrowless code wraps keys); extractable reads back "
        << bool_text([&]() -> std::optional<bool> {
             for (const AttributeCheck& a : key.attributes) {
               if (a.half == "private" && a.name == "extractable") return a.actual;
             }
             return std::nullopt;
           }())
        << "\n";
    out << "  signature verified by OpenSSL: " << yes_no(key.signature_verified);
    if (!key.signature_error.empty()) out << " (" << key.signature_error << ")";
    out << "\n  signatures/s: " << std::fixed << std::setprecision(1) << rate(key) << " ("
        << key.signatures << " in " << std::setprecision(2) << key.seconds << " s, one session)\n";
    out.unsetf(std::ios::floatfield);
    out << "  destroyed: " << yes_no(key.destroyed);
    if (!key.destroy_error.empty()) out << " (" << key.destroy_error << ")";
    out << "\n";
  }
  out << "\nNo-escrow claim: "
      << (check.carries_claim() ? "this token can carry it" : "this token CANNOT carry it") << "\n";
  for (const std::string& reason : check.reasons) out << "  - " << reason << "\n";
}

}  // namespace escrowless::keyadmin
