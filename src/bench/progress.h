// A progress bar on stderr while a benchmark runs: requests done of total,
// in flight, output tokens so far and their rate, elapsed time. On a
// terminal it redraws one line; otherwise (CI logs, pipes) it prints a line
// at each tenth of the way and every 30 s, so logs stay short.
#pragma once

#include <cstdint>
#include <string>

namespace sable::bench {

class ProgressBar {
 public:
  ProgressBar(int total, bool enabled, std::string label);
  // Called from one thread (the load driver's).
  void update(int done, int in_flight, int64_t output_tokens, double elapsed_s);
  void finish(double elapsed_s);

 private:
  void draw(double elapsed_s, bool final_line);
  int total_;
  bool enabled_, tty_;
  std::string label_;
  int done_ = 0, in_flight_ = 0;
  int64_t tokens_ = 0;
  int last_decile_ = -1;
  double last_draw_ = -1;
};

}  // namespace sable::bench
