#!/usr/bin/env bash
# The device check: everything this project can prove on a real GPU, in one call of under
# 8 minutes, on a machine with no Rust toolchain and no package registry.
#
#   bash bench/gpu-check.sh prepare      here (x86-64 Linux with Rust): builds the release
#                                        program and the kernel-test binaries into .gpu-check/,
#                                        and fetches the Vulkan loader's Debian packages into .gl/
#   bash bench/gpu-check.sh run OUT_DIR  there, from the repository root, with .gpu-check and
#                                        .gl carried along: kernel tests, `bench --json` at batch
#                                        128 and 1024, the PyTorch port on the same GPU, and
#                                        training at batch 128 toward 20000 iterations (scored
#                                        every 5000) for 4 minutes; one JSON file of results,
#                                        OUT_DIR/gpu-check.json, plus the logs beside it.
#
# With the device tool: run `prepare` here, then
#   run(command="bash bench/gpu-check.sh run $OUT", carry=[".gpu-check", ".gl"], timeout_s=540)
set -uo pipefail
cd "$(dirname "$0")/.."

prepare() {
    set -e
    cargo build --release
    rm -rf .gpu-check && mkdir -p .gpu-check
    cp target/release/dcgan-wgpu .gpu-check/
    # The kernel tests: GPU against the CPU reference and Keras, whole iterations, shaders.
    cargo test --release --no-run --message-format=json --test ops --test keras --test train \
        --test shaders 2>/dev/null |
        python3 -c '
import json, shutil, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        shutil.copy(m["executable"], ".gpu-check/test-" + m["target"]["name"])
'
    # The device tool carries at most 64 MiB with the working tree: strip and compress (the
    # binaries go from about 44 MB to 12 MB).
    strip .gpu-check/dcgan-wgpu .gpu-check/test-*
    gzip -9 .gpu-check/dcgan-wgpu .gpu-check/test-*
    # Test and asset paths are compiled in (CARGO_MANIFEST_DIR): `run` links this path there.
    pwd >.gpu-check/built-at
    # The Vulkan loader (the device machine has the NVIDIA driver, not always the loader).
    mkdir -p .gl /tmp/amd64/partial
    local o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    # shellcheck disable=SC2086
    apt-get $o update -qq && (cd .gl && apt-get $o download libvulkan1 >/dev/null)
    grep -qx '/.gpu-check/' .git/info/exclude || echo '/.gpu-check/' >>.git/info/exclude
    grep -qx '/.gl/' .git/info/exclude || echo '/.gl/' >>.git/info/exclude
    ls -la .gpu-check .gl
    local tree carried
    tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
    carried=$(du -sb .gpu-check .gl | awk '{s += $1} END {print s}')
    echo "working tree ${tree} bytes + carried ${carried} bytes (the device tool takes 67108864)"
}

