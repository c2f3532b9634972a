"""How far each ROI mode agrees with the realistic phantom's reference VBQ.

Forty realistic anatomies (seeds 0-19, variants "random" and "all", 256 x 256 x 15),
each scored with the reader's ellipses (rois.json), one click per body with and without a
CSF seed, and the label mask; the error is VBQ / reference VBQ - 1, the reference being
fixed by the phantom before any ROI engine runs. README's "How far each ROI mode can be
trusted" comes from this script.

Jitter mode: each body click (L1-L4, without a CSF seed) moved by 4 mm in turn along the
body's own craniocaudal and antero-posterior axes, both ways (``expected.json["geometry"]``,
so every moved click stays inside its body: the inner half-height is at least 8 mm); the
change is VBQ(moved) / VBQ(clicks at the true centres) - 1, and each anatomy reports the
largest of its 16 changes.

Ceilings of the clicks (without a CSF seed), to tell the engine's misses from what
sampling alone moves: the clicks' bodies over the reference CSF mean (how much the CSF
ROI costs), and the clicks' ROIs restricted to the reference's own pixels (every pixel
measured is one the reference counts, no lesion or border kept: what is left is the
ROI sampling part of a textured marrow and of a noisy sac).

Usage: python benchmarks/roi_agreement.py [CACHE_DIR [FIRST_SEED]]

The engines' constants were chosen looking at seeds 0-19; ``FIRST_SEED`` N measures
the twenty anatomies of each kind from seed N (README gives ten sets, seeds 0-119,
140-199 and 240-259, and how each set was used).
"""
import json
import sys
from pathlib import Path

import numpy as np

import vbq
from vbq.phantom import make_phantom

root = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/vbq-roi-agreement")
first = int(sys.argv[2]) if len(sys.argv) > 2 else 0
root.mkdir(parents=True, exist_ok=True)
modes = {"rois": {}, "seeds_csf_seed": {}, "seeds_traced": {}, "mask": {}}
JITTER_MM = 4.0
#: Warning codes that say what was done, not that something may be wrong: an error
#: carrying only these counts as unwarned.
INFORMATIONAL = {"csf_from_image"}
BODIES = ("L1", "L2", "L3", "L4")
jitter: dict[str, tuple[float | None, int, int]] = {}   # largest change, refused, tried
ceilings: dict[str, dict[str, float | None]] = {"reference_csf": {}, "inside_reference": {}}


def ceiling_errors(r, exp: dict, d: Path) -> tuple[float | None, float | None]:
    """The clicks' VBQ error over the reference CSF, and with ROIs cut to the reference."""
    ref = exp["reference"]
    used = [lv.si for lv in r.levels.values() if lv.used and lv.si is not None]
    with_ref_csf = float(np.median(used)) / ref["csf"]["mean"] / ref["vbq"] - 1
    if r.slice_index != ref["slice"] or r.masks is None or r.image is None:
        return with_ref_csf, None
    truth = np.load(d / ref["file"])
    img = np.asarray(r.image, dtype=float)
    means = {}
    for label in (*BODIES, "CSF"):
        inside = r.masks[label] & truth[label].astype(bool)
        if (r.mask_slices or {}).get(label, r.slice_index) != r.slice_index or not inside.any():
            return with_ref_csf, None
        means[label] = float(img[inside].mean())
    inside_ref = float(np.median([means[b] for b in BODIES])) / means["CSF"] / ref["vbq"] - 1
    return with_ref_csf, inside_ref


def jittered(seeds: dict, exp: dict):
    """Yield the seed document with one body click moved JITTER_MM along one body axis."""
    geo = exp["geometry"]
    sr, sc = geo["pixel_spacing_mm"][:2]
    for level in BODIES:
        g = geo["levels"][level]
        for axis in ("axis_direction", "ap_direction"):
            for sign in (1.0, -1.0):
                dr, dc = (sign * JITTER_MM * x for x in g[axis])
                moved = [dict(s) for s in seeds["seeds"]]
                for s in moved:
                    if s["label"] == level:
                        s["point"] = [s["point"][0] + dr / sr, s["point"][1] + dc / sc]
                yield dict(seeds, seeds=moved)


