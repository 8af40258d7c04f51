"""`sable serve` through the official openai Python SDK: chat and completions,
streamed and not, include_usage, n, stop, seeds, logprobs, length limits, and
errors raising the SDK's exception classes."""
from __future__ import annotations

import json
import re
import subprocess

import openai
import pytest
import requests

from conftest import API_KEY, DEMO_NAME
from sable_server import BINARY, SableServer


@pytest.fixture(scope="module")
def client(demo_server):
    return openai.OpenAI(base_url=demo_server.base_url, api_key="unused", max_retries=0, timeout=120)


MSGS = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say something."}]


def test_models(client):
    ids = [m.id for m in client.models.list().data]
    assert ids == [DEMO_NAME, "demo-alias"]
    assert client.models.retrieve("demo-alias").id == "demo-alias"


def test_chat(client):
    r = client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=8)
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-")
    assert r.model == DEMO_NAME
    c = r.choices[0]
    assert c.index == 0 and c.message.role == "assistant"
    assert isinstance(c.message.content, str)
    assert c.finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens > 5
    assert 1 <= r.usage.completion_tokens <= 8
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_chat_alias_model_and_default_model(client, demo_server):
    r = client.chat.completions.create(model="demo-alias", messages=MSGS, max_tokens=2)
    assert r.model == DEMO_NAME  # the first served name, as vLLM reports it
    # vLLM accepts a request without "model".
    j = requests.post(demo_server.url("/v1/chat/completions"),
                      json={"messages": MSGS, "max_tokens": 2}, timeout=60).json()
    assert j["object"] == "chat.completion"


def test_chat_stream_include_usage(client):
    chunks = list(client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=6, stream=True,
                                                 stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens >= 1
    finishes = [c.choices[0].finish_reason for c in chunks[:-1] if c.choices[0].finish_reason]
    assert finishes and finishes[-1] in ("stop", "length")
    text = "".join(c.choices[0].delta.content or "" for c in chunks[:-1])
    # The same request, not streamed (greedy), gives the same text.
    whole = client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=6, temperature=0)
    streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model=DEMO_NAME, messages=MSGS, max_tokens=6, temperature=0, stream=True) if c.choices)
    assert streamed == whole.choices[0].message.content
    assert isinstance(text, str)


def test_completions(client):
    r = client.completions.create(model=DEMO_NAME, prompt="The quick brown fox", max_tokens=5)
    assert r.object == "text_completion" and r.id.startswith("cmpl-")
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens >= 4


def test_completions_stream_include_usage(client):
    chunks = list(client.completions.create(model=DEMO_NAME, prompt="Hello", max_tokens=5, stream=True,
                                            stream_options={"include_usage": True}))
    assert len({c.id for c in chunks}) == 1
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens >= 1
    assert any(c.choices and c.choices[0].finish_reason for c in chunks[:-1])


def test_completions_prompt_forms(client):
    ids = client.completions.create(model=DEMO_NAME, prompt=[100, 200, 300], max_tokens=2)
    assert ids.usage.prompt_tokens == 3
    many = client.completions.create(model=DEMO_NAME, prompt=["a", "b c"], max_tokens=2, n=2)
    assert [c.index for c in many.choices] == [0, 1, 2, 3]
    lists = client.completions.create(model=DEMO_NAME, prompt=[[1, 2], [3]], max_tokens=2)
    assert len(lists.choices) == 2 and lists.usage.prompt_tokens == 3


def test_n3(client):
    r = client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=4, n=3, temperature=1.0, seed=5)
    assert sorted(c.index for c in r.choices) == [0, 1, 2]
    s = list(client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=4, n=3, stream=True))
    assert {c.choices[0].index for c in s if c.choices} == {0, 1, 2}


