#include "pkcs11/uri.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>

#include "pkcs11/error.h"

namespace escrowless::pkcs11 {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw Error(ErrorKind::invalid_input, "PKCS#11 URI: " + what);
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool is_unreserved(char c) { return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }
constexpr std::string_view kPathSpecial = ":[]@!$'()*+,=";
constexpr std::string_view kQuerySpecial = ":[]@!$'()*+,=/?|";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes one attribute value. `name` is used in messages; the value itself is never echoed, so
// nothing secret-looking is repeated back even in an error.
std::string decode(std::string_view value, std::string_view special, std::string_view name) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '%') {
      if (i + 2 >= value.size()) {
        fail("truncated percent-encoding in the value of '" + std::string(name) + "'");
      }
      const int hi = hex_value(value[i + 1]);
      const int lo = hex_value(value[i + 2]);
      if (hi < 0 || lo < 0) {
        fail("invalid percent-encoding in the value of '" + std::string(name) + "'");
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (is_unreserved(c) || special.find(c) != std::string_view::npos) {
      out.push_back(c);
    } else {
      char shown[16];
      const auto byte = static_cast<unsigned char>(c);
      std::snprintf(shown, sizeof shown, byte >= 0x21 && byte < 0x7f ? "'%c'" : "0x%02x", byte);
      fail(std::string("character ") + shown + " must be percent-encoded in the value of '" +
           std::string(name) + "'");
    }
  }
  return out;
}

std::string encode(std::string_view value, std::string_view special) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : value) {
    if (is_unreserved(c) || (special.find(c) != std::string_view::npos && c != '=')) {
      out.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0x0f]);
    }
  }
  return out;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find(sep, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

template <class T>
void set_once(std::optional<T>& field, T value, std::string_view name) {
  if (field) fail("attribute '" + std::string(name) + "' appears more than once");
  field = std::move(value);
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

ObjectType parse_type(std::string_view value) {
  if (value == "public") return ObjectType::public_key;
  if (value == "private") return ObjectType::private_key;
  if (value == "cert") return ObjectType::certificate;
  if (value == "secret-key") return ObjectType::secret_key;
  if (value == "data") return ObjectType::data;
  fail("'type' must be one of public, private, cert, secret-key, data");
}

void parse_path_attribute(Uri& uri, std::string_view name, std::string value) {
  if (name == "token") return set_once(uri.token, std::move(value), name);
  if (name == "manufacturer") return set_once(uri.manufacturer, std::move(value), name);
  if (name == "serial") return set_once(uri.serial, std::move(value), name);
  if (name == "model") return set_once(uri.model, std::move(value), name);
  if (name == "object") return set_once(uri.object, std::move(value), name);
  if (name == "slot-description") return set_once(uri.slot_description, std::move(value), name);
  if (name == "slot-manufacturer") return set_once(uri.slot_manufacturer, std::move(value), name);
  if (name == "library-manufacturer") {
    return set_once(uri.library_manufacturer, std::move(value), name);
  }
  if (name == "library-description") {
    return set_once(uri.library_description, std::move(value), name);
  }
  if (name == "library-version") {
    const auto dot = value.find('.');
    const bool ok = dot == std::string::npos
                        ? all_digits(value)
                        : all_digits(std::string_view(value).substr(0, dot)) &&
                              all_digits(std::string_view(value).substr(dot + 1));
    if (!ok) fail("'library-version' must be MAJOR or MAJOR.MINOR in decimal digits");
    return set_once(uri.library_version, std::move(value), name);
  }
  if (name == "id") {
    return set_once(uri.id, std::vector<std::uint8_t>(value.begin(), value.end()), name);
  }
  if (name == "type") return set_once(uri.type, parse_type(value), name);
  if (name == "slot-id") {
    CK_SLOT_ID slot = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), slot);
    if (!all_digits(value) || ec != std::errc() || end != value.data() + value.size()) {
      fail("'slot-id' must be a decimal number");
    }
    return set_once(uri.slot_id, slot, name);
  }
  if (name.starts_with("x-")) {
    fail("vendor attribute '" + std::string(name) + "' is not supported");
  }
  fail("unknown path attribute '" + std::string(name) + "'");
}

