// Streaming detokenization for one sequence. Each push() returns the text that
// is now final: it never ends inside a UTF-8 character (the bytes wait for the
// rest of the character), and it never contains the start of a possible stop
// string (that text waits until it can no longer become one). Stop strings
// are found across token boundaries; the earliest match in the text wins (on
// a tie, the longest), and the text after it is dropped. The concatenated
// deltas plus flush() equal Tokenizer::decode of all ids, cut at the stop.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sable {

class IncrementalDecoder {
 public:
  IncrementalDecoder(std::shared_ptr<const Tokenizer> tok, bool skip_special_tokens,
                     std::vector<std::string> stop_strings, bool include_stop_str_in_output = false);

  struct Step {
    std::string delta;
    bool stopped = false;
    std::string matched_stop;
  };
  // Feeds one id. After a stop, further pushes return an empty Step with
  // stopped set.
  Step push(int32_t id);
  // At finish (not stopped): the held-back remainder; an unfinished UTF-8
  // sequence at the very end becomes U+FFFD, as decode() would make it.
  std::string flush();
  const std::string& text() const { return text_; }
  bool stopped() const { return stopped_; }

 private:
  // Length of the longest suffix of pending_text_ that is a proper prefix of a stop string.
  size_t held_back_len() const;

  std::shared_ptr<const Tokenizer> tok_;
  bool skip_special_;
  std::vector<std::string> stops_;
  bool include_stop_;
  std::string pending_bytes_;  // raw bytes ending in an unfinished UTF-8 sequence
  std::string pending_text_;   // decoded text held back for stop matching
  std::string text_;           // everything emitted
  bool stopped_ = false;
};

}  // namespace sable
