#!/usr/bin/env bash
# Builds the image with docker or podman and checks it the way it runs in production:
# non-root, read-only root filesystem, ready and healthy, /predict equal to the CLI inside the
# image, one inference thread under --cpus 1, and every in-flight upload answered on stop.
#
#   npm run container-check                  (or: bash deploy/check.sh)
#   CHECK_MODEL=/path/to/model.onnx npm run container-check
#
# The model: $CHECK_MODEL if set, else the pretrained MobileNetV2 in ../shared/models when present,
# else the official ResNet-18 weights (downloaded at first start, so the machine needs internet).
# Exit codes: 0 every check passed, 1 a check failed, 2 no container engine to check with.
set -uo pipefail
cd "$(dirname "$0")/.."

engine=""
for candidate in docker podman; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" info >/dev/null 2>&1; then engine=$candidate; break; fi
done
if [ -z "$engine" ]; then
  echo "container-check: no working docker or podman here; nothing was checked." >&2
  exit 2
fi

image=resnet-serve:check
name=resnet-serve-check-$$
port=${CHECK_PORT:-18080}
work=$(mktemp -d)
failures=0
pass() { echo "  ok    $1"; }
fail() { echo "  FAIL  $1" >&2; failures=$((failures + 1)); }
cleanup() { "$engine" rm -f "$name" >/dev/null 2>&1; "$engine" volume rm -f "$name-cache" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT

model=${CHECK_MODEL:-}
if [ -z "$model" ] && [ -f ../shared/models/mobilenetv2-12-int8.onnx ]; then model=$(cd ../shared/models && pwd)/mobilenetv2-12-int8.onnx; fi
mount=()
model_env=()
if [ -n "$model" ]; then
  mount=(-v "$model:/models/$(basename "$model"):ro")
  model_env=(-e "RESNET_SERVE_MODEL=/models/$(basename "$model")")
fi

echo "container-check with $engine"
echo "- building $image"
if ! "$engine" build -q -t "$image" . >"$work/build.log" 2>&1; then
  tail -20 "$work/build.log" >&2
  fail "image builds"
  exit 1
fi
pass "image builds"
size=$("$engine" image inspect "$image" --format '{{.Size}}' 2>/dev/null || echo 0)
echo "        image size: $((size / 1024 / 1024)) MB"

"$engine" volume create "$name-cache" >/dev/null
"$engine" run -d --name "$name" -p "127.0.0.1:$port:8080" --read-only --tmpfs /tmp --cpus 1 \
  -v "$name-cache:/var/cache/resnet-serve" "${mount[@]}" "${model_env[@]}" "$image" >/dev/null || { fail "container starts"; exit 1; }

ready=""
for _ in $(seq 1 240); do
  if curl -fs "http://127.0.0.1:$port/v2/health/ready" >/dev/null 2>&1; then ready=1; break; fi
  if [ "$("$engine" inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != "true" ]; then break; fi
  sleep 0.5
done
if [ -z "$ready" ]; then "$engine" logs "$name" 2>&1 | tail -5 >&2; fail "becomes ready"; exit 1; fi
pass "becomes ready on /v2/health/ready"

uid=$("$engine" exec "$name" id -u)
[ "$uid" != "0" ] && pass "runs as a non-root user (uid $uid)" || fail "runs as a non-root user"
if "$engine" exec "$name" sh -c 'touch /app/written 2>/dev/null'; then fail "root filesystem is read-only"; else pass "root filesystem is read-only"; fi

# A photo: generated here with the project's own sharp.
node -e "require('sharp')({create:{width:640,height:480,channels:3,background:'#3a7bd5'}}).composite([{input:Buffer.from('<svg width=\"640\" height=\"480\"><circle cx=\"320\" cy=\"240\" r=\"150\" fill=\"#f5c542\"/></svg>')}]).jpeg().toFile('$work/photo.jpg')" \
  || { fail "generate a test photo (run npm install first)"; exit 1; }
served=$(curl -fs -F "file=@$work/photo.jpg" "http://127.0.0.1:$port/predict?top_k=3")
"$engine" exec -i "$name" sh -c 'cat > /tmp/photo.jpg' <"$work/photo.jpg"
cli=$("$engine" exec "$name" node dist/cli/bin.js classify /tmp/photo.jpg --json --top-k 3 2>/dev/null \
  | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const r=JSON.parse(s);process.stdout.write(JSON.stringify(r.predictions.map(p=>({label:p.label,confidence:Math.round(p.score*10000)/100}))))})")
[ -n "$served" ] && [ "$served" = "$cli" ] && pass "/predict equals the CLI in the image ($served)" || fail "/predict equals the CLI (server: $served, cli: $cli)"

model_name=$(curl -fs "http://127.0.0.1:$port/v1/models" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>process.stdout.write(JSON.parse(s).models[0].name))")
threads=$(curl -fs "http://127.0.0.1:$port/v2/models/$model_name" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>process.stdout.write(String(JSON.parse(s).parameters.onnxruntime_threads)))")
[ "$threads" = "1" ] && pass "one inference thread under --cpus 1" || fail "one inference thread under --cpus 1 (got $threads)"

health=""
if [ "$engine" = "podman" ]; then
  podman healthcheck run "$name" >/dev/null 2>&1 && health=healthy
else
  for _ in $(seq 1 60); do
    health=$(docker inspect -f '{{.State.Health.Status}}' "$name" 2>/dev/null)
    [ "$health" = "healthy" ] && break
    sleep 1
  done
fi
[ "$health" = "healthy" ] && pass "HEALTHCHECK reports healthy" || fail "HEALTHCHECK reports healthy (got '$health')"

for i in $(seq 1 10); do
  (curl -s -o /dev/null -w '%{http_code}\n' -F "file=@$work/photo.jpg" "http://127.0.0.1:$port/predict" >"$work/stop-$i.txt") &
done
sleep 0.3
"$engine" stop -t 15 "$name" >/dev/null
wait
answers=$(cat "$work"/stop-*.txt | sort | uniq -c | tr -s ' ' | tr '\n' ';')
if grep -qvE '^(200|503)$' "$work"/stop-*.txt; then fail "every in-flight upload answered on stop ($answers)"; else pass "every in-flight upload answered on stop ($answers)"; fi

echo
if [ "$failures" -eq 0 ]; then echo "container-check: all checks passed"; exit 0; fi
echo "container-check: $failures check(s) failed" >&2
exit 1
