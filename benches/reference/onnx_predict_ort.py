"""onnxruntime's rows per second on an exported crossfold model, one thread (the anchor of
`cargo bench --bench predict`).

Usage: onnx_predict_ort.py MODEL.onnx COLUMNS.json SECONDS
COLUMNS.json maps each input's name to its column of values (null for missing). Times
session.run on batches of 1 and of 1,024 rows (each repeated for about SECONDS) and prints
one JSON line: {"rows_per_s_1": ..., "rows_per_s_1024": ..., "onnxruntime": version}.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort

model, columns_path, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
columns = json.load(open(columns_path))


def feed(rows):
    out = {}
    for inp in session.get_inputs():
        values = columns[inp.name][:rows]
        if inp.type == "tensor(string)":
            out[inp.name] = np.array(values, dtype=object).reshape(-1, 1)
        else:
            out[inp.name] = np.array([np.nan if v is None else v for v in values],
                                     dtype=np.float32).reshape(-1, 1)
    return out


result = {"onnxruntime": ort.__version__}
for rows in (1, 1024):
    inputs = feed(rows)
    session.run(None, inputs)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        session.run(None, inputs)
        done += rows
    result[f"rows_per_s_{rows}"] = done / (time.perf_counter() - start)
print(json.dumps(result))
