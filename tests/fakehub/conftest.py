"""fakehub tests use the fixtures of fakehub.pytest_plugin."""

from hubcensus.fakehub.pytest_plugin import fakehub_server, fakehub_subprocess, fixtures_hub, hf_env

__all__ = ["fakehub_server", "fakehub_subprocess", "fixtures_hub", "hf_env"]