def test_stop(client):
    base = client.completions.create(model=DEMO_NAME, prompt="Once upon a time", max_tokens=24, temperature=0,
                                     extra_body={"ignore_eos": True})
    text = base.choices[0].text
    assert len(text) >= 6, text
    stop = text[len(text) // 2: len(text) // 2 + 3]
    want = text[: text.find(stop)]
    r = client.completions.create(model=DEMO_NAME, prompt="Once upon a time", max_tokens=24, temperature=0,
                                  stop=[stop], extra_body={"ignore_eos": True})
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].text == want
    s = "".join(c.choices[0].text for c in client.completions.create(
        model=DEMO_NAME, prompt="Once upon a time", max_tokens=24, temperature=0, stop=stop, stream=True,
        extra_body={"ignore_eos": True}) if c.choices)
    assert s == want


def test_seed_reproducible(client):
    def run(seed):
        return client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=12, temperature=1.0,
                                              seed=seed).choices[0].message.content
    a, b = run(1234), run(1234)
    assert a == b
    others = {run(s) for s in (1, 2, 3)}
    assert len(others | {a}) > 1, "different seeds should not all give the same text"


def test_chat_logprobs(client):
    r = client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=4, logprobs=True, top_logprobs=3,
                                       extra_body={"ignore_eos": True})
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens == 4
    for t in content:
        assert t.logprob <= 0 and isinstance(t.token, str) and isinstance(t.bytes, list)
        assert len(t.top_logprobs) == 3
        assert t.top_logprobs[0].logprob >= t.top_logprobs[-1].logprob
    s = list(client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=4, logprobs=True,
                                            top_logprobs=2, stream=True, extra_body={"ignore_eos": True}))
    streamed = [t for c in s if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.content]
    assert len(streamed) == 4


def test_completion_logprobs(client):
    r = client.completions.create(model=DEMO_NAME, prompt="Hi", max_tokens=3, logprobs=2,
                                  extra_body={"ignore_eos": True})
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == 3
    assert all(len(d) >= 2 for d in lp.top_logprobs)
    assert lp.text_offset == sorted(lp.text_offset)


def test_completion_echo_logprobs_lm_eval(client):
    """lm-evaluation-harness's loglikelihood request: token ids, echo, logprobs=1,
    max_tokens=1; it reads token_logprobs[ctxlen:-1] and top_logprobs alike."""
    prompt = [40, 1148, 317, 262, 3290, 13]
    r = client.completions.create(model=DEMO_NAME, prompt=prompt, max_tokens=1, logprobs=1, echo=True,
                                  temperature=0, extra_body={"ignore_eos": True})
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == len(prompt) + 1
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert all(v <= 0 for v in lp.token_logprobs[1:])
    for tok, v, top in zip(lp.tokens[1:], lp.token_logprobs[1:], lp.top_logprobs[1:]):
        assert top[tok] == v and max(top.values()) >= v and len(top) <= 2
    assert lp.text_offset == sorted(lp.text_offset)
    assert r.choices[0].text.startswith(client.completions.create(
        model=DEMO_NAME, prompt=prompt, max_tokens=1, echo=True, temperature=0).choices[0].text[:1])

    # A prompt token's echoed logprob is the logprob it had when generated.
    gen = client.completions.create(model=DEMO_NAME, prompt=prompt, max_tokens=1, logprobs=0, temperature=0,
                                    extra_body={"ignore_eos": True, "return_tokens_as_token_ids": True})
    next_id = int(gen.choices[0].logprobs.tokens[0].split(":")[1])
    echoed = client.completions.create(model=DEMO_NAME, prompt=prompt + [next_id], max_tokens=1, logprobs=0,
                                       echo=True, temperature=0, extra_body={"ignore_eos": True})
    assert echoed.choices[0].logprobs.token_logprobs[len(prompt)] == pytest.approx(
        gen.choices[0].logprobs.token_logprobs[0], abs=1e-3)

    # Streamed: the prompt's chunk comes first, with its logprobs.
    chunks = list(client.completions.create(model=DEMO_NAME, prompt=prompt, max_tokens=2, logprobs=1, echo=True,
                                            stream=True, extra_body={"ignore_eos": True}))
    first = chunks[0].choices[0]
    assert len(first.logprobs.tokens) == len(prompt) and first.logprobs.token_logprobs[0] is None
    assert sum(len(c.choices[0].logprobs.tokens) for c in chunks if c.choices and c.choices[0].logprobs) == \
        len(prompt) + 2


