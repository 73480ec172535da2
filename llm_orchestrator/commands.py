"""Sub-commands that talk to Temporal: run, start, worker, server."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the Temporal-facing sub-commands to the CLI parser."""
