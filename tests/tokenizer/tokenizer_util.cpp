#include "tokenizer_util.h"  // tests/tokenizer/

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

namespace sable::test {

std::shared_ptr<const Tokenizer> bundled_tokenizer(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const Tokenizer>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& t = cache[name];
  if (!t) {
    auto r = Tokenizer::load(std::string(SABLE_TEST_DATA) + "/../assets/tokenizers/" + name);
    if (!r.is_ok()) {
      ADD_FAILURE() << r.status().to_string();
      std::abort();
    }
    t = *r;
  }
  return t;
}

nlohmann::ordered_json read_test_json(const std::string& relative_path) {
  std::ifstream f(std::string(SABLE_TEST_DATA) + "/" + relative_path, std::ios::binary);
  if (!f) {
    ADD_FAILURE() << "cannot open " << relative_path;
    return {};
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return nlohmann::ordered_json::parse(ss.str());
}

std::string ids_str(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

}  // namespace sable::test
