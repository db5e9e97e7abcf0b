"""fakehub: a local emulator of the Hugging Face Hub HTTP API for tests, benchmarks and demos.

    >>> import fakehub
    >>> with fakehub.start(fakehub.FakeHubConfig(synthetic=1000, seed=1)) as hub:
    ...     HfApi(endpoint=hub.url).list_models(limit=5)
"""

from hubcensus.fakehub.app import FakeHubConfig, RunningHub, build_catalog, start
from hubcensus.fakehub.catalog import Catalog
from hubcensus.fakehub.faults import FaultConfig

__all__ = ["Catalog", "FakeHubConfig", "FaultConfig", "RunningHub", "build_catalog", "start"]
