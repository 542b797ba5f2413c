#include "audit/canonical_json.h"

#include <set>
#include <string>
#include <vector>

#include "audit/error.h"
#include "audit/json_path.h"
#include "audit/utf8.h"

namespace escrowless::audit {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& what) { throw invalid_input("canonical JSON: " + what); }

[[noreturn]] void fail_at(const std::string& path, const std::string& what) {
  fail((path.empty() ? std::string("(top level)") : path) + ": " + what);
}

std::string deeper_than_limit() {
  return "nested deeper than " + std::to_string(kMaxCanonicalJsonDepth) + " levels";
}

constexpr std::string_view kOnlyIntegers = "only integers within +-(2^53 - 1) are allowed, got ";

// One step of the path to a value, linked to its parent's: text is only built for a message.
struct PathStep {
  const PathStep* parent;
  std::string_view key;  // an object member
  std::size_t index;     // an array element, if is_index
  bool is_index;
};

std::string path_text(const PathStep* step) {
  if (step == nullptr) return "";
  const std::string parent = path_text(step->parent);
  return step->is_index ? index_path(parent, step->index) : field_path(parent, step->key);
}

// Integers only, and only those every JSON reader holds exactly.
void check_number(const json& value, const PathStep* at) {
  const bool in_range =
      value.is_number_unsigned()
          ? value.get<uint64_t>() <= static_cast<uint64_t>(kMaxCanonicalJsonInteger)
          : value.is_number_integer() && value.get<int64_t>() <= kMaxCanonicalJsonInteger &&
                value.get<int64_t>() >= -kMaxCanonicalJsonInteger;
  if (!in_range) fail_at(path_text(at), std::string(kOnlyIntegers) + value.dump());
}

// `depth` counts the containers around the value. Recursion stops at the depth limit, so a
// deep value built in memory can't exhaust the stack here.
void check_value(const json& value, const PathStep* at, std::size_t depth) {
  switch (value.type()) {
    case json::value_t::null:
    case json::value_t::boolean:
      return;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return check_number(value, at);
    case json::value_t::string:
      if (!is_valid_utf8(value.get_ref<const std::string&>())) {
        fail_at(path_text(at), "string is not valid UTF-8");
      }
      return;
    case json::value_t::array: {
      if (depth >= kMaxCanonicalJsonDepth) fail_at(path_text(at), deeper_than_limit());
      PathStep step{at, {}, 0, true};
      for (const json& item : value) {
        check_value(item, &step, depth + 1);
        ++step.index;
      }
      return;
    }
    case json::value_t::object:
      if (depth >= kMaxCanonicalJsonDepth) fail_at(path_text(at), deeper_than_limit());
      for (const auto& [key, item] : value.items()) {
        const PathStep step{at, key, 0, false};
        if (!is_valid_utf8(key)) fail_at(path_text(&step), "key is not valid UTF-8");
        check_value(item, &step, depth + 1);
      }
      return;
    case json::value_t::binary:
      fail_at(path_text(at), "binary values have no JSON encoding");
    case json::value_t::discarded:
      break;
  }
  fail_at(path_text(at), "not a JSON value");
}

