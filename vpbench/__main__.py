"""``python -m vpbench`` (and ``torchrun -m vpbench evaluate ...``): the ``vpbench`` command."""

from .cli import main

main()
