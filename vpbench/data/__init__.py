"""Data: video IO, raw layouts, clip sampling, the dataset builder and VP-Synth."""
