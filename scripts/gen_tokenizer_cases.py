#!/usr/bin/env python3
"""Generates the tokenizer test data in tests/data/tokenizer/ from Hugging Face
`tokenizers` (encode/decode) and jinja2 with transformers' chat-template
conventions (apply_chat_template), for both bundled tokenizers.

    pip install tokenizers transformers jinja2
    python3 scripts/gen_tokenizer_cases.py            # writes tests/data/tokenizer/*.json

Everything is deterministic (fixed seeds), so a re-run rewrites identical
files unless the reference libraries change.

Chat templates are rendered with transformers' own compiled jinja environment
(`_compile_jinja_template`: trim_blocks, lstrip_blocks, raise_exception,
strftime_now, tojson with ensure_ascii=False) when transformers is installed,
else with an equivalent environment built here. Messages are passed as given:
transformers >= 5.2x drops None-valued keys before rendering, which breaks the
DeepSeek-V3 template's `content is none` tool-call branch; Sable (like vLLM)
passes a null content through, so the reference does too.

Invalid UTF-8: Python strings cannot hold it, so an invalid case records the
raw bytes (hex) and the ids of bytes.decode('utf-8', 'replace'): the policy
Sable implements (docs/tokenizer.md).
"""
import argparse
import json
import os
import random
import sys

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSETS = os.path.join(ROOT, 'assets', 'tokenizers')
OUT = os.path.join(ROOT, 'tests', 'data', 'tokenizer')


def compile_template(source):
    try:
        from transformers.utils.chat_template_utils import _compile_jinja_template
        return _compile_jinja_template(source)
    except ImportError:
        def raise_exception(message):
            raise jinja2.exceptions.TemplateError(message)

        def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
            return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                              sort_keys=sort_keys)
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                            extensions=[jinja2.ext.loopcontrols])
        env.filters['tojson'] = tojson
        env.globals['raise_exception'] = raise_exception
        return env.from_string(source)


def special_tokens(config):
    out = {}
    for key in ('bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'):
        v = config.get(key)
        if isinstance(v, dict):
            v = v.get('content')
        if v is not None:
            out[key] = v
    return out


# ---------------------------------------------------------------- text cases

MULTILINGUAL = [
    "The quick brown fox jumps over the lazy dog.",
    "DeepSeek-V3 是一个强大的混合专家语言模型，总参数量为6710亿。",
    "日本語のテキスト：東京は日本の首都です。カタカナとひらがな、漢字。",
    "한국어 텍스트: 서울은 대한민국의 수도입니다. 오늘 날씨가 좋네요!",
    "Русский текст: Москва — столица России. Ёлка, щи, съешь же ещё.",
    "العربية: القاهرة هي عاصمة مصر. مرحبا بالعالم!",
    "עברית: שלום עולם, ירושלים.",
    "हिन्दी: नमस्ते दुनिया। भारत की राजधानी नई दिल्ली है।",
    "ไทย: สวัสดีชาวโลก กรุงเทพมหานคร",
    "Tiếng Việt: Xin chào thế giới, Hà Nội là thủ đô.",
    "Ελληνικά: Γειά σου Κόσμε, η Αθήνα.",
    "Deutsch: Größenwahn, Straße, Äpfel und Öl — «Anführungszeichen».",
    "Français: l'été, où ça coûte 10 €; naïve façade.",
    "Español: ¿Dónde está la biblioteca? ¡Olé! año, niño.",
    "Türkçe: İstanbul, ığdır, şöyle çok güzel.",
    "Polski: Zażółć gęślą jaźń.",
    "mixed: English中文日本語한국어Русский123abc",
    "中文里夹杂English单词和数字12345以及符号！？。",
    "カタカナーとﾊﾝｶｸｶﾀｶﾅ、全角ＡＢＣ１２３",
    "Math: ∑_{i=1}^{n} x_i² ≤ ∞, ∀x∈ℝ, √2 ≈ 1.414, π·r², α+β=γ",
    "Currency: $100, €200, £300, ¥400, ₩500, ₹600, ₿0.01",
]

