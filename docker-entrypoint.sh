#!/usr/bin/env bash
# Entry point of the task image. Slicer CLI Web calls it as
#   <image> --list_cli                      -> the JSON list of CLIs (cli_list.json)
#   <image> EmbeddingSimilarity --xml       -> the CLI's XML
#   <image> EmbeddingSimilarity <args...>   -> a run
# It runs from the folder holding cli_list.json, wherever it is called from.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
exec "${PYTHON:-python}" -m slicer_cli_web.cli_list_entrypoint "$@"
