"""Training benchmark: `digits benchmark train` as a script.

    python bench/train_benchmark.py --data-dir ../shared/data/mnist --presets fast,default --seeds 0,1,2
    python bench/train_benchmark.py --data-dir ../shared/data/mnist --presets best --seeds 0

Runs already in the output folder are reused, so the second command adds `best` to the table.
"""

import sys

from digits.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", "train", *sys.argv[1:]]))
