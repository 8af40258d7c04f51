// Regex syntax tree (regex_parse.h) -> Thompson NFA over bytes -> DFA by
// subset construction over byte equivalence classes (design in regex_dfa.h).
#include "engine/regex_dfa.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "engine/regex_parse.h"

namespace sable {

namespace {

using regex::Ast;
using regex::ByteSet;

// Thompson NFA: a state either moves on a byte of `set` to `out`, or has
// epsilon edges to `out` and `out2` (-1: none), or is the match state.
struct Nfa {
  struct State {
    bool on_set = false, match = false;
    int set = -1;  // index into sets
    int out = -1, out2 = -1;
  };
  std::vector<State> states;
  std::vector<ByteSet> sets;
  bool too_big = false;

  int add(State s) {
    if (states.size() >= RegexDfa::kMaxNfaStates) too_big = true;
    states.push_back(s);
    return int(states.size()) - 1;
  }
  // Compiles `a` between a new entry state and `exit`; returns the entry.
  int build(const Ast& a, int exit) {
    if (too_big) return exit;
    switch (a.kind) {
      case Ast::kSet: {
        sets.push_back(a.set);
        return add({.on_set = true, .set = int(sets.size()) - 1, .out = exit});
      }
      case Ast::kSeq: {
        int next = exit;
        for (size_t k = a.kids.size(); k-- > 0;) next = build(*a.kids[k], next);
        return next;
      }
      case Ast::kAlt: {
        int entry = -1;
        for (size_t k = a.kids.size(); k-- > 0;) {
          const int kid = build(*a.kids[k], exit);
          entry = entry < 0 ? kid : add({.out = kid, .out2 = entry});
        }
        return entry < 0 ? exit : entry;
      }
      case Ast::kRepeat: {
        const Ast& kid = *a.kids[0];
        int next = exit;
        if (a.max < 0) {
          // kid* before exit: a loop state that enters kid or leaves.
          const int loop = add({});
          const int body = build(kid, loop);
          states[size_t(loop)].out = body;
          states[size_t(loop)].out2 = exit;
          next = loop;
        } else {
          // (kid (kid (...)?)?)?: max - min optional copies; skipping one skips the rest.
          for (int k = 0; k < a.max - a.min && !too_big; ++k) next = add({.out = build(kid, next), .out2 = exit});
        }
        for (int k = 0; k < a.min && !too_big; ++k) next = build(kid, next);
        return next;
      }
    }
    return exit;
  }
};

}  // namespace

Result<RegexDfa> RegexDfa::compile(std::string_view pattern) {
  auto fail = [&](const std::string& why) { return invalid_argument("regex: " + why); };
  auto ast = regex::parse(pattern);
  if (!ast.is_ok()) return fail(ast.status().message());

  Nfa nfa;
  const int match = nfa.add({.match = true});
  const int entry = nfa.build(**ast, match);
  if (nfa.too_big)
    return fail("the pattern expands to more than " + std::to_string(kMaxNfaStates) +
                " NFA states (large counted repetitions); simplify it");

  RegexDfa dfa;
  // Byte classes: bytes every set treats alike share a class.
  {
    std::set<std::string> distinct;  // counted repetitions repeat the same sets
    for (const ByteSet& s : nfa.sets) distinct.insert(s.to_string());
    std::map<std::string, uint32_t> ids;
    for (int b = 0; b < 256; ++b) {
      std::string sig;
      for (const std::string& s : distinct) sig += s[size_t(255 - b)];  // to_string() is most significant first
      auto [it, fresh] = ids.emplace(std::move(sig), uint32_t(ids.size()));
      dfa.class_of_[size_t(b)] = uint8_t(it->second);
    }
    dfa.num_classes_ = uint32_t(ids.size());
  }
  std::vector<uint8_t> rep(dfa.num_classes_);  // a byte of each class
  for (int b = 255; b >= 0; --b) rep[dfa.class_of_[size_t(b)]] = uint8_t(b);

  // Subset construction; a DFA state is the sorted epsilon closure of NFA states.
  auto closure = [&](std::vector<int> todo) {
    std::vector<char> seen(nfa.states.size(), 0);
    std::vector<int> out;
    while (!todo.empty()) {
      const int s = todo.back();
      todo.pop_back();
      if (s < 0 || seen[size_t(s)]) continue;
      seen[size_t(s)] = 1;
      const Nfa::State& st = nfa.states[size_t(s)];
      if (st.on_set || st.match) {
        out.push_back(s);
      } else {
        todo.push_back(st.out);
        todo.push_back(st.out2);
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  std::map<std::vector<int>, uint32_t> index;
  std::vector<std::vector<int>> dstates;
  auto intern = [&](std::vector<int> set) -> uint32_t {
    if (set.empty()) return kDead;
    auto [it, fresh] = index.emplace(set, uint32_t(dstates.size()));
    if (fresh) dstates.push_back(std::move(set));
    return it->second;
  };
  intern(closure({entry}));
  if (dstates.empty()) return fail("the pattern matches nothing");
  for (size_t d = 0; d < dstates.size(); ++d) {
    if (dstates.size() > kMaxStates)
      return fail("the pattern needs more than " + std::to_string(kMaxStates) +
                  " DFA states, too many for a token mask; simplify it");
    bool acc = false;
    for (int s : dstates[d]) acc |= nfa.states[size_t(s)].match;
    dfa.accepting_.push_back(acc);
    bool live = false;
    for (uint32_t c = 0; c < dfa.num_classes_; ++c) {
      std::vector<int> moved;
      for (int s : dstates[d]) {
        const Nfa::State& st = nfa.states[size_t(s)];
        if (st.on_set && nfa.sets[size_t(st.set)].test(rep[c])) moved.push_back(st.out);
      }
      const uint32_t to = intern(closure(std::move(moved)));
      dfa.next_.push_back(to);
      live |= to != kDead;
    }
    dfa.has_next_.push_back(live);
  }
  return dfa;
}

bool RegexDfa::matches(std::string_view text) const {
  uint32_t s = start();
  for (char c : text) {
    s = next(s, uint8_t(c));
    if (s == kDead) return false;
  }
  return accepting(s);
}

bool RegexDfa::any_code_point(uint32_t state, uint32_t lo, uint32_t hi) const {
  if (state == kDead) return false;
  hi = std::min(hi, 0x10FFFFu);
  std::vector<std::vector<std::pair<uint8_t, uint8_t>>> seqs;
  if (lo < 0xD800) regex::utf8_sequences(lo, std::min(hi, 0xD7FFu), seqs);
  if (hi > 0xDFFF) regex::utf8_sequences(std::max(lo, 0xE000u), hi, seqs);
  // Each sequence's byte ranges, walked as sets of states.
  std::vector<uint32_t> cur, nxt;
  std::vector<char> seen(num_states(), 0);
  for (const auto& seq : seqs) {
    cur.assign(1, state);
    for (auto [a, b] : seq) {
      nxt.clear();
      for (uint32_t st : cur)
        for (uint32_t byte = a; byte <= b; ++byte) {
          const uint32_t t = next(st, uint8_t(byte));
          if (t != kDead && !seen[t]) {
            seen[t] = 1;
            nxt.push_back(t);
          }
        }
      for (uint32_t t : nxt) seen[t] = 0;
      cur.swap(nxt);
      if (cur.empty()) break;
    }
    if (!cur.empty()) return true;
  }
  return false;
}

}  // namespace sable
