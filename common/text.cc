#include "common/text.h"

#include <cstdint>

namespace backup {
namespace {

// The length of the well-formed UTF-8 sequence at the start of `s`, or 0 when there is none
// (RFC 3629's table: no overlong forms, no surrogates, nothing past U+10FFFF).
size_t SequenceLength(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const auto cont = [&](size_t i, uint8_t lo = 0x80, uint8_t hi = 0xbf) {
    return i < s.size() && b(i) >= lo && b(i) <= hi;
  };
  const uint8_t c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c == 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c == 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

void AppendHex(std::string& out, uint8_t byte) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[byte >> 4];
  out += kHex[byte & 0xf];
}

}  // namespace

bool IsUtf8(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size();) {
    const size_t n = SequenceLength(bytes.substr(i));
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string ValidUtf8(std::string text) {
  if (IsUtf8(text)) return text;
  std::string out;
  out.reserve(text.size() + 16);
  const std::string_view s(text);
  for (size_t i = 0; i < s.size();) {
    const size_t n = SequenceLength(s.substr(i));
    if (n == 0) {
      AppendHex(out, static_cast<uint8_t>(s[i]));
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string ShowName(std::string_view name, size_t limit) {
  std::string out;
  const std::string_view s = name.substr(0, limit);
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<uint8_t>(s[i]);
    const size_t n = SequenceLength(s.substr(i));
    if (n == 0 || c < 0x20 || c == 0x7f) {
      AppendHex(out, c);
      ++i;
      continue;
    }
    if (c == '\\') out += '\\';
    out.append(s.substr(i, n));
    i += n;
  }
  if (name.size() > limit) out += "...";
  return out;
}

namespace {
constexpr std::string_view kHexNamePrefix = "/x:";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}
}  // namespace

std::string NameAsText(std::string_view name) {
  if (IsUtf8(name) && !name.starts_with(kHexNamePrefix)) return std::string(name);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(kHexNamePrefix);
  for (char c : name) {
    const auto b = static_cast<uint8_t>(c);
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

std::string NameFromText(std::string_view text) {
  if (!text.starts_with(kHexNamePrefix)) return std::string(text);
  const std::string_view hex = text.substr(kHexNamePrefix.size());
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    const int hi = HexValue(hex[i]), lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0 || hex.size() % 2 != 0) return std::string(text);  // not ours
    out += static_cast<char>((hi << 4) | lo);
  }
  return out;
}

}  // namespace backup
