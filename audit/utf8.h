// The text rules of C2SP signed notes: valid UTF-8, no ASCII control characters but newline,
// and key names without Unicode spaces or '+'.
#pragma once

#include <string_view>

namespace escrowless::audit {

// True if `text` is valid UTF-8: shortest form, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view text) noexcept;

// Throws invalid_input (naming `what` and the byte offset) unless `text` is valid UTF-8 with
// no ASCII control character (below U+0020) other than newline, as signed-note requires.
void check_note_text_chars(std::string_view text, std::string_view what);

// C2SP signed-note key names: non-empty, valid UTF-8, no Unicode space (the White_Space
// property, which is also what Go's unicode.IsSpace tests), no '+', and no control character.
bool is_valid_key_name(std::string_view name) noexcept;

}  // namespace escrowless::audit
