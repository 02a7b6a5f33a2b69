r"""Exports a trained generator: TF Serving SavedModel, TF-Hub SavedModel, TFLite.

    python -m export.export --workdir=/tmp/vgan --out=/tmp/exported \
        [--formats=saved_model,hub,tflite] [--step=N] [--no_ema] \
        [--name=NAME --version=1] [--tflite_variants=float32,float16,int8] [--overwrite]

Restores the latest (or --step) checkpoint, EMA weights unless --no_ema, and writes

    OUT/NAME/VERSION/                  SavedModel with serving signatures (TF Serving's
                                       model_base_path is OUT/NAME) + verification.json
    OUT/hub/NAME/VERSION/              TF-Hub reusable SavedModel + MODEL_CARD.md
                                       + verification.json
    OUT/tflite/NAME/VERSION/           NAME_float32.tflite, NAME_float16.tflite,
                                       NAME_int8.tflite + verification.json

NAME defaults to the generator's registry name. Each artefact is written to a temporary
directory beside its destination, verified in a fresh process (`export.verify`), and only
then renamed to its final name; a failed check removes the temporary directory and raises
with the measured figures, so a path that exists is always a complete, verified artefact.
See export/README_SNIPPET.md for `saved_model_cli` and a TF Serving request.
"""

import contextlib
import json
import os
import shutil
import tempfile

from absl import app
from absl import flags
from absl import logging

from export import cli
from export import model_card
from export import signatures
from export import tflite
from export import verify
from trainers import workdir as workdir_lib

FORMATS = ("saved_model", "hub", "tflite")
VERIFICATION_FILE = "verification.json"
MODEL_CARD_FILE = "MODEL_CARD.md"

FORMATS_FLAG = flags.DEFINE_list("formats", list(FORMATS), f"Any of {', '.join(FORMATS)}.")
NAME = flags.DEFINE_string("name", None, "Model name in the layout; default: registry name.")
VERSION = flags.DEFINE_integer("version", 1, "Version directory (TF Serving layout).")
TFLITE_VARIANTS = flags.DEFINE_list("tflite_variants", list(tflite.VARIANTS),
                                    f"Any of {', '.join(tflite.VARIANTS)}.")
OVERWRITE = flags.DEFINE_boolean("overwrite", False,
                                 "Replace existing artefacts (after the new ones verify).")


def destinations(out, name, version):
  """{format: final directory} of the layout above."""
  return {
      "saved_model": os.path.join(out, name, str(version)),
      "hub": os.path.join(out, "hub", name, str(version)),
      "tflite": os.path.join(out, "tflite", name, str(version)),
  }


@contextlib.contextmanager
def staged_dir(destination, overwrite=False):
  """Yields a temporary directory beside `destination`, renamed to it on success.

  On any exception the temporary directory (and parents this call created) are removed
  and the exception propagates: nothing appears under the final name.
  """
  destination = os.path.abspath(destination)
  if os.path.exists(destination) and not overwrite:
    raise FileExistsError(f"Expected {destination} not to exist (pass --overwrite to "
                          "replace it).")
  created, parent = [], os.path.dirname(destination)
  while not os.path.exists(parent):
    created.append(parent)
    parent = os.path.dirname(parent)
  for directory in reversed(created):
    os.mkdir(directory)
  staging = tempfile.mkdtemp(prefix=f".{os.path.basename(destination)}.tmp-",
                             dir=os.path.dirname(destination))
  try:
    yield staging
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 would hide it from a server's user
    if os.path.exists(destination):
      shutil.rmtree(destination)
    os.rename(staging, destination)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    for directory in created:  # innermost first; only if still empty
      with contextlib.suppress(OSError):
        os.rmdir(directory)
    raise


def _write_json(path, value):
  with open(path, "w") as f:
    json.dump(value, f, indent=2, sort_keys=True)


def export_saved_model(module, destination, overwrite=False, provenance=None):
  with staged_dir(destination, overwrite) as staging:
    signatures.save_serving(module, staging)
    result = verify.verify_saved_model(staging, module.generator)
    _write_json(os.path.join(staging, VERIFICATION_FILE), {**result, **(provenance or {})})
  return result


