"""Benchmarks run by `make bench`: each module's `main()` prints its figures as ratios against a bound."""
