"""The ``metaanalysis`` command line on hostile input: one sentence, the right exit code.

Every case runs in-process through :func:`metaanalysis.cli.main`. Each checks
the exit code, that stderr has no traceback and no multi-line Python warning
(every stderr line is a ``metaanalysis:`` message or a ``wrote`` notice), that
an error is exactly one line, and that JSON on stdout is strict (no NaN or
Infinity tokens).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest

from metaanalysis.cli import build_parser, main

REFS = Path(__file__).parents[1] / "fixtures" / "refs"
AUDITC = REFS / "AuditC.csv"


def _strict(text: str) -> dict:
    def refuse(token: str) -> None:
        raise ValueError(f"non-standard JSON constant {token}")

    return json.loads(text, parse_constant=refuse)


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err
    for line in err.splitlines():
        assert line.startswith(("metaanalysis: ", "wrote ")), line
    return code, out, err


def one_error(err: str) -> str:
    lines = err.splitlines()
    errors = [ln for ln in lines if ln.startswith("metaanalysis: error:")]
    assert len(errors) == 1, err
    return errors[0]


@pytest.fixture(scope="module")
def auditc() -> pd.DataFrame:
    return pd.read_csv(AUDITC, dtype={"study": str})


def write(df: pd.DataFrame, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


# ------------------------------------------------ fits at the edge of the data --

def test_glmm_with_sensitivity_one_in_every_study_reports_a_diverging_fit(capsys, auditc,
                                                                          tmp_path):
    df = auditc.copy()
    df["FN"] = 0  # sensitivity 100% everywhere: the GLMM's logit sens is infinite
    code, out, err = run(capsys, "pool", write(df, tmp_path, "fn0.csv"), "--model", "glmm",
                         "--json")
    assert code == 1  # shown, but the analysis did not succeed
    d = _strict(out)
    assert d["sensitivity"]["estimate"] > 0.999
    assert d["lr_negative"]["ci_high"] is None  # exp overflow becomes null, not a crash
    assert "diverging_estimate" in d["warning_codes"]
    assert len(d["warning_codes"]) == len(d["warnings"])
    assert "logit sensitivity diverges" in err
    assert err.strip().splitlines()[-1] == (
        "metaanalysis: error: the glmm fit of " + str(tmp_path / "fn0.csv") + " has a pooled "
        "logit that diverges; its result is shown above with the warnings that say what to "
        "try, but cannot be relied on.")
    # no interval or standard error from a degenerate covariance, on either outcome
    for q in ("sensitivity", "specificity"):
        assert d[q]["ci_low"] is None and d[q]["ci_high"] is None
    assert d["logit_sens"]["se"] is None and d["logit_fpr"]["se"] is None


def test_glmm_with_no_false_negatives_or_false_positives_still_answers(capsys, auditc,
                                                                      tmp_path):
    df = auditc.copy()
    df["FN"] = 0
    df["FP"] = 0
    code, out, err = run(capsys, "pool", write(df, tmp_path, "fnfp0.csv"), "--model", "glmm",
                         "--json")
    assert code == 1
    d = _strict(out)
    text = " ".join(d["warnings"])
    assert "logit sensitivity diverges" in text and "logit specificity diverges" in text
    assert d["logit_sens"]["se"] is None  # no information, not a made-up precision
    assert d["vcov"][0][0] > 1e6  # the fit's own covariance says so


def test_glmm_on_implausibly_huge_counts_does_not_blame_the_proportions(capsys, auditc,
                                                                        tmp_path):
    df = auditc.copy()
    df["TN"] = 10**12
    code, out, err = run(capsys, "pool", write(df, tmp_path, "huge.csv"), "--model", "glmm",
                         "--json")
    assert code == 1  # the logit is not determined: shown, but not a result to rely on
    d = _strict(out)
    assert "RuntimeWarning" not in err
    # sensitivity is not 0% or 100% anywhere: the warning must not claim it is
    assert not any("sensitivity is 0% or 100%" in w for w in d["warnings"])  # wording: kept


def test_identical_studies_give_boundary_warnings_only(capsys, auditc, tmp_path):
    df = pd.concat([auditc.iloc[[0]]] * 6, ignore_index=True)
    df["study"] = [f"s{i}" for i in range(6)]
    path = write(df, tmp_path, "same.csv")
    code, out, err = run(capsys, "pool", path, "--json")
    assert code == 0
    d = _strict(out)
    assert d["tau2_logit_sens"] == 0.0 and d["tau2_logit_fpr"] == 0.0
    # no between-study variation: rho and the SROC are undefined, not +-1 from round-off
    assert d["rho_sens_fpr"] is None and d["auc"] is None and d["hsroc"]["beta"] is None
    assert set(d["warning_codes"]) == {"zero_variance"}
    code, out, err = run(capsys, "pool", path, "--model", "glmm", "--json")
    d = _strict(out)
    assert code == 0 and d["tau2_logit_sens"] == 0.0 and d["rho_sens_fpr"] is None
    assert "zero_variance" in d["warning_codes"]
    code, out, err = run(capsys, "pool", path, "--model", "univariate", "--method", "reml",
                         "--json")
    assert code == 0
    assert "zero_variance" in _strict(out)["warning_codes"]
    assert "tau2 is estimated at 0" in err


def test_reproduce_prints_fit_warnings_as_single_lines(capsys, auditc, tmp_path):
    df = auditc.copy()
    df["FN"] = 0
    df["FP"] = 0
    code, out, err = run(capsys, "reproduce", "--data", write(df, tmp_path, "z.csv"),
                         "--out", tmp_path / "out", "--json")
    assert code == 0
    d = _strict(out)
    assert d["glmm"] is not None
    assert "metaanalysis: warning: reitsma: tau2 of logit sensitivity" in err
    assert "metaanalysis: warning: glmm: " in err


# ------------------------------------------------------------ output folders --

PLOTTING = [
    ["pool", AUDITC, "--json"],
    ["pool", AUDITC, "--model", "univariate"],
    ["loo", AUDITC],
    ["bias", AUDITC],
    ["fagan", AUDITC, "--pretest", "0.2"],
]


@pytest.mark.parametrize("argv", PLOTTING, ids=lambda a: " ".join(map(str, a[:1] + a[2:])))
@pytest.mark.parametrize("where", ["file", "under_file"])
def test_plots_into_a_file_is_one_sentence_exit_2(capsys, tmp_path, argv, where):
    blocker = tmp_path / "taken"
    blocker.write_text("keep me")
    target = blocker if where == "file" else blocker / "sub"
    code, out, err = run(capsys, *argv, "--plots", target)
    assert code == 2 and out == ""
    assert f"--plots {target}" in one_error(err)
    assert blocker.read_text() == "keep me"


def test_regress_plots_and_reproduce_out_into_a_file(capsys, auditc, tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("keep me")
    df = auditc.assign(design=["a", "b"] * 7)
    code, _, err = run(capsys, "regress", write(df, tmp_path, "c.csv"), "--covariate",
                       "design", "--plots", blocker / "sub")
    assert code == 2 and "--plots" in one_error(err)
    code, _, err = run(capsys, "reproduce", "--out", blocker, "--no-glmm")
    assert code == 2 and f"--out {blocker}" in one_error(err)
    assert blocker.read_text() == "keep me"


def test_unexpected_os_error_is_one_line_exit_2(capsys, monkeypatch):
    from metaanalysis.commands import bias

    def boom(args):
        raise PermissionError(13, "Permission denied", "/somewhere/funnel.png")

    monkeypatch.setattr(bias, "run", boom)
    code, _, err = run(capsys, "bias", AUDITC)
    assert code == 2
    assert one_error(err) == ("metaanalysis: error: /somewhere/funnel.png: Permission denied.")


def test_huge_figure_is_saved_at_a_lower_resolution(tmp_path):
    import matplotlib.pyplot as plt

    from metaanalysis.plots import MAX_RASTER_PIXELS, raster_dpi, save_figure

    fig = plt.figure(figsize=(4.0, 600.0))  # a forest plot of ~2300 studies
    try:
        assert raster_dpi(fig, 200) * 600.0 == pytest.approx(MAX_RASTER_PIXELS)
        assert raster_dpi(fig, 200) < 200
        path = save_figure(fig, tmp_path / "tall.png")
    finally:
        plt.close(fig)
    from PIL import Image

    with Image.open(path) as im:
        assert max(im.size) <= 1.01 * MAX_RASTER_PIXELS  # bbox 'tight' pads a little


# ---------------------------------------------------- options that do not apply --

@pytest.mark.parametrize(("argv", "named"), [
    (["pool", AUDITC, "--model", "glmm", "--method", "ml"], "--method ml"),
    (["pool", AUDITC, "--model", "glmm", "--correction", "single"], "--correction single"),
    (["pool", AUDITC, "--nagq", "5"], "--nagq"),
    (["pool", AUDITC, "--model", "univariate", "--nagq", "3"], "--nagq"),
    (["pool", AUDITC, "--model", "univariate", "--optimizer", "mada"], "--optimizer mada"),
    (["loo", AUDITC, "--model", "glmm", "--method", "reml"], "--method reml"),
    (["fagan", AUDITC, "--pretest", "0.3", "--nagq", "4"], "--nagq"),
    (["fagan", AUDITC, "--pretest", "0.3", "--model", "glmm", "--correction", "all"],
     "--correction all"),
])
def test_an_option_the_model_does_not_use_is_refused(capsys, argv, named):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert named in one_error(err)


def test_glmm_accepts_correction_none(capsys):
    code, out, _ = run(capsys, "pool", REFS / "zerocells.csv", "--model", "glmm",
                       "--correction", "none", "--json")
    assert code == 0 and _strict(out)["correction"] == "none"


# -------------------------------------------------------------- regress input --

def test_regress_covariate_mixing_numbers_and_text(capsys, auditc, tmp_path):
    df = auditc.assign(year=["2001", "2003", "unknown?", *map(str, range(2004, 2015))])
    path = write(df, tmp_path, "mixed.csv")
    code, out, err = run(capsys, "regress", path, "--covariate", "year")
    line = one_error(err)
    assert code == 2 and out == ""
    assert "'year' mixes numbers and text" in line and "'unknown?' (study 3)" in line


def test_regress_categorical_must_name_a_covariate(capsys, auditc, tmp_path):
    df = auditc.assign(grp=[1, 2] * 7, design=["a", "b", "c", "d", "e", "f", "g"] * 2)
    code, _, err = run(capsys, "regress", write(df, tmp_path, "c.csv"), "--covariate", "grp",
                       "--categorical", "design")
    assert code == 2 and "'design' not among the covariates" in one_error(err)


def test_regress_numeric_codes_get_a_note(capsys, auditc, tmp_path):
    df = auditc.assign(design=[1, 2, 3] * 4 + [1, 2])
    path = write(df, tmp_path, "codes.csv")
    code, out, err = run(capsys, "regress", path, "--covariate", "design", "--json")
    assert code == 0
    assert "coded_covariate" in _strict(out)["warning_codes"]
    code, out, err = run(capsys, "regress", path, "--covariate", "design", "--categorical",
                         "design", "--json")
    d = _strict(out)
    assert code == 0 and "coded_covariate" not in d["warning_codes"]
    assert d["terms"] == ["intercept", "design[2]", "design[3]"]


def test_regress_missing_covariate_list_is_bounded(capsys, auditc, tmp_path):
    df = auditc.assign(year=None)
    code, _, err = run(capsys, "regress", write(df, tmp_path, "na.csv"), "--covariate", "year")
    line = one_error(err)
    assert code == 2 and "missing for 14 studies" in line and "and 4 more" in line


# -------------------------------------------------------------------- help --

def test_top_level_help_explains_exit_codes():
    text = " ".join(build_parser().format_help().split())
    assert "COMMAND --help" in text and "2 bad input or usage" in text


# ------------------------------------------------------------------- files --

@pytest.mark.parametrize(("encoding", "sep"), [("latin-1", ","), ("cp1252", ";"),
                                               ("utf-16", "\t")])
def test_spreadsheet_encodings_are_read(capsys, auditc, tmp_path, encoding, sep):
    df = auditc.assign(study=[f"Müller {i}" for i in range(14)])
    path = tmp_path / "sheet.csv"
    path.write_text(df.to_csv(index=False, sep=sep), encoding=encoding)
    code, out, _ = run(capsys, "pool", path, "--json")
    assert code == 0 and _strict(out)["n_studies"] == 14
    from metaanalysis.table import StudyTable

    assert StudyTable.from_csv(path).studies[0] == "Müller 0"


def test_binary_file_is_refused_in_one_sentence(capsys, tmp_path):
    damaged = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(200)
    path = tmp_path / "sheet.xlsx"  # read as a workbook, which this is not
    path.write_bytes(damaged)
    code, out, err = run(capsys, "pool", path)
    assert code == 2 and "not a readable .xlsx workbook" in one_error(err)
    path = tmp_path / "sheet.csv"  # the same bytes named as a CSV
    path.write_bytes(damaged)
    code, out, err = run(capsys, "pool", path)
    assert code == 2 and "not a CSV file" in one_error(err)


def test_totals_row_is_named(capsys, auditc, tmp_path):
    total = {"study": "Total", **{c: int(auditc[c].sum()) for c in ("TP", "FP", "FN", "TN")}}
    df = pd.concat([auditc, pd.DataFrame([total])], ignore_index=True)
    code, out, err = run(capsys, "bias", write(df, tmp_path, "t.csv"))
    line = one_error(err)
    assert code == 2 and "row 15 (study 'Total') looks like a totals row" in line


def test_cumulative_order_column_mixing_numbers_and_text(capsys, auditc, tmp_path):
    df = auditc.assign(year=[*map(str, range(2000, 2013)), "in press"])
    code, out, err = run(capsys, "loo", write(df, tmp_path, "y.csv"), "--order-by", "year")
    assert code == 2 and "'in press' (study 14)" in one_error(err)


def test_cumulative_orders_numeric_text_as_numbers(capsys):
    code, out, _ = run(capsys, "loo", AUDITC, "--order-by", "study", "--json")
    assert code == 0
    added = [r["added"] for r in _strict(out)["cumulative"]]
    assert added == [str(i) for i in range(1, 15)]  # 1, 2, ..., 10, not 1, 10, 11, ...


# -------------------------------------------------------------- Python API --

@pytest.mark.parametrize(("call", "message"), [
    (lambda ma, t: ma.simulate(k=2.5, mu=[1, -1], psi=[[1, 0], [0, 1]]), "whole number"),
    (lambda ma, t: ma.simulate(k=5, mu=[float("nan"), -1], psi=[[1, 0], [0, 1]]),
     "mu must be finite"),
    (lambda ma, t: ma.simulate(k=5, mu=[1, -1], psi=[[1, 0], [0, 1]], seed="a"), "seed"),
    (lambda ma, t: ma.glmm(t, nagq=True), "nagq"),
    (lambda ma, t: t.subset([0, 100]), "study positions"),
])
def test_api_bad_arguments_raise_input_error(call, message):
    import metaanalysis as ma

    table = ma.StudyTable.from_csv(AUDITC)
    with pytest.raises(ma.InputError, match=message):
        call(ma, table)


@pytest.mark.parametrize(("value", "message"), [(pd.NA, "the count is missing"),
                                                (2**70, "too large"), (9.3e18, "too large")])
def test_table_counts_missing_or_too_large(auditc, value, message):
    from metaanalysis.errors import InputError
    from metaanalysis.table import StudyTable

    df = auditc.astype({"TP": object})
    df.loc[2, "TP"] = value
    with pytest.raises(InputError, match=rf"row 3 \(study '3'\), column TP: .*{message}"):
        StudyTable(df)


def test_fagan_with_an_unbounded_lr_draws_without_numpy_warnings(capsys, auditc, tmp_path):
    df = auditc.assign(FN=0)
    code, out, err = run(capsys, "fagan", write(df, tmp_path, "fn0.csv"), "--model", "glmm",
                         "--pretest", "0.2", "--plots", tmp_path / "fig")
    assert code == 1 and (tmp_path / "fig" / "fagan.png").stat().st_size > 0
    assert "divide by zero" not in err and "encountered" not in err


def test_regress_covariate_named_intercept_is_refused(capsys, auditc, tmp_path):
    df = auditc.assign(Intercept=[0, 1, 2] * 4 + [0, 1])
    code, _, err = run(capsys, "regress", write(df, tmp_path, "i.csv"), "--covariate",
                       "Intercept")
    assert code == 2 and "name of the model's constant term" in one_error(err)


def test_glmm_regression_does_not_depend_on_the_covariate_units(capsys, auditc, tmp_path):
    # the same covariate in units 1e9 apart: one fit, so one logLik and rescaled slopes
    x = [float(v) for v in range(14)]
    df = auditc.assign(big=[1e9 * (1 + v) for v in x], small=[1e-9 * (1 + v) for v in x])
    path = write(df, tmp_path, "units.csv")
    fits = {}
    for cov in ("big", "small"):
        code, out, err = run(capsys, "regress", path, "--covariate", cov, "--model", "glmm",
                             "--json")
        assert code == 0 and "did not converge" not in err
        fits[cov] = _strict(out)
    assert fits["big"]["loglik"] == pytest.approx(fits["small"]["loglik"], abs=1e-6)
    slope = {c: [r for r in fits[c]["coefficients"] if r["term"] == c] for c in fits}
    for b, s in zip(slope["big"], slope["small"], strict=True):
        assert b["estimate"] * 1e18 == pytest.approx(s["estimate"], rel=1e-4)
        assert b["se"] * 1e18 == pytest.approx(s["se"], rel=1e-3)


def test_glmm_regression_on_calendar_years_matches_years_from_zero(auditc):
    # year ~ 2000 made the GLMM's Hessian singular (SEs 5x too small, no convergence)
    import metaanalysis as ma

    years = list(range(2000, 2014))
    df = auditc.assign(year=years, since=[y - 2000 for y in years])
    table = ma.StudyTable(df)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no FitWarning, no RuntimeWarning
        calendar = ma.regression(table, "year", model="glmm", test=False)
        shifted = ma.regression(table, "since", model="glmm", test=False)
    assert calendar.loglik == pytest.approx(shifted.loglik, abs=1e-6)
    assert calendar.coef[1] == pytest.approx(shifted.coef[1], rel=1e-4)   # slopes
    assert calendar.se[1] == pytest.approx(shifted.se[1], rel=1e-3)       # slope SEs
    # years from 0 are well conditioned: the direct fit, without rescaling, agrees
    import numpy as np

    from metaanalysis.models.glmm import binomial_data, fit_binomial_normal

    X = np.column_stack([np.ones(14), df["since"].to_numpy(dtype=float)])
    direct = fit_binomial_normal(binomial_data(table, X))
    assert direct.loglik == pytest.approx(shifted.loglik, abs=1e-6)
    se_direct = np.sqrt(np.diag(direct.vcov)).reshape(2, 2)  # (sens, spec) x terms
    assert shifted.se[1] == pytest.approx(se_direct[:, 1], rel=1e-3)
    assert calendar.converged and not calendar.warnings


def test_pool_reports_the_figures_it_wrote(capsys, tmp_path):
    code, out, err = run(capsys, "pool", AUDITC, "--json", "--plots", tmp_path / "figs")
    assert code == 0 and _strict(out)["n_studies"] == 14
    for name in ("forest.png", "sroc.png"):
        assert (tmp_path / "figs" / name).stat().st_size > 0
        assert f"wrote {tmp_path / 'figs' / name}" in err


@pytest.mark.parametrize("model", ["reitsma", "glmm"])
def test_two_studies_is_one_sentence_that_says_what_to_try(capsys, auditc, tmp_path, model):
    code, out, err = run(capsys, "pool", write(auditc.head(2), tmp_path, "two.csv"),
                         "--model", model)
    assert code == 1 and out == ""
    assert "--model univariate" in one_error(err)
    code, out, _ = run(capsys, "pool", tmp_path / "two.csv", "--model", "univariate", "--json")
    assert code == 0 and "few_studies" in _strict(out)["warning_codes"]


def test_console_script_on_a_diverging_glmm_keeps_stdout_json_and_stderr_one_line_each(
        auditc, tmp_path):
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "metaanalysis"
    path = write(auditc.assign(FN=0), tmp_path, "fn0.csv")
    r = subprocess.run([str(exe), "pool", str(path), "--model", "glmm", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    d = _strict(r.stdout)
    *lines, last = r.stderr.splitlines()
    assert lines and all(ln.startswith("metaanalysis: warning: ") for ln in lines)
    assert len(lines) == len(d["warnings"])
    assert last.startswith("metaanalysis: error: the glmm fit of ")


def test_glmm_on_tiny_studies_with_a_huge_tau2_answers(capsys, tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("study,TP,FN,FP,TN\ns0,0,2,0,1\ns1,0,3,0,2\ns2,0,3,3,0\ns3,1,2,1,0\n")
    code, out, _ = run(capsys, "pool", path, "--model", "glmm", "--json")
    assert code == 0 and _strict(out)["warnings"]


def test_unsupported_separator_is_explained(capsys, tmp_path):
    path = tmp_path / "pipes.csv"
    path.write_text("study|TP|FP|FN|TN\na|1|2|3|4\nb|2|3|4|5\n")
    code, _, err = run(capsys, "pool", path)
    line = one_error(err)
    assert code == 2 and "read as the single column 'study|TP|FP|FN|TN'" in line


@pytest.mark.parametrize(("header", "extra"), [("study,TP,FP,FN,TN,tp", ",9"),
                                               ("study,TP,FP,FN,TN,year,Year", ",2001,2002")])
def test_repeated_header_column_is_named(capsys, tmp_path, header, extra):
    path = tmp_path / "rep.csv"
    rows = [f"{s},{10 + i},2,3,40{extra}" for i, s in enumerate("abc")]
    path.write_text("\n".join([header, *rows]) + "\n")
    code, _, err = run(capsys, "pool", path, "--model", "univariate")
    assert code == 2 and "appears twice in the header" in one_error(err)


def test_trailing_empty_header_cells_are_ignored(capsys, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text("study,TP,FP,FN,TN,,\na,10,2,3,40,,\nb,20,3,4,50,,\nc,30,4,5,60,,\n")
    code, out, _ = run(capsys, "pool", path, "--model", "univariate", "--json")
    assert code == 0 and _strict(out)["n_studies"] == 3


def test_a_glmm_that_does_not_converge_is_shown_without_intervals_and_exits_1(capsys, tmp_path):
    """Three studies, each 0% or 100% sensitive: tau2 of logit sens grows without bound, the
    optimiser stops at its step limit; the table has no interval to mislead, and exit 1."""
    path = tmp_path / "s112.csv"
    path.write_text("study,TP,FP,FN,TN\nS01,5,3,0,11\nS02,0,1,1,13\nS03,6,7,0,36\n")
    code, out, err = run(capsys, "pool", path, "--model", "glmm")
    assert code == 1
    rows = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines()
            if ln.split() and ln.split()[0] in ("logit_sens", "logit_fpr", "sensitivity",
                                                "specificity")}
    # the estimate alone on each row (specificity 0.8450 had a 0.8449-0.8450 interval from
    # 83 patients; logit sens an SE of 286 about an estimate of 2.7e6)
    assert {k: len(v) for k, v in rows.items()} == dict.fromkeys(rows, 1) and len(rows) == 4
    assert "HSROC: undefined (a pooled logit diverged)" in out and "nan" not in out
    assert one_error(err) == (
        f"metaanalysis: error: the glmm fit of {path} did not converge and has a pooled logit "
        "that diverges; its result is shown above with the warnings that say what to try, "
        "but cannot be relied on.")
    # the default is already one quadrature point: the advice does not repeat it
    not_conv = [ln for ln in err.splitlines() if "did not converge (" in ln]
    assert len(not_conv) == 1 and "nagq=1" not in not_conv[0]


def test_a_meta_regression_whose_logit_diverges_exits_1(capsys, auditc, tmp_path):
    df = auditc.assign(FN=0, group=["a", "b"] * (len(auditc) // 2) + ["a"] * (len(auditc) % 2))
    path = write(df, tmp_path, "fn0_group.csv")
    code, out, err = run(capsys, "regress", path, "--model", "glmm", "--covariate", "group",
                         "--json")
    assert code == 1 and _strict(out)["warning_codes"]
    assert one_error(err).startswith(
        f"metaanalysis: error: the glmm meta-regression of {path} has a pooled logit that "
        "diverges;")


@pytest.mark.parametrize(("cell", "outcome", "seen"), [
    ("FP", "specificity", "100%"), ("FN", "sensitivity", "100%"), ("TP", "sensitivity", "0%")])
def test_reitsma_says_when_an_outcome_rests_on_the_continuity_correction(
        capsys, auditc, tmp_path, cell, outcome, seen):
    """An outcome at 0% or 100% in every study is pooled from the 0.5 correction alone."""
    # the cell emptied into its row partner: every study keeps its diseased and non-diseased
    partner = {"FP": "TN", "FN": "TP", "TP": "FN"}[cell]
    df = auditc.assign(**{partner: auditc[partner] + auditc[cell], cell: 0})
    code, out, err = run(capsys, "pool", write(df, tmp_path, f"{cell}0.csv"), "--json")
    d = _strict(out)
    assert code == 0 and d["warning_codes"].count("correction_driven") == 1
    assert (f"the {outcome} is {seen} in every study: its pooled value and interval rest on "
            "the continuity correction (correction 'all')") in err
    code, out, _ = run(capsys, "pool", write(auditc, tmp_path, "as_is.csv"), "--json")
    assert code == 0 and "correction_driven" not in _strict(out)["warning_codes"]


@pytest.mark.parametrize("k", [3, 4])
def test_regress_without_covariates_fits_and_warns_as_pool_does(capsys, auditc, tmp_path, k):
    path = write(auditc.iloc[:k], tmp_path, f"k{k}.csv")
    code_r, out_r, err_r = run(capsys, "regress", path, "--json")
    code_p, out_p, _ = run(capsys, "pool", path, "--json")
    assert code_r == code_p == 0
    r, p = _strict(out_r), _strict(out_p)
    coef = {c["outcome"]: c for c in r["coefficients"]}
    for logit in ("logit_sens", "logit_fpr"):
        assert coef[logit]["estimate"] == pytest.approx(p[logit]["estimate"], abs=1e-7)
        assert coef[logit]["se"] == pytest.approx(p[logit]["se"], abs=1e-7)
    assert sorted(r["warning_codes"]) == sorted(p["warning_codes"]) and "few_studies" in \
        r["warning_codes"]
    assert r["warning_codes"][0] == p["warning_codes"][0] == "few_studies"
    assert r["loglik"] == pytest.approx(p["loglik"], rel=1e-9, abs=1e-9)
    assert r["tau2_logit_sens"] == pytest.approx(p["tau2_logit_sens"], abs=1e-9)
    # a boundary is named by what it is, not by an internal parameter name
    assert "tau2_1" not in err_r and "(tau2" not in err_r


@pytest.mark.parametrize(("cell", "shown"), [("1.000", "may mean 1000 (a point between "
                                                       "thousands) or 1;"),
                                             ("12.500", "may mean 12500 (a point between "
                                                        "thousands) or 12.5;")])
def test_a_thousands_point_in_a_semicolon_file_is_refused(capsys, tmp_path, cell, shown):
    path = tmp_path / "semi.csv"
    path.write_text(f"study;TP;FP;FN;TN\nA;30;10;5;40\nB;{cell};12;8;50\nC;15;20;3;60\n")
    code, _, err = run(capsys, "pool", path)
    assert code == 2
    assert one_error(err) == (f"metaanalysis: error: {path}: row 2, column 'TP': the count "
                              f"'{cell}' in a file whose columns are separated by ';' {shown} "
                              "write counts as whole numbers without separators.")
    # the same count with commas between the columns is the decimal it reads as
    path.write_text(f"study,TP,FP,FN,TN\nA,30,10,5,40\nB,{cell},12,8,50\nC,15,20,3,60\n")
    code, _, err = run(capsys, "pool", path)
    assert (code == 0) == (cell == "1.000"), err  # 12.5 subjects is not a whole count
