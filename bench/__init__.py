"""tablecast benchmarks: each prints its figures beside its peers' from the same run."""
