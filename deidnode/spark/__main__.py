"""``spark-submit .../deidnode/spark/__main__.py SRC... --out DST [--key-file ...]``: the job under spark-submit,
with the master and every other setting from spark-submit (cluster deploy mode on YARN or Kubernetes)."""

import sys

from deidnode.cli import main

if __name__ == "__main__":
    sys.exit(main(["deid", "--spark", "", *sys.argv[1:]]))
