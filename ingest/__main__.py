import sys

from ingest.cli import main

# The guard matters: the parser's child process re-imports this module under another name.
if __name__ == "__main__":
    sys.exit(main())
