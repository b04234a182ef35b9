"""``python -m training.instructions``: write the instruction data (see the package docstring)."""

from training.instructions.generation import main

raise SystemExit(main())