def test_prompt_logprobs(client, demo_server):
    """vLLM's prompt_logprobs, in completions (per choice) and chat (top level)."""
    r = client.completions.create(model=DEMO_NAME, prompt="The quick brown fox", max_tokens=1,
                                  extra_body={"prompt_logprobs": 2})
    pl = r.choices[0].model_extra["prompt_logprobs"]
    assert pl[0] is None and len(pl) >= 2
    for entry in pl[1:]:
        assert 1 <= len(entry) <= 3
        for token_id, v in entry.items():
            assert int(token_id) >= 0 and v["logprob"] <= 0 and v["rank"] >= 1 and isinstance(v["decoded_token"], str)
    streamed = [ch.choices[0].model_extra.get("prompt_logprobs") for ch in client.completions.create(
        model=DEMO_NAME, prompt="The quick brown fox", max_tokens=3, stream=True,
        extra_body={"prompt_logprobs": 2, "ignore_eos": True}) if ch.choices]
    assert [x for x in streamed if x is not None] == [pl]  # once, on the first chunk, the same list
    c = client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=1,
                                       extra_body={"prompt_logprobs": 0})
    cpl = c.model_extra["prompt_logprobs"]
    assert cpl[0] is None and all(len(e) == 1 for e in cpl[1:])
    assert c.usage.prompt_tokens == len(cpl)
    bad = requests.post(demo_server.base_url + "/completions",
                        json={"model": DEMO_NAME, "prompt": "x", "prompt_logprobs": -1})
    assert bad.status_code == 400 and "prompt_logprobs" in bad.json()["error"]["message"]


def test_length_finish(client):
    r = client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=3,
                                       extra_body={"ignore_eos": True})
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 3
    c = client.completions.create(model=DEMO_NAME, prompt="x", max_tokens=2, extra_body={"ignore_eos": True})
    assert c.choices[0].finish_reason == "length" and c.usage.completion_tokens == 2


COLOR_SCHEMA = {"type": "object", "properties": {"color": {"enum": ["red", "green"]}, "ok": {"type": "boolean"}},
                "required": ["color", "ok"]}


def test_structured_output_json_schema(client):
    # The demo model writes no JSON by itself: the schema is what makes it.
    fmt = {"type": "json_schema", "json_schema": {"name": "c", "schema": COLOR_SCHEMA}}
    r = client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=60, temperature=0,
                                       response_format=fmt)
    assert r.choices[0].finish_reason == "stop"
    data = json.loads(r.choices[0].message.content)
    assert data["color"] in ("red", "green") and isinstance(data["ok"], bool) and len(data) == 2
    # Streamed, sampled, and as vLLM's guided_json on completions: the deltas join into the document.
    text = "".join(ch.choices[0].delta.content or "" for ch in client.chat.completions.create(
        model=DEMO_NAME, messages=MSGS, max_tokens=60, temperature=1, seed=3, response_format=fmt, stream=True)
        if ch.choices)
    assert json.loads(text)["color"] in ("red", "green")
    c = client.completions.create(model=DEMO_NAME, prompt="x", max_tokens=60, extra_body={"guided_json": COLOR_SCHEMA})
    assert json.loads(c.choices[0].text)["color"] in ("red", "green")


