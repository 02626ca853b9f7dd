"""tablecast: share a TSV or CSV table live. Upload it, get a link, browse it together."""

import os

__version__ = "0.1.0"

# numpy asks the kernel for huge pages for each array of 4 MB or more, and where the kernel
# compacts memory to find one when such an array is first touched (Debian's default,
# defrag=madvise), a fresh array can wait: on the benchmark machine a 1M-row profile took
# 95-176 ms warm with them, 69-101 without (docs/performance.md). Read when numpy is first
# imported, which the server does after this; an operator's own setting stands.
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
