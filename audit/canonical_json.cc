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

// The one-pass reader of parse_canonical(): builds the value while it checks what StrictReader
// checks, and notes whether every object's keys came in strictly increasing byte order. It only
// answers "accepted" or "not": on "not", parse_canonical_reference() reads the bytes again to
// say why, so the errors are the reference's word for word.
class CanonicalReader final : public json::json_sax_t {
 public:
  bool null() override { return put(nullptr); }
  bool boolean(bool value) override { return put(value); }
  bool string(string_t& value) override { return put(std::move(value)); }
  bool binary(binary_t&) override { return false; }
  bool number_integer(number_integer_t number) override {
    if (number > kMaxCanonicalJsonInteger || number < -kMaxCanonicalJsonInteger) return false;
    return put(number);
  }
  bool number_unsigned(number_unsigned_t number) override {
    if (number > static_cast<uint64_t>(kMaxCanonicalJsonInteger)) return false;
    return put(number);
  }
  bool number_float(number_float_t, const string_t&) override { return false; }
  bool start_object(std::size_t) override { return open(json::object()); }
  bool start_array(std::size_t) override { return open(json::array()); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& name) override {
    Frame& frame = stack_.back();
    auto& members = frame.container->get_ref<json::object_t&>();
    const auto [at, inserted] = members.try_emplace(std::move(name));
    if (!inserted) return false;  // a duplicate key
    if (frame.last_key != nullptr && !(*frame.last_key < at->first)) in_key_order_ = false;
    frame.last_key = &at->first;
    frame.member = &at->second;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

  bool in_key_order() const noexcept { return in_key_order_; }
  json take() { return std::move(root_); }

 private:
  struct Frame {
    json* container;
    const std::string* last_key = nullptr;  // objects: the previous key, in the container
    json* member = nullptr;                 // objects: where the value of the last key goes
  };

  // Where the next value goes: the top level, the member just named, or a new array element
  // (an array's open child is always its last element, so no pointer on the stack moves).
  json* slot() {
    if (stack_.empty()) return &root_;
    Frame& frame = stack_.back();
    if (frame.container->is_array()) {
      auto& items = frame.container->get_ref<json::array_t&>();
      items.emplace_back();
      return &items.back();
    }
    return frame.member;
  }
  template <typename T>
  bool put(T&& value) {
    *slot() = std::forward<T>(value);
    return true;
  }
  bool open(json empty) {
    if (stack_.size() >= kMaxCanonicalJsonDepth) return false;
    json* container = slot();
    *container = std::move(empty);
    stack_.push_back(Frame{container});
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }

  json root_;
  std::vector<Frame> stack_;
  bool in_key_order_ = true;
};

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// The bytes a canonical document has outside its strings: brackets, separators, digits, the
// minus sign and the letters of true, false and null.
bool is_bare_json_byte(char c) {
  switch (c) {
    case '{': case '}': case '[': case ']': case ':': case ',': case '-':
    case 't': case 'r': case 'u': case 'e': case 'f': case 'a': case 'l': case 's': case 'n':
      return true;
    default:
      return c >= '0' && c <= '9';
  }
}

int hex_value(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

// For bytes nlohmann read as valid JSON: true if they spell their values as canonical_json()
// does, the key order aside (CanonicalReader checks that): outside strings nothing but the
// bytes of values (no whitespace, byte order mark or NUL) and no "-0"; and in
// strings only the escapes JSON requires (\" \\ \b \f \n \r \t, \u00xx in lowercase hex for the
// other control characters). Floats and out-of-range integers are the reader's to refuse.
bool spelled_canonically(std::string_view text) {
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '"') {
        in_string = false;
      } else if (c == '\\') {
        if (i + 1 >= text.size()) return false;
        const char escape = text[++i];
        if (escape == 'u') {
          if (i + 4 >= text.size()) return false;
          if (text[i + 1] != '0' || text[i + 2] != '0' || !is_lower_hex(text[i + 3]) || !is_lower_hex(text[i + 4])) return false;
          const int code = hex_value(text[i + 3]) * 16 + hex_value(text[i + 4]);
          if (code >= 0x20 || code == '\b' || code == '\f' || code == '\n' || code == '\r' || code == '\t') return false;
          i += 4;
        } else if (escape != '"' && escape != '\\' && escape != 'b' && escape != 'f' && escape != 'n' && escape != 'r' &&
                   escape != 't') {
          return false;  // "\/" and anything else
        }
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '-' && i + 1 < text.size() && text[i + 1] == '0') {
      return false;  // "-0": canonical_json() writes 0
    } else if (!is_bare_json_byte(c)) {
      // Whitespace; and what nlohmann's reader skips or stops at: a byte order mark before
      // the value, a NUL (its end of input) with anything after it.
      return false;
    }
  }
  return !in_string;
}

}  // namespace

json parse_canonical(std::string_view bytes) {
  if (bytes.size() <= kMaxCanonicalJsonSize) {
    CanonicalReader reader;
    if (json::sax_parse(bytes.begin(), bytes.end(), &reader) && reader.in_key_order() && spelled_canonically(bytes)) {
      return reader.take();
    }
  }
  return parse_canonical_reference(bytes);  // throws, saying why (or, were the fast checks stricter, accepts)
}

std::string canonical_json(const json& value) {
  check_value(value, nullptr, 0);
  std::string out = value.dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::strict);
  if (out.size() > kMaxCanonicalJsonSize) {
    fail("encoding is " + std::to_string(out.size()) + " bytes, more than the limit of " +
         std::to_string(kMaxCanonicalJsonSize));
  }
  return out;
}

json parse_canonical_reference(std::string_view bytes) {
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
