"""Privacy labels: read them from their sources as votes, and aggregate the votes.

Readers (Label Studio export, vote CSV, STPrivacy pickle, PA-HMDB51 frame
ranges) all return the same votes table; :func:`aggregate_votes` turns it into
majority labels with vote counts, ties, Fleiss' kappa and annotator agreement.
"""

from .importers import (
    VOTE_COLUMNS,
    PaHmdb51Labels,
    VotesResult,
    normalize_key,
    parse_frame_ranges,
    read_labelstudio_export,
    read_pa_hmdb51,
    read_stprivacy_pickle,
    read_vote_csv,
)
from .safe_pickle import load_label_pickle
from .votes import (
    DEFAULT_TIE_POLICY,
    TIE_POLICIES,
    Aggregate,
    aggregate_votes,
    fleiss_kappa,
    fleiss_kappa_varying,
)

__all__ = [
    "VOTE_COLUMNS",
    "DEFAULT_TIE_POLICY",
    "TIE_POLICIES",
    "Aggregate",
    "PaHmdb51Labels",
    "VotesResult",
    "aggregate_votes",
    "fleiss_kappa",
    "fleiss_kappa_varying",
    "load_label_pickle",
    "normalize_key",
    "parse_frame_ranges",
    "read_labelstudio_export",
    "read_pa_hmdb51",
    "read_stprivacy_pickle",
    "read_vote_csv",
]
