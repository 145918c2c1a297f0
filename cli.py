#!/usr/bin/env python3
"""Run the `sandbox` command from a checkout: `python cli.py ...` is `sandbox ...`.

The commands live in sandbox/cli.py, so that an installed wheel adds only the `sandbox`
package to site-packages."""

from sandbox.cli import main

if __name__ == "__main__":
    main()
