"""Pure, bounded parsers of weight-file headers (bytes in, dataclasses out; no I/O)."""
