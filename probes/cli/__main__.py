"""``python -m baton.probes.cli``: the ``baton`` command."""

from . import main

main()
