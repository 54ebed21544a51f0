# The two entry points the README names: `make demo` and `make test`.
# Build output lives in $CARGO_TARGET_DIR (default: target/ in the repo).

CARGO_TARGET_DIR ?= $(CURDIR)/target
export CARGO_TARGET_DIR
WASM_DIR := $(CARGO_TARGET_DIR)/wasm32-wasip2/plugin

# Each plugin directory gets its component beside its manifest (`component = "<name>.wasm"`).
PLUGINS := plugins/hello plugins/api plugins/status-page tests/plugins/hostile tests/plugins/wrong-world tests/plugins/minimal

.PHONY: plugins host test demo lint bench idp check-platforms package

plugins:
	cargo build --profile plugin --target wasm32-wasip2 $(foreach p,$(PLUGINS),-p $(notdir $(p)))
	@for p in $(PLUGINS); do n=$$(basename $$p); lib=$$(echo $$n | tr - _); \
	  if [ -f "$(WASM_DIR)/$$lib.wasm" ]; then cp "$(WASM_DIR)/$$lib.wasm" "$$p/$$n.wasm"; else cp "$(WASM_DIR)/$$n.wasm" "$$p/$$n.wasm"; fi; done

host:
	cargo build -p lmi

# The loopback OpenID provider and browser driver the tests start (npm, from the lockfile).
idp: tests/idp/node_modules/.package-lock.json
tests/idp/node_modules/.package-lock.json: tests/idp/package-lock.json
	npm ci --prefix tests/idp --no-audit --no-fund

# Every test: unit, SDK, plugin and end-to-end (real binary, real wasm, real IdP, real
# Secret Service in a private D-Bus session).
test: plugins idp
	cargo build -p lmi
	scripts/with-keyring cargo test --workspace

# Build everything, install the example plugins into a throw-away home, run them against a
# local identity provider.
demo: plugins idp
	cargo build -p lmi
	scripts/demo.sh

bench: plugins
	bench/dispatch.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# The SDK as third parties get it: `cargo package` lists what it ships (src/, wit/, README)
# and builds the unpacked package on its own, into $(CARGO_TARGET_DIR) (about 30 s cold on
# 2 cores, a second when warm). The scaffold test builds a new plugin against the package.
# lmi itself the same way (src/, wit/, build.rs, dispatch.order): the unpacked package must
# build with nothing from the rest of the repository (about 2.5 min cold on 2 cores, 30 s
# when only lmi changed).
package:
	cargo package -p lmi-plugin-sdk --locked --allow-dirty
	cargo package -p lmi --locked --allow-dirty

# The host compiles for the platforms the README claims, not only this one: Windows with
# Debian's mingw-w64 for ring's C code (about 3 min cold on 2 cores, seconds when warm).
# macOS is not checked: ring's C includes the Apple SDK's <TargetConditionals.h>, which no
# Debian package ships (with clang as the C compiler the build script stops there).
check-platforms:
	rustup target add x86_64-pc-windows-gnu
	cargo check -p lmi --target x86_64-pc-windows-gnu
