"""The speed benchmark (same as ``vabal bench``): prints one line per measurement.

    python bench/speed.py                         # paper sizes on CUDA, small ones on a CPU
    python bench/speed.py --sections train round  # some sections only
    python bench/speed.py --sections accuracy --store results/data/cifar10
    python bench/speed.py -h

See docs/performance.md for what each line measures and the figures measured so far.
"""

import sys

from vabal.bench import main

if __name__ == "__main__":
    sys.exit(main())