def test_structured_output_pydantic_parse(client):
    # The SDK's own path: a Pydantic model -> json_schema (strict, $defs/$ref,
    # Optional as anyOf with null) -> parsed back into the model.
    from typing import Literal, Optional

    from pydantic import BaseModel

    class Shade(BaseModel):
        tone: Literal["light", "dark"]

    class Paint(BaseModel):
        color: Literal["red", "green"]
        glossy: Optional[bool]
        shade: Shade

    r = client.beta.chat.completions.parse(model=DEMO_NAME, messages=MSGS, max_tokens=80, temperature=0,
                                           response_format=Paint)
    p = r.choices[0].message.parsed
    assert isinstance(p, Paint) and p.color in ("red", "green") and p.shade.tone in ("light", "dark")


def test_structured_output_pydantic_formats(client):
    # Pydantic writes "format" for datetime, date, UUID and IP fields; they are
    # enforced, so even the demo model's answer parses back into the types.
    import datetime
    import ipaddress
    import uuid

    from pydantic import BaseModel

    class Booking(BaseModel):
        id: uuid.UUID
        day: datetime.date
        at: datetime.datetime
        host: ipaddress.IPv4Address

    for temperature in (0, 1):
        r = client.beta.chat.completions.parse(model=DEMO_NAME, messages=MSGS, max_tokens=200, temperature=temperature,
                                               seed=11, response_format=Booking)
        b = r.choices[0].message.parsed
        assert isinstance(b, Booking) and isinstance(b.id, uuid.UUID) and isinstance(b.at, datetime.datetime)


def test_structured_output_pydantic_union(client):
    # A field that is one of two models (anyOf of two objects, told apart by
    # a Literal): parsed back into one of them.
    from typing import Literal, Union

    from pydantic import BaseModel

    class Cat(BaseModel):
        kind: Literal["cat"]
        lives: Literal[7, 9]

    class Dog(BaseModel):
        kind: Literal["dog"]
        good: bool

    class Pet(BaseModel):
        pet: Union[Cat, Dog]

    r = client.beta.chat.completions.parse(model=DEMO_NAME, messages=MSGS, max_tokens=80, temperature=0,
                                           response_format=Pet)
    p = r.choices[0].message.parsed
    assert isinstance(p, Pet) and isinstance(p.pet, (Cat, Dog))


def test_named_tool_choice(client):
    # No --tool-call-parser needed (as vLLM): the output is constrained to the
    # function's parameters and comes back as its call.
    tools = [{"type": "function", "function": {"name": "paint", "parameters": COLOR_SCHEMA}}]
    r = client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=60, temperature=0, tools=tools,
                                       tool_choice={"type": "function", "function": {"name": "paint"}})
    m = r.choices[0].message
    assert m.content is None and r.choices[0].finish_reason == "stop"
    assert len(m.tool_calls) == 1 and m.tool_calls[0].function.name == "paint"
    assert json.loads(m.tool_calls[0].function.arguments)["color"] in ("red", "green")


def test_required_tool_choice(client):
    # As vLLM: the output is constrained to a list of calls of the given
    # tools (at least one), returned as tool_calls, finishing "tool_calls".
    tools = [{"type": "function", "function": {"name": "paint", "parameters": COLOR_SCHEMA}},
             {"type": "function", "function": {"name": "stop_painting"}}]
    r = client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=120, temperature=0, tools=tools,
                                       tool_choice="required")
    m = r.choices[0].message
    assert m.content is None and m.tool_calls
    for call in m.tool_calls:
        assert call.function.name in ("paint", "stop_painting") and call.id.startswith("chatcmpl-tool-")
    if r.choices[0].finish_reason == "tool_calls":
        for call in m.tool_calls:
            args = json.loads(call.function.arguments)
            assert args == {} if call.function.name == "stop_painting" else args["color"] in ("red", "green")
    else:
        assert r.choices[0].finish_reason == "length"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=5, tools=tools + tools[:1],
                                       tool_choice="required")
    assert "paint" in str(e.value)