CODE = [
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "#include <vector>\nint main() {\n\tstd::vector<int> v{1, 2, 3};\n\treturn v.size();\n}\n",
    '{"name": "get_weather", "arguments": {"city": "Seoul", "unit": "celsius"}, "ids": [1, 2, 3]}',
    "<html><body class=\"main\"><p>Hello &amp; welcome</p></body></html>",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC LIMIT 10;",
    "for (let i = 0; i < arr.length; i++) { console.log(`${i}: ${arr[i]}`); }",
    "fn main() -> Result<(), Box<dyn Error>> {\n    let x: Vec<u8> = vec![0xFF; 16];\n    Ok(())\n}",
    "    indented    code\n\n\n        more_indent = {'a': 1}\r\n\ttab\tseparated\tvalues\n",
    "x+=1;y-=2;z*=3;w/=4;a%=5;b**=6;c//=7;d<<=1;e>>=2;f&=g|h^~i",
    "https://example.com/path/to/page?query=value&other=123#anchor",
    "user@example.com, first.last+tag@sub.domain.co.uk",
    "C:\\Users\\name\\Documents\\file.txt and /usr/local/bin/python3",
    "$ git commit -m 'fix: handle edge-case' && git push origin main --force-with-lease",
    "README.md: # Title\n## Subtitle\n- item 1\n- item 2\n```python\nprint('hi')\n```\n",
]

EMOJI = [
    "Hello 👋 World 🌍!",
    "Family: 👨‍👩‍👧‍👦, couple: 👩‍❤️‍👨, technologist: 🧑🏽‍💻",
    "Skin tones: 👍🏻👍🏼👍🏽👍🏾👍🏿",
    "Flags: 🇰🇷🇯🇵🇨🇳🇺🇸🇩🇪🇫🇷 and 🏴󠁧󠁢󠁳󠁣󠁴󠁿",
    "Keycaps: 1️⃣2️⃣#️⃣ and variation: ❤️ vs ❤︎, ☺️",
    "🏳️‍🌈🏳️‍⚧️👁️‍🗨️🧔‍♂️👩‍🦰",
    "emoji😀without😃spaces😄between😁",
    "🤖🤖🤖🤖🤖🤖🤖🤖🤖🤖",
]

WHITESPACE = [
    " ", "  ", "   leading", "trailing   ", "a  b   c    d", "\n", "\n\n\n", "\t\t", " \n \n ",
    "line1\nline2\r\nline3\rline4", "a \t\n b", "word\u00a0nbsp", "ideographic\u3000space",
    "en\u2002em\u2003thin\u2009hair\u200a", "line\u2028sep\u2029para", "nel\u0085char",
    "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom", "    \n\n    \n", "x" + " " * 100 + "y",
    " " * 257, "\n" * 50, "\t \t \t \n\r\n\r", "a\x0bb\x0cc\x1cd\x1de\x1ff",
]

DIGITS = [
    "1", "12", "123", "1234", "12345", "123456789012345678901234567890", "3.14159265358979323846",
    "1,000,000", "2024-01-15T12:34:56Z", "0x1F2E3D4C", "1e-10 and 6.022e23", "٠١٢٣٤٥٦٧٨٩ (Arabic-Indic)",
    "१२३ (Devanagari) ①②③ ⅠⅡⅢ ¹²³ ½¾", "phone: +82-10-1234-5678", "9" * 200, "v1.2.3-rc.4+build.567",
]

