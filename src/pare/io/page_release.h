// Dropping the resident pages of a memory-mapped range, for readers that stream weights from mapped files
// (safetensors, .pare Llama packages): a weight read once stops counting against memory, and is read again
// from the file if touched.
#pragma once
#include <cstddef>
#include <cstdint>

namespace pare::io {

// madvise(DONTNEED) on the whole pages inside [begin, begin + bytes); partial pages at the ends are kept.
void release_pages(const uint8_t* begin, size_t bytes);

}  // namespace pare::io