def test_guided_choice(client):
    # vLLM's extension through extra_body: the output is one of the strings.
    for kind in ("chat", "completions"):
        choices = ["positive", "negative", "neutral"]
        if kind == "chat":
            r = client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=10, temperature=0,
                                               extra_body={"guided_choice": choices})
            text = r.choices[0].message.content
        else:
            r = client.completions.create(model=DEMO_NAME, prompt="The review is", max_tokens=10, temperature=0,
                                          extra_body={"structured_outputs": {"choice": choices}})
            text = r.choices[0].text
        assert text in choices and r.choices[0].finish_reason == "stop", (kind, text)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=5, extra_body={"guided_choice": []})
    assert "guided_choice" in str(e.value)


def test_guided_regex(client):
    # vLLM's extension through extra_body: the whole output matches the pattern.
    pattern = r"\d{3}-[a-z]{2,4}"
    for kind in ("chat", "completions"):
        if kind == "chat":
            r = client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=20, temperature=0,
                                               extra_body={"guided_regex": pattern})
            text = r.choices[0].message.content
        else:
            r = client.completions.create(model=DEMO_NAME, prompt="The code is", max_tokens=20, temperature=0.8,
                                          seed=3, extra_body={"structured_outputs": {"regex": pattern}})
            text = r.choices[0].text
        assert re.fullmatch(pattern, text) and r.choices[0].finish_reason == "stop", (kind, text)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=5,
                                       extra_body={"guided_regex": "(?<=a)b"})
    assert "guided_regex" in str(e.value) and "lookaround" in str(e.value)


def test_structured_output_json_object(client):
    r = client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=30, temperature=0,
                                       response_format={"type": "json_object"})
    text = r.choices[0].message.content
    assert text.startswith("{")
    if r.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(text), dict)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=5, response_format={
            "type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "pattern": "(?<=a)b"}}})
    assert "pattern" in str(e.value) and "lookaround" in str(e.value)


def test_errors_raise_sdk_exceptions(client):
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=DEMO_NAME, messages=MSGS, n=1000)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=DEMO_NAME, messages=[], max_tokens=2)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=DEMO_NAME, messages=[{"role": "user", "content": "word " * 3000}])
    assert "maximum context length is 2048" in str(e.value)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=MSGS)
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="nope", prompt="x")
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model=DEMO_NAME, prompt="x", max_tokens=5, extra_body={"top_p": 7})


def test_auth(auth_server):
    good = openai.OpenAI(base_url=auth_server.base_url, api_key=API_KEY, max_retries=0)
    assert good.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=2).choices
    bad = openai.OpenAI(base_url=auth_server.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=2)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    assert requests.get(auth_server.url("/health"), timeout=10).status_code == 200
    assert requests.get(auth_server.url("/metrics"), timeout=10).status_code == 200


def test_tokenize_detokenize(demo_server):
    t = requests.post(demo_server.url("/tokenize"), json={"prompt": "Hello, world"}, timeout=30).json()
    assert t["count"] == len(t["tokens"]) and t["max_model_len"] == 2048
    d = requests.post(demo_server.url("/detokenize"), json={"tokens": t["tokens"]}, timeout=30).json()
    assert "Hello, world" in d["prompt"]


def test_metrics_count_work(client, demo_server):
    before = demo_server.metrics()
    client.completions.create(model=DEMO_NAME, prompt="count me", max_tokens=3, extra_body={"ignore_eos": True})
    after = demo_server.metrics()
    assert after["vllm:generation_tokens_total"] >= before["vllm:generation_tokens_total"] + 3
    assert after["vllm:prompt_tokens_total"] > before["vllm:prompt_tokens_total"]
    assert after["vllm:request_success_total[length]"] >= before["vllm:request_success_total[length]"] + 1
    assert after["vllm:e2e_request_latency_seconds_count"] >= 1
    assert after["vllm:time_to_first_token_seconds_count"] >= 1
    for name in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                 "vllm:gpu_cache_usage_perc", "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total",
                 "vllm:num_preemptions_total", "vllm:inter_token_latency_seconds_count"):
        assert name in after, name