void parse_query_attribute(Uri& uri, std::string_view name, std::string value) {
  if (name == "pin-value") {
    fail("'pin-value' is refused: a PIN inside a URI leaks into process lists, shell history and "
         "logs; use pin-source=file:/path/to/pin-file (mode 0600) or pin-source=env:NAME");
  }
  if (name == "pin-source") {
    if (value.empty()) fail("'pin-source' is empty");
    return set_once(uri.pin_source, std::move(value), name);
  }
  if (name == "module-path") {
    if (value.empty()) fail("'module-path' is empty");
    return set_once(uri.module_path, std::move(value), name);
  }
  if (name == "module-name") {
    if (value.empty()) fail("'module-name' is empty");
    return set_once(uri.module_name, std::move(value), name);
  }
  if (name.starts_with("x-")) {
    fail("vendor attribute '" + std::string(name) + "' is not supported");
  }
  fail("unknown query attribute '" + std::string(name) + "'");
}

bool valid_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return is_alnum(c) || c == '-' || c == '.' || c == '_';
  });
}

template <class Handler>
void parse_attributes(Uri& uri, std::string_view part, char sep, std::string_view special,
                      std::string_view where, Handler handler) {
  if (part.empty()) return;
  for (const std::string_view attribute : split(part, sep)) {
    const std::size_t eq = attribute.find('=');
    if (attribute.empty()) fail("empty attribute in the " + std::string(where));
    if (eq == std::string_view::npos) {
      fail("attribute '" + std::string(attribute.substr(0, 40)) + "' in the " +
           std::string(where) + " has no '='");
    }
    const std::string_view name = attribute.substr(0, eq);
    if (!valid_name(name)) fail("invalid attribute name in the " + std::string(where));
    handler(uri, name, decode(attribute.substr(eq + 1), special, name));
  }
}

}  // namespace

std::string_view to_string(ObjectType type) {
  switch (type) {
    case ObjectType::public_key: return "public";
    case ObjectType::private_key: return "private";
    case ObjectType::certificate: return "cert";
    case ObjectType::secret_key: return "secret-key";
    case ObjectType::data: return "data";
  }
  return "data";
}

Uri Uri::parse(std::string_view text) {
  constexpr std::string_view kScheme = "pkcs11:";
  if (text.size() < kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), text.begin(), [](char a, char b) {
        return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b);
      })) {
    fail("must start with 'pkcs11:'");
  }
  text.remove_prefix(kScheme.size());
  const std::size_t question = text.find('?');
  const std::string_view path = text.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? std::string_view() : text.substr(question + 1);
  if (question != std::string_view::npos && query.empty()) fail("empty query after '?'");

  Uri uri;
  parse_attributes(uri, path, ';', kPathSpecial, "path", parse_path_attribute);
  parse_attributes(uri, query, '&', kQuerySpecial, "query", parse_query_attribute);
  return uri;
}

std::string Uri::to_string() const {
  std::vector<std::string> path;
  const auto add = [&path](std::string_view name, const std::optional<std::string>& value) {
    if (value) path.push_back(std::string(name) + "=" + encode(*value, kPathSpecial));
  };
  add("library-manufacturer", library_manufacturer);
  add("library-description", library_description);
  add("library-version", library_version);
  add("slot-manufacturer", slot_manufacturer);
  add("slot-description", slot_description);
  if (slot_id) path.push_back("slot-id=" + std::to_string(*slot_id));
  add("manufacturer", manufacturer);
  add("model", model);
  add("serial", serial);
  add("token", token);
  add("object", object);
  if (id) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string encoded;
    for (const std::uint8_t byte : *id) {
      encoded += '%';
      encoded += kHex[byte >> 4];
      encoded += kHex[byte & 0x0f];
    }
    path.push_back("id=" + encoded);
  }
  if (type) path.push_back("type=" + std::string(pkcs11::to_string(*type)));

  std::vector<std::string> query;
  const auto add_query = [&query](std::string_view name, const std::optional<std::string>& value) {
    if (value) query.push_back(std::string(name) + "=" + encode(*value, kQuerySpecial));
  };
  add_query("module-name", module_name);
  add_query("module-path", module_path);
  add_query("pin-source", pin_source);

  std::string out = "pkcs11:";
  for (std::size_t i = 0; i < path.size(); ++i) out += (i ? ";" : "") + path[i];
  for (std::size_t i = 0; i < query.size(); ++i) out += (i ? "&" : "?") + query[i];
  return out;
}

}  // namespace escrowless::pkcs11
