#include "bench/progress.h"

#include <unistd.h>

#include <cstdio>

namespace sable::bench {

ProgressBar::ProgressBar(int total, bool enabled, std::string label)
    : total_(total), enabled_(enabled), tty_(isatty(STDERR_FILENO) != 0), label_(std::move(label)) {}

void ProgressBar::update(int done, int in_flight, int64_t output_tokens, double elapsed_s) {
  done_ = done;
  in_flight_ = in_flight;
  tokens_ = output_tokens;
  if (!enabled_) return;
  if (tty_) {
    // Redraw at most 10 times a second: a fast server completes thousands
    // of chunks a second and the terminal need not see each.
    if (elapsed_s - last_draw_ >= 0.1 || done == total_) draw(elapsed_s, false);
    return;
  }
  // A line at each tenth of the way, and every 30 s of a long wait (one
  // 100K-token prompt is a single request: no tenths until it ends).
  const int decile = total_ > 0 ? done * 10 / total_ : 10;
  if (decile != last_decile_ || elapsed_s - last_draw_ >= 30) {
    last_decile_ = decile;
    draw(elapsed_s, true);
  }
}

void ProgressBar::finish(double elapsed_s) {
  if (!enabled_) return;
  if (tty_) {
    draw(elapsed_s, false);
    std::fputc('\n', stderr);
  } else if (last_decile_ != 10) {
    draw(elapsed_s, true);
  }
  std::fflush(stderr);
}

void ProgressBar::draw(double elapsed_s, bool final_line) {
  last_draw_ = elapsed_s;
  constexpr int kWidth = 30;
  const int filled = total_ > 0 ? done_ * kWidth / total_ : kWidth;
  char bar[kWidth + 1];
  for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '#' : (i == filled ? '>' : '.');
  bar[kWidth] = '\0';
  const double rate = elapsed_s > 0 ? double(tokens_) / elapsed_s : 0;
  std::fprintf(stderr, "%s%s [%s] %d/%d done, %d in flight, %lld out tok (%.1f tok/s), %.1f s%s",
               tty_ ? "\r" : "", label_.c_str(), bar, done_, total_, in_flight_, static_cast<long long>(tokens_),
               rate, elapsed_s, final_line ? "\n" : "\x1b[K");
  std::fflush(stderr);
}

}  // namespace sable::bench