def export_hub(module, destination, card, overwrite=False, provenance=None):
  """`card`: function(verification result) -> MODEL_CARD.md text."""
  with staged_dir(destination, overwrite) as staging:
    signatures.save_hub(module, staging)
    result = verify.verify_hub(staging, module.generator)
    _write_json(os.path.join(staging, VERIFICATION_FILE), {**result, **(provenance or {})})
    with open(os.path.join(staging, MODEL_CARD_FILE), "w") as f:
      f.write(card(result))
  return result


def export_tflite(generator, destination, name, variants=tflite.VARIANTS, overwrite=False,
                  provenance=None):
  with staged_dir(destination, overwrite) as staging:
    files, select_ops = {}, {}
    for variant in variants:
      model, select_ops[variant] = tflite.convert(generator, variant)
      files[variant] = os.path.join(staging, f"{name}_{variant}.tflite")
      with open(files[variant], "wb") as f:
        f.write(model)
      if select_ops[variant]:
        logging.warning("TFLite %s needed Select TF ops: %s", variant, select_ops[variant])
    result = verify.verify_tflite(files, generator)
    result["select_tf_ops"] = select_ops
    result["files"] = {v: os.path.basename(p) for v, p in files.items()}
    _write_json(os.path.join(staging, VERIFICATION_FILE), {**result, **(provenance or {})})
  return result


def _check_choices(values, allowed, flag):
  bad = [v for v in values if v not in allowed]
  if bad or not values:
    raise ValueError(f"Expected --{flag} from {', '.join(allowed)}, received "
                     f"{','.join(values) or 'nothing'}.")


def export_workdir(workdir, out, formats=FORMATS, step=None, ema=True, name=None, version=1,
                   tflite_variants=tflite.VARIANTS, overwrite=False):
  """Exports the workdir's generator in `formats`; returns {format: {path, verification}}."""
  formats, tflite_variants = list(formats), list(tflite_variants)
  _check_choices(formats, FORMATS, "formats")
  if "tflite" in formats:
    _check_choices(tflite_variants, tflite.VARIANTS, "tflite_variants")
  if version < 1:
    raise ValueError(f"Expected --version >= 1 (TF Serving ignores 0), received {version}.")
  generator, config, checkpoint = workdir_lib.restore_generator(workdir, step=step, ema=ema)
  name = name or config.model.generator.name
  if name in ("hub", "tflite") or not name or os.sep in name:
    raise ValueError(f"Expected --name to be a plain name other than 'hub' and 'tflite', "
                     f"received {name!r}.")
  paths = destinations(out, name, version)
  for fmt in formats:  # fail before any work rather than after the first artefact
    if os.path.exists(paths[fmt]) and not overwrite:
      raise FileExistsError(f"Expected {paths[fmt]} not to exist (pass --overwrite to "
                            "replace it).")
  used_ema = ema and config.train.get("ema_decay", 0.0) > 0
  provenance = {"workdir": workdir, "checkpoint": checkpoint, "ema_weights": used_ema,
                "step": model_card.checkpoint_step(checkpoint)}
  module = signatures.GeneratorModule(generator)
  results = {}
  for fmt in formats:
    logging.info("Exporting %s to %s", fmt, paths[fmt])
    if fmt == "saved_model":
      result = export_saved_model(module, paths[fmt], overwrite, provenance)
    elif fmt == "hub":
      card = lambda verification: model_card.render(  # pylint: disable=g-long-lambda
          generator, config, checkpoint, workdir, name, ema=ema, verification=verification)
      result = export_hub(module, paths[fmt], card, overwrite, provenance)
    else:
      result = export_tflite(generator, paths[fmt], name, tflite_variants, overwrite,
                             provenance)
    logging.info("%s verified: worst max |diff| %s (bounds %s)", fmt, result["worst"],
                 result["bounds"])
    result["artefact"] = paths[fmt]
    results[fmt] = {"path": paths[fmt], "verification": result}
  return results


def main(argv):
  cli.no_positional(argv)
  results = export_workdir(
      cli.require(cli.WORKDIR), cli.require(cli.OUT), formats=FORMATS_FLAG.value,
      step=cli.STEP.value, ema=not cli.NO_EMA.value, name=NAME.value, version=VERSION.value,
      tflite_variants=TFLITE_VARIANTS.value, overwrite=OVERWRITE.value)
  for fmt, result in results.items():
    print(f"{fmt}: {result['path']} (worst max |diff| {result['verification']['worst']:.3g})")


if __name__ == "__main__":
  app.run(main)
