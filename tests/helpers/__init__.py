"""Shared test helpers: run contexts built like the interpreter builds them, and a
pure scheduler driver."""