for variants in ("random", "all"):
    for seed in range(first, first + 20):
        d = root / f"{variants}{seed}"
        if not (d / "expected.json").exists():
            make_phantom(d, anatomy="realistic", seed=seed, variants=variants)
        exp = json.loads((d / "expected.json").read_text())
        ref = exp["reference"]["vbq"]
        seeds = json.loads((d / "seeds.json").read_text())
        noc = dict(seeds, seeds=[s for s in seeds["seeds"] if s["label"] != "CSF"])
        (d / "seeds_nocsf.json").write_text(json.dumps(noc))
        for mode, kw in (("rois", {"rois": d / "rois.json"}),
                         ("seeds_csf_seed", {"seeds": d / "seeds.json"}),
                         ("seeds_traced", {"seeds": d / "seeds_nocsf.json"}),
                         ("mask", {"mask": d / "mask.nii.gz", "labels": "totalspineseg"})):
            key = f"{variants}{seed}"
            try:
                r = vbq.score_series(d / "series", **kw)
                modes[mode][key] = (r.vbq / ref - 1, list(r.warning_codes))
            except Exception as e:  # noqa: BLE001
                modes[mode][key] = (None, type(e).__name__)
            if mode == "seeds_traced" and modes[mode][key][0] is not None:
                try:
                    c = ceiling_errors(r, exp, d)
                except Exception:  # noqa: BLE001
                    c = (None, None)
                ceilings["reference_csf"][key], ceilings["inside_reference"][key] = c
        base = modes["seeds_traced"][key][0]     # VBQ at the true centres / reference - 1
        changes, refused, tried = [], 0, 0
        for moved in jittered(noc, exp):
            tried += 1
            try:
                r = vbq.score_series(d / "series", seeds=moved)
                if base is not None:
                    changes.append(abs(r.vbq / (ref * (1.0 + base)) - 1))
            except Exception:  # noqa: BLE001
                refused += 1
        jitter[key] = (max(changes) if changes else None, refused, tried)
(root / "results.json").write_text(json.dumps(dict(modes, jitter=jitter, ceilings=ceilings),
                                              indent=1))
for mode, res in modes.items():
    errs = np.array([abs(v[0]) for v in res.values() if v[0] is not None])
    n = len(res)
    refused = sum(v[0] is None for v in res.values())
    big = [v for v in res.values() if v[0] is not None and abs(v[0]) > 0.05]
    warned = sum(1 for v in big if set(v[1]) - INFORMATIONAL)
    print(f"{mode:16s} refused {refused}/{n}  median {np.median(errs):.1%}  "
          f"p95 {np.percentile(errs, 95):.1%}  within3 {int((errs < 0.03).sum())}/{n}  "
          f"within5 {int((errs < 0.05).sum())}/{n}  >5% with a warning {warned}/{len(big)}")
for name, res in ceilings.items():
    for variants in ("random", "all"):
        errs = [abs(v) for k, v in res.items() if k.startswith(variants) and v is not None]
        n = sum(1 for k in res if k.startswith(variants))
        print(f"ceiling {name:16s} {variants:6s} within3 {sum(e < 0.03 for e in errs)}/{n}"
              f"  (not computed {n - len(errs)})")
for variants in ("random", "all"):
    res = {k: v for k, v in jitter.items() if k.startswith(variants)}
    for key, (worst, refused, tried) in res.items():
        shown = "refused at the true centres" if worst is None else f"{worst:.1%}"
        print(f"jitter {key:9s} largest VBQ change {shown}  refused {refused}/{tried}")
    worst = [v[0] for v in res.values() if v[0] is not None]
    under = sum(1 for v in res.values() if v[0] is not None and v[0] < 0.03 and v[1] == 0)
    print(f"jitter {variants:6s} largest change {max(worst):.1%}  under 3% (and never "
          f"refused) {under}/{len(res)}")
