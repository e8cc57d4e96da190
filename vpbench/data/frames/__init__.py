"""Frames for training: decoding, the clip cache, frame files, the store, clip sampling."""