run() {
    local out="$1"
    mkdir -p "$out"
    local start=$SECONDS
    for f in .gl/*.deb; do [ -e "$f" ] && dpkg -x "$f" /; done
    ldconfig
    if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
        export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    fi
    local built_at
    built_at=$(cat .gpu-check/built-at)
    if [ "$built_at" != "$PWD" ] && [ ! -e "$built_at" ]; then
        mkdir -p "$(dirname "$built_at")" && ln -s "$PWD" "$built_at"
    fi
    export DCGAN_BACKEND=vulkan XDG_RUNTIME_DIR=/tmp/xdg DCGAN_WGPU_CACHE_DIR="$out/cache"
    mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
    local bins=/tmp/gpu-check-bin
    mkdir -p "$bins"
    for f in .gpu-check/*.gz; do
        gunzip -c "$f" >"$bins/$(basename "$f" .gz)" && chmod +x "$bins/$(basename "$f" .gz)"
    done
    local bin=$bins/dcgan-wgpu
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$out/nvidia-smi.txt" 2>&1
    $bin adapters >"$out/adapters.txt" 2>&1

    echo "== kernel tests"
    for t in "$bins"/test-*; do
        timeout 150 "$t" --test-threads 4 >"$out/$(basename "$t").log" 2>&1
        echo "$(basename "$t") exit $?" | tee -a "$out/tests.txt"
    done

    echo "== bench"
    timeout 60 $bin bench --json --batch-size 128 --iterations 30 >"$out/bench-128.json" 2>"$out/bench-128.err"
    timeout 60 $bin bench --json --batch-size 1024 --iterations 10 >"$out/bench-1024.json" 2>"$out/bench-1024.err"

    echo "== PyTorch on the same GPU"
    timeout 60 python3 bench/pytorch_dcgan.py --device cuda --batch 128 --iterations 50 >"$out/pytorch-128.txt" 2>&1

    echo "== training at batch 128 for 4 minutes"
    # GPU_CHECK_TRAIN_S shortens it (to try the script on a machine without a GPU).
    local budget=${GPU_CHECK_TRAIN_S:-240}
    local t0=$SECONDS
    # SIGINT is the program's Ctrl-C: it stops after the current chunk with a checkpoint (130).
    timeout -s INT --preserve-status $budget $bin --iterations 20000 --batch-size 128 --eval-every 5000 \
        --checkpoint-interval 1000 --quiet --out-dir "$out/train" >"$out/train.log" 2>&1
    local train_exit=$? train_s=$((SECONDS - t0))

    python3 - "$out" "$train_exit" "$train_s" "$((SECONDS - start))" <<'PY'
import csv, json, os, re, sys
out, train_exit, train_s, total_s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def text(name):
    try:
        return open(os.path.join(out, name)).read()
    except OSError as e:
        return f"missing: {e}"
def bench(name):
    try:
        b = json.load(open(os.path.join(out, name)))
        b.pop("dispatches", None)  # the shape report stays in the file beside this one
        return b
    except Exception as e:
        return {"error": str(e), "stderr": text(name.replace(".json", ".err"))[-2000:]}
tests = {}
for line in text("tests.txt").splitlines():
    name, _, code = line.partition(" exit ")
    log = text(name + ".log")
    summary = re.findall(r"test result: .*", log)
    tests[name] = {"exit": int(code), "summary": summary, "failures": re.findall(r"---- (\S+) stdout ----", log)}
rows = []
try:
    rows = list(csv.DictReader(open(os.path.join(out, "train", "losses.csv"))))
except OSError:
    pass
torch = text("pytorch-128.txt")
m = re.search(r"median ([\d.]+) ms", torch)
result = {
    "gpu": text("nvidia-smi.txt").strip(),
    "adapters": text("adapters.txt").strip(),
    "kernel_tests": tests,
    "bench_128": bench("bench-128.json"),
    "bench_1024": bench("bench-1024.json"),
    "pytorch_128": {"output": torch.strip()[-1500:], "ms_per_iteration_median": float(m.group(1)) if m else None},
    "training": {
        "command": "dcgan-wgpu --iterations 20000 --batch-size 128 --eval-every 5000 --checkpoint-interval 1000",
        "stopped_after_s": train_s,
        "exit": train_exit,
        "completed_20000": train_exit == 0,
        "iterations_done": 20000 if train_exit == 0 else int((re.findall(r"interrupted at iteration (\d+)", text("train.log")) or ["0"])[-1]),
        "reports": [r for r in rows if r.get("fid")] + rows[-1:],
        "log_tail": text("train.log")[-3000:],
    },
    "total_s": total_s,
}
json.dump(result, open(os.path.join(out, "gpu-check.json"), "w"), indent=1)
print(json.dumps({k: result[k] for k in ("kernel_tests", "training", "total_s")}, indent=1)[:6000])
PY
}

case "${1:-}" in
prepare) prepare ;;
run) run "${2:?usage: bash bench/gpu-check.sh run OUT_DIR}" ;;
*)
    echo "usage: bash bench/gpu-check.sh prepare | run OUT_DIR" >&2
    exit 2
    ;;
esac