MISC = [
    "", "a", "A", "'s 't 're 've 'm 'll 'd", "I'M YOU'RE He'S", "don't won't can't",
    "!!!???...,,,;;;:::", "(((nested)))[[[brackets]]]{{{braces}}}", "a" * 1000, "ab" * 500,
    "Ǆǅǆ ﬁ ﬂ ﬀ ㍿ ℃ Å Å", "e\u0301 vs \u00e9, n\u0303 vs \u00f1, A\u030a vs \u00c5",
    "\u1100\u1161\u11a8 (jamo) vs \uac01 (syllable)", "ḍ̇ q̣̇ \u0071\u0307\u0323 \u1e0b\u0323",
    "\u0000null\u0001soh\u007fdel", "\ufffd replacement \ufffd\ufffd",
    "private \ue000\uf8ff and astral \U0001F600\U00020000\U0010FFFD",
    # Letters, digits, marks, punctuation and symbols that Unicode 15/16 added
    # (Oniguruma knows them, PCRE2 10.42 does not), and U+180E (not White_Space).
    "new: a\u1c89b \ua7cb1 x\u0897y 1\U00010d40 2\u1b4e\u1b4f z\u2427 \u31e4\u31e5 \U0001CC00 \U00031350 "
    "mvs a\u180eb \u180e \u180e1",
]


def special_cases(added):
    names = [a['content'] for a in added]
    sample = names[:12] + names[-6:]
    cases = []
    for n in sample:
        cases += [n, "x" + n + "y", " " + n + " ", n + n, "<" + n, n[:-1], n[:-1] + " " + n[-1]]
    cases.append("".join(sample))
    cases.append(" ".join(sample))
    cases.append("text with " + sample[0] + " inside and " + sample[1] + "\nnewline")
    return cases


def random_strings(seed, count):
    rng = random.Random(seed)
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
              (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x1E00, 0x1EFF), (0x2000, 0x206F),
              (0x2070, 0x209F), (0x20A0, 0x20CF), (0x2100, 0x27BF), (0x3000, 0x30FF), (0x3130, 0x318F),
              (0x4E00, 0x4FFF), (0x9F00, 0x9FFF), (0xAC00, 0xAD00), (0xFE00, 0xFE0F), (0xFF00, 0xFFEF),
              (0x1F300, 0x1F6FF), (0x1F900, 0x1F9FF), (0x20000, 0x20100), (0xE0000, 0xE007F)]
    ws = [' ', '\t', '\n', '\r', '\u00a0', '\u3000', '\u2028', '\u0085', '\u200b']
    out = []
    for _ in range(count):
        n = rng.randint(1, 60)
        s = []
        for _ in range(n):
            r = rng.random()
            if r < 0.2:
                s.append(rng.choice(ws))
            elif r < 0.35:
                s.append(chr(rng.randint(0x30, 0x39)))
            else:
                lo, hi = rng.choice(blocks)
                cp = rng.randint(lo, hi)
                if 0xD800 <= cp <= 0xDFFF:
                    cp = 0x41
                s.append(chr(cp))
        out.append(''.join(s))
    return out


INVALID_UTF8 = [
    b"\xff", b"abc\xffdef", b"\xc3", b"\xc3(", b"\xe2\x82", b"\xe2\x82(", b"\xf0\x9f\x98",
    b"\xf0\x9f\x98 trailing", b"\xed\xa0\x80surrogate", b"\xc0\xafoverlong", b"\xf8\x88\x80\x80\x80",
    b"\xf4\x90\x80\x80beyond", b"\x80\x80\x80continuation", b"ok \xe4\xb8\xad\xe6\x96 cut",
    b"\xfe\xfe\xff\xff", b"mixed \xce\xb1\xce valid\xce\xb2",
]


def text_cases(tok, added):
    texts = MULTILINGUAL + CODE + EMOJI + WHITESPACE + DIGITS + MISC + special_cases(added) + random_strings(7, 150)
    cases = []
    for t in texts:
        ids = tok.encode(t, add_special_tokens=False).ids
        cases.append({'text': t, 'ids': ids,
                      'decoded': tok.decode(ids, skip_special_tokens=False),
                      'decoded_skip_special': tok.decode(ids, skip_special_tokens=True)})
    return cases


def invalid_cases(tok):
    out = []
    for b in INVALID_UTF8:
        repaired = b.decode('utf-8', 'replace')
        out.append({'bytes_hex': b.hex(), 'repaired': repaired,
                    'ids': tok.encode(repaired, add_special_tokens=False).ids})
    return out


