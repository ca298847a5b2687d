"""Deciding a paper's claims from measured values, with their noise.

A claim compares a measured quantity with a threshold (the paper's own number) or with another
measured quantity. A difference smaller than the measurement's noise decides nothing, so each
quantity is an :class:`Estimate`: a mean and its standard error (SE), and each decision is
one of

- ``PASS``: the claim holds by more than two standard errors;
- ``FAIL``: it is contradicted by more than two standard errors (or exactly, when there is no
  noise);
- ``INCONCLUSIVE``: the difference lies inside ±2 SE;
- ``N/A``: the claim is about paper scale (an absolute number of the paper) and the run is not
  at paper scale (a quick preset); the measured value is still printed.

The rule is a two-sided z-test at about the 95 % level (|difference| > 2 SE, normal
approximation). Where the standard error comes from:

- several seeds: the sample standard deviation of the per-seed values / √seeds (for two
  quantities measured on the same seeds, :func:`paired_difference` uses the per-seed
  differences, which removes the noise the two share);
- one seed and a proportion over n items (an accuracy on n test images):
  the binomial SE √(p(1 − p)/n);
- one seed and per-item values (e.g. each image's perturbation norm): the SE of their mean.

With 2–3 seeds the z-approximation is liberal (Student's t would need ~4.3 SE at 3 seeds);
results print the SE so a reader can apply a stricter rule.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

import numpy as np

PASS, FAIL, INCONCLUSIVE, NOT_APPLICABLE = "PASS", "FAIL", "INCONCLUSIVE", "N/A"
VERDICTS = (PASS, FAIL, INCONCLUSIVE, NOT_APPLICABLE)
#: Standard errors a difference must clear.
Z = 2.0


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A measured quantity: ``mean`` ± ``se`` (standard error), and how the SE was obtained."""

    mean: float
    se: float
    method: str

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean) and math.isfinite(self.se) and self.se >= 0):
            raise ValueError(f"an Estimate needs a finite mean and a finite SE ≥ 0; got mean={self.mean}, se={self.se}")

    @classmethod
    def from_seeds(cls, values: Sequence[float] | Iterable[float]) -> Estimate:
        """Per-seed values (at least two): mean and sample std / √n."""
        array = _finite(values, "values")
        if len(array) < 2:
            raise ValueError(
                f"from_seeds needs at least two per-seed values; got {len(array)} (use from_proportion or "
                "from_samples for one seed)"
            )
        return cls(float(array.mean()), float(array.std(ddof=1) / math.sqrt(len(array))), f"{len(array)} seeds")

    @classmethod
    def from_proportion(cls, value: float, n: int, *, percent: bool = True) -> Estimate:
        """One proportion measured on ``n`` items (in % by default): binomial SE."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive int (the number of items); got {n!r}")
        scale = 100.0 if percent else 1.0
        p = float(value) / scale
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"a proportion must lie in [0, {scale:g}]; got {value}")
        return cls(float(value), scale * math.sqrt(p * (1 - p) / n), f"binomial, n={n}")

    @classmethod
    def from_samples(cls, samples: Sequence[float] | Iterable[float]) -> Estimate:
        """Per-item values of one run (e.g. per-image norms): their mean and its SE."""
        array = _finite(samples, "samples")
        if len(array) < 2:
            raise ValueError(f"from_samples needs at least two items; got {len(array)}")
        return cls(float(array.mean()), float(array.std(ddof=1) / math.sqrt(len(array))), f"mean of {len(array)} items")

    @classmethod
    def measure(cls, values: Sequence[float], *, n: int | None = None, percent: bool = True) -> Estimate:
        """The usual choice: :meth:`from_seeds` for several seeds, else :meth:`from_proportion`
        of the single value over ``n`` items (``n`` required then)."""
        values = list(values)
        if len(values) >= 2:
            return cls.from_seeds(values)
        if n is None:
            raise ValueError("one seed: pass n (items behind the proportion) to estimate the noise")
        return cls.from_proportion(values[0], n, percent=percent)

    def format(self, digits: int = 2) -> str:
        return f"{self.mean:.{digits}f} ± {self.se:.{digits}f} SE ({self.method})"


def paired_difference(a: Sequence[float], b: Sequence[float]) -> Estimate:
    """``a − b`` for two quantities measured on the same seeds: SE of the per-seed differences."""
    a_array, b_array = _finite(a, "a"), _finite(b, "b")
    if len(a_array) != len(b_array):
        raise ValueError(f"paired values need one a and one b per seed; got {len(a_array)} and {len(b_array)}")
    estimate = Estimate.from_seeds(a_array - b_array)
    return dataclasses.replace(estimate, method=f"paired, {estimate.method}")


def difference(a: Estimate, b: Estimate) -> Estimate:
    """``a − b`` for independent estimates: SEs added in quadrature."""
    return Estimate(a.mean - b.mean, math.hypot(a.se, b.se), f"{a.method} − {b.method}")


def compare(
    a: Sequence[float], b: Sequence[float], *, n: int | None = None, paired: bool = True, percent: bool = True
) -> Estimate:
    """``a − b`` for two measured quantities given as per-seed values: the per-seed differences
    when both have several seeds from the same runs (``paired``), independent seed spreads when
    not paired, or two proportions over ``n`` items each with one seed."""
    a, b = list(a), list(b)
    if len(a) >= 2 and len(b) >= 2:
        return paired_difference(a, b) if paired else difference(Estimate.from_seeds(a), Estimate.from_seeds(b))
    return difference(Estimate.measure(a, n=n, percent=percent), Estimate.measure(b, n=n, percent=percent))


@dataclasses.dataclass(frozen=True)
class Decision:
    """A verdict and the rule that gave it, in words."""

    verdict: str
    rule: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}; got {self.verdict!r}")


def at_least(estimate: Estimate, threshold: float) -> Decision:
    """The claim "quantity ≥ threshold"."""
    low, high = estimate.mean - Z * estimate.se, estimate.mean + Z * estimate.se
    verdict = PASS if low >= threshold else FAIL if high < threshold else INCONCLUSIVE
    return Decision(
        verdict,
        f"{estimate.format()} vs ≥ {threshold:g}: PASS if mean − 2 SE ≥ threshold, FAIL if mean + 2 SE < threshold",
    )


def at_most(estimate: Estimate, threshold: float) -> Decision:
    """The claim "quantity ≤ threshold"."""
    low, high = estimate.mean - Z * estimate.se, estimate.mean + Z * estimate.se
    verdict = PASS if high <= threshold else FAIL if low > threshold else INCONCLUSIVE
    return Decision(
        verdict,
        f"{estimate.format()} vs ≤ {threshold:g}: PASS if mean + 2 SE ≤ threshold, FAIL if mean − 2 SE > threshold",
    )


def greater(diff: Estimate) -> Decision:
    """The claim "a > b", given ``diff`` = a − b (:func:`difference` or :func:`paired_difference`).

    PASS if the difference clears +2 SE; FAIL if it is ≤ −2 SE away from 0 on the other side
    (or not positive at all when there is no noise); otherwise INCONCLUSIVE.
    """
    low, high = diff.mean - Z * diff.se, diff.mean + Z * diff.se
    verdict = PASS if low > 0 else FAIL if high <= 0 else INCONCLUSIVE
    return Decision(
        verdict, f"difference {diff.format()}: PASS if > 2 SE above 0, FAIL if ≥ 2 SE below (or ≤ 0 without noise)"
    )


def all_of(decisions: Sequence[Decision]) -> Decision:
    """Several sub-claims that must all hold: FAIL if any fails, PASS if all pass, else INCONCLUSIVE."""
    decisions = list(decisions)
    if not decisions:
        raise ValueError("all_of needs at least one decision")
    verdicts = [d.verdict for d in decisions]
    if FAIL in verdicts:
        verdict = FAIL
    elif all(v == PASS for v in verdicts):
        verdict = PASS
    elif NOT_APPLICABLE in verdicts and all(v in (PASS, NOT_APPLICABLE) for v in verdicts):
        verdict = NOT_APPLICABLE
    else:
        verdict = INCONCLUSIVE
    return Decision(verdict, "all of: " + "; ".join(f"[{d.verdict}] {d.rule}" for d in decisions))


def at_scale(decision: Decision, paper_scale: bool) -> Decision:
    """A claim about the paper's absolute numbers: its verdict only at paper scale; ``N/A``
    (with the would-be verdict in the rule) on a smaller preset."""
    if paper_scale:
        return decision
    return Decision(
        NOT_APPLICABLE,
        f"n/a at this scale (paper preset decides; here it would be {decision.verdict}): {decision.rule}",
    )


def _finite(values: Iterable[float], name: str) -> np.ndarray:
    array = np.asarray(list(values), dtype=np.float64)
    if array.ndim != 1 or not np.isfinite(array).all():
        raise ValueError(f"{name} must be a 1-D sequence of finite numbers; got {array.tolist()}")
    return array
