r"""Sample latency per video: the Keras generator, its SavedModel and each TFLite variant.

    python -m bench.export_latency                      # vgan_two_stream at paper size
    python -m bench.export_latency --config=quickstart --repeats=10

The generator is built from the config with its initial weights (latency does not depend on
training), saved in the trainer's workdir layout and exported through `export.export` (so
every artefact is verified before it is timed). Each figure is the median seconds of one
batch-1 call after warm-up, on this machine; the line above the table names it.
"""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from bench import common
from bench import host
from export import export as export_lib
from export import verify
from trainers import config_files
from trainers import cpu_quota
from trainers import workdir as workdir_lib
from zoo import registry

config_files.define_flag("config", "vgan_two_stream", "Config to build (name or file).")
flags.DEFINE_integer("repeats", 5, "Timed calls per artefact (after warm-up).")
flags.DEFINE_string("variants", "float32,float16,int8", "TFLite variants to time.")
FLAGS = flags.FLAGS


def make_workdir(config, path):
  generator = workdir_lib.build_generator(config)
  workdir_lib.save_config(config, path)
  ckpt = tf.train.Checkpoint(
    generator=registry.weights_in_order(generator), step=tf.Variable(0, dtype=tf.int64)
  )
  tf.train.CheckpointManager(ckpt, workdir_lib.checkpoint_dir(path), 1).save(0)
  return generator


def main(argv):
  del argv
  config = FLAGS.config
  with config.unlocked():
    config.train.ema_decay = 0.0
  variants = FLAGS.variants.split(",")
  machine = common.describe_machine()
  print(common.machine_line(machine))
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    wd = os.path.join(tmp, "workdir")
    generator = make_workdir(config, wd)
    result = export_lib.export_workdir(
      wd, os.path.join(tmp, "out"), formats=("saved_model", "tflite"), tflite_variants=variants
    )
    inputs = verify.native_inputs(generator, batch_size=1)
    keras_fn = tf.function(lambda x: generator(x, training=False))
    args = list(inputs.values())[0] if len(inputs) == 1 else inputs
    t = host.time_callable(lambda: np.asarray(keras_fn(args)), 2, FLAGS.repeats)
    rows.append(("keras (tf.function)", t["median"]))

    loaded = tf.saved_model.load(result["saved_model"]["path"])
    name, args, _ = verify.saved_model_cases(generator)[0]
    if "z" in args:
      args = {"z": inputs["z"]}  # batch 1, like the other rows
    if "num_frames" in args:  # Radner's models: the training length, like the other rows
      args["num_frames"] = np.int32(generator.video_shape[0])
    batch = len(next(iter(args.values())))
    signature = loaded.signatures[name]
    feed = {k: tf.constant(v) for k, v in args.items()}
    t = host.time_callable(
      lambda: {k: v.numpy() for k, v in signature(**feed).items()}, 2, FLAGS.repeats
    )
    rows.append((f"saved_model ({name})", t["median"] / batch))

    from ai_edge_litert import interpreter as litert

    tflite_dir = result["tflite"]["path"]
    for variant in variants:
      path = [
        os.path.join(tflite_dir, f)
        for f in os.listdir(tflite_dir)
        if f.endswith(f"_{variant}.tflite")
      ][0]
      interp = litert.Interpreter(model_path=path, num_threads=cpu_quota.usable_cpus())
      interp.allocate_tensors()
      for detail in interp.get_input_details():
        input_name = detail["name"].split(":")[0]
        value = inputs.get(input_name.split("_")[-1], list(inputs.values())[0])
        if input_name.endswith("num_frames"):  # Radner's models: the training length
          value = generator.video_shape[0]
        interp.set_tensor(detail["index"], np.asarray(value, detail["dtype"]))

      def run(interp=interp):
        interp.invoke()
        return [interp.get_tensor(d["index"]) for d in interp.get_output_details()]

      t = host.time_callable(run, 2, FLAGS.repeats)
      rows.append((f"tflite {variant} ({os.path.getsize(path) / 2**20:.1f} MiB)", t["median"]))

  shape = "x".join(str(s) for s in generator.video_shape)
  print(f"\n{config.model.generator.name}, one {shape} video per call (median of {FLAGS.repeats}):")
  print(f"{'artefact':<36} {'ms/video':>10} {'vs keras':>9}")
  for name, seconds in rows:
    print(f"{name:<36} {seconds * 1e3:>10.1f} {seconds / rows[0][1]:>8.2f}x")


if __name__ == "__main__":
  app.run(main)
