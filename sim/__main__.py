"""``python -m sim``: the same as the ``incursion`` command."""

from sim.cli import main

if __name__ == "__main__":
    main()
