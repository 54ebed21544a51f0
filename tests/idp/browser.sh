#!/bin/sh
# $BROWSER for lmi tests: see browser.mjs.
exec node "$(dirname "$0")/browser.mjs" "$@"
