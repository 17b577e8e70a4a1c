"""The invariants of tests/test_method_invariants.py for today's methods (margin, entropy,
BADGE, TypiClust, BASE), in a module of their own so that the test runner spreads the two
halves over two workers. Four of the five share Core-set's chain of steps: two drawn cases
each beside the three fixed ones."""

from test_method_invariants import TODAY_KINDS, image_store, invariant_tests  # noqa: F401

test_round_invariants, test_same_seed_byte_identical_files = invariant_tests(
    TODAY_KINDS, max_examples=2
)
