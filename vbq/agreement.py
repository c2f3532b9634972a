"""Reader agreement for VBQ: ICC, Bland-Altman limits and kappa on clinical cut-offs.

A VBQ depends on where a person draws the ROIs, so reader studies report how
far two readings of the same MRI agree. This module takes a long table of
readings (one row per subject x reader [x occasion]) and gives:

- :func:`icc`: the six intraclass correlations of Shrout & Fleiss (1979) as
  R's ``psych::ICC(x, lmer = FALSE)`` reports them, each also named as in
  McGraw & Wong (1996), with F test and 95% CI;
- :func:`measurement_error`: within-subject SD, repeatability coefficient,
  SEM and MDC95 from the same two-way ANOVA;
- :func:`bland_altman`: bias and 95% limits of agreement with their CIs for
  each pair of readers, and the proportional-bias regression;
- :func:`kappa`: agreement on the clinical decision (VBQ >= cut-off), Cohen's
  kappa for two readers and Fleiss' for more, with percent agreement and
  PABAK, and a linear-weighted kappa over the ordered categories when there
  are two or more cut-offs;
- :func:`analyze`: all of these, inter-reader and, for every reader who read
  the subjects more than once, intra-reader, as an :class:`AgreementResult`.

Each function returns a tidy :class:`pandas.DataFrame`. Warnings (subjects
left out because a reader did not read them, an undefined kappa, a negative
variance estimate, readers who agree exactly) are carried in ``DataFrame.attrs["warnings"]`` with a
stable code for each in ``attrs["warning_codes"]``, and on the result.

Examples
--------
The table of Shrout & Fleiss (1979): six subjects, four judges.

>>> import pandas as pd
>>> wide = pd.DataFrame({"J1": [9, 6, 8, 7, 10, 6], "J2": [2, 1, 4, 1, 5, 2],
...                      "J3": [5, 3, 6, 2, 6, 4], "J4": [8, 2, 8, 6, 9, 7]})
>>> long = wide.rename_axis("subject").reset_index().melt(
...     id_vars="subject", var_name="reader", value_name="vbq")
>>> table = icc(long, subject="subject", rater="reader", value="vbq")
>>> print(table[["type", "mcgraw_wong", "icc"]].round(4).to_string(index=False))
 type mcgraw_wong    icc
 ICC1      ICC(1) 0.1657
 ICC2    ICC(A,1) 0.2898
 ICC3    ICC(C,1) 0.7148
ICC1k      ICC(k) 0.4428
ICC2k    ICC(A,k) 0.6201
ICC3k    ICC(C,k) 0.9093

References
----------
Shrout PE, Fleiss JL. Intraclass correlations: uses in assessing rater
reliability. Psychol Bull. 1979;86(2):420-428.

McGraw KO, Wong SP. Forming inferences about some intraclass correlation
coefficients. Psychol Methods. 1996;1(1):30-46.

Koo TK, Li MY. A guideline of selecting and reporting intraclass
correlation coefficients for reliability research. J Chiropr Med.
2016;15(2):155-163.

Bland JM, Altman DG. Statistical methods for assessing agreement between two
methods of clinical measurement. Lancet. 1986;1(8476):307-310.

Bland JM, Altman DG. Measurement error. BMJ. 1996;313(7059):744.

Bland JM, Altman DG. Measuring agreement in method comparison studies. Stat
Methods Med Res. 1999;8(2):135-160.

Cohen J. A coefficient of agreement for nominal scales. Educ Psychol Meas.
1960;20(1):37-46.

Fleiss JL, Cohen J, Everitt BS. Large sample standard errors of kappa and
weighted kappa. Psychol Bull. 1969;72(5):323-327.

Fleiss JL. Measuring nominal scale agreement among many raters. Psychol
Bull. 1971;76(5):378-382.

Byrt T, Bishop J, Carlin JB. Bias, prevalence and kappa. J Clin Epidemiol.
1993;46(5):423-429.

Gwet KL. Handbook of Inter-Rater Reliability, 4th ed. Advanced Analytics;
2014 (chapter 2: weighted kappa for many raters).

de Vet HCW, Terwee CB, Knol DL, Bouter LM. When to use agreement versus
reliability measures. J Clin Epidemiol. 2006;59(10):1033-1039.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vbq.errors import AnalysisError, InputError
from vbq.fileio import shown_text

__all__ = ["ICC_FORMS", "UNEDITED_PROVENANCE", "AgreementResult", "read_readings", "icc",
           "measurement_error", "bland_altman", "kappa", "analyze", "plot_bland_altman"]

#: The six ICC forms in psych's order: psych type, Shrout-Fleiss name,
#: McGraw-Wong name, model.
ICC_FORMS: tuple[tuple[str, str, str, str], ...] = (
    ("ICC1", "ICC(1,1)", "ICC(1)", "one-way random, single rater"),
    ("ICC2", "ICC(2,1)", "ICC(A,1)", "two-way random, absolute agreement, single rater"),
    ("ICC3", "ICC(3,1)", "ICC(C,1)", "two-way mixed, consistency, single rater"),
    ("ICC1k", "ICC(1,k)", "ICC(k)", "one-way random, mean of k raters"),
    ("ICC2k", "ICC(2,k)", "ICC(A,k)", "two-way random, absolute agreement, mean of k raters"),
    ("ICC3k", "ICC(3,k)", "ICC(C,k)", "two-way mixed, consistency, mean of k raters"),
)

#: ``roi_provenance`` values (case-insensitive) that mark a reading whose ROIs
#: are an automatic proposal accepted without editing.
UNEDITED_PROVENANCE: frozenset[str] = frozenset(
    {"proposal", "proposed", "unedited", "unedited_proposal", "accepted_proposal"})



def unedited_provenance(value: str) -> bool:
    """Whether a ``roi_provenance`` cell marks a reading made of unedited proposals.

    Either one of :data:`UNEDITED_PROVENANCE`, or the workstation's per-ROI form
    ``L1:accepted_proposal;L2:edited_proposal;...`` with every ROI one of them.

    Examples
    --------
    >>> unedited_provenance("accepted_proposal"), unedited_provenance("L1:proposal;CSF:proposal")
    (True, True)
    >>> unedited_provenance("L1:accepted_proposal;L2:edited_proposal"), unedited_provenance("")
    (False, False)
    """
    text = value.strip().lower()
    if text in UNEDITED_PROVENANCE:
        return True
    parts = [p.partition(":") for p in text.split(";") if p.strip()]
    return bool(parts) and all(sep and how.strip() in UNEDITED_PROVENANCE
                               for _, sep, how in parts)


#: z quantile of the 95% limits of agreement (Bland & Altman 1986).
_Z_LOA = 1.96
#: 1.96 x sqrt(2), the "2.77" of the repeatability coefficient and MDC95.
_Z_SQRT2 = 1.96 * math.sqrt(2.0)

# warning codes
UNBALANCED = "unbalanced"
KAPPA_UNDEFINED = "kappa_undefined"
UNEDITED_PROPOSALS = "unedited_proposals"
NEGATIVE_VARIANCE = "negative_variance"
ICC_UNDEFINED = "icc_undefined"
BOOTSTRAP_UNDEFINED = "bootstrap_undefined"
TOO_FEW_FOR_REGRESSION = "too_few_pairs"
KAPPA_DEGENERATE = "kappa_degenerate"
EXACT_AGREEMENT = "exact_agreement"
CONSTANT_DIFFERENCE = "constant_difference"


# --------------------------------------------------------------------------- helpers


def _attach(df: pd.DataFrame, warnings: list[str], codes: list[str]) -> pd.DataFrame:
    df.attrs["warnings"] = list(warnings)
    df.attrs["warning_codes"] = list(codes)
    return df


def _sort_labels(labels: Sequence[str]) -> list[str]:
    """Sort labels numerically when every one is a number, else as text."""
    labels = list(dict.fromkeys(labels))
    try:
        return sorted(labels, key=lambda s: (float(s), s))
    except ValueError:
        return sorted(labels)


def _name_some(items: Sequence[str], most: int = 10) -> str:
    shown = ", ".join(str(i) for i in items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


def _wide(df: pd.DataFrame, subject: str, rater: str, value: str) -> pd.DataFrame:
    """One row per subject (in order of first appearance), one column per rater (sorted)."""
    missing = [c for c in (subject, rater, value) if c not in df.columns]
    if missing:
        raise InputError(f"no column {missing[0]!r} in the readings (columns: "
                         f"{', '.join(map(str, df.columns))})")
    data = df[[subject, rater, value]].copy()
    data[subject] = data[subject].astype(str)
    data[rater] = data[rater].astype(str)
    dup = data.duplicated([subject, rater], keep=False)
    if dup.any():
        first = data[dup].iloc[0]
        raise InputError(f"subject {first[subject]!r} has more than one reading by "
                         f"{rater} {first[rater]!r}")
    vals = pd.to_numeric(data[value], errors="coerce")
    if vals.isna().any() and data[value].notna()[vals.isna()].any():
        bad = data[value][vals.isna() & data[value].notna()].iloc[0]
        raise InputError(f"column {value!r}: {shown_text(str(bad))!r} is not a number")
    data[value] = vals.astype(float)
    data = data[data[value].notna()]
    subjects = list(dict.fromkeys(data[subject]))
    raters = _sort_labels(list(data[rater]))
    return data.pivot(index=subject, columns=rater, values=value).reindex(
        index=subjects, columns=raters)


def _complete(w: pd.DataFrame, what: str, rater: str) -> tuple[pd.DataFrame, list[str], list[str],
                                                             list[str]]:
    """Drop subjects not read by every rater; return the rest, the dropped, and a warning."""
    incomplete = [str(s) for s in w.index[w.isna().any(axis=1)]]
    warnings: list[str] = []
    codes: list[str] = []
    if incomplete:
        warnings.append(f"{what}: {len(incomplete)} of {len(w)} subjects were not read by "
                        f"every {rater} and are left out of the ICC and kappa: "
                        f"{_name_some(incomplete)}")
        codes.append(UNBALANCED)
    return w.dropna(axis=0, how="any"), incomplete, warnings, codes


def _check_shape(x: np.ndarray, what: str, rater: str) -> None:
    n, k = x.shape
    if k < 2:
        raise AnalysisError(f"{what}: only one {rater}; agreement needs at least two")
    if n < 2:
        raise AnalysisError(f"{what}: only {n} subject(s) read by every {rater}; "
                            "at least two are needed")


def _icc_warnings(x: np.ndarray, icc_t: pd.DataFrame, what: str, rater: str
                  ) -> tuple[list[str], list[str]]:
    """Return the warnings on the ICC table of ``x`` and their codes."""
    warnings: list[str] = []
    codes: list[str] = []
    plural = f"{rater}s" if rater != "occasion" else "occasions"
    if _agree_exactly(x):
        tests = ("the F tests are infinite (null, p = 0)" if np.ptp(x) > 0
                 else "the F tests are undefined (null)")
        each = f"on every {rater}" if rater == "occasion" else f"from every {rater}"
        warnings.append(f"{what}: the {plural} agree exactly (every subject has the same "
                        f"reading {each}): the residual and between-{rater} "
                        f"variances are 0, {tests} and the limits of agreement have zero "
                        "width")
        codes.append(EXACT_AGREEMENT)
    elif _constant_difference(x):
        warnings.append(f"{what}: the {plural} differ by the same amount on every subject: "
                        "the residual variance is 0, ICC(C,1) is 1 and the F test of the "
                        "two-way forms is infinite (null, p = 0)")
        codes.append(CONSTANT_DIFFERENCE)
    if icc_t["icc"].isna().any():
        if np.ptp(x.mean(axis=1)) == 0:
            warnings.append(f"{what}: every subject has the same mean reading (between-subject "
                            "variance 0); the ICC is undefined (null)")
        else:
            warnings.append(f"{what}: every subject has the same readings; the ICC is "
                            "undefined (null)")
        codes.append(ICC_UNDEFINED)
    return warnings, codes


# --------------------------------------------------------------------------- ICC


@dataclass(frozen=True)
class _Anova:
    """Mean squares of the two-way ANOVA without interaction (subjects x raters)."""

    n: int
    k: int
    msb: float  # between subjects
    msw: float  # within subjects (one-way: raters + error)
    msj: float  # between raters (judges)
    mse: float  # residual


def _agree_exactly(x: np.ndarray) -> bool:
    """Whether every subject (row) has the same reading from every rater (column)."""
    return bool(np.all(x == x[:, :1]))


#: Residuals of the additive subjects + raters model no larger than this fraction of the
#: readings' magnitude are rounding (a reading + 0.1 is not exactly a constant apart).
_ROUNDING = 1e-12


def _constant_difference(x: np.ndarray) -> bool:
    """Whether the raters (columns) differ by one constant on every subject (row).

    Decided once, from the data, for the ICC table and Bland-Altman alike: the
    residuals of the additive model (reading - subject mean - rater mean + grand
    mean) are all within :data:`_ROUNDING` of the readings' magnitude. Exact
    agreement is the case where the constant is 0.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([1.0, 2.0, 3.0, 4.5, 2.2])
    >>> _constant_difference(np.column_stack([a, np.round(a + 0.1, 10)]))
    True
    >>> _constant_difference(np.column_stack([a, a * 1.1]))
    False
    """
    r = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + x.mean()
    return bool(np.max(np.abs(r)) <= _ROUNDING * max(1.0, float(np.max(np.abs(x)))))


def _anova(x: np.ndarray) -> _Anova:
    n, k = x.shape
    grand = x.mean()
    ss_b = k * float(((x.mean(axis=1) - grand) ** 2).sum())
    ss_t = float(((x - grand) ** 2).sum())
    if _agree_exactly(x):
        # no rater or residual variation at all: exactly 0, not rounding noise
        ss_j = ss_e = 0.0
    else:
        ss_j = n * float(((x.mean(axis=0) - grand) ** 2).sum())
        # a constant difference leaves no residual: exactly 0, not the rounding of ss_t - ...
        ss_e = 0.0 if _constant_difference(x) else max(ss_t - ss_b - ss_j, 0.0)
    return _Anova(n=n, k=k, msb=ss_b / (n - 1), msw=(ss_j + ss_e) / (n * (k - 1)),
                  msj=ss_j / (k - 1), mse=ss_e / ((n - 1) * (k - 1)))


def _div(a: float, b: float) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(a) / np.float64(b))


def _ratio(a: float, b: float) -> float:
    """Return ``a / b`` for an ICC: NaN when ``b`` is 0 (0/0 or a finite over 0 alike)."""
    return math.nan if b == 0 else float(a) / float(b)


def _f_sf(f: float, df1: float, df2: float) -> float:
    """Upper tail of F(df1, df2) at ``f``: 0 at +inf, NaN when ``f`` is NaN."""
    from scipy import stats

    if math.isnan(f):
        return math.nan
    if math.isinf(f):
        return 0.0
    return float(stats.f.sf(f, df1, df2))


def _step(f: float, k: int) -> float:
    """``(f - 1) / (f + k - 1)``, the ICC bound of an F bound; 1 at ``f`` = +inf (its limit)."""
    if math.isinf(f) and f > 0:
        return 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return float((np.float64(f) - 1) / (np.float64(f) + k - 1))


def icc_matrix(x: np.ndarray, alpha: float = 0.05) -> pd.DataFrame:
    """Compute the six ICCs of a complete subjects x raters matrix, as psych does.

    Parameters
    ----------
    x
        Array of shape (n subjects, k raters) without missing values;
        n >= 2, k >= 2.
    alpha
        1 - confidence level of the intervals.

    Returns
    -------
    pandas.DataFrame
        One row per form (``ICC1``, ``ICC2``, ``ICC3``, ``ICC1k``, ``ICC2k``,
        ``ICC3k``), columns ``type``, ``shrout_fleiss``, ``mcgraw_wong``,
        ``model``, ``icc``, ``F``, ``df1``, ``df2``, ``p``, ``lower``,
        ``upper``, ``n_subjects``, ``n_raters``. Undefined values are NaN
        (see Notes).

    Notes
    -----
    With mean squares MSB (subjects), MSW (within subjects), MSJ (raters)
    and MSE (residual) of n subjects and k raters:
    ICC(1) = (MSB - MSW) / (MSB + (k-1) MSW);
    ICC(A,1) = (MSB - MSE) / (MSB + (k-1) MSE + k (MSJ - MSE) / n);
    ICC(C,1) = (MSB - MSE) / (MSB + (k-1) MSE), and the k-rater forms
    without the (k-1) terms. The F tests are MSB/MSW on (n-1, n(k-1)) df
    and MSB/MSE on (n-1, (n-1)(k-1)) df; the intervals are the exact F
    intervals for ICC(1), ICC(C,1) and their k forms, and for ICC(A,1) the
    approximate interval with Satterthwaite's df (McGraw & Wong 1996, table
    7), whose Spearman-Brown step-up gives that of ICC(A,k). A negative
    between-rater variance estimate (MSJ < MSE) is used as it is, as psych
    does.

    A residual mean square of 0 (the raters agree exactly, or differ by
    the same amount on every subject) makes F = MSB/MSE infinite: ``F`` is
    then ``inf`` (null in JSON) and ``p`` = 0, and each interval takes its
    limit as F grows: 1 to 1 for ICC(C,1) and ICC(C,k) and, when the raters
    agree exactly (MSJ = MSE = MSW = 0), for every form, whose ICC is then
    1. For ICC(A,1) with MSJ > 0 = MSE, Satterthwaite's df take their limit
    k - 1. When the subjects do not differ either (MSB = 0, every reading
    equal), every ICC is 0/0: NaN, as are F and p. An ICC whose denominator
    is 0 but numerator not (MSB = 0 < MSW) is NaN too, never infinite.

    References
    ----------
    Shrout PE, Fleiss JL. Psychol Bull. 1979;86(2):420-428.
    McGraw KO, Wong SP. Psychol Methods. 1996;1(1):30-46.
    """
    from scipy import stats

    x = np.asarray(x, dtype=float)
    a = _anova(x)
    n, k = a.n, a.k
    msb, msw, msj, mse = a.msb, a.msw, a.msj, a.mse
    q = 1.0 - alpha / 2.0
    icc1 = _ratio(msb - msw, msb + (k - 1) * msw)
    icc2 = _ratio(msb - mse, msb + (k - 1) * mse + k * (msj - mse) / n)
    icc3 = _ratio(msb - mse, msb + (k - 1) * mse)
    icc1k = _ratio(msb - msw, msb)
    icc2k = _ratio(msb - mse, msb + (msj - mse) / n)
    icc3k = _ratio(msb - mse, msb)
    df1, df1w, df2e = n - 1, n * (k - 1), (n - 1) * (k - 1)
    f1 = _div(msb, msw)
    f2 = _div(msb, mse)
    p1 = _f_sf(f1, df1, df1w)
    p2 = _f_sf(f2, df1, df2e)
    # exact intervals (Shrout & Fleiss 1979; McGraw & Wong 1996 table 7)
    f1_lo = f1 / stats.f.ppf(q, df1, df1w)
    f1_hi = f1 * stats.f.ppf(q, df1w, df1)
    f3_lo = f2 / stats.f.ppf(q, df1, df2e)
    f3_hi = f2 * stats.f.ppf(q, df2e, df1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ci1 = (_step(f1_lo, k), _step(f1_hi, k))
        ci3 = (_step(f3_lo, k), _step(f3_hi, k))
        ci1k = (1 - 1 / f1_lo, 1 - 1 / f1_hi)
        ci3k = (1 - 1 / f3_lo, 1 - 1 / f3_hi)
        # ICC(A,1): Satterthwaite's df for the denominator (McGraw & Wong 1996)
        if mse > 0:
            fj = msj / mse
            c = n * (1 + (k - 1) * icc2) - k * icc2
            v = ((k - 1) * (n - 1) * (k * icc2 * fj + c) ** 2
                 / ((n - 1) * k**2 * icc2**2 * fj**2 + c**2))
        elif msj > 0 and icc2 != 0:
            v = float(k - 1)  # the limit of the above as MSJ/MSE grows without bound
        else:
            v = float((k - 1) * (n - 1))  # MSJ = MSE = 0: the bounds below do not depend on v
        fu = stats.f.ppf(q, n - 1, v)
        fl = stats.f.ppf(q, v, n - 1)
        denom = k * msj + (k * n - k - n) * mse
        lo2 = n * (msb - fu * mse) / (fu * denom + n * msb)
        hi2 = n * (fl * msb - mse) / (denom + n * fl * msb)
        ci2 = (lo2, hi2)
        ci2k = (lo2 * k / (1 + lo2 * (k - 1)), hi2 * k / (1 + hi2 * (k - 1)))
    values = (icc1, icc2, icc3, icc1k, icc2k, icc3k)
    tests = ((f1, df1, df1w, p1), (f2, df1, df2e, p2), (f2, df1, df2e, p2),
             (f1, df1, df1w, p1), (f2, df1, df2e, p2), (f2, df1, df2e, p2))
    cis = (ci1, ci2, ci3, ci1k, ci2k, ci3k)
    rows = []
    for (kind, sf, mw, model), val, (fv, d1, d2, p), (lo, hi) in zip(
            ICC_FORMS, values, tests, cis, strict=True):
        rows.append({"type": kind, "shrout_fleiss": sf, "mcgraw_wong": mw, "model": model,
                     "icc": val, "F": fv, "df1": d1, "df2": d2, "p": p,
                     "lower": float(lo), "upper": float(hi), "n_subjects": n, "n_raters": k})
    return pd.DataFrame(rows)


def icc(df: pd.DataFrame, subject: str = "series_instance_uid", rater: str = "reader",
        value: str = "vbq", alpha: float = 0.05) -> pd.DataFrame:
    """Compute the six ICCs of a long table, as R's ``psych::ICC(x, lmer = FALSE)``.

    Parameters
    ----------
    df
        One row per subject x rater: columns ``subject``, ``rater`` and
        ``value``. A missing value means the subject was not read.
    subject, rater, value
        Column names.
    alpha
        1 - confidence level.

    Returns
    -------
    pandas.DataFrame
        As :func:`icc_matrix`. Subjects not read by every rater are left out
        (the ANOVA needs a complete table), named in
        ``attrs["warnings"]`` with code ``unbalanced``.

    Raises
    ------
    InputError
        A column is missing, a value is not a number, or a subject has two
        readings by one rater.
    AnalysisError
        Fewer than two raters, or fewer than two subjects read by all.

    References
    ----------
    Shrout PE, Fleiss JL. Psychol Bull. 1979;86(2):420-428.
    McGraw KO, Wong SP. Psychol Methods. 1996;1(1):30-46.
    """
    w, _, warnings, codes = _complete(_wide(df, subject, rater, value), "ICC", rater)
    x = w.to_numpy(dtype=float)
    _check_shape(x, "ICC", rater)
    out = icc_matrix(x, alpha)
    w2, c2 = _icc_warnings(x, out, "ICC", rater)
    return _attach(out, warnings + w2, codes + c2)


def measurement_error(df: pd.DataFrame, subject: str = "series_instance_uid",
                      rater: str = "reader", value: str = "vbq") -> pd.DataFrame:
    """Within-subject SD, repeatability coefficient, SEM and MDC95 of a table of readings.

    Parameters
    ----------
    df, subject, rater, value
        As for :func:`icc`; incomplete subjects are left out the same way.

    Returns
    -------
    pandas.DataFrame
        One row: ``n_subjects``, ``n_raters``; the variance components
        ``var_subjects`` = (MSB - MSE)/k, ``var_raters`` = (MSJ - MSE)/n
        and ``var_error`` = MSE of the two-way ANOVA; ``within_subject_sd``
        = sqrt(MSW), the one-way within-subject SD (rater differences
        included); ``repeatability_coefficient`` = 1.96 sqrt(2) wSD
        (= 2.77 wSD): 95% of differences between two readings of one subject
        are smaller; ``sem`` = sqrt(var_raters + var_error), the agreement
        SEM (a negative var_raters taken as 0, with a warning
        ``negative_variance``); ``sem_consistency`` = sqrt(MSE); ``mdc95`` =
        1.96 sqrt(2) SEM, the smallest change between two readings that
        exceeds measurement error with 95% confidence.

    References
    ----------
    Bland JM, Altman DG. Measurement error. BMJ. 1996;313(7059):744.
    de Vet HCW, Terwee CB, Knol DL, Bouter LM. J Clin Epidemiol.
    2006;59(10):1033-1039.
    """
    w, _, warnings, codes = _complete(_wide(df, subject, rater, value), "SEM", rater)
    x = w.to_numpy(dtype=float)
    _check_shape(x, "SEM", rater)
    row, w2, c2 = _measurement_error(x)
    return _attach(pd.DataFrame([row]), warnings + w2, codes + c2)


def _measurement_error(x: np.ndarray, what: str = "SEM") -> tuple[dict[str, Any], list[str],
                                                                   list[str]]:
    a = _anova(x)
    var_r = (a.msj - a.mse) / a.n
    warnings: list[str] = []
    codes: list[str] = []
    if var_r < 0:
        warnings.append(f"{what}: the ANOVA estimate of the between-reader variance is "
                        f"negative ({var_r:.3g}); it is taken as 0 in the SEM (the ICCs use "
                        "it as it is, as psych does)")
        codes.append(NEGATIVE_VARIANCE)
    sem = math.sqrt(max(var_r, 0.0) + a.mse)
    wsd = math.sqrt(a.msw)
    row = {"n_subjects": a.n, "n_raters": a.k, "var_subjects": (a.msb - a.mse) / a.k,
           "var_raters": var_r, "var_error": a.mse, "within_subject_sd": wsd,
           "repeatability_coefficient": _Z_SQRT2 * wsd, "sem": sem,
           "sem_consistency": math.sqrt(a.mse), "mdc95": _Z_SQRT2 * sem}
    return row, warnings, codes


# --------------------------------------------------------------------------- Bland-Altman


def _ba_pair(a: np.ndarray, b: np.ndarray, log: bool, alpha: float) -> dict[str, Any]:
    """Bland-Altman statistics of the differences b - a (on the log scale when ``log``)."""
    from scipy import stats

    if log:
        a, b = np.log(a), np.log(b)
    d = b - a
    m = (a + b) / 2.0
    n = len(d)
    constant = _constant_difference(np.column_stack([a, b]))
    bias = float(d.mean())
    sd = 0.0 if constant else float(d.std(ddof=1))
    t = float(stats.t.ppf(1 - alpha / 2, n - 1))
    se_bias = sd / math.sqrt(n)
    se_loa = sd * math.sqrt(1.0 / n + _Z_LOA**2 / (2.0 * (n - 1)))
    lo, hi = bias - _Z_LOA * sd, bias + _Z_LOA * sd
    row: dict[str, Any] = {
        "n": n, "scale": "log" if log else "linear", "bias": bias,
        "bias_lower": bias - t * se_bias, "bias_upper": bias + t * se_bias,
        "sd_diff": sd, "loa_lower": lo, "loa_lower_ci_lower": lo - t * se_loa,
        "loa_lower_ci_upper": lo + t * se_loa, "loa_upper": hi,
        "loa_upper_ci_lower": hi - t * se_loa, "loa_upper_ci_upper": hi + t * se_loa,
    }
    slope = intercept = slope_se = slope_p = math.nan
    if n >= 3 and np.ptp(m) > 0 and constant:
        # every difference equal: the least-squares line is flat through them with no
        # residual, so its slope is 0 with SE 0, and the t statistic 0/0 has no p
        slope, intercept, slope_se = 0.0, float(d[0]), 0.0
    elif n >= 3 and np.ptp(m) > 0:
        reg = stats.linregress(m, d)
        slope, intercept, slope_se, slope_p = (float(reg.slope), float(reg.intercept),
                                               float(reg.stderr), float(reg.pvalue))
    t2 = float(stats.t.ppf(1 - alpha / 2, n - 2)) if n >= 3 else math.nan
    row.update({"slope": slope, "slope_lower": slope - t2 * slope_se,
                "slope_upper": slope + t2 * slope_se, "slope_p": slope_p,
                "intercept": intercept})
    if log:
        for key in ("bias", "bias_lower", "bias_upper", "loa_lower", "loa_lower_ci_lower",
                    "loa_lower_ci_upper", "loa_upper", "loa_upper_ci_lower",
                    "loa_upper_ci_upper"):
            row[f"ratio_{key}"] = math.exp(row[key])
    return row


def bland_altman(df: pd.DataFrame, subject: str = "series_instance_uid", rater: str = "reader",
                 value: str = "vbq", log: bool = False, alpha: float = 0.05) -> pd.DataFrame:
    """Bland-Altman bias and limits of agreement for every pair of raters.

    Parameters
    ----------
    df, subject, rater, value
        As for :func:`icc`. Each pair uses every subject both raters read.
    log
        Analyse log values: differences are log ratios, and the
        ``ratio_*`` columns give bias and limits back-transformed to ratios
        of the second rater's reading to the first's (Bland & Altman 1999,
        section 3). Every value must then be > 0.
    alpha
        1 - confidence level of the intervals.

    Returns
    -------
    pandas.DataFrame
        One row per pair, raters in sorted order: ``rater_a``, ``rater_b``,
        ``n``, ``scale``; ``bias`` = mean of rater_b - rater_a with its
        t interval (``bias_lower``, ``bias_upper``); ``sd_diff`` (ddof 1);
        ``loa_lower``/``loa_upper`` = bias -+ 1.96 SD, each with its t
        interval using SE = SD sqrt(1/n + 1.96^2 / (2(n-1))) (Bland &
        Altman 1999); the proportional-bias regression of the difference on
        the pair mean (``slope`` with t interval and ``slope_p``,
        ``intercept``; NaN with fewer than 3 pairs).

    Raises
    ------
    AnalysisError
        Fewer than two raters, a pair with fewer than two subjects in
        common, or a value <= 0 with ``log``.

    References
    ----------
    Bland JM, Altman DG. Lancet. 1986;1(8476):307-310.
    Bland JM, Altman DG. Stat Methods Med Res. 1999;8(2):135-160.
    """
    w = _wide(df, subject, rater, value)
    if w.shape[1] < 2:
        raise AnalysisError(f"Bland-Altman: only one {rater}; agreement needs at least two")
    if log and (w.to_numpy() <= 0).any():
        bad = w.stack()
        bad = bad[bad <= 0]
        (s, r), v = bad.index[0], bad.iloc[0]
        raise AnalysisError(f"--log: subject {s!r}, {rater} {r!r} has VBQ {v:g}; log values "
                            "need readings > 0")
    rows = []
    warnings: list[str] = []
    codes: list[str] = []
    cols = list(w.columns)
    for i, ra in enumerate(cols):
        for rb in cols[i + 1:]:
            pair = w[[ra, rb]].dropna()
            if len(pair) < 2:
                raise AnalysisError(f"Bland-Altman: {rater}s {ra!r} and {rb!r} read "
                                    f"{len(pair)} subject(s) in common; at least two are "
                                    "needed")
            if len(pair) < 3:
                warnings.append(f"Bland-Altman {ra} vs {rb}: only 2 subjects in common; no "
                                "proportional-bias regression")
                codes.append(TOO_FEW_FOR_REGRESSION)
            row = {"rater_a": ra, "rater_b": rb,
                   **_ba_pair(pair[ra].to_numpy(float), pair[rb].to_numpy(float), log, alpha)}
            if row["sd_diff"] == 0:
                if row["bias"] == 0:
                    warnings.append(f"Bland-Altman {ra} vs {rb}: the two agree exactly on all "
                                    f"{len(pair)} subjects; the limits of agreement have zero "
                                    "width and the proportional-bias test is undefined (null)")
                    codes.append(EXACT_AGREEMENT)
                else:
                    warnings.append(f"Bland-Altman {ra} vs {rb}: every difference is "
                                    f"{row['bias']:.6g}; the limits of agreement have zero "
                                    "width and the proportional-bias test is undefined (null)")
                    codes.append(CONSTANT_DIFFERENCE)
            rows.append(row)
    return _attach(pd.DataFrame(rows), warnings, codes)


def plot_bland_altman(a: Sequence[float], b: Sequence[float], row: dict[str, Any] | None = None,
                      ax: Any = None, title: str | None = None) -> Any:
    """Bland-Altman plot of the differences b - a against the pair means.

    The points and the bias line are drawn by statsmodels'
    ``mean_diff_plot``; its own limit lines use the SD with ddof 0, so the
    limits drawn here are this module's (SD with ddof 1), each with its 95%
    CI as a band, and the proportional-bias regression line.

    Parameters
    ----------
    a, b
        Paired readings (on the linear scale; log-transformed here when
        ``row["scale"] == "log"``).
    row
        The pair's row of :func:`bland_altman`; computed when None.
    ax
        A matplotlib Axes; a new figure's when None.
    title
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes

    References
    ----------
    Bland JM, Altman DG. Stat Methods Med Res. 1999;8(2):135-160.
    """
    import warnings as _w

    from statsmodels.graphics.agreement import mean_diff_plot

    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(6.4, 4.8), layout="constrained").add_subplot()
    av, bv = np.asarray(a, float), np.asarray(b, float)
    if row is None:
        row = _ba_pair(av, bv, False, 0.05)
    log = row["scale"] == "log"
    if log:
        av, bv = np.log(av), np.log(bv)
    fig = ax.get_figure()
    engine = fig.get_layout_engine()  # mean_diff_plot calls tight_layout: keep the caller's
    with _w.catch_warnings():
        _w.simplefilter("ignore")
        mean_diff_plot(bv, av, sd_limit=0, ax=ax,
                       scatter_kwds={"color": "tab:blue", "s": 18, "zorder": 3},
                       mean_line_kwds={"color": "black", "linestyle": "-"})
    if engine is not None:
        fig.set_layout_engine(engine)
    for key in ("loa_lower", "loa_upper"):
        ax.axhline(row[key], color="tab:red", linestyle="--", linewidth=1)
        ax.axhspan(row[f"{key}_ci_lower"], row[f"{key}_ci_upper"], color="tab:red", alpha=0.12,
                   linewidth=0)
    ax.axhspan(row["bias_lower"], row["bias_upper"], color="gray", alpha=0.15, linewidth=0)
    if math.isfinite(row["slope"]):
        xs = np.array([min((av + bv) / 2), max((av + bv) / 2)])
        ax.plot(xs, row["intercept"] + row["slope"] * xs, color="tab:green", linewidth=1,
                label=f"proportional bias: slope {row['slope']:.3g} (p = {row['slope_p']:.2g})")
        ax.legend(loc="lower left", fontsize=8)
    span = [row["loa_lower_ci_lower"], row["loa_upper_ci_upper"],
            float((bv - av).min()), float((bv - av).max())]
    pad = 0.08 * (max(span) - min(span) or 1.0)
    ax.set_ylim(min(span) - pad, max(span) + pad)
    scale = "log VBQ" if log else "VBQ"
    ax.set_xlabel(f"mean of the two readings ({scale})", fontsize=10)
    ax.set_ylabel(f"difference, second - first ({scale})", fontsize=10)
    ax.tick_params(labelsize=9)
    for text in list(ax.texts):  # statsmodels' annotation; ours is in the title
        text.remove()
    lim = (f"bias {row['bias']:.3g}, limits {row['loa_lower']:.3g} to {row['loa_upper']:.3g}")
    if log:
        lim += (f" (ratio {row['ratio_bias']:.3g}, {row['ratio_loa_lower']:.3g} to "
                f"{row['ratio_loa_upper']:.3g})")
    ax.set_title((title + "\n" if title else "") + lim, fontsize=9)
    return ax


# --------------------------------------------------------------------------- kappa


def _categories(x: np.ndarray, cutoffs: Sequence[float]) -> np.ndarray:
    """Ordered category of each reading: how many cut-offs it is >= to."""
    cats = np.zeros(x.shape, dtype=int)
    for c in cutoffs:
        cats += (x >= c).astype(int)
    return cats


def _counts(cats: np.ndarray, n_cat: int) -> np.ndarray:
    """Subjects x categories: how many raters put each subject in each category."""
    return np.stack([(cats == j).sum(axis=1) for j in range(n_cat)], axis=1)


def _fleiss_weighted(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Fleiss' kappa (Gwet's weighted form) of one or a stack of count tables.

    ``counts`` has shape (..., n, K) with the same number of raters r on
    every row; ``weights`` is K x K agreement weights (1 on the diagonal).
    Identity weights give Fleiss (1971).
    """
    r = counts.sum(axis=-1).astype(float)  # raters per subject, (..., n)
    rstar = counts @ weights.T  # r*_ik = sum_l w_kl r_il
    po = ((counts * (rstar - 1)).sum(axis=-1) / (r * (r - 1))).mean(axis=-1)
    pi = (counts / r[..., None]).mean(axis=-2)  # (..., K)
    pe = np.einsum("...k,kl,...l->...", pi, weights, pi)
    with np.errstate(divide="ignore", invalid="ignore"):
        kap = (po - pe) / (1 - pe)
    return np.where(np.isclose(pe, 1.0, rtol=0, atol=1e-12), np.nan, kap)


