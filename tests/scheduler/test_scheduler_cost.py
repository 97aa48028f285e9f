"""Prefix-sum window carbon and sliding-minimum capacity equal brute force."""
import numpy as np
import pytest

from carbonshift.scheduler.cost import earliest_fit, fits, prefix, window_sums


@pytest.mark.parametrize("seed", range(5))
def test_window_sums_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    R, L = rng.integers(1, 8), rng.integers(5, 200)
    ci = rng.uniform(0, 900, (R, L))
    d = int(rng.integers(1, L + 1))
    starts = np.sort(rng.choice(L - d + 1, size=min(10, L - d + 1), replace=False))
    got = window_sums(prefix(ci), starts, d)
    want = np.array([[ci[r, s:s + d].sum() for s in starts] for r in range(R)])
    np.testing.assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_fits_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    R, L = rng.integers(1, 6), rng.integers(1, 150)
    free = rng.integers(-5, 100, (R, L))
    for d in {1, 2, int(rng.integers(1, L + 1)), L}:
        for g in (-5, 0, 50, 99, 100):             # -5: nothing short (the shortcut); 100: everything short
            want = np.array([[free[r, s:s + d].min() >= g for s in range(L - d + 1)] for r in range(R)])
            got = fits(free, g, d)
            assert got.shape == want.shape and got.dtype == bool
            np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="window"):
        fits(free, 1, L + 1)


def test_earliest_fit_brute_force():
    rng = np.random.default_rng(3)
    free = rng.integers(0, 10, (4, 60))
    earliest = np.array([0, 5, 17, 40])
    got = earliest_fit(free, 6, 4, earliest)
    for r in range(4):
        ok = [s for s in range(earliest[r], 60 - 4 + 1) if free[r, s:s + 4].min() >= 6]
        assert got[r] == (ok[0] if ok else -1)
