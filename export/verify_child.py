"""Runs an exported artefact on saved inputs, in a fresh process: the consumer's view.

    python verify_child.py PLAN.json

Started by `export.verify` as a standalone script (never `-m export...`), so that nothing of
the zoo is importable by accident: the artefact must work with TensorFlow alone (plus
tensorflow_hub for the hub format; the .tflite files need only ai_edge_litert, TensorFlow is
not even imported, when only .tflite files are checked). PLAN.json names the inputs .npz,
where to write the outputs .npz and a JSON report, and the jobs, each {"id", "format",
"path", "cases"}, one per artefact, so that one process (one TensorFlow import) checks them
all. The cases per format:

    saved_model  {"case", "signature", "args"}   loaded.signatures[signature](**args), and
                                                 again through a TF1 Session (TF Serving's way)
    hub          {"case", "via", "args", "dict"} via "hub_load" (hub.load(path)(inputs)) or
                                                 "keras_layer" (hub.KerasLayer(path)(inputs))
    tflite       {"case", "file", "args"}        the file's one signature, sample by sample
                                                 (a scalar arg, num_frames, as it is)
    keras        {"case", "args", "dict",        keras.saving.load_model(path)(inputs) after
                  "imports"}                     `import zoo` and the imports a user's own
                                                 generator class needs (run alone)
Inputs are read from the .npz as "<id>:<case>/<arg>"; outputs written as
"<id>:<case>/<output>". An artefact that fails to load gets {"error": traceback} in the
report instead of outputs.
"""

import importlib
import json
import os
import sys
import traceback

# Python puts the script's folder (export/) first on sys.path: from there `import export`
# or `import tflite` would find our modules. Python 3.11's -P leaves it out; 3.10 has no -P.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import numpy as np


def _inputs(arrays, case):
  return {arg: arrays[f"{case['case']}/{arg}"] for arg in case["args"]}


def run_saved_model(job, arrays):
  import tensorflow as tf

  loaded = tf.saved_model.load(job["path"])
  report = {"signatures": {}}
  for name, fn in loaded.signatures.items():
    report["signatures"][name] = {
      "inputs": {
        k: [str(v.dtype.name), v.shape.as_list()]
        for k, v in fn.structured_input_signature[1].items()
      },
      "outputs": {
        k: [str(v.dtype.name), v.shape.as_list()] for k, v in fn.structured_outputs.items()
      },
    }
  results = {}
  for case in job["cases"]:
    args = {k: tf.constant(v) for k, v in _inputs(arrays, case).items()}
    for key, value in loaded.signatures[case["signature"]](**args).items():
      results[f"{case['case']}/{key}"] = value.numpy()
  results.update(run_saved_model_in_session(job, arrays))
  return results, report


def run_saved_model_in_session(job, arrays):
  """The same signatures through a TF1 Session loader, the way TF Serving's C++ loader
  and `saved_model_cli run` see the model: the SignatureDef tensor names, the restore op."""
  import tensorflow as tf

  results = {}
  with tf.Graph().as_default(), tf.compat.v1.Session() as session:
    meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], job["path"])
    for case in job["cases"]:
      signature = meta_graph.signature_def[case["signature"]]
      feeds = {signature.inputs[k].name: v for k, v in _inputs(arrays, case).items()}
      fetches = {k: v.name for k, v in signature.outputs.items()}
      for key, value in session.run(fetches, feeds).items():
        results[f"{case['case']}[session]/{key}"] = value
  return results


def run_hub(job, arrays):
  import tensorflow as tf
  import tensorflow_hub as hub

  loaded = hub.load(job["path"])
  report = {
    "num_variables": len(loaded.variables),
    "num_trainable_variables": len(loaded.trainable_variables),
    "num_regularization_losses": len(loaded.regularization_losses),
  }
  layer = None
  results = {}
  for case in job["cases"]:
    inputs = {k: tf.constant(v) for k, v in _inputs(arrays, case).items()}
    if not case["dict"]:
      (inputs,) = inputs.values()
    if case["via"] == "hub_load":
      output = loaded(inputs)
    else:
      if layer is None:
        layer = hub.KerasLayer(job["path"])
        report["keras_layer_module"] = type(layer).__mro__[1].__module__
      output = layer(inputs)
    results[f"{case['case']}/video"] = np.asarray(output)
  return results, report


def run_tflite(job, arrays):
  from ai_edge_litert import interpreter as litert

  results, report = {}, {"signatures": {}}
  for case in job["cases"]:
    interpreter = litert.Interpreter(model_path=case["file"])
    report["signatures"][case["case"]] = interpreter.get_signature_list()
    runner = interpreter.get_signature_runner()
    inputs = _inputs(arrays, case)
    # Batched inputs are fed one sample at a time; scalars (num_frames) as they are.
    n = max(len(v) for v in inputs.values() if np.ndim(v))
    per_sample = [
      runner(**{k: v[i : i + 1] if np.ndim(v) else v for k, v in inputs.items()}) for i in range(n)
    ]
    for key in per_sample[0]:
      results[f"{case['case']}/{key}"] = np.concatenate([o[key] for o in per_sample])
  return results, report


def run_keras(job, arrays):
  import keras
  import tensorflow as tf

  import zoo  # noqa: F401  (registers the zoo's classes with Keras)

  for case in job["cases"]:
    for extra in case["imports"]:  # a generator class from outside the zoo
      sys.path.extend(p for p in extra["path"] if p not in sys.path)
      importlib.import_module(extra["module"])
  model = keras.saving.load_model(job["path"])
  results = {}
  for case in job["cases"]:
    inputs = {k: tf.constant(v) for k, v in _inputs(arrays, case).items()}
    if not case["dict"]:
      (inputs,) = inputs.values()
    output = model(inputs, training=False)
    results[f"{case['case']}/video"] = np.asarray(
      output["video"] if isinstance(output, dict) else output
    )
  return results, {"class": type(model).__name__, "num_variables": len(model.variables)}


RUNNERS = {"saved_model": run_saved_model, "hub": run_hub, "tflite": run_tflite, "keras": run_keras}


def main(plan_path):
  with open(plan_path) as f:
    plan = json.load(f)
  with np.load(plan["inputs"]) as data:
    arrays = dict(data)
  results, reports = {}, {}
  for job in plan["jobs"]:
    prefix = job["id"] + ":"
    job_arrays = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
    try:
      outputs, report = RUNNERS[job["format"]](job, job_arrays)
    except Exception:  # noqa: BLE001
      # One broken artefact must not hide the figures of the others.
      outputs, report = {}, {"error": traceback.format_exc(limit=-6)}
    results.update({prefix + k: v for k, v in outputs.items()})
    reports[job["id"]] = report
  np.savez(plan["outputs"], **results)
  with open(plan["report"], "w") as f:
    json.dump(
      {
        "jobs": reports,
        # Evidence that the artefacts stood alone: no zoo / trainers / export module.
        "project_modules": sorted(
          m for m in sys.modules if m.split(".")[0] in ("zoo", "trainers", "export", "configs")
        ),
        "tensorflow_imported": "tensorflow" in sys.modules,
      },
      f,
    )


if __name__ == "__main__":
  main(sys.argv[1])