def _bootstrap_fleiss(counts: np.ndarray, weights: np.ndarray, n_boot: int,
                      seed: int) -> np.ndarray:
    """Fleiss' kappa of ``n_boot`` resamples of the subjects (rows) with replacement.

    The resamples are drawn by ``numpy.random.default_rng(seed)``, in blocks
    small enough to keep memory bounded for large tables; every call with
    the same table and seed draws the same resamples.
    """
    rng = np.random.default_rng(seed)
    n = counts.shape[0]
    block = max(1, min(n_boot, 4_000_000 // max(1, n * counts.shape[1])))
    out = np.empty(n_boot)
    for start in range(0, n_boot, block):
        size = min(block, n_boot - start)
        idx = rng.integers(0, n, size=(size, n))
        out[start:start + size] = _fleiss_weighted(counts[idx], weights)
    return out


def _linear_weights(n_cat: int) -> np.ndarray:
    idx = np.arange(n_cat)
    return 1.0 - np.abs(idx[:, None] - idx[None, :]) / (n_cat - 1)


def _percent_and_pabak(cats: np.ndarray, n_cat: int) -> tuple[float, float]:
    """Exact agreement (mean over subjects of the share of agreeing rater pairs) and PABAK."""
    counts = _counts(cats, n_cat)
    r = cats.shape[1]
    po = float(((counts * (counts - 1)).sum(axis=1) / (r * (r - 1))).mean())
    return po, (n_cat * po - 1) / (n_cat - 1)


def _kappa_rows(x: np.ndarray, cutoffs: Sequence[float], what: str, n_boot: int, seed: int,
                alpha: float) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    from scipy import stats
    from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa, fleiss_kappa

    n, k = x.shape
    z = float(stats.norm.ppf(1 - alpha / 2))
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    codes: list[str] = []
    cuts = sorted(float(c) for c in cutoffs)
    jobs: list[tuple[str, list[float]]] = [(f"{c:g}", [c]) for c in cuts]
    if len(cuts) >= 2:
        jobs.append((";".join(f"{c:g}" for c in cuts), cuts))
    for label, cs in jobs:
        n_cat = len(cs) + 1
        cats = _categories(x, cs)
        weighted = n_cat > 2
        po, pabak = _percent_and_pabak(cats, n_cat)
        row: dict[str, Any] = {
            "cutoff": label, "categories": n_cat,
            "statistic": ("cohen" if k == 2 else "fleiss") + ("_linear_weighted" if weighted
                                                               else ""),
            "n_subjects": n, "n_raters": k, "n_readings_above": int((x >= cs[0]).sum())
            if not weighted else None,
            "kappa": math.nan, "se": math.nan, "ci_lower": math.nan, "ci_upper": math.nan,
            "ci_method": "asymptotic" if k == 2 else "bootstrap percentile",
            "se0": math.nan, "z": math.nan, "p": math.nan,
            "percent_agreement": po, "pabak": pabak,
        }
        present = np.unique(cats)
        if len(present) < 2:
            side = "at or above" if present[0] > 0 else "below"
            what_cut = f"cut-off {label}" if not weighted else f"cut-offs {label}"
            msg = (f"{what} kappa at {what_cut}: every reading falls in one category "
                   f"({side} {cs[-1] if present[0] > 0 else cs[0]:g}); kappa is undefined "
                   "(null)")
            if weighted:
                msg = (f"{what} weighted kappa at {what_cut}: every reading falls in one "
                       "category; kappa is undefined (null)")
            warnings.append(msg)
            codes.append(KAPPA_UNDEFINED)
            rows.append(row)
            continue
        if k == 2:
            table = np.zeros((n_cat, n_cat))
            np.add.at(table, (cats[:, 0], cats[:, 1]), 1)
            with np.errstate(all="ignore"):
                res = (cohens_kappa(table, wt="linear") if weighted else cohens_kappa(table))
            se = math.sqrt(max(float(res.var_kappa), 0.0))
            se0 = math.sqrt(max(float(res.var_kappa0), 0.0))
            kap = float(res.kappa)
            row["kappa"] = kap
            constant = [j for j in range(2) if len(np.unique(cats[:, j])) < 2]
            if constant:
                # one rater put every subject in one category: kappa is 0 by
                # construction and its asymptotic SE degenerates to 0
                warnings.append(f"{what} kappa at cut-off {label}: one rater put every "
                                "reading in one category, so kappa is 0 by construction; "
                                "no SE or CI (null)")
                codes.append(KAPPA_DEGENERATE)
                rows.append(row)
                continue
            # the Wald interval, cut to kappa's range [-1, 1]
            row.update({"se": se, "ci_lower": max(-1.0, kap - z * se),
                        "ci_upper": min(1.0, kap + z * se), "se0": se0})
            if se0 > 0:
                zv = kap / se0
                row.update({"z": zv, "p": float(2 * stats.norm.sf(abs(zv)))})
        else:
            counts = _counts(cats, n_cat)
            weights = _linear_weights(n_cat) if weighted else np.eye(n_cat)
            if weighted:
                kap = float(_fleiss_weighted(counts, weights))
            else:
                agg, _ = aggregate_raters(cats, n_cat=n_cat)
                kap = float(fleiss_kappa(agg, method="fleiss"))
            boot = _bootstrap_fleiss(counts, weights, n_boot, seed)
            ok = boot[np.isfinite(boot)]
            if len(ok) < len(boot):
                warnings.append(f"{what} kappa at cut-off {label}: {len(boot) - len(ok)} of "
                                f"{len(boot)} bootstrap resamples had every reading in one "
                                "category and are left out of the CI")
                codes.append(BOOTSTRAP_UNDEFINED)
            if len(ok) >= 2:
                lo, hi = np.quantile(ok, [alpha / 2, 1 - alpha / 2])
                row.update({"se": float(ok.std(ddof=1)), "ci_lower": float(lo),
                            "ci_upper": float(hi)})
            row["kappa"] = kap
        rows.append(row)
    return rows, warnings, codes


def kappa(df: pd.DataFrame, cutoffs: Sequence[float], subject: str = "series_instance_uid",
          rater: str = "reader", value: str = "vbq", n_boot: int = 2000, seed: int = 0,
          alpha: float = 0.05) -> pd.DataFrame:
    """Agreement on the clinical decision: kappa, percent agreement and PABAK per cut-off.

    A reading is "above" a cut-off when value >= cut-off, as the published
    cut-offs in ``vbq/data/cutoffs.csv`` are applied.

    Parameters
    ----------
    df, subject, rater, value
        As for :func:`icc`; subjects not read by every rater are left out.
    cutoffs
        One or more cut-offs. Each gives a binary kappa; two or more also
        give a linear-weighted kappa over the ordered categories they
        define (row ``cutoff`` = the cut-offs joined by ``;``).
    n_boot, seed
        Subject-level bootstrap of Fleiss' kappa (more than two raters):
        ``n_boot`` resamples of the subjects with replacement drawn by
        ``numpy.random.default_rng(seed)``; percentile interval.
    alpha
        1 - confidence level.

    Returns
    -------
    pandas.DataFrame
        One row per cut-off (and one weighted row): ``cutoff``,
        ``categories``, ``statistic`` (``cohen``, ``fleiss``,
        ``cohen_linear_weighted``, ``fleiss_linear_weighted``),
        ``n_subjects``, ``n_raters``, ``n_readings_above``, ``kappa``,
        ``se``, ``ci_lower``, ``ci_upper``, ``ci_method``, ``se0``, ``z``,
        ``p``, ``percent_agreement``, ``pabak``.

        For two raters: Cohen's kappa from statsmodels' ``cohens_kappa``
        (weighted: linear weights, ``wt="linear"``); ``se`` is the
        large-sample SE of Fleiss, Cohen & Everitt (1969) (SAS's "ASE"),
        used for the Wald interval (cut to kappa's range, -1 to 1); ``se0``
        is the SE under kappa = 0, used for ``z`` and ``p``. For more raters: Fleiss' kappa from
        statsmodels' ``fleiss_kappa``, weighted with linear weights in
        Gwet's (2014) form (identity weights give Fleiss' kappa), ``se`` =
        the bootstrap SD; no test. ``percent_agreement`` is the share of
        agreeing rater pairs averaged over subjects (exact category);
        ``pabak`` = (K po - 1)/(K - 1) for K categories (2 po - 1 for one
        cut-off; Byrt et al. 1993). When every reading is in one category
        kappa is NaN, with a warning ``kappa_undefined``.

    References
    ----------
    Cohen J. Educ Psychol Meas. 1960;20(1):37-46.
    Fleiss JL, Cohen J, Everitt BS. Psychol Bull. 1969;72(5):323-327.
    Fleiss JL. Psychol Bull. 1971;76(5):378-382.
    Byrt T, Bishop J, Carlin JB. J Clin Epidemiol. 1993;46(5):423-429.
    Gwet KL. Handbook of Inter-Rater Reliability, 4th ed. 2014.
    """
    if not cutoffs:
        raise InputError("kappa needs at least one cut-off")
    if len(set(cutoffs)) < len(cutoffs):
        raise InputError("a cut-off is given twice")
    w, _, warnings, codes = _complete(_wide(df, subject, rater, value), "kappa", rater)
    x = w.to_numpy(dtype=float)
    _check_shape(x, "kappa", rater)
    rows, w2, c2 = _kappa_rows(x, cutoffs, "", n_boot, seed, alpha)
    return _attach(pd.DataFrame(rows), warnings + [s.lstrip() for s in w2], codes + c2)


# --------------------------------------------------------------------------- reading


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


#: Largest magnitude of a reading: the analyses square values and sum squares over
#: subjects, which overflows a double beyond about 1e154 (messages say 1e150).
MAX_VALUE = 1e150


def read_readings(path: str | Path, subject: str = "series_instance_uid",
                  rater: str = "reader", occasion: str | None = "occasion",
                  value: str = "vbq", wide: bool = False,
                  provenance: str | None = "roi_provenance",
                  occasion_required: bool = False) -> pd.DataFrame:
    """Read a table of readings into the long form the other functions take.

    Parameters
    ----------
    path
        CSV with a header (``,``, ``;`` or tab separated). Long form: one row
        per subject x reader [x occasion]. Wide form (``wide=True``): one row
        per subject [x occasion], the subject column, an optional occasion
        column, and one column per reader.
    subject, rater, occasion, value
        Column names (the defaults are the workstation export's). An empty
        value cell is a reading not made. Values are plain decimal numbers
        (:func:`vbq.values.parse_number`; a decimal comma in a
        ``;``-separated table).
    wide
        Read the wide form.
    provenance
        Column saying how each reading's ROIs were made (long form only);
        ignored when absent.
    occasion_required
        Refuse a table without the occasion column (when the user named it).

    Returns
    -------
    pandas.DataFrame
        Columns ``row`` (1 = the first row under the header), ``subject``,
        ``rater``, ``occasion`` (``""`` when there is none), ``value``
        (NaN when empty) and ``provenance`` (None when absent).

    Raises
    ------
    InputError
        One sentence naming the file, row and column: an unreadable file, a
        missing column, a column named twice, a row with more or fewer
        cells than the header, an empty subject or reader, a value that is
        not a finite plain number, or a (subject, reader, occasion) read
        twice.
    """
    from vbq.values import parse_number

    path = Path(path)
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a table") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read the table ({err})") from None
    if not text.strip():
        raise InputError(f"{path}: the table is empty")
    from vbq.fileio import csv_records

    delimiter = max((",", ";", "\t"), key=text.splitlines()[0].count)
    rows = [cells for _, cells in csv_records(text, name, delimiter)]
    header = [h.strip() for h in rows[0]]
    while len(header) > 1 and not header[-1]:  # a spreadsheet's trailing separator
        header.pop()
    seen: set[str] = set()
    for h in header:
        if h and h in seen:
            raise InputError(f"{name}: column {h!r} appears twice")
        seen.add(h)
    col = {h: i for i, h in enumerate(header)}
    columns = ", ".join(header)

    def need(c: str, option: str) -> int:
        if c not in col:
            raise InputError(f"{name}: no {c!r} column (columns: {columns}); name it with "
                             f"{option}")
        return col[c]

    i_subject = need(subject, "--subject")
    i_occasion: int | None = None
    if occasion is not None and (occasion in col or occasion_required):
        i_occasion = need(occasion, "--occasion")
    if wide:
        value_cols = [(h, i) for i, h in enumerate(header)
                      if i not in (i_subject, i_occasion) and h]
        if not value_cols:
            raise InputError(f"{name}: no reader columns beside {subject!r}")
        i_rater = i_prov = None
    else:
        i_rater = need(rater, "--rater")
        value_cols = [(value, need(value, "--value"))]
        i_prov = col.get(provenance) if provenance else None
    decimal_comma = delimiter == ";"
    out: list[dict[str, Any]] = []
    first: dict[tuple[str, str, str], int] = {}
    data = [(number, r) for number, r in enumerate(rows[1:], start=1)
            if any(cell.strip() for cell in r)]
    if not data:
        raise InputError(f"{path}: the table has a header but no data rows")
    for number, cells in data:
        where = f"{name} row {number}"
        if len(cells) > len(header) and not any(c.strip() for c in cells[len(header):]):
            cells = cells[:len(header)]  # empty cells past the header's end (a spreadsheet's)
        for j, cell in enumerate(cells[:len(header)]):
            if "\n" in cell or "\r" in cell:
                raise InputError(f"{where}: the cell of column {header[j]!r} runs over several "
                                 "lines (a double quote not closed on its line?)")
        if len(cells) != len(header):
            raise InputError(f"{where}: {len(cells)} cells but the header has {len(header)} "
                             "columns")
        subj = cells[i_subject].strip()
        if not subj:
            raise InputError(f"{where}, column {subject}: empty subject")
        occ = cells[i_occasion].strip() if i_occasion is not None else ""
        if i_occasion is not None and not occ:
            raise InputError(f"{where}, column {occasion}: empty occasion")
        if occ.isascii() and occ.isdigit():
            occ = str(int(occ))  # occasion 01 is occasion 1
        for rater_name, i_val in value_cols:
            if i_rater is not None:
                rater_name = cells[i_rater].strip()
                if not rater_name:
                    raise InputError(f"{where}, column {rater}: empty reader")
            key = (subj, rater_name, occ)
            if key in first:
                what = f"subject {subj!r}, reader {rater_name!r}"
                if i_occasion is not None:
                    what += f", occasion {occ!r}"
                raise InputError(f"{where}: {what} is already read in row {first[key]}")
            first[key] = number
            cell = cells[i_val].strip(" \t")
            val = math.nan
            if cell:
                try:
                    val = parse_number(cell, decimal_comma)
                except ValueError:
                    raise InputError(f"{where}, column {header[i_val]}: {shown_text(cell)!r} "
                                     "is not a number") from None
                if not math.isfinite(val):
                    raise InputError(f"{where}, column {header[i_val]}: {shown_text(cell)!r} "
                                     "is not a finite number")
                if abs(val) > MAX_VALUE:
                    raise InputError(f"{where}, column {header[i_val]}: {shown_text(cell)!r} "
                                     "is too large to analyse (beyond 1e150: its "
                                     "square, in the variances, would overflow)")
            out.append({"row": number, "subject": subj, "rater": rater_name, "occasion": occ,
                        "value": val,
                        "provenance": cells[i_prov].strip() if i_prov is not None else None})
    return pd.DataFrame(out, columns=["row", "subject", "rater", "occasion", "value",
                                      "provenance"])


# --------------------------------------------------------------------------- the result


def _clean(v: Any) -> Any:
    """Return a JSON-safe value: numpy scalars to Python, NaN and infinities to None."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is pd.NA:
        return None
    return v


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [_clean(r) for r in df.to_dict("records")]


@dataclass(frozen=True)
class AgreementResult:
    """Everything :func:`analyze` found, as tidy tables plus warnings.

    Attributes
    ----------
    icc, measurement_error, bland_altman, kappa
        Tidy tables as the functions of the same names give them, with two
        leading columns: ``scope`` (``"inter"`` between readers, ``"intra"``
        one reader's occasions) and ``reader`` (None for ``inter``). In
        ``intra`` rows the raters (``rater_a``, ``rater_b``) are occasions.
    warnings, warning_codes
        Parallel lists: each warning once, and its stable code
        (``unbalanced``, ``kappa_undefined``, ``unedited_proposals``,
        ``negative_variance``, ``icc_undefined``, ``bootstrap_undefined``,
        ``too_few_pairs``, ``kappa_degenerate``, ``exact_agreement``,
        ``constant_difference``).
    readings
        The long table read (:func:`read_readings`' columns).
    """

    icc: pd.DataFrame
    measurement_error: pd.DataFrame
    bland_altman: pd.DataFrame
    kappa: pd.DataFrame
    readings: pd.DataFrame
    raters: list[str]
    occasions: list[str]
    incomplete_subjects: dict[str, list[str]]
    provenance: dict[str, Any] | None
    settings: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    warning_codes: list[str] = field(default_factory=list)

    def headline(self, scope: str = "inter", reader: str | None = None) -> dict[str, Any] | None:
        """Return the ICC(A,1) row of one scope (the headline for reliability), or None."""
        t = self.icc[(self.icc["scope"] == scope) & (self.icc["type"] == "ICC2")]
        if reader is not None:
            t = t[t["reader"] == reader]
        return _clean(t.iloc[0].to_dict()) if len(t) else None

    def _scopes(self) -> list[tuple[str, str | None]]:
        seen = self.icc[["scope", "reader"]].drop_duplicates()
        return [(s, r if isinstance(r, str) else None) for s, r in seen.itertuples(index=False)]

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-ready dict: every undefined number is None, never NaN."""
        def part(scope: str, reader: str | None) -> dict[str, Any]:
            def pick(df: pd.DataFrame) -> pd.DataFrame:
                sel = df["scope"] == scope
                sel &= df["reader"].isna() if reader is None else df["reader"] == reader
                return df[sel].drop(columns=["scope", "reader"])
            me = _records(pick(self.measurement_error))
            return {"headline": self.headline(scope, reader),
                    "icc": _records(pick(self.icc)),
                    "measurement_error": me[0] if me else None,
                    "bland_altman": _records(pick(self.bland_altman)) if len(self.bland_altman)
                    else [],
                    "kappa": _records(pick(self.kappa)) if len(self.kappa) else []}
        inter = part("inter", None) if ("inter", None) in self._scopes() else None
        intra = {r: part("intra", r) for s, r in self._scopes() if s == "intra" and r}
        readings = self.readings
        return _clean({
            "format": "vbq-agreement/1",
            "n_readings": int(readings["value"].notna().sum()),
            "n_subjects": int(readings["subject"].nunique()),
            "raters": self.raters, "occasions": self.occasions,
            "settings": self.settings,
            "inter_reader": inter, "intra_reader": intra,
            "incomplete_subjects": self.incomplete_subjects,
            "provenance": self.provenance,
            "warnings": self.warnings, "warning_codes": self.warning_codes,
        })

    def summary(self) -> str:
        """Plain-text report: ICC table, measurement error, Bland-Altman and kappa per scope."""
        def num(v: Any, fmt: str = ".3f") -> str:
            if isinstance(v, float) and math.isinf(v):
                return "inf" if v > 0 else "-inf"
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                return "NA"
            shown = format(v, fmt)
            return shown.lstrip("-") if float(shown) == 0 else shown  # no "-0.000"

        def pval(p: Any) -> str:
            return "NA" if p is None or not math.isfinite(p) else (
                "<0.001" if p < 0.001 else f"{p:.3f}")

        lines = [f"Reader agreement: {self.readings['subject'].nunique()} subjects, "
                 f"{len(self.raters)} reader(s) ({', '.join(self.raters)})"
                 + (f", occasions {', '.join(self.occasions)}" if len(self.occasions) > 1
                    else "")]
        for scope, reader in self._scopes():
            title = "Inter-reader" if scope == "inter" else f"Intra-reader ({reader})"

            def pick(df: pd.DataFrame, scope: str = scope, reader: str | None = reader
                     ) -> pd.DataFrame:
                if not len(df):
                    return df
                sel = df["reader"].isna() if reader is None else df["reader"] == reader
                return df[(df["scope"] == scope) & sel]
            t = pick(self.icc)
            head = t[t["type"] == "ICC2"].iloc[0]
            lines += ["", f"{title}: {int(head['n_subjects'])} subjects x "
                      f"{int(head['n_raters'])} {'readers' if scope == 'inter' else 'occasions'}",
                      f"  ICC(A,1) = {num(head['icc'])} (95% CI {num(head['lower'])} to "
                      f"{num(head['upper'])})  [two-way random, absolute agreement, single]",
                      "  form   Shrout-Fleiss McGraw-Wong   ICC    95% CI             F      "
                      "df1  df2  p"]
            for r in t.itertuples(index=False):
                lines.append(f"  {r.type:<6} {r.shrout_fleiss:<13} {r.mcgraw_wong:<9} "
                             f"{num(r.icc):>6}  {num(r.lower):>6} to {num(r.upper):<6}  "
                             f"{num(r.F, '.2f'):>8} {int(r.df1):>4} {int(r.df2):>4}  "
                             f"{pval(r.p)}")
            me = pick(self.measurement_error).iloc[0]
            lines.append(f"  within-subject SD {num(me['within_subject_sd'])}, repeatability "
                         f"coefficient {num(me['repeatability_coefficient'])}, SEM "
                         f"{num(me['sem'])}, MDC95 {num(me['mdc95'])}")
            for r in pick(self.bland_altman).itertuples(index=False):
                scale = " (log scale)" if r.scale == "log" else ""
                lines.append(f"  Bland-Altman {r.rater_b} - {r.rater_a}{scale}, n = {r.n}: "
                             f"bias {num(r.bias)} ({num(r.bias_lower)} to "
                             f"{num(r.bias_upper)}), limits {num(r.loa_lower)} "
                             f"({num(r.loa_lower_ci_lower)} to {num(r.loa_lower_ci_upper)}) and "
                             f"{num(r.loa_upper)} ({num(r.loa_upper_ci_lower)} to "
                             f"{num(r.loa_upper_ci_upper)}); slope on mean {num(r.slope)}, "
                             f"p {pval(r.slope_p)}")
                if r.scale == "log":
                    d = r._asdict()
                    lines.append(f"    as ratios: bias {num(d['ratio_bias'])}, limits "
                                 f"{num(d['ratio_loa_lower'])} to {num(d['ratio_loa_upper'])}")
            for r in pick(self.kappa).itertuples(index=False):
                lines.append(f"  kappa at {r.cutoff} ({r.statistic}): {num(r.kappa)} (95% CI "
                             f"{num(r.ci_lower)} to {num(r.ci_upper)}, {r.ci_method}); "
                             f"agreement {num(100 * r.percent_agreement, '.1f')}%, PABAK "
                             f"{num(r.pabak)}")
        if self.provenance:
            p = self.provenance
            lines += ["", f"ROI provenance: {p['n_unedited_proposals']} of {p['n_readings']} "
                      "readings used unedited proposals"]
        if self.warnings:
            lines += ["", "Warnings:"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(lines) + "\n"

    def plot_bland_altman(self, index: int = 0, ax: Any = None) -> Any:
        """Bland-Altman plot of row ``index`` of :attr:`bland_altman`; returns the Axes."""
        row = self.bland_altman.iloc[index].to_dict()
        data = self.readings.dropna(subset=["value"])
        if row["scope"] == "inter":
            data = _first_occasion(data)
            key = "rater"
        else:
            data = data[data["rater"] == row["reader"]]
            key = "occasion"
        w = data.pivot(index="subject", columns=key, values="value")[
            [row["rater_a"], row["rater_b"]]].dropna()
        who = ("readers" if row["scope"] == "inter" else f"reader {row['reader']}, occasions")
        return plot_bland_altman(w[row["rater_a"]], w[row["rater_b"]], row, ax=ax,
                                 title=f"{who} {row['rater_b']} - {row['rater_a']}")

    def plot_filenames(self) -> list[str]:
        """Return a distinct PNG file name for each row of :attr:`bland_altman`."""
        names = []
        for i, r in enumerate(self.bland_altman.itertuples(index=False), start=1):
            who = "inter" if r.scope == "inter" else f"intra_{r.reader}"
            names.append(_SAFE.sub("_", f"bland_altman_{i:02d}_{who}_{r.rater_b}_vs_"
                                   f"{r.rater_a}") + ".png")
        return names


def _first_occasion(data: pd.DataFrame) -> pd.DataFrame:
    """Each reader's earliest reading of each subject (occasions in natural order)."""
    order = {o: i for i, o in enumerate(_sort_labels(list(data["occasion"])))}
    data = data.assign(_o=data["occasion"].map(order)).sort_values("_o", kind="stable")
    return data.drop_duplicates(["subject", "rater"], keep="first").drop(columns="_o")


def _scope_tables(long: pd.DataFrame, key: str, scope: str, reader: str | None, what: str,
                  label: str, cutoffs: Sequence[float], log: bool, n_boot: int, seed: int,
                  alpha: float) -> tuple[dict[str, pd.DataFrame], list[str], list[str],
                                         list[str]]:
    """ICC, measurement error, Bland-Altman and kappa of one comparison."""
    w = _wide(long, "subject", key, "value")
    comp, dropped, warnings, codes = _complete(w, what, label)
    x = comp.to_numpy(dtype=float)
    _check_shape(x, what, label)
    icc_t = icc_matrix(x, alpha)
    w1, c1 = _icc_warnings(x, icc_t, what, label)
    warnings += w1
    codes += c1
    me, w2, c2 = _measurement_error(x, what)
    ba = bland_altman(long, "subject", key, "value", log=log, alpha=alpha)
    tables = {"icc": icc_t, "measurement_error": pd.DataFrame([me]), "bland_altman": ba}
    # a pair agreeing exactly is already said once for the whole comparison
    said = EXACT_AGREEMENT in c1 and len(comp) == len(w)
    ba_w = [(m, c) for m, c in zip(ba.attrs["warnings"], ba.attrs["warning_codes"], strict=True)
            if not (said and c == EXACT_AGREEMENT)]
    warnings += w2 + [f"{what}: {m}" for m, _ in ba_w]
    codes += c2 + [c for _, c in ba_w]
    if cutoffs:
        rows, w3, c3 = _kappa_rows(x, cutoffs, what, n_boot, seed, alpha)
        tables["kappa"] = pd.DataFrame(rows)
        warnings += w3
        codes += c3
    for t in tables.values():
        t.insert(0, "reader", reader)
        t.insert(0, "scope", scope)
    return tables, dropped, warnings, codes


def analyze(readings: pd.DataFrame, cutoffs: Sequence[float] = (), log: bool = False,
            n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> AgreementResult:
    """Inter- and intra-reader agreement of a table from :func:`read_readings`.

    Inter-reader statistics compare the readers, each on its earliest
    occasion for each subject (occasions in numeric order when all are
    numbers). Intra-reader statistics compare the occasions of every reader
    who read subjects on two or more occasions. Each comparison gives the
    ICCs, measurement error, Bland-Altman for every pair and, with
    ``cutoffs``, kappa (see :func:`icc`, :func:`measurement_error`,
    :func:`bland_altman`, :func:`kappa`).

    Parameters
    ----------
    readings
        Columns ``subject``, ``rater``, ``occasion``, ``value`` and
        optionally ``provenance`` (as :func:`read_readings` gives).
    cutoffs, log, n_boot, seed, alpha
        As for :func:`kappa` and :func:`bland_altman`.

    Returns
    -------
    AgreementResult

    Raises
    ------
    AnalysisError
        Nothing to compare (one reader read once), one subject, or fewer than
        two subjects read by every reader.
    """
    data = readings.dropna(subset=["value"]).copy()
    if "occasion" not in data.columns:
        data["occasion"] = ""
    raters = _sort_labels(list(data["rater"].astype(str)))
    occasions = _sort_labels(list(data["occasion"].astype(str)))
    n_subjects = data["subject"].nunique()
    if n_subjects < 2:
        raise AnalysisError(f"only {n_subjects} subject read; agreement needs at least two")
    warnings: list[str] = []
    codes: list[str] = []
    tables: list[dict[str, pd.DataFrame]] = []
    incomplete: dict[str, list[str]] = {}
    if len(raters) >= 2:
        t, dropped, w, c = _scope_tables(_first_occasion(data), "rater", "inter", None,
                                         "inter-reader", "reader", cutoffs, log, n_boot, seed,
                                         alpha)
        tables.append(t)
        incomplete["inter"] = dropped
        warnings += w
        codes += c
    for r in raters:
        mine = data[data["rater"] == r]
        if mine["occasion"].nunique() < 2:
            continue
        t, dropped, w, c = _scope_tables(mine, "occasion", "intra", r,
                                         f"intra-reader {r}", "occasion", cutoffs, log, n_boot,
                                         seed, alpha)
        tables.append(t)
        incomplete[f"intra:{r}"] = dropped
        warnings += w
        codes += c
    if not tables:
        raise AnalysisError(f"only one reader ({raters[0]}) on one occasion: there is nothing "
                            "to compare; agreement needs two readers or two occasions")
    prov = None
    if "provenance" in data.columns and data["provenance"].notna().any():
        values = data["provenance"].fillna("").astype(str).str.strip().str.lower()
        unedited = int(values.map(unedited_provenance).sum())
        counts = {k or "(empty)": int(v) for k, v in values.value_counts().sort_index().items()}
        prov = {"n_readings": int(len(values)), "n_unedited_proposals": unedited,
                "counts": counts}
        if unedited:
            warnings.append(f"{unedited} of {len(values)} readings used unedited ROI "
                            "proposals (roi_provenance): agreement on accepted proposals "
                            "overstates reader reliability")
            codes.append(UNEDITED_PROPOSALS)

    def cat(name: str) -> pd.DataFrame:
        parts = [t[name] for t in tables if name in t and len(t[name])]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            columns=["scope", "reader"])
    seen: dict[str, str] = {}
    for w_, c_ in zip(warnings, codes, strict=True):
        seen.setdefault(w_, c_)
    return AgreementResult(
        icc=cat("icc"), measurement_error=cat("measurement_error"),
        bland_altman=cat("bland_altman"), kappa=cat("kappa"), readings=data,
        raters=raters, occasions=occasions, incomplete_subjects=incomplete, provenance=prov,
        settings={"cutoffs": sorted(float(c) for c in cutoffs), "log": log,
                  "n_boot": n_boot, "seed": seed, "alpha": alpha,
                  "difference": "second - first (rater_b - rater_a)",
                  "above": "value >= cut-off"},
        warnings=list(seen), warning_codes=list(seen.values()))
