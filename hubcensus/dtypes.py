"""The safetensors dtype vocabulary: spellings and storage widths in bits.

Lives in `db` because the spellings are part of the SQL interface (the `dtype`
column everywhere) and both `crawler` and `analysis` may import `db`.
"""

from __future__ import annotations

DTYPE_BITS: dict[str, int] = {
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E4M3": 8,
    "F8_E5M2": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "F16": 16,
    "BF16": 16,
    "I16": 16,
    "U16": 16,
    "F32": 32,
    "I32": 32,
    "U32": 32,
    "F64": 64,
    "I64": 64,
    "U64": 64,
    "C64": 64,
}

FLOAT8_DTYPES = frozenset({"F8_E4M3", "F8_E5M2", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ"})


def dtype_bits(dtype: str) -> int | None:
    """Storage width of one element in bits, or None for a dtype we do not know."""
    return DTYPE_BITS.get(dtype)


def storage_bytes(dtype: str, parameters: int) -> int | None:
    """Bytes that `parameters` elements of `dtype` occupy on disk (rounded up), None if unknown."""
    bits = DTYPE_BITS.get(dtype)
    if bits is None:
        return None
    return (parameters * bits + 7) // 8


def memory_bytes(weight_bytes: int | None, effective_parameters: int | None) -> dict[str, int | None]:
    """Bytes to hold the weights as stored and if cast to bf16 / fp8 / 4-bit (weights only, no overhead)."""
    effective = effective_parameters
    return {
        "as_stored": weight_bytes,
        "bf16": None if effective is None else effective * 2,
        "fp8": effective,
        "int4": None if effective is None else (effective + 1) // 2,
    }
