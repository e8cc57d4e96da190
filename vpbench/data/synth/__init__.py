"""VP-Synth: procedural benchmark-shaped videos (renderer and dataset generator)."""
