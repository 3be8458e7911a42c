#!/bin/sh
# Render Alertmanager's config from its template and the environment, then run the given command (Alertmanager).
#   render.sh TEMPLATE OUTPUT [COMMAND ARGS...]
# Environment: TELEGRAM_BOT_TOKEN (from @BotFather), TELEGRAM_CHAT_ID (numeric; negative for a group),
# TELEGRAM_API_URL (optional, default https://api.telegram.org). Bad input: one line on stderr, exit 2,
# nothing written. POSIX sh (busybox in the prom/alertmanager image, dash in tests).
set -eu

fail() {
    echo "alertmanager config: $*" >&2
    exit 2
}

[ $# -ge 2 ] || fail "usage: render.sh TEMPLATE OUTPUT [COMMAND ARGS...]"
template=$1
output=$2
shift 2
[ -r "$template" ] || fail "cannot read the template $template"

token=${TELEGRAM_BOT_TOKEN:-}
chat=${TELEGRAM_CHAT_ID:-}
api=${TELEGRAM_API_URL:-https://api.telegram.org}
[ -n "$token" ] || fail "TELEGRAM_BOT_TOKEN is not set (ALERTMANAGER_TELEGRAM_BOT_TOKEN in live/.env)"
bad_token="TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then letters, digits, _ and -)"
case $token in
    *[!A-Za-z0-9:_-]*) fail "$bad_token" ;;
esac
case ${token%%:*} in
    '' | *[!0-9]*) fail "$bad_token" ;;
esac
case ${token#*:} in
    '' | *:*) fail "$bad_token" ;;
esac
[ -n "$chat" ] || fail "TELEGRAM_CHAT_ID is not set (ALERTMANAGER_TELEGRAM_CHAT_ID in live/.env)"
case $chat in
    -*) digits=${chat#-} ;;
    *) digits=$chat ;;
esac
case $digits in
    '' | *[!0-9]*) fail "TELEGRAM_CHAT_ID must be a numeric chat id like 123456789 or -1001234567890 (got '$chat')" ;;
esac
case $api in
    http://* | https://*) ;;
    *) fail "TELEGRAM_API_URL must start with http:// or https:// (got '$api')" ;;
esac
case $api in
    *[!A-Za-z0-9:/._-]*) fail "TELEGRAM_API_URL has characters a URL of the Bot API never has (got '$api')" ;;
esac
api=${api%/}
dir=$(cd "$(dirname "$template")" && pwd)

umask 077
tmp="$output.tmp.$$"
sed -e "s|@TELEGRAM_BOT_TOKEN@|$token|g" -e "s|@TELEGRAM_CHAT_ID@|$chat|g" -e "s|@TELEGRAM_API_URL@|$api|g" \
    -e "s|@CONFIG_DIR@|$dir|g" "$template" > "$tmp" || { rm -f "$tmp"; fail "cannot write $output"; }
mv "$tmp" "$output"

if [ $# -gt 0 ]; then
    exec "$@"
fi
