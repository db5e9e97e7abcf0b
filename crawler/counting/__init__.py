"""Pure counting: quantization methods, effective parameters, per-model weight figures."""
