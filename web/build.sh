#!/usr/bin/env bash
# Builds the web page into web/dist (static files): the engine and the browser shell (web/src)
# for wasm32-unknown-unknown, wasm-bindgen's JavaScript glue, the page (web/www), MNIST's
# training images and labels and the scoring classifier. Serve it with `cargo run --release -- serve`.
#
# `--if-stale`: only when web/dist was not built from the sources as they are now (the browser
# tests run it once per `cargo test`). web/dist/.inputs holds the sources' fingerprint.
#
# Needs: `rustup target add wasm32-unknown-unknown` and wasm-bindgen-cli at the version of the
# wasm-bindgen crate in Cargo.lock (the script names the install command if it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

fingerprint=$(find src shaders web/src web/www web/Cargo.toml web/build.sh Cargo.toml Cargo.lock \
    assets/mnist/train-images-idx3-ubyte.gz assets/mnist/train-labels-idx1-ubyte.gz \
    assets/classifier/mnist_classifier.safetensors -type f \
  | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
if [ "${1:-}" = --if-stale ] && [ -f web/dist/pkg/dcgan_web_bg.wasm ] \
  && [ "$(cat web/dist/.inputs 2>/dev/null)" = "$fingerprint" ]; then
  exit 0
fi
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "web/build.sh: needs the wasm32 target: rustup target add wasm32-unknown-unknown" >&2
  exit 1
fi

version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$version" ]; then
  echo "web/build.sh: needs wasm-bindgen-cli $version: cargo install wasm-bindgen-cli --version $version" >&2
  exit 1
fi

cargo build --release --target wasm32-unknown-unknown -p dcgan-web
rm -rf web/dist
mkdir -p web/dist/pkg web/dist/data
wasm-bindgen --target web --no-typescript --out-dir web/dist/pkg \
  target/wasm32-unknown-unknown/release/dcgan_web.wasm
cp web/www/index.html web/www/app.js web/dist/
cp assets/mnist/train-images-idx3-ubyte.gz assets/mnist/train-labels-idx1-ubyte.gz \
  assets/classifier/mnist_classifier.safetensors web/dist/data/
echo "$fingerprint" > web/dist/.inputs
echo "built web/dist ($(du -sh web/dist | cut -f1)); serve it with: cargo run --release -- serve"
