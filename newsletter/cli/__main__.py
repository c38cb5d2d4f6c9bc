"""`python -m newsletter.cli`: the `newsletter` command without the console script."""
from . import main

main()
