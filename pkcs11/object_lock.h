// One lock over the token's set of objects, for every module this process loads.
//
// SoftHSM 2.6 races with itself when one thread makes or destroys objects while another searches
// (a search re-reads the token's objects from disk): the new object can be stored half made, and
// from then on every search finds an object whose CKA_CLASS reads CKR_ATTRIBUTE_VALUE_INVALID,
// so every inventory fails until the process restarts (seen with concurrent enrollments,
// revocations and inventories, tests/keyservice/reconciler_test.cc). Searches share this lock;
// making and destroying objects hold it alone. Both are rare and short next to signing, which
// takes no part. Never held across a call that takes it again.
#pragma once

#include <shared_mutex>

namespace escrowless::pkcs11 {

inline std::shared_mutex& token_objects_lock() {
  static std::shared_mutex lock;
  return lock;
}

}  // namespace escrowless::pkcs11
