"""Allow `python -m waystation`."""

from waystation.cli import main

main()
