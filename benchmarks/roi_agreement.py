"""How far each ROI mode agrees with the realistic phantom's reference VBQ.

Forty realistic anatomies (seeds 0-19, variants "random" and "all", 256 x 256 x 15),
each scored with the reader's ellipses (rois.json), one click per body with and without a
CSF seed, and the label mask; the error is VBQ / reference VBQ - 1, the reference being
fixed by the phantom before any ROI engine runs. README's "How far each ROI mode can be
trusted" comes from this script. Usage: python benchmarks/roi_agreement.py [CACHE_DIR]
"""
import json
import sys
from pathlib import Path

import numpy as np

import vbq
from vbq.phantom import make_phantom

root = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/vbq-roi-agreement")
root.mkdir(parents=True, exist_ok=True)
modes = {"rois": {}, "seeds_csf_seed": {}, "seeds_traced": {}, "mask": {}}
for variants in ("random", "all"):
    for seed in range(20):
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
(root / "results.json").write_text(json.dumps(modes, indent=1))
for mode, res in modes.items():
    errs = np.array([abs(v[0]) for v in res.values() if v[0] is not None])
    n = len(res)
    refused = sum(v[0] is None for v in res.values())
    big = [v for v in res.values() if v[0] is not None and abs(v[0]) > 0.05]
    warned = sum(1 for v in big if v[1])
    print(f"{mode:16s} refused {refused}/{n}  median {np.median(errs):.1%}  "
          f"p95 {np.percentile(errs, 95):.1%}  within3 {int((errs < 0.03).sum())}/{n}  "
          f"within5 {int((errs < 0.05).sum())}/{n}  >5% with a warning {warned}/{len(big)}")
