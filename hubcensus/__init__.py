"""hubcensus."""
