"""Runs an exported artefact on saved inputs, in a fresh process: the consumer's view.

    python -P verify_child.py PLAN.json

Started by `export.verify` as a standalone script (never `-m export...`), so that nothing of
the zoo is importable by accident: the artefact must work with TensorFlow alone (plus
tensorflow_hub for the hub format; the .tflite files need only ai_edge_litert, TensorFlow is
not even imported). PLAN.json names the format, the artefact, the inputs .npz, where to
write the outputs .npz and a JSON report, and the cases:

    saved_model  {"case", "signature", "args"}   loaded.signatures[signature](**args)
    hub          {"case", "via", "args", "dict"} via "hub_load" (hub.load(path)(inputs)) or
                                                 "keras_layer" (hub.KerasLayer(path)(inputs))
    tflite       {"case", "file", "args"}        the file's one signature, sample by sample
Inputs are read from the .npz as "<case>/<arg>"; outputs written as "<case>/<output>".
"""

import json
import sys

import numpy as np


def _inputs(arrays, case):
  return {arg: arrays[f"{case['case']}/{arg}"] for arg in case["args"]}


def run_saved_model(plan, arrays):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  loaded = tf.saved_model.load(plan["path"])
  report = {"signatures": {}}
  for name, fn in loaded.signatures.items():
    report["signatures"][name] = {
        "inputs": {k: [str(v.dtype.name), v.shape.as_list()]
                   for k, v in fn.structured_input_signature[1].items()},
        "outputs": {k: [str(v.dtype.name), v.shape.as_list()]
                    for k, v in fn.structured_outputs.items()},
    }
  results = {}
  for case in plan["cases"]:
    args = {k: tf.constant(v) for k, v in _inputs(arrays, case).items()}
    for key, value in loaded.signatures[case["signature"]](**args).items():
      results[f"{case['case']}/{key}"] = value.numpy()
  return results, report


def run_hub(plan, arrays):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  loaded = hub.load(plan["path"])
  report = {
      "num_variables": len(loaded.variables),
      "num_trainable_variables": len(loaded.trainable_variables),
      "num_regularization_losses": len(loaded.regularization_losses),
  }
  layer = None
  results = {}
  for case in plan["cases"]:
    inputs = {k: tf.constant(v) for k, v in _inputs(arrays, case).items()}
    if not case["dict"]:
      (inputs,) = inputs.values()
    if case["via"] == "hub_load":
      output = loaded(inputs)
    else:
      if layer is None:
        layer = hub.KerasLayer(plan["path"])
        report["keras_layer_module"] = type(layer).__mro__[1].__module__
      output = layer(inputs)
    results[f"{case['case']}/video"] = np.asarray(output)
  return results, report


def run_tflite(plan, arrays):
  from ai_edge_litert import interpreter as litert  # pylint: disable=g-import-not-at-top
  results, report = {}, {"signatures": {}}
  for case in plan["cases"]:
    interpreter = litert.Interpreter(model_path=case["file"])
    report["signatures"][case["case"]] = interpreter.get_signature_list()
    runner = interpreter.get_signature_runner()
    inputs = _inputs(arrays, case)
    n = len(next(iter(inputs.values())))
    per_sample = [runner(**{k: v[i:i + 1] for k, v in inputs.items()}) for i in range(n)]
    for key in per_sample[0]:
      results[f"{case['case']}/{key}"] = np.concatenate([o[key] for o in per_sample])
  return results, report


def main(plan_path):
  with open(plan_path) as f:
    plan = json.load(f)
  arrays = dict(np.load(plan["inputs"]))
  run = {"saved_model": run_saved_model, "hub": run_hub, "tflite": run_tflite}[plan["format"]]
  results, report = run(plan, arrays)
  # Evidence that the artefact stood alone: no zoo / trainers / export module was imported.
  report["project_modules"] = sorted(
      m for m in sys.modules if m.split(".")[0] in ("zoo", "trainers", "export", "configs"))
  report["tensorflow_imported"] = "tensorflow" in sys.modules
  np.savez(plan["outputs"], **results)
  with open(plan["report"], "w") as f:
    json.dump(report, f)


if __name__ == "__main__":
  main(sys.argv[1])
