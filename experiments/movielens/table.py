"""Markdown table of the MovieLens runs in OUT (eval.json of each run): mean ± std over u1..u5, ua, ub.

    python experiments/movielens/table.py OUT
"""
import json
import os
import sys

import numpy as np

out = sys.argv[1]
models = [("cf-rbm-item", "softmax CF-RBM, item-based (I-RBM)"), ("cf-rbm-user", "softmax CF-RBM, user-based"),
          ("autorec", "I-AutoRec"), ("rbm-binary", "the chapter's like/dislike RBM (MAE of likes)")]
folds = ["u1", "u2", "u3", "u4", "u5"]


def load(model, fold):
    path = os.path.join(out, f"{model}-{fold}", "eval.json")
    return json.load(open(path)) if os.path.exists(path) else None


def cell(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}" if len(values) > 1 else f"{values[0]:.4f}"


print("| model | RMSE u1..u5 | MAE u1..u5 | RMSE ua | RMSE ub | precision@10 | recall@10 | NDCG@10 |")
print("|---|---|---|---|---|---|---|---|")
rows = {m: [load(m, f) for f in folds] for m, _ in models}
for model, name in models:
    r = [x for x in rows[model] if x]
    if not r:
        continue
    rmse = cell([x.get("test_rmse") for x in r]) if "test_rmse" in r[0] else "-"
    extra = {f: load(model, f) for f in ("ua", "ub")}
    ua_ub = [f"{extra[f]['test_rmse']:.4f}" if extra[f] and "test_rmse" in extra[f] else "-" for f in ("ua", "ub")]
    print(f"| {name} | {rmse} | {cell([x['test_mae'] for x in r])} | {ua_ub[0]} | {ua_ub[1]} | "
          f"{cell([x['precision@10'] for x in r])} | {cell([x['recall@10'] for x in r])} | {cell([x['ndcg@10'] for x in r])} |")
base = [x for x in rows["autorec"] if x] or [x for x in rows["cf-rbm-item"] if x]
if base:
    ua_ub = [load("autorec", f) for f in ("ua", "ub")]
    print(f"| user + item bias baseline | {cell([x['bias_rmse'] for x in base])} | {cell([x['bias_mae'] for x in base])} | "
          + " | ".join(f"{x['bias_rmse']:.4f}" if x else "-" for x in ua_ub) + " | | | |")
    print(f"| global mean | {cell([x['global_mean_rmse'] for x in base])} | {cell([x['global_mean_mae'] for x in base])} | "
          + " | ".join(f"{x['global_mean_rmse']:.4f}" if x else "-" for x in ua_ub) + " | | | |")
