# The one way scripts start the loopback identity provider (scripts/demo.sh, bench/*).
# Source it, then: `start_idp WORKDIR` (extra provider settings through the environment, e.g.
# `IDP_ACCESS_TOKEN_TTL=3600 start_idp "$work"`). Sets `issuer` and `idp_pid`; the caller's
# EXIT trap calls `stop_idp`. Fails, with the provider's stderr, if it is not ready in 30 s.

start_idp() {
    local dir=$1 here
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    [ -d "$here/node_modules/oidc-provider" ] || {
        echo "the test identity provider needs its modules: npm ci --prefix tests/idp" >&2
        return 2
    }
    node "$here/server.mjs" --port 0 >"$dir/idp.out" 2>"$dir/idp.err" &
    idp_pid=$!
    for _ in $(seq 300); do
        grep -q '^READY' "$dir/idp.out" 2>/dev/null && break
        kill -0 "$idp_pid" 2>/dev/null || break
        sleep 0.1
    done
    issuer=$(sed -n 's/^READY .*"issuer":"\([^"]*\)".*/\1/p' "$dir/idp.out")
    [ -n "$issuer" ] || {
        echo "the test identity provider did not start:" >&2
        cat "$dir/idp.err" >&2
        return 1
    }
}

stop_idp() {
    if [ -n "${idp_pid:-}" ]; then
        kill "$idp_pid" 2>/dev/null || true
        wait "$idp_pid" 2>/dev/null || true
        idp_pid=
    fi
    return 0
}
