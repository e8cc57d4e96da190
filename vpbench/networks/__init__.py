"""Neural networks: the evaluation recognizers (and, later, the learned methods' networks)."""
