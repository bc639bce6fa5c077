"""A large simulated book, made and written part by part within a fixed memory bound.

Loans are simulated independently of each other, so a book of any size can be made in
parts of ``batch_rows`` loans. Part ``k`` draws from its own stream, spawned from the
book's seed, and is numbered as the whole book is (``LN00000001`` ... for 20 million
loans). The same seed and part size give the same book, byte for byte; a book made in
parts differs from one made in one go with the same seed, because its draws are
partitioned differently.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError
from loan_recovery.simulation.portfolio import (
    DEFAULT_VARIANT,
    SimulatedPortfolio,
    identifiers,
    simulate_portfolio,
)


def part_sizes(n_loans: int, batch_rows: int) -> list[int]:
    """Loans per part: full parts of ``batch_rows``, the last holding the rest."""
    if n_loans < 1 or batch_rows < 1:
        raise ConfigError(
            f"a simulated book needs at least 1 loan and 1 loan per part; got {n_loans} "
            f"loans in parts of {batch_rows}."
        )
    full, rest = divmod(n_loans, batch_rows)
    return [batch_rows] * full + ([rest] if rest else [])


def simulate_book(
    n_loans: int,
    seed: int,
    *,
    batch_rows: int,
    settings: Settings,
    epsilon: float | None = None,
    variant: str = DEFAULT_VARIANT,
) -> Iterator[SimulatedPortfolio]:
    """The book's parts in order, each a :class:`SimulatedPortfolio` of its loans."""
    sizes = part_sizes(n_loans, batch_rows)
    streams = np.random.SeedSequence(seed).spawn(len(sizes))
    first = 1
    for size, stream in zip(sizes, streams, strict=True):
        part_seed = int(stream.generate_state(1, dtype=np.uint32)[0])
        part = simulate_portfolio(
            size, part_seed, settings=settings, epsilon=epsilon, variant=variant
        )
        yield _numbered(part, first, n_loans)
        first += size


def _numbered(part: SimulatedPortfolio, first: int, book_size: int) -> SimulatedPortfolio:
    """The part with loan and borrower keys numbered in the whole book."""
    size = len(part.loans)
    loan_ids = identifiers("LN", size, first=first, book_size=book_size)
    borrower_ids = identifiers("BRW", size, first=first, book_size=book_size)
    loans = part.loans.assign(
        **{
            schema.LOAN_ID: loan_ids.set_axis(part.loans.index),
            schema.BORROWER_ID: borrower_ids.set_axis(part.loans.index),
        }
    )
    truth = part.truth.assign(**{schema.LOAN_ID: loan_ids.set_axis(part.truth.index)})
    return SimulatedPortfolio(loans=loans, truth=truth)
