// Reading a prekey upload (PUT .../prekeys) from its request body: pure parsing, no token or
// store, so the route stays thin and the fuzzer (tests/fuzz) runs exactly what the route runs.
#pragma once

#include <httplib.h>

#include "keyservice/prekey_service.h"

namespace escrowless::api {

// The upload in the body: json_body() with the four optional members, each key an object of
// exactly key_id (0 to 2^32-1) and public_key (base64), each list an array of at most 100 keys.
// Throws ApiError (400 naming the member, 415) otherwise. Key sizes and batch rules are the
// prekey service's to check.
keyservice::PrekeyUploadRequest read_prekey_upload(const httplib::Request& request);

}  // namespace escrowless::api
