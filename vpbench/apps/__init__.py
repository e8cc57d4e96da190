"""Applications of a method: anonymize your own videos, browse a dataset."""
