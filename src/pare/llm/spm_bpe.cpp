// SPM-BPE: greedy highest-score pair merging over a linked list of symbols with a priority queue of
// candidate pairs (O(n log n)), so that a whole corpus can be encoded as one string.
#include "pare/llm/spm_bpe.h"

#include <algorithm>
#include <functional>
#include <queue>

#include "pare/error.h"

namespace pare::llm {

namespace {

constexpr std::string_view kMetaSpace = "\xE2\x96\x81";         // U+2581, SentencePiece's visible space
constexpr std::string_view kUnknownSurface = " \xE2\x81\x87 ";  // " U+2047 "

// Length of the UTF-8 character at s[i], or 1 when the bytes there do not form one.
size_t utf8_length(std::string_view s, size_t i) {
  const auto c = static_cast<uint8_t>(s[i]);
  const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n <= 1 || i + n > s.size()) return 1;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<uint8_t>(s[i + k]) & 0xC0) != 0x80) return 1;
  return n;
}

// A run of the normalized text; merged-away symbols have len 0.
struct Symbol {
  int32_t prev, next;
  size_t start, len;
  bool frozen;  // a user-defined piece: never merged
};

// Merging symbols `left` and `right` (adjacent when queued) gives a piece of `score` and `len` bytes.
struct Candidate {
  float score;
  int32_t left, right;
  size_t len;
};
// priority_queue puts the greatest on top: the highest score, then the leftmost pair.
struct LowerPriority {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

SpmBpe::SpmBpe(Vocab vocab) : vocab_(std::move(vocab)) {
  byte_ids_.fill(-1);
  const int32_t n = vocab_.size();
  for (int32_t id = 0; id < n; ++id) {
    const Piece& p = vocab_.pieces[id];
    if (p.text.empty()) throw Error("vocabulary piece " + std::to_string(id) + " is empty");
    if (p.type == PieceType::Byte) {
      const auto b = byte_piece_value(p.text);
      if (!b) throw Error("byte piece " + std::to_string(id) + " is not spelled <0xNN>").got("'" + p.text + "'");
      if (byte_ids_[*b] >= 0)
        throw Error("vocabulary has byte " + p.text + " twice")
            .got("ids " + std::to_string(byte_ids_[*b]) + " and " + std::to_string(id));
      byte_ids_[*b] = id;
      has_byte_pieces_ = true;
    } else if (p.type == PieceType::Normal || p.type == PieceType::UserDefined || p.type == PieceType::Unused) {
      const auto [it, inserted] = mergeable_.emplace(p.text, id);
      if (!inserted)
        throw Error("vocabulary has the piece '" + p.text + "' twice")
            .got("ids " + std::to_string(it->second) + " and " + std::to_string(id));
      if (p.type == PieceType::UserDefined) {
        user_defined_.emplace(p.text, id);
        user_defined_lengths_.push_back(p.text.size());
      }
    }
  }
  std::sort(user_defined_lengths_.rbegin(), user_defined_lengths_.rend());
  user_defined_lengths_.erase(std::unique(user_defined_lengths_.begin(), user_defined_lengths_.end()),
                              user_defined_lengths_.end());
  for (const auto& [name, id] :
       {std::pair<const char*, int32_t>{"unk", vocab_.unk_id}, {"bos", vocab_.bos_id}, {"eos", vocab_.eos_id}})
    if (id < -1 || id >= n)
      throw Error(std::string("vocabulary ") + name + " id is out of range")
          .expected("-1 or an id below " + std::to_string(n))
          .got(std::to_string(id));
}

std::string SpmBpe::normalize(std::string_view text) const {
  if (vocab_.remove_extra_whitespaces) {
    const auto first = text.find_first_not_of(' ');
    if (first == std::string_view::npos) return {};
    text = text.substr(first, text.find_last_not_of(' ') - first + 1);
  }
  std::string out;
  if (text.empty()) return out;
  out.reserve(text.size() + text.size() / 2 + 3);
  if (vocab_.add_dummy_prefix) out += kMetaSpace;
  bool after_space = false;
  for (char c : text) {
    if (c == ' ') {
      if (!(vocab_.remove_extra_whitespaces && after_space)) out += kMetaSpace;
      after_space = true;
    } else {
      out += c;
      after_space = false;
    }
  }
  return out;
}

size_t SpmBpe::match_user_defined(const std::string& s, size_t i) const {
  for (size_t len : user_defined_lengths_)
    if (i + len <= s.size() && user_defined_.count(std::string_view(s).substr(i, len))) return len;
  return 0;
}

std::vector<int32_t> SpmBpe::encode(std::string_view text) const {
  const std::string s = normalize(text);
  std::vector<int32_t> ids;
  if (s.empty()) return ids;

  std::vector<Symbol> sym;
  for (size_t i = 0; i < s.size();) {
    size_t len = user_defined_.empty() ? 0 : match_user_defined(s, i);
    const bool frozen = len > 0;
    if (!frozen) len = utf8_length(s, i);
    const auto k = static_cast<int32_t>(sym.size());
    sym.push_back({k - 1, k + 1, i, len, frozen});
    i += len;
  }
  sym.back().next = -1;

  auto text_of = [&](int32_t k) { return std::string_view(s).substr(sym[k].start, sym[k].len); };
  std::priority_queue<Candidate, std::vector<Candidate>, LowerPriority> agenda;
  // An unused piece that was formed, and the two symbols it was formed from (to split it back).
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> unused_parts;
  auto consider = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0 || sym[left].frozen || sym[right].frozen) return;
    const std::string_view joined = std::string_view(s).substr(sym[left].start, sym[left].len + sym[right].len);
    const auto it = mergeable_.find(joined);
    if (it == mergeable_.end()) return;
    const Piece& p = vocab_.pieces[it->second];
    agenda.push({p.score, left, right, joined.size()});
    if (p.type == PieceType::Unused) unused_parts[joined] = {text_of(left), text_of(right)};
  };
  for (int32_t k = 0; k + 1 < static_cast<int32_t>(sym.size()); ++k) consider(k, k + 1);

  while (!agenda.empty()) {
    const Candidate c = agenda.top();
    agenda.pop();
    Symbol& l = sym[c.left];
    Symbol& r = sym[c.right];
    // Stale when either side has merged since: a live left keeps its right neighbor only if unchanged,
    // and a right symbol only grows.
    if (l.len == 0 || r.len == 0 || l.next != c.right || l.len + r.len != c.len) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (l.next >= 0) sym[l.next].prev = c.left;
    consider(l.prev, c.left);
    consider(c.left, l.next);
  }

  std::function<void(std::string_view)> emit = [&](std::string_view piece) {
    const auto it = mergeable_.find(piece);
    if (it != mergeable_.end()) {
      if (vocab_.pieces[it->second].type != PieceType::Unused) {
        ids.push_back(it->second);
        return;
      }
      const auto parts = unused_parts.find(piece);
      if (parts != unused_parts.end()) {
        emit(parts->second.first);
        emit(parts->second.second);
        return;
      }
    }
    if (!has_byte_pieces_) {
      if (vocab_.unk_id < 0)
        throw Error("cannot encode '" + std::string(piece) + "': it is not in the vocabulary")
            .hint("the vocabulary has neither byte pieces nor an unknown piece");
      ids.push_back(vocab_.unk_id);
      return;
    }
    for (char ch : piece) {
      const int32_t b = byte_ids_[static_cast<uint8_t>(ch)];
      if (b < 0 && vocab_.unk_id < 0)
        throw Error("cannot encode byte " + byte_piece_text(static_cast<uint8_t>(ch)))
            .hint("the vocabulary lacks this byte piece and has no unknown piece");
      ids.push_back(b >= 0 ? b : vocab_.unk_id);
    }
  };
  for (int32_t k = 0; k >= 0; k = sym[k].next) emit(text_of(k));
  return ids;
}

std::string SpmBpe::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  bool first = true;  // the first piece that is not a control piece carries the dummy prefix
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_.size())
      throw Error("token id out of range")
          .expected("0 .. " + std::to_string(vocab_.size() - 1))
          .got(std::to_string(id))
          .hint("the ids do not belong to this tokenizer");
    const Piece& p = vocab_.pieces[id];
    if (p.type == PieceType::Control) continue;
    if (p.type == PieceType::Byte) {
      out += static_cast<char>(*byte_piece_value(p.text));
      first = false;
      continue;
    }
    const std::string_view text = p.type == PieceType::Unknown ? kUnknownSurface : std::string_view(p.text);
    size_t i = 0;
    if (first && vocab_.add_dummy_prefix && text.substr(0, kMetaSpace.size()) == kMetaSpace) i = kMetaSpace.size();
    first = false;
    while (i < text.size()) {
      if (text.substr(i, kMetaSpace.size()) == kMetaSpace) {
        out += ' ';
        i += kMetaSpace.size();
      } else {
        out += text[i++];
      }
    }
  }
  return out;
}

}  // namespace pare::llm
