#!/usr/bin/env python3
"""Pull every chart's per-second values from a running Netdata agent into one raw JSON file.

    pull.py PORT SECONDS OUT.json

The Rust side (`cargo test -p ndcluster --test storage_corpus -- --ignored build`) turns the
raw file into the compact committed fixture `bench/corpus/system.ndc`.
"""
import json
import sys
import urllib.request

port, secs, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
base = f"http://127.0.0.1:{port}"
charts = json.load(urllib.request.urlopen(f"{base}/api/v1/charts"))["charts"]
series = []
for cid, c in sorted(charts.items()):
    ue = int(c.get("update_every", 1)) or 1
    n = secs // ue
    url = f"{base}/api/v1/data?chart={cid}&after=-{secs}&before=0&points={n}&group=average&format=json&options=seconds"
    d = json.load(urllib.request.urlopen(url))
    labels = d["labels"][1:]
    rows = sorted(d["data"], key=lambda r: r[0])
    for i, dim in enumerate(labels):
        series.append({
            "chart": cid, "dim": dim, "update_every": ue,
            "points": [[r[0], r[i + 1]] for r in rows],
        })
json.dump({"source": base, "seconds": secs, "series": series}, open(out, "w"))
print(f"{len(series)} series, {sum(len(s['points']) for s in series)} points -> {out}")
