#include "pkcs11/attribute_policy.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>

#include "pkcs11/error.h"

namespace escrowless::pkcs11 {
namespace {

constexpr std::array<CK_ATTRIBUTE_TYPE, 33> kKeyAllowList = {
    CKA_CLASS, CKA_KEY_TYPE, CKA_ID, CKA_LABEL, CKA_TOKEN, CKA_PRIVATE, CKA_MODIFIABLE,
    CKA_COPYABLE, CKA_DESTROYABLE, CKA_LOCAL, CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE, CKA_EXTRACTABLE,
    CKA_NEVER_EXTRACTABLE, CKA_SIGN, CKA_SIGN_RECOVER, CKA_VERIFY, CKA_VERIFY_RECOVER, CKA_DECRYPT,
    CKA_ENCRYPT, CKA_UNWRAP, CKA_WRAP, CKA_DERIVE, CKA_TRUSTED, CKA_WRAP_WITH_TRUSTED,
    CKA_ALWAYS_AUTHENTICATE, CKA_KEY_GEN_MECHANISM, CKA_EC_PARAMS, CKA_MODULUS,
    CKA_PUBLIC_EXPONENT, CKA_PUBLIC_KEY_INFO, CKA_VALUE_LEN, CKA_START_DATE};

bool is_secret_holding(CK_OBJECT_CLASS object_class) {
  return object_class == CKO_PRIVATE_KEY || object_class == CKO_SECRET_KEY;
}

}  // namespace

bool is_readable(CK_OBJECT_CLASS object_class, CK_ATTRIBUTE_TYPE type) {
  if (!is_secret_holding(object_class)) return true;
  return std::find(kKeyAllowList.begin(), kKeyAllowList.end(), type) != kKeyAllowList.end();
}

void require_readable(CK_OBJECT_CLASS object_class, CK_ATTRIBUTE_TYPE type) {
  if (is_readable(object_class, type)) return;
  char name[48];
  if (type == CKA_VALUE) {
    std::snprintf(name, sizeof name, "CKA_VALUE");
  } else {
    std::snprintf(name, sizeof name, "attribute 0x%08lx", static_cast<unsigned long>(type));
  }
  throw Error(ErrorKind::invalid_input,
              std::string("reading ") + name + " of a " +
                  (object_class == CKO_PRIVATE_KEY ? "private" : "secret") +
                  " key is refused: private key material never leaves the token");
}

CK_ATTRIBUTE_TYPE private_value_attribute() { return CKA_VALUE; }

}  // namespace escrowless::pkcs11