def test_tiny_fixture_model(tiny_server):
    c = openai.OpenAI(base_url=tiny_server.base_url, api_key="x", max_retries=0)
    r = c.completions.create(model="tiny", prompt=[1, 2, 3, 4], max_tokens=5, temperature=0,
                             extra_body={"ignore_eos": True})
    assert r.usage.prompt_tokens == 4 and r.usage.completion_tokens == 5
    s = list(c.completions.create(model="tiny", prompt=[[5, 6], [7]], max_tokens=3, stream=True,
                                  stream_options={"include_usage": True}, extra_body={"ignore_eos": True}))
    assert s[-1].usage.completion_tokens == 6
    # The DeepSeek-V3 tokenizer's ids go past this model's 1024-token vocabulary: a clear 400.
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="tiny", messages=MSGS, max_tokens=2)
    assert "out of vocabulary" in str(e.value)


TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def test_tools_need_a_parser(client):
    # As vLLM: tool_choice "auto" (the default with tools) needs
    # --enable-auto-tool-choice and --tool-call-parser; "none" renders the
    # tools in the template and returns text.
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=DEMO_NAME, messages=MSGS, tools=TOOLS, max_tokens=2)
    assert "--enable-auto-tool-choice" in str(e.value)
    r = client.chat.completions.create(model=DEMO_NAME, messages=MSGS, tools=TOOLS, tool_choice="none",
                                       max_tokens=2)
    assert r.choices[0].message.content is not None


def test_tools_with_parser():
    # The demo model's random weights do not call tools: this checks the flags
    # and the response shapes through the SDK (the parsing itself is tested in
    # tests/server against the models' own chat-template output).
    with SableServer("--max-model-len", "2048", "--served-model-name", DEMO_NAME,
                     "--enable-auto-tool-choice", "--tool-call-parser", "deepseek_v3") as s:
        c = openai.OpenAI(base_url=s.base_url, api_key="x", max_retries=0, timeout=120)
        r = c.chat.completions.create(model=DEMO_NAME, messages=MSGS, tools=TOOLS, max_tokens=4)
        assert r.choices[0].finish_reason in ("length", "stop", "tool_calls")
        assert not r.choices[0].message.tool_calls or r.choices[0].finish_reason == "tool_calls"
        chunks = list(c.chat.completions.create(model=DEMO_NAME, messages=MSGS, tools=TOOLS, max_tokens=4,
                                                stream=True))
        assert chunks[-1].choices[0].finish_reason in ("length", "stop", "tool_calls")


@pytest.mark.parametrize("flags,message", [
    (["--enable-auto-tool-choice"], "needs --tool-call-parser"),
    (["--enable-auto-tool-choice", "--tool-call-parser", "mistral"], "deepseek_v3"),
    (["--reasoning-parser", "granite"], "deepseek_r1"),
])
def test_tool_flags_checked_at_start(flags, message):
    p = subprocess.run([BINARY, "serve", "--port", "0", *flags], capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and message in p.stderr, p.stderr


def test_request_chat_template_needs_trust(client):
    """vLLM's rule: a request's own chat_template is refused unless the server trusts it."""
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=2,
                                       extra_body={"chat_template": "{{ messages[0]['content'] }}"})
    assert "--trust-request-chat-template" in str(e.value)
    with SableServer("--trust-request-chat-template", "--served-model-name", DEMO_NAME) as s:
        trusted = openai.OpenAI(base_url=s.base_url, api_key="unused", max_retries=0, timeout=120)
        tmpl = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
        r = trusted.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=3,
                                            extra_body={"chat_template": tmpl, "ignore_eos": True})
        assert r.usage.completion_tokens == 3
        # The prompt is the request template's rendering, token for token.
        tok = requests.post(s.url("/tokenize"), json={"messages": MSGS, "chat_template": tmpl}).json()
        want = requests.post(s.url("/tokenize"), json={
            "prompt": "[system] You are terse.\n[user] Say something.\n", "add_special_tokens": False}).json()
        assert tok["tokens"] == want["tokens"]
        assert r.usage.prompt_tokens == tok["count"]
        with pytest.raises(openai.BadRequestError) as bad:
            trusted.chat.completions.create(model=DEMO_NAME, messages=MSGS, max_tokens=2,
                                            extra_body={"chat_template": "{% if %}"})
        assert "line 1" in str(bad.value)