def decode_cases(tok, seed):
    """Id sequences that are not the encoding of any text: single bytes of
    multi-byte characters, special tokens between halves of a character."""
    rng = random.Random(seed)
    vocab = tok.get_vocab_size()
    out = []
    full = tok.encode("한국어 😀 中文 é", add_special_tokens=False).ids
    byte_ids = [tok.token_to_id(c) for c in ['Ã', '©', 'ð', 'Ł', 'ĺ', 'Ģ']]
    seqs = [full[::-1], full[1:], full[:-1], byte_ids, byte_ids[::-1], [byte_ids[0], 0, byte_ids[1]],
            [0, 1, 2], [tok.token_to_id('Ġ')] * 3]
    for _ in range(40):
        seqs.append([rng.randrange(vocab) for _ in range(rng.randint(1, 12))])
    for s in seqs:
        s = [i for i in s if i is not None]
        out.append({'ids': s, 'decoded': tok.decode(s, skip_special_tokens=False),
                    'decoded_skip_special': tok.decode(s, skip_special_tokens=True)})
    return out


# ---------------------------------------------------------------- chat cases

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name, e.g. Seoul"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city"]}}}
SEARCH_TOOL = {"type": "function", "function": {
    "name": "search", "description": "Search the web — returns «results»",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "top_k": {"type": "integer",
                                                                                          "default": 5}}}}}


