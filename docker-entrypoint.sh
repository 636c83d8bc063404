#!/usr/bin/env bash
# Entry point of the task image. Slicer CLI Web calls it as
#   <image> --list_cli                      -> the JSON list of CLIs (cli_list.json)
#   <image> EmbeddingSimilarity --xml       -> the CLI's XML
#   <image> EmbeddingSimilarity <args...>   -> a run
# It runs from the folder holding cli_list.json, wherever it is called from. cli_list.json is the
# one list of CLIs; slicer_cli_list.json is a symlink to it because slicer_cli_web's
# cli_list_entrypoint (below) reads that name from the working folder.
#
# A listed CLI is exec'd directly (what slicer_cli_web.cli_list_entrypoint would run as a child):
# `docker stop` (a cancelled job) signals only PID 1, so the CLI must be PID 1 to receive SIGTERM
# and keep its finished embeddings. Anything else goes to cli_list_entrypoint, which answers
# --list_cli and explains unknown names.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
python="${PYTHON:-python}"
cli="${1:-}"
if [ -n "$cli" ] && [ "${cli#-}" = "$cli" ] && [ -f "$cli/$cli.py" ] \
        && "$python" -c 'import json, sys; sys.exit(sys.argv[1] not in json.load(open("cli_list.json")))' "$cli"; then
    shift
    exec "$python" "$cli/$cli.py" "$@"
fi
exec "$python" -m slicer_cli_web.cli_list_entrypoint "$@"
