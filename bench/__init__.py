"""Benchmarks of warroom (`make bench` runs `python -m bench`): each script is a module here.

Benchmarks print their figures; they are never timed assertions in the test suite.
"""
