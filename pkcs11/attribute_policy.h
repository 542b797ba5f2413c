// Which attributes the service may read. For private and secret keys only an allow-list of
// descriptive attributes (class, type, id, label, the security and capability flags, curve and
// public parts) is readable; asking for anything else, CKA_VALUE above all, is refused here before
// any call reaches the token. This is the only place that names CKA_VALUE.
#pragma once

#include "pkcs11/cryptoki.h"

namespace escrowless::pkcs11 {

bool is_readable(CK_OBJECT_CLASS object_class, CK_ATTRIBUTE_TYPE type);

// Throws Error(invalid_input) for an attribute that is_readable() refuses.
void require_readable(CK_OBJECT_CLASS object_class, CK_ATTRIBUTE_TYPE type);

// The attribute that holds a private key's secret value, for probe_private_value()
// (object_attributes.h) only: a length query that never receives the value.
CK_ATTRIBUTE_TYPE private_value_attribute();

}  // namespace escrowless::pkcs11
