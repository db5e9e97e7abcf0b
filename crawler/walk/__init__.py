"""The listing walk: normalizing items, fetching pages ahead of the store."""
