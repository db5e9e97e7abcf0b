"""`python -m hubcensus`."""

from hubcensus.cli import app

app()
