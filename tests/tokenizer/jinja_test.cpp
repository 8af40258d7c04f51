// The Jinja interpreter: every snippet in tests/data/tokenizer/deepseek-v3.json
// ("jinja", rendered by jinja2 with transformers' settings) byte-identical, or
// an error where jinja2 raised; error positions; bounded steps and output.
#include <gtest/gtest.h>

#include "tokenizer/chat_template.h"
#include "tokenizer_util.h"

namespace sable {
namespace {

using J = nlohmann::ordered_json;

const J kSpecials = J::parse(R"({"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>",
                                 "pad_token": "<｜end▁of▁sentence｜>"})");

Result<std::string> render(const std::string& src, const J& vars = J::object(), jinja::Limits limits = {}) {
  ChatTemplate t(src, limits);
  return t.render(J::array(), false, vars, kSpecials);
}

TEST(Jinja, SnippetsMatchJinja2) {
  const auto data = test::read_test_json("data/tokenizer/deepseek-v3.json");
  ASSERT_GT(data["jinja"].size(), 50u);
  for (const auto& c : data["jinja"]) {
    const std::string src = c["template"];
    auto r = render(src, c["vars"]);
    if (c.contains("error")) {
      EXPECT_FALSE(r.is_ok()) << "jinja2 raised " << c["error"] << "; Sable rendered [" << (r.is_ok() ? *r : "") << "]\n"
                              << src;
      continue;
    }
    ASSERT_TRUE(r.is_ok()) << r.status().to_string() << "\n" << src;
    EXPECT_EQ(*r, c["output"].get<std::string>()) << src;
  }
}

TEST(Jinja, ErrorsReportLineAndColumn) {
  auto r = render("line one\n{{ 'ok' }}\n  {% if x %}{{ 1 +* 2 }}{% endif %}");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("line 3, column 19"), std::string::npos) << r.status().message();
  r = render("{% for x in y %}\nno end");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("line 2"), std::string::npos) << r.status().message();
  r = render("ab\n\n   {{ raise_exception('Conversation roles must alternate') }}");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("line 3, column 7"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("Conversation roles must alternate"), std::string::npos);
  r = render("{{ messages[0].content.upper() }}");  // messages is empty: undefined
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("line 1"), std::string::npos);
}

TEST(Jinja, InfiniteLoopsAreBounded) {
  jinja::Limits limits;
  limits.max_steps = 100'000;
  auto r = render("{% for i in range(1000000) %}{% for j in range(1000000) %}x{% endfor %}{% endfor %}", J::object(), limits);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("step budget"), std::string::npos) << r.status().message();
  // Unbounded recursion through macros.
  r = render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("nested too deeply"), std::string::npos) << r.status().message();
}

TEST(Jinja, MemoryIsBounded) {
  jinja::Limits limits;
  limits.max_output = 1 << 20;
  auto r = render("{{ 'x' * 100000000 }}", J::object(), limits);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("limit"), std::string::npos);
  r = render("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", J::object(), limits);
  ASSERT_FALSE(r.is_ok());
  r = render("{{ range(100000000000) | length }}");
  ASSERT_FALSE(r.is_ok());
  r = render("{{ [0] * 100000000000 }}");
  ASSERT_FALSE(r.is_ok());
  r = render("{% for i in range(100000) %}{{ 'y' * 100 }}{% endfor %}", J::object(), limits);
  ASSERT_FALSE(r.is_ok());
}

TEST(Jinja, DeepNestingIsRejectedNotCrashing) {
  EXPECT_FALSE(render("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}").is_ok());
  EXPECT_FALSE(render("{{ " + std::string(5000, '[') + std::string(5000, ']') + " }}").is_ok());
  std::string deep;
  for (int i = 0; i < 3000; ++i) deep += "{% if true %}";
  EXPECT_FALSE(render(deep).is_ok());
  EXPECT_FALSE(render("{{ " + std::string(20000, '-') + "1 }}").is_ok());
}

// A namespace is the one mutable value, so it can hold itself. Expected
// outputs are jinja2 3.1.6's (ImmutableSandboxedEnvironment). Under ASan the
// cycles would also show as leaks if the render did not free them.
TEST(Jinja, NamespaceCyclesPrintAsJinja2AndAreFreed) {
  auto r = render("{% set ns = namespace(a=1) %}{% set ns.a = ns %}{{ ns }}");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(*r, "<Namespace {'a': <Namespace {...}>}>");
  r = render("{% set ns = namespace(a=1) %}{% set ns.a = [ns, 2] %}{{ ns }}");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(*r, "<Namespace {'a': [<Namespace {...}>, 2]}>");
  r = render(
      "{% set a = namespace(x=1) %}{% set b = namespace(y=a) %}{% set a.x = b %}{{ a }}|{{ a == b }}|{{ a.x.y == a }}");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(*r, "<Namespace {'x': <Namespace {'y': <Namespace {...}>}>}>|False|True");
  // A cycle through a bound method, then an error: still freed.
  r = render("{% set ns = namespace() %}{% set d = {'n': ns} %}{% set ns.f = d.items %}{{ 1 + none }}");
  EXPECT_FALSE(r.is_ok());
}

// Values built in a loop can nest far deeper than the template's syntax:
// every walk over them (repr, ==, tojson, destruction) must stay off the
// end of the stack. The fuzzer found repr of a self-holding namespace first.
TEST(Jinja, DeepValuesAreRejectedNotCrashing) {
  auto r = render(
      "{% set ns = namespace(x=[]) %}\n"
      "{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x|length }}");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("line 2"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("nested deeper than 512 levels"), std::string::npos) << r.status().message();
  r = render("{% set ns = namespace(x={}) %}{% for i in range(100000) %}{% set ns.x = {'k': ns.x} %}{% endfor %}");
  EXPECT_FALSE(r.is_ok());
  // A chain of 200,000 namespaces is legal; dropping it mid-render and at the
  // end must not recurse once per link, and printing it is an error.
  const std::string chain =
      "{% set h = namespace(x=none) %}{% for i in range(200000) %}{% set h.x = namespace(n=[h.x]) %}{% endfor %}";
  r = render(chain + "{% set h.x = 0 %}done");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(*r, "done");
  r = render(chain + "kept");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(*r, "kept");
  r = render(chain + "{{ h }}");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("nested deeper than"), std::string::npos) << r.status().message();
  // Messages deeper than the limit: an error that says it was the input.
  J deep = J::array();
  for (int i = 0; i < 600; ++i) deep = J::array({deep});
  ChatTemplate t("{{ messages | length }}");
  auto m = t.render(J::array({J{{"role", "user"}, {"content", deep}}}), false, J::object(), J::object());
  ASSERT_FALSE(m.is_ok());
  EXPECT_EQ(m.status().message().rfind("chat template input: value nested deeper than 512 levels", 0), 0u)
      << m.status().message();
}

TEST(Jinja, MessagesKeepKeyOrderForTojson) {
  ChatTemplate t("{{ tools | tojson }}");
  const J tools = J::parse(R"([{"type": "function", "function": {"name": "f", "parameters": {"z": 1, "a": 2}}}])");
  auto r = t.render(J::array(), false, J{{"tools", tools}}, J::object());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(*r, R"([{"type": "function", "function": {"name": "f", "parameters": {"z": 1, "a": 2}}}])");
}

}  // namespace
}  // namespace sable
