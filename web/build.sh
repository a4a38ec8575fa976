#!/usr/bin/env bash
# Builds the web page into web/dist (static files): the engine and the browser shell (web/src)
# for wasm32-unknown-unknown, wasm-bindgen's JavaScript glue, the page (web/www), MNIST's
# training images and the scoring classifier. Serve it with `cargo run --release -- serve`.
#
# Needs: `rustup target add wasm32-unknown-unknown` and wasm-bindgen-cli at the version of the
# wasm-bindgen crate in Cargo.lock (the script names the install command if it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

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
cp assets/mnist/train-images-idx3-ubyte.gz assets/classifier/mnist_classifier.safetensors web/dist/data/
echo "built web/dist ($(du -sh web/dist | cut -f1)); serve it with: cargo run --release -- serve"
