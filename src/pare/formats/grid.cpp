#include "pare/formats/grid.h"

#include <fmt/format.h>

#include <cmath>

#include "pare/error.h"

namespace pare::formats {

Grid Grid::uniform(int bits, bool symmetric, bool is_signed) {
  Grid g;
  g.bits = bits;
  g.symmetric = symmetric;
  g.is_signed = symmetric ? true : is_signed;
  return g;
}

Grid Grid::power(int bits, double exponent) {
  Grid g;
  g.kind = GridKind::Power;
  g.bits = bits;
  g.exponent = exponent;
  return g;
}

Grid Grid::ternary() {
  Grid g;
  g.kind = GridKind::Ternary;
  g.bits = 2;
  return g;
}

Grid Grid::codebook(at::Tensor table) {
  Grid g;
  g.kind = GridKind::Codebook;
  g.table = table.to(at::kFloat).flatten().contiguous();
  const int64_t k = g.table.numel();
  g.bits = 0;
  while ((int64_t{1} << g.bits) < k) ++g.bits;
  if (k < 2 || (int64_t{1} << g.bits) != k)
    throw Error("codebook size must be a power of two, at least 2").got(std::to_string(k) + " entries");
  return g;
}

int64_t Grid::qmin() const {
  switch (kind) {
    case GridKind::Uniform:
      if (symmetric) return -((int64_t{1} << (bits - 1)) - 1);
      return is_signed ? -(int64_t{1} << (bits - 1)) : 0;
    case GridKind::Power:
      return -((int64_t{1} << (bits - 1)) - 1);
    case GridKind::Ternary:
      return -1;
    case GridKind::Codebook:
      return 0;
  }
  return 0;
}

int64_t Grid::qmax() const {
  switch (kind) {
    case GridKind::Uniform:
      return (is_signed || symmetric) ? (int64_t{1} << (bits - 1)) - 1 : (int64_t{1} << bits) - 1;
    case GridKind::Power:
      return (int64_t{1} << (bits - 1)) - 1;
    case GridKind::Ternary:
      return 1;
    case GridKind::Codebook:
      return (int64_t{1} << bits) - 1;
  }
  return 0;
}

double Grid::unit_max() const {
  switch (kind) {
    case GridKind::Uniform:
      return static_cast<double>(qmax());
    case GridKind::Power:
    case GridKind::Ternary:
      return 1.0;
    case GridKind::Codebook:
      return table.abs().max().item<double>();
  }
  return 1.0;
}

void Grid::validate(const std::string& what) const {
  if (kind == GridKind::Ternary) {
    if (bits != 2) throw Error(what + ": a ternary grid takes 2 bits").got(std::to_string(bits));
    return;
  }
  if (bits < 2 || bits > 8)
    throw Error(what + ": bit width out of range")
        .expected("2 to 8 bits")
        .got(std::to_string(bits))
        .hint("pare quantizes weights and activations to 2..8 bits; keep a layer in float to skip it");
  if (kind == GridKind::Power && !(exponent > 0 && std::isfinite(exponent)))
    throw Error(what + ": power grid exponent must be positive").got(std::to_string(exponent));
  if (kind == GridKind::Codebook) {
    if (!table.defined() || table.numel() != (int64_t{1} << bits))
      throw Error(what + ": codebook table must hold 2^bits values");
    if (!at::isfinite(table).all().item<bool>()) throw Error(what + ": codebook table holds NaN or Inf");
    if (table.numel() > 1 && (table.slice(0, 1) < table.slice(0, 0, -1)).any().item<bool>())
      throw Error(what + ": codebook table must be sorted ascending");
  }
}

std::string Grid::str() const {
  switch (kind) {
    case GridKind::Uniform:
      if (symmetric) return fmt::format("int{} symmetric", bits);
      return fmt::format("{}int{}", is_signed ? "" : "u", bits);
    case GridKind::Power:
      return fmt::format("power{} a={:.3g}", bits, exponent);
    case GridKind::Ternary:
      return "ternary";
    case GridKind::Codebook:
      return fmt::format("codebook{}", table.numel());
  }
  return "?";
}

}  // namespace pare::formats
