#include "pkcs11/error.h"

#include <array>
#include <cstdio>

namespace escrowless::pkcs11 {
namespace {

struct RvEntry {
  CK_RV rv;
  std::string_view name;
  ErrorKind kind;
};

using K = ErrorKind;
#define RV(name, kind) RvEntry{name, #name, kind}

// The one table from Cryptoki return values to error kinds.
constexpr std::array kRvTable = {
    RV(CKR_OK, K::internal),
    RV(CKR_CANCEL, K::internal),
    RV(CKR_HOST_MEMORY, K::unavailable),
    RV(CKR_SLOT_ID_INVALID, K::not_found),
    RV(CKR_GENERAL_ERROR, K::unavailable),
    RV(CKR_FUNCTION_FAILED, K::unavailable),
    RV(CKR_ARGUMENTS_BAD, K::internal),
    RV(CKR_NO_EVENT, K::internal),
    RV(CKR_NEED_TO_CREATE_THREADS, K::internal),
    RV(CKR_CANT_LOCK, K::internal),
    RV(CKR_ATTRIBUTE_READ_ONLY, K::invalid_input),
    RV(CKR_ATTRIBUTE_SENSITIVE, K::invalid_input),
    RV(CKR_ATTRIBUTE_TYPE_INVALID, K::invalid_input),
    RV(CKR_ATTRIBUTE_VALUE_INVALID, K::invalid_input),
    RV(CKR_ACTION_PROHIBITED, K::invalid_input),
    RV(CKR_DATA_INVALID, K::invalid_input),
    RV(CKR_DATA_LEN_RANGE, K::invalid_input),
    RV(CKR_DEVICE_ERROR, K::unavailable),
    RV(CKR_DEVICE_MEMORY, K::unavailable),
    RV(CKR_DEVICE_REMOVED, K::unavailable),
    RV(CKR_ENCRYPTED_DATA_INVALID, K::invalid_input),
    RV(CKR_ENCRYPTED_DATA_LEN_RANGE, K::invalid_input),
    RV(CKR_FUNCTION_CANCELED, K::unavailable),
    RV(CKR_FUNCTION_NOT_PARALLEL, K::internal),
    RV(CKR_FUNCTION_NOT_SUPPORTED, K::invalid_input),
    RV(CKR_KEY_HANDLE_INVALID, K::not_found),
    RV(CKR_KEY_SIZE_RANGE, K::invalid_input),
    RV(CKR_KEY_TYPE_INCONSISTENT, K::invalid_input),
    RV(CKR_KEY_NOT_NEEDED, K::internal),
    RV(CKR_KEY_CHANGED, K::internal),
    RV(CKR_KEY_NEEDED, K::internal),
    RV(CKR_KEY_INDIGESTIBLE, K::invalid_input),
    RV(CKR_KEY_FUNCTION_NOT_PERMITTED, K::invalid_input),
    RV(CKR_KEY_NOT_WRAPPABLE, K::invalid_input),
    RV(CKR_KEY_UNEXTRACTABLE, K::invalid_input),
    RV(CKR_MECHANISM_INVALID, K::invalid_input),
    RV(CKR_MECHANISM_PARAM_INVALID, K::invalid_input),
    RV(CKR_OBJECT_HANDLE_INVALID, K::not_found),
    RV(CKR_OPERATION_ACTIVE, K::internal),
    RV(CKR_OPERATION_NOT_INITIALIZED, K::internal),
    RV(CKR_PIN_INCORRECT, K::authentication),
    RV(CKR_PIN_INVALID, K::authentication),
    RV(CKR_PIN_LEN_RANGE, K::authentication),
    RV(CKR_PIN_EXPIRED, K::authentication),
    RV(CKR_PIN_LOCKED, K::authentication),
    RV(CKR_SESSION_CLOSED, K::unavailable),
    RV(CKR_SESSION_COUNT, K::unavailable),
    RV(CKR_SESSION_HANDLE_INVALID, K::unavailable),
    RV(CKR_SESSION_PARALLEL_NOT_SUPPORTED, K::internal),
    RV(CKR_SESSION_READ_ONLY, K::internal),
    RV(CKR_SESSION_EXISTS, K::internal),
    RV(CKR_SESSION_READ_ONLY_EXISTS, K::internal),
    RV(CKR_SESSION_READ_WRITE_SO_EXISTS, K::unavailable),
    RV(CKR_SIGNATURE_INVALID, K::invalid_input),
    RV(CKR_SIGNATURE_LEN_RANGE, K::invalid_input),
    RV(CKR_TEMPLATE_INCOMPLETE, K::invalid_input),
    RV(CKR_TEMPLATE_INCONSISTENT, K::invalid_input),
    RV(CKR_TOKEN_NOT_PRESENT, K::unavailable),
    RV(CKR_TOKEN_NOT_RECOGNIZED, K::unavailable),
    RV(CKR_TOKEN_WRITE_PROTECTED, K::invalid_input),
    RV(CKR_UNWRAPPING_KEY_SIZE_RANGE, K::invalid_input),
    RV(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, K::invalid_input),
    RV(CKR_USER_ALREADY_LOGGED_IN, K::internal),
    RV(CKR_USER_NOT_LOGGED_IN, K::authentication),
    RV(CKR_USER_PIN_NOT_INITIALIZED, K::authentication),
    RV(CKR_USER_TYPE_INVALID, K::internal),
    RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, K::authentication),
    RV(CKR_USER_TOO_MANY_TYPES, K::authentication),
    RV(CKR_WRAPPED_KEY_INVALID, K::invalid_input),
    RV(CKR_WRAPPED_KEY_LEN_RANGE, K::invalid_input),
    RV(CKR_WRAPPING_KEY_HANDLE_INVALID, K::invalid_input),
    RV(CKR_WRAPPING_KEY_SIZE_RANGE, K::invalid_input),
    RV(CKR_WRAPPING_KEY_TYPE_INCONSISTENT, K::invalid_input),
    RV(CKR_RANDOM_SEED_NOT_SUPPORTED, K::invalid_input),
    RV(CKR_RANDOM_NO_RNG, K::unavailable),
    RV(CKR_DOMAIN_PARAMS_INVALID, K::invalid_input),
    RV(CKR_CURVE_NOT_SUPPORTED, K::invalid_input),
    RV(CKR_BUFFER_TOO_SMALL, K::internal),
    RV(CKR_SAVED_STATE_INVALID, K::internal),
    RV(CKR_INFORMATION_SENSITIVE, K::invalid_input),
    RV(CKR_STATE_UNSAVEABLE, K::internal),
    RV(CKR_CRYPTOKI_NOT_INITIALIZED, K::internal),
    RV(CKR_CRYPTOKI_ALREADY_INITIALIZED, K::internal),
    RV(CKR_MUTEX_BAD, K::internal),
    RV(CKR_MUTEX_NOT_LOCKED, K::internal),
    RV(CKR_NEW_PIN_MODE, K::authentication),
    RV(CKR_NEXT_OTP, K::authentication),
    RV(CKR_EXCEEDED_MAX_ITERATIONS, K::invalid_input),
    RV(CKR_FIPS_SELF_TEST_FAILED, K::unavailable),
    RV(CKR_LIBRARY_LOAD_FAILED, K::unavailable),
    RV(CKR_PIN_TOO_WEAK, K::authentication),
    RV(CKR_PUBLIC_KEY_INVALID, K::invalid_input),
    RV(CKR_FUNCTION_REJECTED, K::invalid_input),
};
#undef RV

const RvEntry* find(CK_RV rv) {
  for (const auto& entry : kRvTable) {
    if (entry.rv == rv) return &entry;
  }
  return nullptr;
}

}  // namespace

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::unavailable: return "unavailable";
    case ErrorKind::authentication: return "authentication";
    case ErrorKind::invalid_input: return "invalid input";
    case ErrorKind::not_found: return "not found";
    case ErrorKind::internal: return "internal";
    case ErrorKind::template_refused: return "template refused";
    case ErrorKind::ambiguous_key: return "ambiguous key";
  }
  return "internal";
}

std::string rv_name(CK_RV rv) {
  if (const RvEntry* entry = find(rv)) return std::string(entry->name);
  char buf[32];
  std::snprintf(buf, sizeof buf, "CKR_0x%08lx", static_cast<unsigned long>(rv));
  return buf;
}

ErrorKind kind_of(CK_RV rv) {
  if (const RvEntry* entry = find(rv)) return entry->kind;
  return ErrorKind::internal;  // vendor-defined values we know nothing about
}

bool breaks_session(CK_RV rv) {
  switch (rv) {
    case CKR_SESSION_CLOSED:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_REMOVED:
    case CKR_DEVICE_MEMORY:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_GENERAL_ERROR:
    case CKR_FUNCTION_FAILED:
    case CKR_OPERATION_ACTIVE:  // an operation left half-done: the session's state is unknown
      return true;
    default:
      return false;
  }
}

}  // namespace escrowless::pkcs11
