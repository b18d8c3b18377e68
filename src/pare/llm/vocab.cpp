// Names of piece types and the "<0xNN>" spelling of byte pieces.
#include "pare/llm/vocab.h"

#include <cstdio>

namespace pare::llm {

std::string piece_type_name(PieceType t) {
  switch (t) {
    case PieceType::Normal:
      return "normal";
    case PieceType::Unknown:
      return "unknown";
    case PieceType::Control:
      return "control";
    case PieceType::UserDefined:
      return "user_defined";
    case PieceType::Unused:
      return "unused";
    case PieceType::Byte:
      return "byte";
  }
  return "type " + std::to_string(static_cast<int32_t>(t));
}

std::optional<uint8_t> byte_piece_value(const std::string& text) {
  if (text.size() != 6 || text.compare(0, 3, "<0x") != 0 || text[5] != '>') return std::nullopt;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(text[3]), lo = hex(text[4]);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<uint8_t>(hi * 16 + lo);
}

std::string byte_piece_text(uint8_t byte) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "<0x%02X>", byte);
  return buf;
}

}  // namespace pare::llm