def _token_ids(choice):
    return [int(t.split(":", 1)[1]) for t in choice.logprobs.tokens]


def test_allowed_token_ids_and_bad_words(client, demo_server):
    """vLLM's allowed_token_ids (only those tokens) and bad_words (never those words)."""
    allowed = [1000, 2000, 3000]
    r = client.completions.create(model=DEMO_NAME, prompt="Hello", max_tokens=8, temperature=1.0, seed=3, logprobs=0,
                                  extra_body={"allowed_token_ids": allowed, "ignore_eos": True,
                                              "return_tokens_as_token_ids": True})
    ids = _token_ids(r.choices[0])
    assert len(ids) == 8 and set(ids) <= set(allowed), ids
    greedy = dict(model=DEMO_NAME, prompt="Hello", max_tokens=6, temperature=0, logprobs=0)
    extra = {"ignore_eos": True, "return_tokens_as_token_ids": True}
    g = _token_ids(client.completions.create(**greedy, extra_body=extra).choices[0])
    # The word to ban: a generated token that vLLM's rule turns back into itself (the word
    # stripped, or with one leading space when that has as many tokens as the stripped form).
    for t in g:
        word = requests.post(demo_server.url("/detokenize"), json={"tokens": [t]}).json()["prompt"]
        if not word.strip():
            continue
        plain, spaced = [requests.post(demo_server.url("/tokenize"), json={"prompt": p, "add_special_tokens": False})
                         .json()["tokens"] for p in (word.lstrip(), " " + word.lstrip())]
        if plain == [t] or (spaced == [t] and len(plain) == 1):
            break
    else:
        pytest.fail(f"no generated token re-encodes to itself: {g}")
    b = _token_ids(client.completions.create(**greedy, extra_body={**extra, "bad_words": [word]}).choices[0])
    assert t not in b, (word, t, b)
    assert b != g
    with pytest.raises(openai.BadRequestError):
        client.completions.create(**greedy, extra_body={"allowed_token_ids": []})


def test_generation_config_defaults(tmp_path):
    """vLLM's --generation-config: the model's generation_config.json sets the defaults a request omits."""
    (tmp_path / "generation_config.json").write_text(json.dumps({"do_sample": True, "temperature": 0.0, "top_k": 50}))
    with SableServer("--served-model-name", DEMO_NAME, "--generation-config", str(tmp_path)) as s:
        c = openai.OpenAI(base_url=s.base_url, api_key="unused", max_retries=0, timeout=120)
        args = dict(model=DEMO_NAME, prompt="Once upon", max_tokens=8, extra_body={"ignore_eos": True})
        # No temperature in the request: the file's 0 applies (greedy), whatever the seed.
        a = c.completions.create(**args, seed=1).choices[0].text
        b = c.completions.create(**args, seed=2).choices[0].text
        greedy = c.completions.create(**args, temperature=0).choices[0].text
        assert a == b == greedy
        # A request's own temperature wins.
        sampled = {c.completions.create(**args, temperature=1.0, seed=k).choices[0].text for k in range(3)}
        assert sampled != {greedy}
    bad = subprocess.run([BINARY, "serve", "--generation-config", str(tmp_path / "nope")], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode != 0 and "generation_config.json" in bad.stderr
