"""Core: errors, the registry, atomic writes, attributes, configs, the device and DDP, checkpoints."""
