#!/usr/bin/env bash
# Installs Mesa 25 (lavapipe = software Vulkan, llvmpipe = software GL) from bookworm-backports,
# Debian's Fashion-MNIST for the data loader's test, and Chromium for the web page's test.
# Mesa 25 runs our storage-buffer kernels 4-6x faster than bookworm's 22.3 (shared/notes).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
if [ ! -f /etc/apt/sources.list.d/bookworm-backports.sources ]; then
  $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 libegl-mesa0 libgl1-mesa-dri >/dev/null
# Fashion-MNIST (same IDX format): the loader's test reads it.
$SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
# Chromium: the web page's test runs in it, headless, WebGPU on its bundled SwiftShader.
$SUDO apt-get install -y -qq chromium >/dev/null
