#!/usr/bin/env bash
# GuideLLM (pip install guidellm) and `sable bench serve` on the same load
# against the same server, and their figures side by side: does Sable's
# client measure what an independent client measures?
#
#   bench/guidellm_compare.sh [--base-url URL] [--concurrency N] [--requests N]
#                             [--input-len N] [--output-len N] [--repeat K] [--pin]
#
# With no --base-url it starts `sable serve` (the demo model, CPU) on a free
# port and stops it at the end. Each client runs K times (default 2),
# alternating, so that drift in the machine's load shows up as spread rather
# than as a difference between the clients. GuideLLM needs no network: its
# tokenizer is the bundled DeepSeek-V3 tokenizer directory (HF_HUB_OFFLINE=1).
# On a small CPU machine the server under test and the client share cores, and
# a client that burns CPU slows the server it measures: --pin runs the server
# on CPU 0 and both clients on CPU 1 (taskset), so each client measures the
# same server.
# Prints a markdown table; the raw results stay in $OUT_DIR (default a temp dir).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SABLE=${SABLE_BINARY:-$ROOT/build/sable}
TOKENIZER=$ROOT/assets/tokenizers/deepseek-v3
BASE_URL="" CONC=4 REQUESTS=16 IN=128 OUT=32 REPEAT=2 ENDPOINT=/v1/completions
SERVER_CPU="" CLIENT_CPU=""
while [ $# -gt 0 ]; do
  case "$1" in
    --base-url) BASE_URL=$2; shift 2 ;;
    --concurrency) CONC=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    --input-len) IN=$2; shift 2 ;;
    --output-len) OUT=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --endpoint) ENDPOINT=$2; shift 2 ;;
    --pin) SERVER_CPU="taskset -c 0" CLIENT_CPU="taskset -c 1"; shift ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
command -v guidellm >/dev/null || { echo "guidellm is not installed (pip install guidellm)" >&2; exit 2; }
OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/guidellm-compare.XXXXXX)}
mkdir -p "$OUT_DIR"

SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null; true; }
trap cleanup EXIT
if [ -z "$BASE_URL" ]; then
  $SERVER_CPU "$SABLE" serve --host 127.0.0.1 --port 0 --max-model-len 4096 --disable-log-stats > "$OUT_DIR/serve.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 600); do
    port=$(grep -oE 'listening on http://127.0.0.1:[0-9]+' "$OUT_DIR/serve.log" | grep -oE '[0-9]+$' || true)
    [ -n "$port" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$OUT_DIR/serve.log" >&2; exit 1; }
    sleep 0.2
  done
  BASE_URL=http://127.0.0.1:$port
fi
MODEL=$(python3 -c "import json,urllib.request;print(json.load(urllib.request.urlopen('$BASE_URL/v1/models'))['data'][0]['id'])")
echo "server $BASE_URL, model $MODEL: $REQUESTS requests, $CONC concurrent, $IN in / $OUT out, $ENDPOINT" >&2

# The server's own view (vLLM's histograms on /metrics) around each run: a
# referee for the two clients' TPOT (TTFT differs by design: the server's
# clock starts when the engine gets the request, after HTTP and tokenizing).
metrics() { curl -s "$BASE_URL/metrics" > "$OUT_DIR/$1.prom" || true; }
for k in $(seq "$REPEAT"); do
  echo "[$k/$REPEAT] sable bench serve" >&2
  metrics sable-$k-before
  $CLIENT_CPU "$SABLE" bench serve --base-url "$BASE_URL" --model "$MODEL" --endpoint "$ENDPOINT" --input-len "$IN" \
    --output-len "$OUT" --num-prompts "$REQUESTS" --max-concurrency "$CONC" --seed "$k" --disable-tqdm \
    --result-json "$OUT_DIR/sable-$k.json" > "$OUT_DIR/sable-$k.txt"
  metrics sable-$k-after
  echo "[$k/$REPEAT] guidellm" >&2
  metrics guidellm-$k-before
  # Greedy like sable bench serve (GuideLLM leaves temperature to the
  # server, whose default is 1). GuideLLM's workers poll every 0.1 ms by
  # default, which on a small CPU machine takes cores from the server under
  # test; one worker polling every 5 ms leaves them to it.
  GUIDELLM__DEFAULT_ASYNC_LOOP_SLEEP=${GUIDELLM__DEFAULT_ASYNC_LOOP_SLEEP:-0.005} \
  GUIDELLM__MAX_WORKER_PROCESSES=${GUIDELLM__MAX_WORKER_PROCESSES:-1} \
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $CLIENT_CPU guidellm run \
    --backend "{\"kind\":\"openai_http\",\"target\":\"$BASE_URL\",\"model\":\"$MODEL\",\"request_format\":\"$ENDPOINT\",\"extras\":{\"body\":{\"temperature\":0}}}" \
    --profile "kind=concurrent,streams=$CONC" \
    --constraint "kind=max_requests,count=$REQUESTS" \
    --data "kind=synthetic_text,prompt_tokens=$IN,output_tokens=$OUT" \
    --tokenizer "kind=huggingface_auto,model=$TOKENIZER" \
    --seed "kind=static,value=$k" \
    --output "kind=json,path=$OUT_DIR/guidellm-$k.json" --disable-progress > "$OUT_DIR/guidellm-$k.txt" 2>&1
  metrics guidellm-$k-after
done

python3 - "$OUT_DIR" "$REPEAT" <<'EOF'
import json, statistics, sys
d, k = sys.argv[1], int(sys.argv[2])

def sable(i):
    r = json.load(open(f"{d}/sable-{i}.json"))
    return {
        "requests ok": r["completed"],
        "output tok/s": r["output_throughput"],
        "requests/s": r["request_throughput"],
        "TTFT median ms": r["median_ttft_ms"],
        "TTFT mean ms": r["mean_ttft_ms"],
        # vLLM's TPOT is GuideLLM's "inter token latency": (e2e - ttft) / (out - 1) per request.
        "TPOT mean ms": r["mean_tpot_ms"],
        "E2E median ms": r["median_e2el_ms"],
        "output tokens": r["total_output_tokens"],
        "prompt tokens (server)": r["sable"]["total_input_tokens_server"],
    }

def guidellm(i):
    b = json.load(open(f"{d}/guidellm-{i}.json"))["benchmarks"][0]
    m = b["metrics"]
    ok = lambda name: m[name]["successful"]
    return {
        "requests ok": m["request_totals"]["successful"],
        "output tok/s": ok("output_tokens_per_second")["mean"],
        "requests/s": ok("requests_per_second")["mean"],
        "TTFT median ms": ok("time_to_first_token_ms")["median"],
        "TTFT mean ms": ok("time_to_first_token_ms")["mean"],
        "TPOT mean ms": ok("inter_token_latency_ms")["mean"],
        "E2E median ms": ok("request_latency")["median"] * 1e3,
        "output tokens": ok("output_token_count")["total_sum"],
        "prompt tokens (server)": ok("prompt_token_count")["total_sum"],
    }

def prom(path):
    out = {}
    try:
        for line in open(path):
            if line.startswith("vllm:") and ("_sum{" in line or "_count{" in line):
                out[line.split("{")[0]] = float(line.rsplit(" ", 1)[1])
    except OSError:
        pass
    return out

def server(name, i):
    a, b = prom(f"{d}/{name}-{i}-before.prom"), prom(f"{d}/{name}-{i}-after.prom")
    def mean_ms(m):
        n = b.get(m + "_count", 0) - a.get(m + "_count", 0)
        return (b[m + "_sum"] - a[m + "_sum"]) / n * 1e3 if n > 0 else float("nan")
    return {"server: TTFT mean ms": mean_ms("vllm:time_to_first_token_seconds"),
            "server: TPOT mean ms": mean_ms("vllm:time_per_output_token_seconds"),
            "server: E2E mean ms": mean_ms("vllm:e2e_request_latency_seconds")}

S = [dict(sable(i), **server("sable", i)) for i in range(1, k + 1)]
G = [dict(guidellm(i), **server("guidellm", i)) for i in range(1, k + 1)]
# "server:" rows: what the server measured during each client's run.
print(f"| metric | sable bench serve | guidellm | difference |")
print("|---|---:|---:|---:|")
for key in S[0]:
    s = statistics.mean(x[key] for x in S)
    g = statistics.mean(x[key] for x in G)
    spread = lambda xs: (max(x[key] for x in xs) - min(x[key] for x in xs)) / 2
    diff = (s - g) / g * 100 if g else float("nan")
    fmt = lambda v, sp: f"{v:.2f}" + (f" ± {sp:.2f}" if k > 1 and sp else "")
    print(f"| {key} | {fmt(s, spread(S))} | {fmt(g, spread(G))} | {diff:+.1f}% |")
EOF
echo "raw results: $OUT_DIR" >&2
