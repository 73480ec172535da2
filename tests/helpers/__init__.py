"""Shared test helpers: starting runs and reading their outcome (`runs`), pointing
providers at a loopback vendor (`providers`), free ports (`net`), run contexts built
like the interpreter builds them (`run_context`) and a pure scheduler driver
(`scheduling`). Fixtures live in ``tests/conftest.py``."""