// The strict pass: a SAX handler that refuses duplicate keys, over-deep nesting and numbers
// other than exact integers as soon as they appear, and knows the path of the value being read
// for its messages. (A SAX pass plus a plain DOM parse, rather than a parser callback: the
// callback parser of nlohmann 3.11 rescans an array at the end of each of its objects, which is
// quadratic on a 10000-object inventory.) Paths are only built when an error needs one.
class StrictReader final : public json::json_sax_t {
 public:
  bool null() override { return value_done(); }
  bool boolean(bool) override { return value_done(); }
  bool string(string_t&) override { return value_done(); }
  bool binary(binary_t&) override { return value_done(); }
  bool number_integer(number_integer_t number) override {
    if (number > kMaxCanonicalJsonInteger || number < -kMaxCanonicalJsonInteger) {
      fail_at(value_path(), std::string(kOnlyIntegers) + std::to_string(number));
    }
    return value_done();
  }
  bool number_unsigned(number_unsigned_t number) override {
    if (number > static_cast<uint64_t>(kMaxCanonicalJsonInteger)) {
      fail_at(value_path(), std::string(kOnlyIntegers) + std::to_string(number));
    }
    return value_done();
  }
  bool number_float(number_float_t, const string_t& text) override {
    fail_at(value_path(), std::string(kOnlyIntegers) + printable(text));
  }
  bool start_object(std::size_t) override { return open(false); }
  bool start_array(std::size_t) override { return open(true); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& name) override {
    Frame& frame = stack_.back();
    const auto [at, inserted] = frame.keys.insert(name);
    frame.key = &*at;
    if (!inserted) fail_at(value_path(), "duplicate key");
    return true;
  }
  bool parse_error(std::size_t byte, const std::string&,
                   const nlohmann::detail::exception& e) override {
    // nlohmann's message echoes the bytes it last read, which may be anything.
    const std::string path = value_path();
    fail("syntax error at byte " + std::to_string(byte) +
         (path.empty() ? "" : " (near " + path + ")") + ": " + printable(e.what(), 300));
  }

  // The path of the value being read: the current key or index of every open container.
  std::string value_path() const {
    std::string path;
    for (const Frame& frame : stack_) {
      if (frame.is_array) {
        path = index_path(path, frame.next_index);
      } else if (frame.key != nullptr) {
        path = field_path(path, *frame.key);
      }
    }
    return path;
  }

 private:
  struct Frame {
    bool is_array = false;
    std::size_t next_index = 0;        // arrays: index of the element being read
    std::set<std::string> keys;        // objects: keys seen so far
    const std::string* key = nullptr;  // objects: the member being read, in `keys`
  };

  bool open(bool is_array) {
    if (stack_.size() >= kMaxCanonicalJsonDepth) fail_at(value_path(), deeper_than_limit());
    stack_.emplace_back().is_array = is_array;
    return true;
  }
  bool close() {
    stack_.pop_back();
    return value_done();
  }
  bool value_done() {
    if (!stack_.empty() && stack_.back().is_array) ++stack_.back().next_index;
    return true;
  }

  std::vector<Frame> stack_;
};

std::string describe_byte(std::string_view text, std::size_t at) {
  if (at >= text.size()) return "the end";
  return quote(text.substr(at, 1));
}

}  // namespace

std::string canonical_json(const json& value) {
  check_value(value, nullptr, 0);
  std::string out = value.dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::strict);
  if (out.size() > kMaxCanonicalJsonSize) {
    fail("encoding is " + std::to_string(out.size()) + " bytes, more than the limit of " +
         std::to_string(kMaxCanonicalJsonSize));
  }
  return out;
}

json parse_canonical(std::string_view bytes) {
  if (bytes.size() > kMaxCanonicalJsonSize) {
    fail(std::to_string(bytes.size()) + " bytes, more than the limit of " +
         std::to_string(kMaxCanonicalJsonSize));
  }
  StrictReader reader;
  json::sax_parse(bytes.begin(), bytes.end(), &reader);
  json value;
  try {
    value = json::parse(bytes.begin(), bytes.end());
  } catch (const json::exception& e) {  // unreachable after the strict pass, which also parses
    fail(std::string("syntax error: ") + printable(e.what(), 300));
  }
  const std::string canonical = canonical_json(value);
  if (canonical != bytes) {
    std::size_t at = 0;
    while (at < canonical.size() && at < bytes.size() && canonical[at] == bytes[at]) ++at;
    fail("not in canonical form at byte " + std::to_string(at) + ": expected " +
         describe_byte(canonical, at) + ", found " + describe_byte(bytes, at) +
         " (canonical JSON has no whitespace outside strings, keys in byte order and no "
         "escapes JSON does not require)");
  }
  return value;
}

}  // namespace escrowless::audit
