"""`python -m jaxae ...` is the `jaxae` command."""
import sys

from jaxae.apps.cli import main

sys.exit(main())