def deepseek_conversations():
    tc = lambda name, args: {"type": "function", "function": {"name": name, "arguments": args}}
    # The conversations of tests/fixtures/tokenizer-shared.json come first, so
    # the tests can check the fixture's ids against HF's for the same text.
    fixture = json.load(open(os.path.join(ROOT, 'tests', 'fixtures', 'tokenizer-shared.json'), encoding='utf-8'))
    seen = []
    for c in fixture['chat_template']:
        if c['messages'] not in seen:
            seen.append(c['messages'])
    return [(m, {}) for m in seen] + [
        ([{"role": "user", "content": "Hi"}], {}),
        ([{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "What is 2+2?"},
          {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"}], {}),
        ([{"role": "system", "content": "S1"}, {"role": "system", "content": "S2"},
          {"role": "system", "content": "S3"}, {"role": "user", "content": "多语言 테스트 😀"}], {}),
        ([{"role": "user", "content": "weather in Seoul and Tokyo?"},
          {"role": "assistant", "content": None, "tool_calls": [tc("get_weather", '{"city": "Seoul"}'),
                                                                tc("get_weather", '{"city": "Tokyo"}')]},
          {"role": "tool", "content": '{"temp": 3}'}, {"role": "tool", "content": '{"temp": 9}'},
          {"role": "assistant", "content": "Seoul is 3°C and Tokyo is 9°C."},
          {"role": "user", "content": "Thanks!"}], {}),
        ([{"role": "user", "content": "search"},
          {"role": "assistant", "content": None, "tool_calls": [tc("search", '{"query": "vLLM"}')]},
          {"role": "tool", "content": "results..."}], {}),
        ([{"role": "user", "content": "  leading and trailing spaces  \n\n"},
          {"role": "assistant", "content": "```python\nprint('x')\n```"}], {}),
        ([{"role": "user", "content": "special <｜User｜> token text <｜end▁of▁sentence｜> inside"}], {}),
        ([], {}),
        ([{"role": "assistant", "content": "Starting with the assistant"}, {"role": "user", "content": "ok"}], {}),
    ]


def qwen_conversations():
    tc = lambda name, args: {"type": "function", "function": {"name": name, "arguments": args}}
    return [
        ([{"role": "user", "content": "Hi"}], {}),
        ([{"role": "system", "content": "You are Qwen."}, {"role": "user", "content": "Hello"},
          {"role": "assistant", "content": "Hello! How can I help?"}, {"role": "user", "content": "Tell a joke"}], {}),
        ([{"role": "user", "content": "Hi"}], {"enable_thinking": False}),
        ([{"role": "user", "content": "Hi"}], {"enable_thinking": True}),
        ([{"role": "system", "content": "Use tools."}, {"role": "user", "content": "weather in Seoul?"}],
         {"tools": [WEATHER_TOOL, SEARCH_TOOL]}),
        ([{"role": "user", "content": "weather in Seoul?"},
          {"role": "assistant", "content": "", "tool_calls": [tc("get_weather", {"city": "Seoul", "unit": "celsius"})]},
          {"role": "tool", "content": '{"temp": 3}'},
          {"role": "assistant", "content": "It is 3°C in Seoul."}], {"tools": [WEATHER_TOOL]}),
        ([{"role": "user", "content": "two calls"},
          {"role": "assistant", "content": "Let me check.",
           "tool_calls": [tc("get_weather", '{"city": "Seoul"}'), tc("search", {"query": "서울 날씨", "top_k": 3})]},
          {"role": "tool", "content": "r1"}, {"role": "tool", "content": "r2"}], {"tools": [WEATHER_TOOL, SEARCH_TOOL]}),
        ([{"role": "user", "content": "think"},
          {"role": "assistant", "content": "<think>\nreasoning here\n</think>\n\nThe answer is 42."},
          {"role": "user", "content": "again"}], {}),
        ([{"role": "user", "content": "q"},
          {"role": "assistant", "content": "final", "reasoning_content": "\nstep by step\n"}], {}),
        ([{"role": "user", "content": "q1"},
          {"role": "assistant", "content": "<think>r1</think>a1"},
          {"role": "user", "content": "<tool_response>\nx\n</tool_response>"},
          {"role": "assistant", "content": "<think>r2</think>a2"}], {}),
        ([{"role": "system", "content": "sys"}, {"role": "user", "content": "多语言 테스트 😀\n\n  spaces  "}], {}),
        ([{"role": "user", "content": "tool first"}, {"role": "tool", "content": "orphan"}], {}),
        # jinja2 raises on these: None + str, and a None content in `in`.
        ([{"role": "assistant", "content": None, "tool_calls": [tc("f", "{}")]}], {}),
    ]


# Jinja features one at a time: (template, variables). Rendered with the same
# environment as chat templates; a case whose render raises records the error.
JINJA_SNIPPETS = [
    ("{{ 'a' ~ 1 ~ none ~ true ~ 1.5 }}", {}),
    ("{{ [1, 'a', none, true, 1.5, [2], {'k': 'v'}] }}", {}),
    ("{{ {'a': 1, 'b': [1, 2]} }}|{{ (1, 2) | list }}", {}),
    ("{{ 1 + 2 * 3 - 4 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}", {}),
    ("{{ 1e-5 }} {{ 1e16 }} {{ 123456789.0 }} {{ 0.1 + 0.2 }} {{ 1 / 3 }} {{ 2.0 }} {{ -0.0 }}", {}),
    ("{{ 'abc'[0] }}{{ 'abc'[-1] }}{{ 'héllo'[1:3] }}{{ [1,2,3,4][::-1] }}{{ 'abcdef'[::2] }}{{ [1,2,3][5:] }}", {}),
    ("{% for x in items %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }} {% endfor %}",
     {"items": ["a", "b", "c"]}),
    ("{% for x in items %}{{ loop.previtem | default('-') }}{{ x }}{{ loop.nextitem | default('-') }},{% endfor %}",
     {"items": [1, 2, 3]}),
    ("{% for x in items if x % 2 %}{{ x }}:{{ loop.index }}:{{ loop.length }} {% else %}empty{% endfor %}",
     {"items": [1, 2, 3, 4, 5]}),
    ("{% for x in [] %}x{% else %}empty{% endfor %}", {}),
    ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}",
     {"d": {"b": 1, "a": 2}}),
    ("{% for x in [1,2,3,4,5] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("{% for x in 'ab' %}{{ loop.cycle('odd', 'even') }}{% endfor %}", {}),
    ("{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = i * 10 %}{{ x }}{% endfor %}{{ x }}", {}),
    ("{% set ns = namespace(n=0, s='') %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}", {}),
    ("{% set a, b = [1, 2] %}{{ b }}{{ a }}{% set t = 1, 2 %}{{ t }}", {}),
    ("{% set block %}  inner {{ 1 + 1 }}  {% endset %}[{{ block }}]", {}),
    ("{% set block | upper %}shout{% endset %}{{ block }}", {}),
    ("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(name='C', punct='.') }}", {}),
    ("{% macro m() %}{{ later }}{% endmacro %}{% set later = 'seen' %}{{ m() }}", {}),
    ("{% if a %}A{% elif b %}B{% else %}C{% endif %}", {"a": False, "b": True}),
    ("{{ 'yes' if x else 'no' }} {{ 'only' if x }}|", {"x": False}),
    ("{{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ none is none }} {{ 1 is number }} {{ 'a' is string }} {{ {} is mapping }} {{ [] is iterable }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ true is boolean }} {{ 1 is integer }} {{ 1.0 is float }} {{ x is sameas 1 }} {{ 'a' is in 'abc' }} {{ 2 is eq 2 }} {{ 'abc' is lower }} {{ x is not none }}",
     {"x": 1}),
    ("{{ y | default('d') }} {{ '' | default('d') }} {{ '' | default('d', true) }} {{ none | default('d') }}", {}),
    ("{{ 'hello world' | title }} {{ 'ABC' | lower }} {{ 'abc' | upper }} {{ 'hELLO' | capitalize }} {{ '  t  ' | trim }}|{{ 'xxtxx' | trim('x') }}", {}),
    ("{{ [3, 1, 2] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ ['b', 'A', 'c'] | sort }} {{ [1, 2, 2, 3, 1] | unique | list }} {{ [1, 5, 3] | max }} {{ [4, 2] | min }} {{ [1, 2, 3] | sum }}", {}),
    ("{{ items | map(attribute='n') | join(', ') }} {{ items | selectattr('ok') | map(attribute='n') | list }} {{ items | rejectattr('ok') | list | length }} {{ items | selectattr('n', 'equalto', 'b') | list }}",
     {"items": [{"n": "a", "ok": True}, {"n": "b", "ok": False}, {"n": "c", "ok": True}]}),
    ("{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('even') | list }} {{ ['a', 'b'] | map('upper') | list }} {{ [1, none, 2] | select | list }}", {}),
    (r"""{{ d | tojson }} {{ d | tojson(indent=2) }} {{ [1, 'é', none, true, 1.5] | tojson }} {{ 'a"b\\c\n' | tojson }} {{ d | tojson(sort_keys=true) }} {{ d | tojson(separators=(',', ':')) }}""",
     {"d": {"z": 1, "a": [1, {"b": None}], "é": "ü"}}),
    ("{{ d | dictsort }} {{ d | items | list }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.get('z') }} {{ d.get('q', 'dflt') }} {{ d['a'] }} {{ d.a }}",
     {"d": {"z": 1, "a": 2}}),
    (r"{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ 'x\ny'.splitlines() }}", {}),
    ("{{ '  pad  '.strip() }}|{{ 'xxaxx'.lstrip('x') }}|{{ 'xxaxx'.rstrip('x') }}|{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}|{{ 'aXbX'.replace('X', '-') }}|{{ 'aXbX'.replace('X', '-', 1) }}|{{ 'héllo'.find('l') }}|{{ 'abc'.upper() }}|{{ '-'.join(['a', 'b']) }}|{{ 'a b'.title() }}|{{ 'abcabc'.count('b') }}",
     {}),
    ("{{ '{} and {}'.format('x', 1) }} {{ '{0}{name}'.format('a', name='b') }}", {}),
    ("{{ 'abc' | length }} {{ [1, 2] | count }} {{ {'a': 1} | length }} {{ 'héllo' | length }} {{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 'abc' | reverse }} {{ [1, 2] | reverse | list }} {{ 'a b c' | wordcount }}", {}),
    ("{{ '3' | int + 1 }} {{ 'x' | int }} {{ '2.5' | float }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ -3 | abs }} {{ 42 | string }} {{ [1, 2] | join }} {{ 'a<b>&' | e }}", {}),
    (r"{{ 'line1\nline2\n\nline4' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}", {}),
    ("{{ [1, 2, 3, 4, 5] | batch(2) | list }} {{ 'abc' | list }} {{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ range(5, 0, -2) | list }}", {}),
    ("{{ 1 in [1, 2] }} {{ 3 not in [1, 2] }} {{ 'a' in {'a': 1} }} {{ 'bc' in 'abc' }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 < 2 < 3 }} {{ not 1 == 2 }}", {}),
    ("{{ x and y }} {{ x or y }} {{ none or 'z' }} {{ 0 and 1 }}", {"x": "X", "y": ""}),
    ("{{ messages[0]['content'] }} {{ messages[0].role }} {{ messages | length }} {{ messages[-1].content }}",
     {"messages": [{"role": "user", "content": "first"}, {"role": "assistant", "content": "last"}]}),
    ("{{ 'a' + 'b' }} {{ [1] + [2] }} {{ 'ab' * 3 }} {{ [0] * 3 }}", {}),
    ("  {% if true %}\n    indented\n  {% endif %}\n{%- if true %}  x  {%- endif %}\n{# comment #}\n  {#- c2 -#}  y\n{% if true +%}\nkept\n{%+ endif %}", {}),
    ("a\n  {% for i in [1, 2] %}\n  {{ i }}\n  {% endfor %}\nb\n", {}),
    ("{{- ' lead' -}}   \n  {{ 'x' }}  {{- 'y' }}\n  {% if true %}t{% endif %}  \n", {}),
    ("line1\r\nline2\rline3\n", {}),
    (r"""{{ "double" }} {{ 'it\'s' }} {{ 'tab\there' }} {{ '\u00e9\x41' }} {{ 'a' 'b' }}""", {}),
    (r"""{{ "double" }} {{ 'it\'s' }} {{ 'tab\there' }} {{ '\u00e9\x41' }} {{ 'a' 'b' }}""", {}),
    ("{% generation %}gen{% endgeneration %}", {}),
    ("{% filter upper %}up {{ 'x' }}{% endfilter %}", {}),
    ("{{ raise_exception('custom failure') }}", {}),
    ("{{ undefined_var.attr }}", {}),
    ("{{ messages[0].content + 1 }}", {"messages": [{"content": "s"}]}),
    ("{{ x + none }}", {"x": "s"}),
    ("{% for x in none %}{% endfor %}", {}),
    ("{% if %}", {}),
    ("{% for x in y %}no end", {}),
    ("{{ 1 +* 2 }}", {}),
    ("{% unknowntag %}", {}),
    ("{{ [].append(1) }}", {}),
    ("{{ 'abc'.nosuch() }}", {}),
    ("{{ x.y }}", {"x": {"z": 1}}),
    ("{{ x.y is defined }} {{ x['y'] | default('dflt') }}", {"x": {"z": 1}}),
    ("{% set ns = namespace(a=1) %}{% set ns.b = 2 %}{{ ns.a }}{{ ns.b }}", {}),
    ("{{ tools is none }} {{ documents is none }} {{ bos_token }} {{ add_generation_prompt }}", {}),
]


def jinja_cases(specials):
    out = []
    for source, variables in JINJA_SNIPPETS:
        case = {'template': source, 'vars': variables}
        try:
            template = compile_template(source)
            kwargs = dict(specials)
            kwargs.update({'messages': [], 'tools': None, 'documents': None, 'add_generation_prompt': False})
            kwargs.update(variables)
            case['output'] = template.render(**kwargs)
        except Exception as e:  # noqa: BLE001 - the reference raised: Sable must too
            case['error'] = '%s: %s' % (type(e).__name__, e)
        out.append(case)
    return out


def chat_cases(tok, template, specials, conversations):
    out = []
    for messages, extra in conversations:
        for agp in (True, False):
            kwargs = dict(specials)
            kwargs.update({'tools': None, 'documents': None})
            kwargs.update(extra)
            case = {'messages': messages, 'add_generation_prompt': agp, 'extra_vars': extra}
            try:
                text = template.render(messages=messages, add_generation_prompt=agp, **kwargs)
                case['text'] = text
                case['ids'] = tok.encode(text, add_special_tokens=False).ids
            except Exception as e:  # noqa: BLE001 - the reference raised: Sable must too
                case['error'] = '%s: %s' % (type(e).__name__, e)
            out.append(case)
    return out


def sweep(binary):
    """Every code point in 13 contexts, through `sable tokenize` and through HF,
    in blocks of 128 code points: a check too big to commit as data."""
    import subprocess

    def ctx(c):
        return " " + c + "a" + c + "1" + c + c + "\n" + c + "  !" + c + "'s" + c + "\u3000" + c + "中" + c + "é"
    bad = 0
    for name in ('deepseek-v3', 'qwen3'):
        tok = Tokenizer.from_file(os.path.join(ASSETS, name, 'tokenizer.json'))
        blocks = []
        for start in range(0, 0x110000, 128):
            cps = [cp for cp in range(start, start + 128) if not 0xD800 <= cp <= 0xDFFF]
            if cps:
                blocks.append((start, ''.join(ctx(chr(cp)) for cp in cps)))
        inp = ''.join(json.dumps({'text': s}) + '\n' for _, s in blocks)
        out = subprocess.run([binary, 'tokenize', '--tokenizer', os.path.join(ASSETS, name)], input=inp.encode(),
                             capture_output=True, check=True).stdout.decode().split('\n')
        want = tok.encode_batch([s for _, s in blocks], add_special_tokens=False)
        diff = [start for (start, _), line, w in zip(blocks, out, want) if json.loads(line)['ids'] != w.ids]
        print('%s: %d blocks of 128 code points, %d differ %s' % (name, len(blocks), len(diff),
                                                                 [hex(d) for d in diff[:10]]))
        bad += len(diff)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=OUT)
    ap.add_argument('--sweep', metavar='SABLE_BINARY',
                    help='instead of writing data, compare every code point against HF via `sable tokenize`')
    args = ap.parse_args()
    if args.sweep:
        return sweep(args.sweep)
    os.makedirs(args.out, exist_ok=True)
    import tokenizers
    for name, convs in (('deepseek-v3', deepseek_conversations()), ('qwen3', qwen_conversations())):
        d = os.path.join(ASSETS, name)
        tok = Tokenizer.from_file(os.path.join(d, 'tokenizer.json'))
        tj = json.load(open(os.path.join(d, 'tokenizer.json'), encoding='utf-8'))
        config = json.load(open(os.path.join(d, 'tokenizer_config.json'), encoding='utf-8'))
        template = compile_template(config['chat_template'])
        data = {
            'tokenizer': name,
            'generator': 'scripts/gen_tokenizer_cases.py',
            'versions': {'tokenizers': tokenizers.__version__, 'jinja2': jinja2.__version__},
            'encode': text_cases(tok, tj['added_tokens']),
            'invalid_utf8': invalid_cases(tok),
            'decode': decode_cases(tok, 11),
            'chat_template': chat_cases(tok, template, special_tokens(config), convs),
        }
        if name == 'deepseek-v3':
            data['jinja'] = jinja_cases(special_tokens(config))
        path = os.path.join(args.out, name + '.json')
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.write('\n')
        print('%s: %d encode, %d invalid, %d decode, %d chat, %d jinja cases -> %s' % (
            name, len(data['encode']), len(data['invalid_utf8']), len(data['decode']),
            len(data['chat_template']), len(data.get('jinja', [])), os.path.relpath(path, ROOT)))


if __name__ == '__main__':
    sys.exit(main())
