#include "audit/log_entry.h"

#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "audit/canonical_json.h"
#include "audit/entry_codecs.h"
#include "audit/entry_json.h"
#include "audit/error.h"
#include "audit/json_path.h"

namespace escrowless::audit {
namespace {

using nlohmann::json;

// Indexed by EntryType, whose values run from 0 without gaps.
constexpr std::array<std::string_view, 5> kTypeNames = {
    "hsm.provisioned", "device.enrolled", "prekeys.signed", "device.revoked", "hsm.inventory"};

std::optional<EntryType> entry_type_named(std::string_view name) {
  for (std::size_t i = 0; i < kTypeNames.size(); ++i) {
    if (kTypeNames[i] == name) return static_cast<EntryType>(i);
  }
  return std::nullopt;
}

// Finds the top-level "type" of a document that failed to parse, so the error can still name
// the entry type. Streams SAX events and stops at the first answer; never builds the document.
class TypeSniffer final : public json::json_sax_t {
 public:
  std::optional<EntryType> type;

  bool null() override { return scalar(); }
  bool boolean(bool) override { return scalar(); }
  bool number_integer(number_integer_t) override { return scalar(); }
  bool number_unsigned(number_unsigned_t) override { return scalar(); }
  bool number_float(number_float_t, const string_t&) override { return scalar(); }
  bool binary(binary_t&) override { return scalar(); }
  bool string(string_t& value) override {
    if (!type_is_next_) return true;
    type = entry_type_named(value);
    return false;  // found: stop
  }
  bool start_object(std::size_t) override { return open(); }
  bool start_array(std::size_t) override { return open(); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& name) override {
    type_is_next_ = depth_ == 1 && name == "type";
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  bool scalar() {
    type_is_next_ = false;
    return true;
  }
  bool open() {
    type_is_next_ = false;
    return ++depth_ <= kMaxCanonicalJsonDepth;
  }
  bool close() {
    --depth_;
    return true;
  }

  std::size_t depth_ = 0;
  bool type_is_next_ = false;
};

// "device.enrolled" if the bytes say so at the top level, else "log entry". Canonical entries
// end with their type (the last key in byte order), which names the type even when a syntax
// error, such as invalid UTF-8 in a label, stops the SAX pass before it gets there.
std::string name_for_errors(std::string_view bytes) {
  if (bytes.size() > kMaxCanonicalJsonSize) return "log entry";
  TypeSniffer sniffer;
  json::sax_parse(bytes.begin(), bytes.end(), &sniffer);
  if (sniffer.type) return std::string(to_string(*sniffer.type));
  for (const std::string_view name : kTypeNames) {
    const std::string suffix = ",\"type\":\"" + std::string(name) + "\"}";
    if (bytes.size() >= suffix.size() && bytes.substr(bytes.size() - suffix.size()) == suffix) {
      return std::string(name);
    }
  }
  return "log entry";
}

LogEntry read_entry(std::string_view bytes) {
  const json entry = parse_canonical(bytes);
  if (!entry.is_object()) {
    entry_json::fail("", std::string("must be an object, got ") + entry.type_name());
  }
  const auto type_member = entry.find("type");
  if (type_member == entry.end()) entry_json::fail("type", "required field is missing");
  const std::string& name = entry_json::read_string(*type_member, "type");
  const std::optional<EntryType> type = entry_type_named(name);
  if (!type) {
    entry_json::fail("type", "unknown entry type " + quote(name) +
                                 " (known: hsm.provisioned, device.enrolled, prekeys.signed, "
                                 "device.revoked, hsm.inventory)");
  }
  switch (*type) {
    case EntryType::hsm_provisioned:
      return LogEntry{entry_json::read_hsm_provisioned(entry)};
    case EntryType::device_enrolled:
      return LogEntry{entry_json::read_device_enrolled(entry)};
    case EntryType::prekeys_signed:
      return LogEntry{entry_json::read_prekeys_signed(entry)};
    case EntryType::device_revoked:
      return LogEntry{entry_json::read_device_revoked(entry)};
    case EntryType::hsm_inventory: {
      HsmInventory inventory = entry_json::read_hsm_inventory(entry);
      // Parts exist so that every entry fits a tlog-tiles entry bundle: hold them to it.
      if (inventory.part && bytes.size() > kMaxPartEntrySize) {
        entry_json::fail("", "a schema 2 inventory part is at most " + std::to_string(kMaxPartEntrySize) +
                                 " bytes, got " + std::to_string(bytes.size()));
      }
      return LogEntry{std::move(inventory)};
    }
  }
  throw Error(ErrorKind::internal, "unhandled entry type");
}

}  // namespace

std::string_view to_string(EntryType type) noexcept {
  const auto index = static_cast<std::size_t>(type);
  return index < kTypeNames.size() ? kTypeNames[index] : "unknown";
}

EntryType LogEntry::type() const noexcept {
  return std::visit([](const auto& entry) { return entry.kType; }, body);
}

EntryTime LogEntry::time() const noexcept {
  return std::visit([](const auto& entry) { return entry.time; }, body);
}

std::vector<uint8_t> LogEntry::to_bytes() const {
  const std::string name(to_string(type()));
  std::string text;
  try {
    text =
        canonical_json(std::visit([](const auto& e) { return entry_json::write_entry(e); }, body));
  } catch (const Error& e) {
    throw Error(e.kind(), name + ": " + e.what());
  }
  // The reader is the definition of a valid entry: run it on everything we write.
  if (parse_entry(text) != *this) {
    throw Error(ErrorKind::internal, name + ": entry changed in its own round trip");
  }
  return {text.begin(), text.end()};
}

LogEntry parse_entry(std::string_view bytes) {
  try {
    return read_entry(bytes);
  } catch (const Error& e) {
    throw Error(e.kind(), name_for_errors(bytes) + ": " + e.what());
  }
}

LogEntry parse_entry(std::span<const uint8_t> bytes) {
  return parse_entry(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::vector<uint8_t> HsmProvisioned::to_bytes() const { return LogEntry{*this}.to_bytes(); }
std::vector<uint8_t> DeviceEnrolled::to_bytes() const { return LogEntry{*this}.to_bytes(); }
std::vector<uint8_t> PrekeysSigned::to_bytes() const { return LogEntry{*this}.to_bytes(); }
std::vector<uint8_t> DeviceRevoked::to_bytes() const { return LogEntry{*this}.to_bytes(); }
std::vector<uint8_t> HsmInventory::to_bytes() const { return LogEntry{*this}.to_bytes(); }

}  // namespace escrowless::audit
