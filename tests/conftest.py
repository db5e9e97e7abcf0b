"""Shared test setup: the fakehub fixtures (`fakehub_server`, `fakehub_subprocess`, `hf_env`...)."""

pytest_plugins = ["hubcensus.fakehub.pytest_plugin"]
