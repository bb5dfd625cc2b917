"""How many word pieces a text component reads, chosen from the profile's text lengths."""

from __future__ import annotations

from automl.data.profile import DataProfile
from automl.space.domains import CategoricalDomain, Domain, Fixed

# English word pieces per whitespace word for BERT-style tokenisers (WordPiece on SST-2 and
# TREC sentences: 1.2-1.4).
TOKENS_PER_WORD = 1.3
LENGTHS = (32, 64, 128, 256, 512)


def covering_length(profile: DataProfile, cap: int) -> int:
    """The smallest length that holds 90% of the labelled texts whole, at most ``cap``."""
    p90 = TOKENS_PER_WORD * float(profile.extras.get("words_p90", 30.0)) + 2  # [CLS], [SEP]
    return min(next((n for n in LENGTHS if n >= p90), LENGTHS[-1]), cap)


def length_domain(profile: DataProfile, cap: int) -> CategoricalDomain:
    """The covering length and the shorter ones down to a quarter of it: reading less is
    cheaper and sometimes enough (titles, first sentences)."""
    top = covering_length(profile, cap)
    return CategoricalDomain(tuple(n for n in LENGTHS if top // 4 <= n <= top) or (top,))


def windows_domain(profile: DataProfile) -> Domain:
    """How many consecutive windows a frozen encoder averages per text: searched only when the
    texts are long (90% hold more than 256 word pieces). On Linux manual pages (median 630
    words) the mean of MiniLM windows did not beat the first window alone (0.59 vs 0.63 with a
    logistic regression), so reading more is a choice for the search, not a rule."""
    p90 = TOKENS_PER_WORD * float(profile.extras.get("words_p90", 30.0))
    return CategoricalDomain((1, 4, 8)) if p90 > 256 else Fixed(1)
