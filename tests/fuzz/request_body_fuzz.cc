// The request bodies of every route that takes one (api/request.h json_body, api/prekey_request.h):
// POST /v1/accounts/{account}/devices (an empty object or nothing) and
// PUT /v1/accounts/{account}/devices/{device}/prekeys (the upload). The input's first line is the
// Content-Type header, the rest the body. Properties: the only exception is ApiError 400 or 415,
// rendered as valid problem+json; an accepted upload holds at most 100 keys per list.
#include <httplib.h>

#include <string>

#include "api/prekey_request.h"
#include "api/problem.h"
#include "api/request.h"
#include "tests/fuzz/api_problem_check.h"
#include "tests/fuzz/fuzz_support.h"

using namespace escrowless;

namespace {

template <typename Parse>
void run(Parse parse) {
  try {
    parse();
  } catch (const api::ApiError& e) {
    fuzz::check_refusal(e, {400, 415});
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view input = fuzz::as_text(data, size);
  const std::size_t newline = input.find('\n');
  if (newline == std::string_view::npos) return 0;
  httplib::Request request;
  request.method = "PUT";
  request.set_header("Content-Type", std::string(input.substr(0, newline)));
  request.body = std::string(input.substr(newline + 1));

  run([&] { api::json_body(request, {}); });
  run([&] {
    const keyservice::PrekeyUploadRequest upload = api::read_prekey_upload(request);
    for (const auto* list : {&upload.one_time_prekeys, &upload.pq_one_time_prekeys}) {
      fuzz::require(!*list || (*list)->size() <= 100, "an accepted list holds at most 100 keys");
    }
  });
  return 0;
}
