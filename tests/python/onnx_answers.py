"""Runs an exported crossfold model in onnxruntime after onnx's full check.

Usage: onnx_answers.py MODEL.onnx ROWS.json
prints {"probabilities": [[...]], "labels": [...], "metadata": {...}, "opset": {...}, "ir_version": n}
ROWS.json maps each input's name to its values: a table's columns (numbers, null for missing;
strings), or a sequence model's `sequences` (batch x steps x channels) and `lengths`.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

model_path, rows_path = sys.argv[1], sys.argv[2]
model = onnx.load(model_path)
onnx.checker.check_model(model, full_check=True)
columns = json.load(open(rows_path))
session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
feed = {}
for inp in session.get_inputs():
    values = columns[inp.name]
    if inp.type == "tensor(string)":
        feed[inp.name] = np.array(values, dtype=object).reshape(-1, 1)
    elif inp.type == "tensor(int64)":
        feed[inp.name] = np.array(values, dtype=np.int64)
    else:
        array = np.array([np.nan if v is None else v for v in values] if len(inp.shape) == 2
                         else values, dtype=np.float32)
        feed[inp.name] = array.reshape(-1, 1) if len(inp.shape) == 2 else array
probabilities, labels = session.run(["probabilities", "label"], feed)
print(json.dumps({"probabilities": probabilities.astype(float).tolist(),
                  "labels": [str(l) for l in labels],
                  "metadata": {p.key: p.value for p in model.metadata_props},
                  "opset": {o.domain: o.version for o in model.opset_import},
                  "ir_version": model.ir_version}))
