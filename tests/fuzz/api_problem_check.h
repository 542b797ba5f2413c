// What every refused request in the api fuzz targets must come to: a 4xx problem whose detail is
// bounded (no unbounded echo of the input) and serialises as valid JSON (httplib bodies are bytes,
// the detail may hold a cut UTF-8 sequence).
#pragma once

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <exception>
#include <initializer_list>
#include <string>

#include "api/problem.h"
#include "tests/fuzz/fuzz_support.h"

namespace escrowless::fuzz {

inline void check_refusal(const api::ApiError& error, std::initializer_list<int> statuses) {
  const api::Problem& problem = error.problem();
  bool expected = false;
  for (const int status : statuses) expected = expected || problem.status == status;
  require(expected, "the refusal has one of the route's statuses");
  require(problem.detail.size() <= 256, "the problem detail is bounded");
  std::string internal;
  const api::Problem mapped = api::problem_for(std::make_exception_ptr(error), internal);
  require(internal.empty() && mapped.status == problem.status, "an ApiError maps to itself");
  httplib::Response response;
  api::send_problem(response, mapped, "0123456789abcdef");
  const nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  require(!body.is_discarded() && body.is_object(), "the problem body is a JSON object");
  require(body.value("status", 0) == problem.status, "the problem body carries the status");
}

}  // namespace escrowless::fuzz
