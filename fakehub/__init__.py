"""fakehub."""
